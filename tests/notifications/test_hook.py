"""Every transition of a submission into scored or failed sends ``notifications.submission_finished``
once, after the commit; the others send nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from scoring import services
from submissions.models import Submission
from tests.support.sending import sends_recorded

pytestmark = pytest.mark.django_db


@pytest.fixture
def notified(monkeypatch) -> list[int]:
    return sends_recorded(monkeypatch, "submission_finished_notify_send", "submission_id")


@pytest.fixture
def submission(phase, alice, alice_team):
    from tests.scoring.conftest import submission_row

    return submission_row(phase, alice_team, alice, b"weights")


def test_a_participant_failure_notifies_once(submission, notified, django_capture_on_commit_callbacks):
    token = services.submission_claim(submission_id=submission.pk, worker="w")
    assert notified == []
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.submission_fail(
            submission_id=submission.pk, token=token, code="timeout", message="Too slow.", participant_fault=True
        )
        services.submission_fail(
            submission_id=submission.pk, token=token, code="timeout", message="Too slow.", participant_fault=True
        )
    assert notified == [], "not before the commit"
    for callback in callbacks:
        callback()
    assert notified == [submission.pk], "the stale second call sends nothing"


def test_heartbeats_and_advances_notify_nothing(submission, notified, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        token = services.submission_claim(submission_id=submission.pk, worker="w")
        services.submission_advance(submission_id=submission.pk, token=token, to_state="generating")
        services.submission_heartbeat(submission_id=submission.pk, token=token, progress=(1, 2))
        assert services.submission_release_for_retry(submission_id=submission.pk, token=token) == "requeued"
    assert notified == []


def test_running_out_of_attempts_notifies_the_failure(submission, notified, django_capture_on_commit_callbacks):
    Submission.objects.filter(pk=submission.pk).update(attempts=Submission.MAX_ATTEMPTS - 1)
    with django_capture_on_commit_callbacks(execute=True):
        token = services.submission_claim(submission_id=submission.pk, worker="w")
        assert services.submission_release_for_retry(submission_id=submission.pk, token=token) == "failed"
    assert notified == [submission.pk]


def test_a_claim_past_the_attempts_notifies_the_failure(submission, notified, django_capture_on_commit_callbacks):
    Submission.objects.filter(pk=submission.pk).update(attempts=Submission.MAX_ATTEMPTS)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.submission_claim(submission_id=submission.pk, worker="w") is None
    assert notified == [submission.pk]
    assert Submission.objects.get(pk=submission.pk).failure_code == services.TOO_MANY_ATTEMPTS


def test_the_reconciler_failing_an_expired_lease_notifies(submission, notified, django_capture_on_commit_callbacks):
    token = services.submission_claim(submission_id=submission.pk, worker="w")
    assert token is not None
    Submission.objects.filter(pk=submission.pk).update(
        attempts=Submission.MAX_ATTEMPTS, lease_expires_at=timezone.now() - timedelta(minutes=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        report = services.reconcile()
    assert report.failed == [submission.pk]
    assert notified == [submission.pk]
