"""E-mail notifications, sent by their Celery task after the commit, read from Django's test outbox."""

from __future__ import annotations

import pytest
from django.core import mail

from discussion.services import topic_create
from notifications.models import EmailNotice
from notifications.services import preference_update
from tests.factories import participant_join, user_create

pytestmark = pytest.mark.django_db

SCORES = [
    ("public", "fid", 12.34567, 11.5, 13.25),
    ("public", "lpips", 0.4321, None, None),
    ("public", "ssim", 0.87654, None, None),
    ("private", "fid", 98.76543, None, None),
]


def test_a_scored_submission_emails_its_public_scores_from_the_task(
    finish, alice, tasks_run, django_capture_on_commit_callbacks
):
    # when the scoring services finish a submission
    with django_capture_on_commit_callbacks(execute=True):
        submission = finish(scores=SCORES)
        assert mail.outbox == [], "nothing is sent inside the transaction"

    # then the task was sent once, on the default path, and it sent the e-mail
    assert ("notifications.submission_finished", [submission.pk]) in tasks_run
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["alice@example.org"]
    assert message.subject == f"[Wood test competition] Submission #{submission.pk} is scored"
    # the registry's display names and the phase's decimals, the ranking metric first
    lines = [line.strip() for line in message.body.splitlines() if ":" in line and line.startswith("  ")]
    assert lines == [
        "FID: 12.346 [11.500, 13.250] (ranks the leaderboard)",
        "LPIPS (content): 0.432",
        "SSIM (content): 0.877",
    ]
    assert "98.77" not in message.body, "the private split never reaches a participant early"
    assert f"/submissions/{submission.pk}/" in message.body
    assert "http://127.0.0.1:8000/notifications/" in message.body


def test_a_failed_submission_emails_the_participant_message_never_the_detail(
    finish, tasks_run, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        submission = finish(
            fail=(
                "bad_output",
                "Your generator returned 4 channels; return 3 (RGB).",
                "Traceback: /srv/hidden/img-0042.png",
            )
        )
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.subject == f"[Wood test competition] Submission #{submission.pk} failed"
    assert "Your generator returned 4 channels; return 3 (RGB)." in message.body
    assert "Traceback" not in message.body and "hidden" not in message.body


def test_each_kind_can_be_turned_off(finish, alice, tasks_run, django_capture_on_commit_callbacks):
    preference_update(user=alice, submission_scored=False)
    with django_capture_on_commit_callbacks(execute=True):
        finish(scores=SCORES)
    assert mail.outbox == [], "scored e-mails are off"
    with django_capture_on_commit_callbacks(execute=True):
        finish(fail=("timeout", "Your generator took longer than 900 s.", ""))
    assert [message.subject.rsplit(" ", 1)[1] for message in mail.outbox] == ["failed"], "failed e-mails are still on"


def test_a_message_delivered_twice_sends_one_email(finish, tasks_run, django_capture_on_commit_callbacks):
    from notifications.tasks import submission_finished

    with django_capture_on_commit_callbacks(execute=True):
        submission = finish(scores=SCORES)
    submission_finished.apply(args=[submission.pk])
    assert len(mail.outbox) == 1
    assert EmailNotice.objects.filter(key__startswith=f"submission:{submission.pk}:scored:").count() == 1


def test_an_announcement_is_emailed_to_participants_who_want_it(
    competition, organizer, alice, alice_team, bob, bob_team, tasks_run, django_capture_on_commit_callbacks
):
    carol = user_create("carol")
    participant_join(competition, carol)
    preference_update(user=bob, announcements=False)
    user_create("dave")  # not a participant

    with django_capture_on_commit_callbacks(execute=True):
        topic = topic_create(
            competition=competition,
            user=organizer,
            title="Phase 2 opens Monday",
            body="Bring **new** ideas.",
            announcement=True,
        )

    assert ("notifications.announcement_posted", [topic.pk]) in tasks_run
    assert sorted(message.to[0] for message in mail.outbox) == ["alice@example.org", "carol@example.org"]
    assert all(len(message.to) == 1 for message in mail.outbox), "nobody sees the others' addresses"
    assert mail.outbox[0].subject == "[Wood test competition] Phase 2 opens Monday"
    assert "Bring **new** ideas." in mail.outbox[0].body and f"/c/wood/discussion/{topic.pk}/" in mail.outbox[0].body


def test_a_hidden_announcement_is_not_emailed(competition, organizer, alice, alice_team, tasks_run):
    from discussion.models import Topic
    from notifications.services import announcement_notify

    topic = Topic.objects.create(
        competition=competition, author=organizer, title="Oops", body="x", is_announcement=True, is_hidden=True
    )
    assert announcement_notify(topic_id=topic.pk) == 0
    assert mail.outbox == []
