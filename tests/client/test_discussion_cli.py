"""`atelier topics/topic/post/reply/notifications` against the real API on a live Django server."""

from __future__ import annotations

import io
import json

import pytest

from atelier_client.cli import main
from discussion.models import Topic
from notifications.models import NotificationPreference
from tests.client.test_live_server import cli_login
from tests.factories import competition_create_for_tests, participant_join, user_create

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def alice(transactional_db, private_root, monkeypatch):
    monkeypatch.setattr("submissions.sending._send", lambda name, args, **options: None)
    competition = competition_create_for_tests(slug="wood", style_images=0, content_images=0)
    user = user_create("alice")
    participant_join(competition, user)
    return user


@pytest.fixture
def logged_in(live_server, config_home, alice, monkeypatch, capsys) -> str:
    assert cli_login(live_server.url, "alice", monkeypatch) == 0
    capsys.readouterr()
    return live_server.url


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    output = capsys.readouterr()
    return code, output.out, output.err


def test_post_list_show_and_reply_from_the_command_line(logged_in, tmp_path, monkeypatch, capsys):
    code, out, err = run(capsys, "topics", "wood")
    assert code == 0, err
    assert "No topic in wood yet" in out

    code, out, err = run(capsys, "post", "wood", "--title", "Batch size?", "--body", "Is **8** enough?")
    assert code == 0, err
    topic = Topic.objects.get()
    assert out.strip() == f"Posted topic #{topic.pk}: atelier topic wood {topic.pk}"
    assert (topic.author.username, topic.body) == ("alice", "Is **8** enough?")

    message = tmp_path / "reply.md"
    message.write_text("Try *16*.\n")
    code, out, err = run(capsys, "reply", "wood", str(topic.pk), "--body-file", str(message))
    assert code == 0, err
    monkeypatch.setattr("sys.stdin", io.StringIO("From stdin."))
    assert run(capsys, "reply", "wood", str(topic.pk), "--body-file", "-")[0] == 0

    code, out, err = run(capsys, "topics", "wood")
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "TITLE", "BY", "REPLIES", "LAST", "ACTIVITY", "FLAGS"]
    assert lines[1].split()[:5] == [str(topic.pk), "Batch", "size?", "alice", "2"]

    code, out, err = run(capsys, "topic", "wood", str(topic.pk))
    assert out.splitlines()[0] == f"#{topic.pk} Batch size?  [-]"
    assert "Is **8** enough?" in out and "Try *16*." in out and "From stdin." in out

    code, out, err = run(capsys, "topic", "wood", str(topic.pk), "--json")
    assert [reply["body_html"] for reply in json.loads(out)["replies"]] == [
        "<p>Try <em>16</em>.</p>",
        "<p>From stdin.</p>",
    ]


def test_a_refused_post_says_why_and_exits_non_zero(logged_in, capsys):
    code, out, err = run(capsys, "post", "wood", "--title", "Hello", "--body", "x", "--announcement")
    assert code != 0
    assert "Only organizers post announcements" in err
    assert not Topic.objects.exists()
    code, out, err = run(capsys, "post", "wood", "--title", "Hello")
    assert code == 2 and "one of the arguments --body/-b --body-file/-f is required" in err


def test_notifications_are_shown_and_changed(logged_in, alice, capsys):
    code, out, err = run(capsys, "notifications")
    assert code == 0, err
    assert out.splitlines() == ["scored:        on", "failed:        on", "announcements: on"]
    code, out, err = run(capsys, "notifications", "--scored", "off", "--announcements", "off")
    assert out.splitlines() == ["scored:        off", "failed:        on", "announcements: off"]
    preference = NotificationPreference.objects.get(user=alice)
    assert (preference.submission_scored, preference.submission_failed, preference.announcements) == (
        False,
        True,
        False,
    )
