"""The submissions admin: filters, read-only rows, and actions that go through the services."""

from __future__ import annotations

import pytest

from submissions.models import Score, Submission
from tests.factories import DEFAULT_PASSWORD, user_create
from tests.submissions.helpers import scored_submission_create

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/submissions/submission/"


@pytest.fixture
def admin_client_logged(client):
    user_create("root", is_staff=True, is_superuser=True)
    client.login(username="root", password=DEFAULT_PASSWORD)
    return client


def act(client, action: str, *submissions: Submission):
    return client.post(CHANGELIST, {"action": action, "_selected_action": [s.pk for s in submissions]}, follow=True)


def test_the_changelist_filters_by_state_and_competition(admin_client_logged, phase, alice, alice_team):
    scored_submission_create(phase=phase, team=alice_team, user=alice, public={"fid": 1.0})
    response = admin_client_logged.get(
        CHANGELIST, {"state": "scored", "phase__competition__id__exact": phase.competition_id}
    )
    assert response.status_code == 200
    assert b"1 submission" in response.content
    assert admin_client_logged.get(CHANGELIST, {"state": "queued"}).content.count(b"0 submissions") == 1


def test_the_rerun_action_requeues_and_sends_through_the_service(admin_client_logged, phase, alice, alice_team, sent):
    scored = scored_submission_create(phase=phase, team=alice_team, user=alice, public={"fid": 1.0})
    response = act(admin_client_logged, "rerun", scored)
    assert b"Rerun: 1 submission(s)." in response.content
    scored.refresh_from_db()
    assert scored.state == Submission.State.QUEUED
    assert not Score.objects.filter(submission=scored).exists()


def test_the_cancel_action_reports_what_it_could_not_cancel(admin_client_logged, phase, alice, alice_team):
    queued = scored_submission_create(phase=phase, team=alice_team, user=alice, public={})
    Submission.objects.filter(pk=queued.pk).update(state=Submission.State.QUEUED)
    finished = scored_submission_create(phase=phase, team=alice_team, user=alice, public={"fid": 1.0})
    response = act(admin_client_logged, "cancel", queued, finished)
    assert b"Cancelled: 1 submission(s)." in response.content
    assert f"#{finished.pk}: Submission {finished.pk} is scored".encode() in response.content
    queued.refresh_from_db()
    assert queued.state == Submission.State.CANCELLED


def test_the_baseline_actions_mark_and_unmark(admin_client_logged, phase, alice, alice_team):
    scored = scored_submission_create(phase=phase, team=alice_team, user=alice, public={"fid": 1.0})
    act(admin_client_logged, "mark_baseline", scored)
    scored.refresh_from_db()
    assert scored.is_baseline
    act(admin_client_logged, "unmark_baseline", scored)
    scored.refresh_from_db()
    assert not scored.is_baseline


def test_rows_cannot_be_added_or_edited_in_the_admin(admin_client_logged, phase, alice, alice_team):
    scored = scored_submission_create(phase=phase, team=alice_team, user=alice, public={"fid": 1.0})
    assert admin_client_logged.get(f"{CHANGELIST}add/").status_code == 403
    admin_client_logged.post(f"{CHANGELIST}{scored.pk}/change/", {"state": "queued"})
    scored.refresh_from_db()
    assert scored.state == Submission.State.SCORED
