"""Shared pieces of the tests that run a real Celery worker process on the configured broker."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from submissions.models import Score, Submission
from tests.support.processes import celery_worker, wait_until

#: What the worker process needs to keep these runs small and their leases short.
WORKER_ENVIRONMENT = {
    "ATELIER_SANDBOX_THREADS": "1",
    "ATELIER_SCORING_BOOTSTRAP_RESAMPLES": "20",
    "ATELIER_LEASE_SECONDS": "8",
    "ATELIER_HEARTBEAT_SECONDS": "2",
}


@contextlib.contextmanager
def scoring_worker(queue: str, default_queue: str | None = None) -> Iterator[dict]:
    """A real worker process consuming ``queue`` only, which it also sends its own retries to; with
    ``default_queue``, that one too, as its default queue (S3 upload verifications go there)."""
    queues = [queue, default_queue] if default_queue else [queue]
    extra = {"ATELIER_DEFAULT_QUEUE": default_queue} if default_queue else {}
    with celery_worker(queues=queues, ATELIER_GPU_QUEUE=queue, **extra, **WORKER_ENVIRONMENT) as worker:
        yield worker


def wait_until_running(submission_id: int, *, timeout: float, waiting_for: str) -> Submission:
    """The submission as soon as a worker generates or scores it (polled every 50 ms); the test fails
    after ``timeout`` seconds of ``waiting_for`` it."""
    running = [Submission.State.GENERATING, Submission.State.SCORING]
    return wait_until(
        lambda: Submission.objects.filter(pk=submission_id, state__in=running).first(),
        timeout=timeout,
        interval=0.05,
        message=waiting_for,
    )


def wait_until_finished(submission_id: int, *, timeout: float = 300) -> Submission:
    def finished() -> Submission | None:
        submission = Submission.objects.get(pk=submission_id)
        return submission if submission.is_finished else None

    submission = wait_until(finished, timeout=timeout, interval=0.5, message=f"submission {submission_id} to finish")
    assert submission.state == Submission.State.SCORED, (
        submission.state,
        submission.failure_code,
        submission.failure_message,
        submission.failure_detail[-3000:],
    )
    return submission


def score_keys(submission_id: int) -> list[tuple[str, str]]:
    return sorted(Score.objects.filter(submission_id=submission_id).values_list("split", "metric"))
