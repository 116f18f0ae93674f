"""`atelier moderate` (organizers hide, lock, pin topics and hide replies) and `atelier starter-kit`
(the Data page's zip, through the API with the token) against the real API on a live Django server."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from atelier_client.cli import main
from discussion.models import Reply, Topic
from discussion.services import reply_create, topic_create
from tests.factories import DEFAULT_PASSWORD, competition_create_for_tests, participant_join, user_create

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def wood(transactional_db, private_root, monkeypatch):
    monkeypatch.setattr("submissions.sending._send", lambda name, args, **options: None)
    competition = competition_create_for_tests(slug="wood", style_images=2, content_images=4)
    participant_join(competition, user_create("alice"))
    return competition


def login(live_server, monkeypatch, capsys, username: str) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(DEFAULT_PASSWORD + "\n"))
    assert main(["login", "--url", live_server.url, "--username", username, "--password-stdin"]) == 0
    capsys.readouterr()


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    output = capsys.readouterr()
    return code, output.out, output.err


@pytest.fixture
def topic(wood):
    from django.contrib.auth import get_user_model

    alice = get_user_model().objects.get(username="alice")
    topic = topic_create(competition=wood, user=alice, title="Batch size?", body="Is 8 enough?")
    reply_create(topic=topic, user=alice, body="Spam spam spam.")
    return topic


def test_an_organizer_locks_pins_hides_and_shows_a_topic_and_hides_a_reply(
    live_server, config_home, wood, topic, monkeypatch, capsys
):
    login(live_server, monkeypatch, capsys, "wood-organizer")

    code, out, err = run(capsys, "moderate", "wood", str(topic.pk), "--lock", "--pin")
    assert code == 0, err
    assert out.strip() == f"Topic #{topic.pk} Batch size?: now [pinned,locked]."
    topic.refresh_from_db()
    assert (topic.is_locked, topic.is_pinned, topic.is_hidden) == (True, True, False)

    code, out, err = run(capsys, "moderate", "wood", str(topic.pk), "--hide", "--unpin", "--json")
    assert code == 0, err
    answer = json.loads(out)
    assert (answer["is_hidden"], answer["is_pinned"], answer["is_locked"]) == (True, False, True)
    code, out, err = run(capsys, "moderate", "wood", str(topic.pk), "--show", "--unlock")
    assert code == 0, err
    topic.refresh_from_db()
    assert (topic.is_locked, topic.is_pinned, topic.is_hidden) == (False, False, False)

    reply = Reply.objects.get()
    code, out, err = run(capsys, "moderate", "wood", str(reply.pk), "--reply", "--hide")
    assert code == 0, err
    assert out.strip() == f"Reply #{reply.pk} is now hidden."
    reply.refresh_from_db()
    assert reply.is_hidden is True


def test_moderation_without_a_change_or_by_a_participant_is_refused_and_changes_nothing(
    live_server, config_home, wood, topic, monkeypatch, capsys
):
    login(live_server, monkeypatch, capsys, "alice")
    code, out, err = run(capsys, "moderate", "wood", str(topic.pk))
    assert code == 2
    assert "Say what to change: --hide or --show, --lock or --unlock, --pin or --unpin." in err
    code, out, err = run(capsys, "moderate", "wood", str(topic.pk), "--reply", "--lock")
    assert code == 2
    assert "A reply can only be hidden or shown" in err
    code, out, err = run(capsys, "moderate", "wood", str(topic.pk), "--hide", "--show")
    assert code == 2
    assert "not allowed with argument" in err

    code, out, err = run(capsys, "moderate", "wood", str(topic.pk), "--lock")
    assert code == 4
    assert "Only organizers of" in err
    topic.refresh_from_db()
    assert topic.is_locked is False
    assert Topic.objects.filter(is_hidden=False, is_locked=False, is_pinned=False).count() == 1


def test_starter_kit_downloads_the_data_pages_zip_by_its_name_or_to_a_file(
    live_server, config_home, wood, tmp_path, monkeypatch, capsys
):
    login(live_server, monkeypatch, capsys, "alice")
    monkeypatch.chdir(tmp_path)

    code, out, err = run(capsys, "starter-kit", "wood")
    assert code == 0, err
    saved = tmp_path / "wood-main-starter-kit.zip"
    assert out.startswith(f"Saved the starter kit of wood to {saved.name} (")
    names = set(zipfile.ZipFile(saved).namelist())
    assert {"README.md", "constraints.json"} <= names
    assert sum(name.startswith("style/") for name in names) == 2
    assert json.loads(zipfile.ZipFile(saved).read("constraints.json"))
    assert not [path.name for path in tmp_path.iterdir() if path.name.endswith(".partial")]

    code, out, err = run(capsys, "starter-kit", "wood")
    assert code == 2
    assert "wood-main-starter-kit.zip exists: give another -o FILE, or --force to replace it." in err

    target = tmp_path / "kits" / "kit.zip"
    code, out, err = run(capsys, "starter-kit", "wood", "-o", str(target))
    assert code == 2
    assert f"The folder {target.parent} does not exist" in err
    target.parent.mkdir()
    code, out, err = run(capsys, "starter-kit", "wood", "-o", str(target), "--phase", "main", "--json")
    assert code == 0, err
    assert json.loads(out) == {"path": str(target), "bytes": target.stat().st_size}
    assert zipfile.ZipFile(target).read("README.md") == zipfile.ZipFile(saved).read("README.md")


def test_starter_kit_of_an_unknown_phase_or_a_hidden_competition_says_so_and_writes_nothing(
    live_server, config_home, wood, tmp_path, monkeypatch, capsys
):
    competition_create_for_tests(slug="secret", visibility="draft", style_images=0, content_images=0)
    login(live_server, monkeypatch, capsys, "alice")
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    code, out, err = run(capsys, "starter-kit", "wood", "--phase", "nope")
    assert code == 4
    assert "nope" in err
    code, out, err = run(capsys, "starter-kit", "secret")
    assert code == 4
    assert "No competition 'secret'" in err
    assert list(here.iterdir()) == []
