"""Faults with real processes: a worker killed mid-submission, a broker that lost its messages, two
reconcilers at once. Every submission ends scored exactly once; none is lost."""

from __future__ import annotations

import os
import signal
import threading
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from scoring.services import reconcile
from submissions import sending
from submissions.models import Score, Submission
from tests.scoring.conftest import SCORED_METRICS, checkpoint_bytes
from tests.scoring.helpers import score_keys, scoring_worker, wait_until_finished, wait_until_running
from tests.support.processes import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

EXPECTED_SCORES = sorted((split, metric) for split in ("public", "private") for metric in SCORED_METRICS)


@pytest.fixture
def queue(monkeypatch) -> str:
    """A queue of this test's own, where this process sends scoring tasks."""
    name = f"test-gpu-{uuid.uuid4().hex[:10]}"
    monkeypatch.setattr(settings, "ATELIER_GPU_QUEUE", name)
    return name


def send(submission: Submission) -> None:
    Submission.objects.filter(pk=submission.pk).update(enqueued_at=timezone.now())
    sending.submission_send(submission_id=submission.pk)


def test_a_worker_killed_mid_submission_is_taken_back_and_finished_by_another_worker(make_submission, queue):
    submission = make_submission(checkpoint_bytes(seed=4))

    with scoring_worker(queue) as first:
        send(submission)
        # when the worker process group is killed with SIGKILL while it runs the submission
        running = wait_until_running(submission.pk, timeout=240, waiting_for="the first worker to start generating")
        os.killpg(first["process"].pid, signal.SIGKILL)
        first["process"].wait(timeout=30)
    assert running.attempts == 1
    assert running.lease_token is not None

    with scoring_worker(queue):
        # then nothing finishes it until the lease expires and the reconciler takes it back
        wait_until(
            lambda: Submission.objects.filter(pk=submission.pk, lease_expires_at__lt=timezone.now()).exists(),
            timeout=60,
            message="the killed worker's lease to expire",
        )
        report = reconcile()
        assert report.taken_back == [submission.pk], report
        # and the new worker scores it, once
        done = wait_until_finished(submission.pk, timeout=300)

    assert done.attempts == 2
    assert done.worker != running.worker
    assert score_keys(submission.pk) == EXPECTED_SCORES
    assert reconcile().as_dict() == {"resent": [], "taken_back": [], "failed": []}
    # and the killed run's work folder was swept by the second worker's upkeep (its token holds nothing)
    killed_work = Path(settings.ATELIER_WORKER_CACHE_DIR) / "work" / f"{submission.pk}-{running.lease_token.hex}"
    assert not killed_work.exists()


def broker_loses_its_messages(queue: str, expected: int) -> None:
    """A broker restart that lost every queued message: the queue's files deleted (filesystem broker) or
    FLUSHDB of the broker's Redis database only (never FLUSHALL: the cache lives in the next database)."""
    if settings.REDIS_URL:
        import redis

        client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
        assert client.llen(queue) == expected, "the messages were not in the broker"
        client.flushdb()
        assert client.llen(queue) == 0
        return
    folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
    messages = sorted(folder.glob(f"*.{queue}.msg"))
    assert len(messages) == expected, f"expected {expected} messages for {queue} in {folder}, found {len(messages)}"
    for message in messages:
        message.unlink()


def test_messages_lost_by_the_broker_are_resent_by_two_concurrent_reconcilers_and_scored_once(
    make_submission, queue, monkeypatch
):
    submissions = [make_submission(checkpoint_bytes(seed=seed)) for seed in (5, 6)]
    for submission in submissions:
        send(submission)
    broker_loses_its_messages(queue, expected=len(submissions))

    # when two reconcilers run at the same moment after the grace period
    Submission.objects.filter(pk__in=[s.pk for s in submissions]).update(
        enqueued_at=timezone.now() - timedelta(seconds=settings.ATELIER_RECONCILE_GRACE_SECONDS + 60)
    )
    messages: list[int] = []
    real_send = sending.submission_send
    lock = threading.Lock()

    def counting_send(*, submission_id: int) -> None:
        with lock:
            messages.append(submission_id)
        real_send(submission_id=submission_id)

    monkeypatch.setattr("submissions.sending.submission_send", counting_send)
    barrier = threading.Barrier(2)
    reports = []

    def run() -> None:
        try:
            barrier.wait(timeout=30)
            reports.append(reconcile())
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    # then each lost submission was sent again exactly once
    expected = sorted(submission.pk for submission in submissions)
    assert len(reports) == 2
    assert sorted(messages) == expected
    assert sorted(pk for report in reports for pk in report.resent) == expected

    # and a worker scores each exactly once
    with scoring_worker(queue):
        finished = [wait_until_finished(pk, timeout=300) for pk in expected]
    assert [submission.attempts for submission in finished] == [1, 1]
    for pk in expected:
        assert score_keys(pk) == EXPECTED_SCORES
    assert Score.objects.filter(submission_id__in=expected).count() == 2 * len(EXPECTED_SCORES)
