"""The lease protocol and the reconciler: every step a conditional UPDATE, none done twice."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import IntegrityError
from django.utils import timezone

from scoring.services import (
    INFRASTRUCTURE_ERROR,
    TOO_MANY_ATTEMPTS,
    ScoreValue,
    reconcile,
    submission_advance,
    submission_claim,
    submission_fail,
    submission_finish,
    submission_heartbeat,
    submission_release_for_retry,
)
from submissions.models import Score, Standing, Submission
from tests.support.sending import sends_recorded

pytestmark = pytest.mark.django_db

FIGURES = {"calibrated": False, "preprocessing_mode": "clean", "gan_core_version": "0.1.0"}
SCORES = [
    ScoreValue(split="public", metric="fid", value=12.5, interval_low=11.0, interval_high=14.0, **FIGURES),
    ScoreValue(split="private", metric="fid", value=13.5, **FIGURES),
]


def expire_lease(submission: Submission) -> None:
    Submission.objects.filter(pk=submission.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))


def test_submission_claim_is_exclusive(make_submission):
    submission = make_submission()

    # when two workers claim the same submission
    first = submission_claim(submission_id=submission.pk, worker="gpu@a")
    second = submission_claim(submission_id=submission.pk, worker="gpu@b")

    # then exactly one holds it, with one attempt counted
    assert isinstance(first, uuid.UUID)
    assert second is None
    submission.refresh_from_db()
    assert submission.state == Submission.State.VALIDATING
    assert submission.lease_token == first
    assert submission.attempts == 1
    assert submission.worker == "gpu@a"
    assert submission.started_at is not None
    assert submission.lease_expires_at > timezone.now()


def test_submission_heartbeat_with_a_stale_token_returns_false(make_submission, settings):
    settings.ATELIER_LEASE_SECONDS = 300
    submission = make_submission()
    token = submission_claim(submission_id=submission.pk, worker="gpu@a")
    Submission.objects.filter(pk=submission.pk).update(lease_expires_at=timezone.now() + timedelta(seconds=5))

    assert submission_heartbeat(submission_id=submission.pk, token=uuid.uuid4()) is False
    submission.refresh_from_db()
    assert submission.lease_expires_at < timezone.now() + timedelta(seconds=10), "a stale heartbeat extended the lease"

    # the holder's heartbeat extends the lease and records progress
    assert submission_heartbeat(submission_id=submission.pk, token=token, progress=(2, 6)) is True
    submission.refresh_from_db()
    assert submission.lease_expires_at > timezone.now() + timedelta(seconds=250)
    assert (submission.progress_done, submission.progress_total) == (2, 6)


def test_a_cancelled_submission_refuses_the_heartbeat_and_the_advance(make_submission):
    submission = make_submission()
    token = submission_claim(submission_id=submission.pk, worker="gpu@a")
    Submission.objects.filter(pk=submission.pk).update(
        state=Submission.State.CANCELLED, lease_token=None, lease_expires_at=None
    )

    assert submission_heartbeat(submission_id=submission.pk, token=token) is False
    assert submission_advance(submission_id=submission.pk, token=token, to_state="generating") is False
    submission.refresh_from_db()
    assert submission.state == Submission.State.CANCELLED


def test_submission_advance_refuses_a_state_that_is_not_a_running_one(make_submission):
    submission = make_submission()
    token = submission_claim(submission_id=submission.pk, worker="gpu@a")

    with pytest.raises(ValueError, match="stage must be one of validating, generating, scoring"):
        submission_advance(submission_id=submission.pk, token=token, to_state="scored")
    assert submission_advance(submission_id=submission.pk, token=token, to_state="generating") is True
    submission.refresh_from_db()
    assert submission.state == Submission.State.GENERATING


def test_submission_finish_writes_the_scores_and_the_state_once(
    make_submission, django_capture_on_commit_callbacks, monkeypatch
):
    submission = make_submission()
    token = submission_claim(submission_id=submission.pk, worker="gpu@a")

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert submission_finish(submission_id=submission.pk, token=token, scores=SCORES) is True
    # the same token again: the lease was released, nothing more is written
    assert submission_finish(submission_id=submission.pk, token=token, scores=SCORES) is False

    submission.refresh_from_db()
    assert submission.state == Submission.State.SCORED
    assert submission.lease_token is None and submission.finished_at is not None
    rows = {(score.split, score.metric): score for score in Score.objects.filter(submission=submission)}
    assert set(rows) == {("public", "fid"), ("private", "fid")}
    assert rows["public", "fid"].value == 12.5
    assert (rows["public", "fid"].interval_low, rows["public", "fid"].interval_high) == (11.0, 14.0)
    assert rows["public", "fid"].calibrated is False
    notified = sends_recorded(monkeypatch, "submission_finished_notify_send", "submission_id")
    for callback in callbacks:
        callback()
    assert notified == [submission.pk], (
        "only the notification waits for the commit: the standings were written with the scores"
    )
    standing = Standing.objects.get(submission=submission, split="public")
    assert standing.values == {"fid": [12.5, 11.0, 14.0]} and standing.entrant == f"team:{submission.team_id}"


def test_submission_finish_with_a_stale_token_writes_nothing(make_submission):
    submission = make_submission()
    old = submission_claim(submission_id=submission.pk, worker="gpu@a")
    expire_lease(submission)
    new = submission_claim(submission_id=submission.pk, worker="gpu@b")
    assert new is not None and new != old

    # when the first worker, whose lease was taken over, finishes late
    assert submission_finish(submission_id=submission.pk, token=old, scores=SCORES) is False

    # then nothing was written and the new holder still runs it
    assert Score.objects.filter(submission=submission).count() == 0
    submission.refresh_from_db()
    assert submission.state == Submission.State.VALIDATING
    assert submission.lease_token == new
    assert submission.attempts == 2


def test_the_unique_score_constraint_rolls_back_a_duplicate_finish(make_submission):
    submission = make_submission()
    token = submission_claim(submission_id=submission.pk, worker="gpu@a")

    with pytest.raises(IntegrityError):
        submission_finish(submission_id=submission.pk, token=token, scores=[SCORES[0], SCORES[0]])

    submission.refresh_from_db()
    assert submission.state == Submission.State.VALIDATING, "state and scores are one transaction"
    assert submission.lease_token == token
    assert Score.objects.filter(submission=submission).count() == 0


def test_attempts_are_capped_at_three(make_submission):
    submission = make_submission()
    tokens = []
    for _ in range(Submission.MAX_ATTEMPTS):
        tokens.append(submission_claim(submission_id=submission.pk, worker="gpu@a"))
        expire_lease(submission)  # the worker died

    # when a fourth claim comes
    fourth = submission_claim(submission_id=submission.pk, worker="gpu@a")

    # then it is refused and the submission fails, not counted against the quota
    assert all(isinstance(token, uuid.UUID) for token in tokens) and len(set(tokens)) == 3
    assert fourth is None
    submission.refresh_from_db()
    assert submission.attempts == 3
    assert submission.state == Submission.State.FAILED
    assert submission.failure_code == TOO_MANY_ATTEMPTS
    assert "does not count against your quota" in submission.failure_message
    assert submission.counts_against_quota is False
    assert submission.lease_token is None


def test_submission_fail_counts_against_the_quota_only_when_it_is_the_participants_fault(make_submission):
    participants, platforms = make_submission(), make_submission()
    for submission, fault in ((participants, True), (platforms, False)):
        token = submission_claim(submission_id=submission.pk, worker="gpu@a")
        assert submission_fail(
            submission_id=submission.pk,
            token=token,
            code="non_finite",
            message="Your generator returned NaN.",
            detail="log",
            participant_fault=fault,
        )
        assert not submission_fail(
            submission_id=submission.pk, token=token, code="x", message="y", participant_fault=fault
        ), "a second failure with the released token must change nothing"
        submission.refresh_from_db()
        assert (submission.state, submission.failure_code) == (Submission.State.FAILED, "non_finite")
        assert submission.failure_message == "Your generator returned NaN."
        assert submission.counts_against_quota is fault


def test_release_for_retry_requeues_then_fails_without_charging_the_quota(
    make_submission, sent, django_capture_on_commit_callbacks
):
    submission = make_submission()
    outcomes = []
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(Submission.MAX_ATTEMPTS):
            token = submission_claim(submission_id=submission.pk, worker="gpu@a")
            outcomes.append(submission_release_for_retry(submission_id=submission.pk, token=token, detail="OSError"))

    assert outcomes == ["requeued", "requeued", "failed"]
    assert sent == [submission.pk, submission.pk], "each requeue sends the task again, the failure does not"
    submission.refresh_from_db()
    assert submission.state == Submission.State.FAILED
    assert submission.failure_code == INFRASTRUCTURE_ERROR
    assert submission.counts_against_quota is False
    assert submission.failure_detail == "OSError"
    assert submission_release_for_retry(submission_id=submission.pk, token=uuid.uuid4()) == "stale"


def test_reconcile_takes_back_an_expired_lease(make_submission, sent, django_capture_on_commit_callbacks):
    submission = make_submission()
    token = submission_claim(submission_id=submission.pk, worker="gpu@dead")
    submission_advance(submission_id=submission.pk, token=token, to_state="generating")
    expire_lease(submission)
    alive = make_submission()
    submission_claim(submission_id=alive.pk, worker="gpu@alive")

    with django_capture_on_commit_callbacks(execute=True):
        report = reconcile()

    assert report.taken_back == [submission.pk]
    assert sent == [submission.pk]
    submission.refresh_from_db()
    assert submission.state == Submission.State.QUEUED
    assert submission.lease_token is None and submission.lease_expires_at is None
    assert submission.enqueued_at is not None
    alive.refresh_from_db()
    assert alive.state == Submission.State.VALIDATING, "a live lease is left alone"
    # and the old holder can no longer write
    assert submission_finish(submission_id=submission.pk, token=token, scores=SCORES) is False


def test_reconcile_fails_an_expired_lease_whose_attempts_are_spent(make_submission, sent):
    submission = make_submission()
    submission_claim(submission_id=submission.pk, worker="gpu@a")
    Submission.objects.filter(pk=submission.pk).update(attempts=Submission.MAX_ATTEMPTS)
    expire_lease(submission)

    report = reconcile()

    assert report.failed == [submission.pk] and report.taken_back == []
    submission.refresh_from_db()
    assert submission.state == Submission.State.FAILED
    assert submission.failure_code == TOO_MANY_ATTEMPTS
    assert submission.counts_against_quota is False


def test_reconcile_resends_only_queued_submissions_older_than_the_grace_period(
    make_submission, sent, settings, django_capture_on_commit_callbacks
):
    settings.ATELIER_RECONCILE_GRACE_SECONDS = 120
    now = timezone.now()
    never_sent = make_submission(enqueued_at=None)
    lost = make_submission(enqueued_at=now - timedelta(minutes=5))
    fresh = make_submission(enqueued_at=now - timedelta(seconds=30))

    with django_capture_on_commit_callbacks(execute=True):
        first = reconcile()
    with django_capture_on_commit_callbacks(execute=True):
        second = reconcile()

    assert sorted(first.resent) == sorted([never_sent.pk, lost.pk])
    assert second.resent == [], "a re-sent submission waits a grace period before it is sent again"
    assert sorted(sent) == sorted([never_sent.pk, lost.pk])
    assert fresh.pk not in sent
    lost.refresh_from_db()
    assert lost.enqueued_at > now
