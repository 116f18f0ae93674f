"""Celery tasks of the scoring app: thin interfaces over services and the worker module.

Names (callers import them with a ``_task`` suffix):

- ``scoring.submission_process(submission_id)``: validate, generate and score one submission
  under a lease (``scoring.worker.pipeline``), on the GPU queue (``ATELIER_GPU_QUEUE``, default ``gpu``);
- ``scoring.reference_stats_compute(image_set_id)``: the cached statistics of a style set;
- ``scoring.reconcile()``: re-send lost submissions, take back expired leases (beat, 60 s).

They are sent by name through :mod:`submissions.sending` (the queue from ``ATELIER_GPU_QUEUE``,
so a test can give its worker a queue of its own, and ``submission_process``'s hard and soft
time limits from the submission's phase); nothing imports this module but Celery's autodiscovery.
ETA and countdown are refused: kombu re-delivers them in a loop on Redis.
Only the ``scoring.worker`` package imports gan_core, and only inside the task bodies.
"""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task
from celery.signals import worker_ready


class GpuTask(Task):
    """A task of the GPU queue (``CELERY_TASK_ROUTES`` sends ``scoring.*`` to ``ATELIER_GPU_QUEUE``),
    never delayed. Services send these tasks through :mod:`submissions.sending`, which adds the
    phase's time limits."""

    acks_late = True
    reject_on_worker_lost = True
    ignore_result = True

    def apply_async(self, args=None, kwargs=None, task_id=None, producer=None, link=None, link_error=None, **options):
        if options.get("countdown") is not None or options.get("eta") is not None:
            raise ValueError(
                f"{self.name} must not be sent with an ETA or countdown (kombu re-delivers them in a loop on "
                "Redis); send it now and let the reconciler retry."
            )
        return super().apply_async(args, kwargs, task_id, producer, link, link_error, **options)


@shared_task(name="scoring.worker_ping", bind=True)
def worker_ping(self, token: str) -> None:
    from scoring.services import worker_ping_record

    worker_ping_record(token=token, hostname=self.request.hostname or "unknown")


@shared_task(name="scoring.submission_process", bind=True, base=GpuTask)
def submission_process(self, submission_id: int) -> str:
    """Take ``submission_id`` through validate, generate and score under a lease; returns the outcome.
    Then the worker cache's upkeep (orphans, size bound)."""
    from scoring.worker.pipeline import submission_process_run
    from scoring.worker.upkeep import cache_upkeep_safely

    try:
        return submission_process_run(submission_id=int(submission_id), worker=self.request.hostname or "unknown")
    finally:
        cache_upkeep_safely()


@worker_ready.connect
def worker_cache_upkeep_on_start(sender=None, **kwargs: Any) -> None:
    """A starting worker sweeps what killed runs left in its cache (``scoring.worker.upkeep``)."""
    from scoring.worker.upkeep import cache_upkeep_safely

    cache_upkeep_safely()


@worker_ready.connect
def worker_feature_weights_report_on_start(sender=None, **kwargs: Any) -> None:
    """A starting worker of the GPU queue reports its pretrained feature weights, then every
    ``ATELIER_WORKER_WEIGHTS_REPORT_S`` (``scoring.worker.weights_report``)."""
    from scoring.worker.weights_report import consumes_gpu_queue, feature_weights_report_on_start

    if consumes_gpu_queue(sender):  # a worker of the default queue only scores nothing: no report
        feature_weights_report_on_start(hostname=getattr(sender, "hostname", None) or "unknown")


@shared_task(name="scoring.reference_stats_compute", bind=True, base=GpuTask)
def reference_stats_compute(self, image_set_id: int) -> list[int]:
    """Compute (or find) the cached statistics of style set ``image_set_id``; returns ReferenceStats ids."""
    from scoring.worker.scores import reference_stats_compute_for_set

    return reference_stats_compute_for_set(image_set_id=int(image_set_id))


@shared_task(name="scoring.reconcile", ignore_result=True)
def reconcile() -> dict[str, Any]:
    """Re-send queued submissions no worker holds and take back expired leases."""
    from scoring.services import reconcile as reconcile_service

    return reconcile_service().as_dict()
