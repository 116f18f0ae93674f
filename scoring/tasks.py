"""Celery tasks of the scoring app: thin interfaces over services and the worker module.

Names (callers import them with a ``_task`` suffix):

- ``scoring.submission_process(submission_id)``: validate, generate and score one submission
  under a lease (``scoring.worker``), on the GPU queue (``ATELIER_GPU_QUEUE``, default ``gpu``);
- ``scoring.reference_stats_compute(image_set_id)``: the cached statistics of a style set;
- ``scoring.reconcile()``: re-send lost submissions, take back expired leases (beat, 60 s).

The GPU tasks read their queue from the settings when they are sent (so a test can give its
worker a queue of its own) and ``submission_process`` takes its hard and soft time limits from
the submission's phase. ETA and countdown are refused: kombu re-delivers them in a loop on Redis.
Only the ``scoring.worker*`` modules import gan_core, and only inside the task bodies.
"""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task
from django.conf import settings


def submission_time_limits(submission_id: int) -> tuple[int, int]:
    """``(hard, soft)`` seconds for scoring ``submission_id``: its phase's execution time limit plus the
    scoring overhead (``ATELIER_SCORING_OVERHEAD_SECONDS``), never above ``ATELIER_TASK_HARD_TIME_LIMIT``
    (which the broker's visibility timeout covers twice over)."""
    from submissions.models import Submission

    ceiling = int(settings.ATELIER_TASK_HARD_TIME_LIMIT)
    limit = Submission.objects.filter(pk=submission_id).values_list("phase__execution_time_limit", flat=True).first()
    hard = ceiling if limit is None else min(ceiling, int(limit) + int(settings.ATELIER_SCORING_OVERHEAD_SECONDS))
    soft = max(hard - min(60, hard // 10), 1)
    return hard, soft


class GpuTask(Task):
    """A task sent to the GPU queue named by the settings at send time, never delayed."""

    acks_late = True
    reject_on_worker_lost = True
    ignore_result = True

    def apply_async(self, args=None, kwargs=None, task_id=None, producer=None, link=None, link_error=None, **options):
        if options.get("countdown") is not None or options.get("eta") is not None:
            raise ValueError(
                f"{self.name} must not be sent with an ETA or countdown (kombu re-delivers them in a loop on "
                "Redis); send it now and let the reconciler retry."
            )
        options.setdefault("queue", settings.ATELIER_GPU_QUEUE)
        if self.name == "scoring.submission_process" and "time_limit" not in options:
            submission_id = (args or [None])[0] if args else (kwargs or {}).get("submission_id")
            if submission_id is not None:
                options["time_limit"], options["soft_time_limit"] = submission_time_limits(int(submission_id))
        return super().apply_async(args, kwargs, task_id, producer, link, link_error, **options)


@shared_task(name="scoring.worker_ping", bind=True)
def worker_ping(self, token: str) -> None:
    from scoring.services import worker_ping_record

    worker_ping_record(token=token, hostname=self.request.hostname or "unknown")


@shared_task(name="scoring.submission_process", bind=True, base=GpuTask)
def submission_process(self, submission_id: int) -> str:
    """Take ``submission_id`` through validate, generate and score under a lease; returns the outcome."""
    from scoring.worker import submission_process_run

    return submission_process_run(submission_id=int(submission_id), worker=self.request.hostname or "unknown")


@shared_task(name="scoring.reference_stats_compute", bind=True, base=GpuTask)
def reference_stats_compute(self, image_set_id: int) -> list[int]:
    """Compute (or find) the cached statistics of style set ``image_set_id``; returns ReferenceStats ids."""
    from scoring.worker import reference_stats_compute_for_set

    return reference_stats_compute_for_set(image_set_id=int(image_set_id))


@shared_task(name="scoring.reconcile", ignore_result=True)
def reconcile() -> dict[str, Any]:
    """Re-send queued submissions no worker holds and take back expired leases."""
    from scoring.services import reconcile as reconcile_service

    return reconcile_service().as_dict()
