"""Sending the platform's Celery tasks: one path for every task a service sends.

Tasks are sent by name (``celery.current_app.send_task``), so no service imports a ``tasks``
module: the tasks import the services they run, never the other way round, and there is no
import cycle between them. The queue and the time limits come from the settings and the phase,
here and nowhere else:

- ``scoring.submission_process`` to ``ATELIER_GPU_QUEUE`` with the submission's phase's limits
  (:func:`submission_time_limits`);
- ``scoring.reference_stats_compute`` to ``ATELIER_GPU_QUEUE`` with the settings' task limits;
- ``submissions.standings_rebuild`` to the default queue;
- ``submissions.upload_session_verify`` to the default queue (an S3 upload's SHA-256 and checks);
- ``notifications.submission_finished``, ``notifications.announcement_posted`` and
  ``notifications.webhook_deliver`` to the default queue (e-mails and webhooks; decision 0016).

Call them from ``transaction.on_commit``, never inside the transaction: a worker must find what
the message names. Nothing is sent with an ETA or a countdown (kombu re-delivers those in a loop on
Redis); what fails is retried by the reconciler. The one exception is a webhook delivery's own
retry (``notifications.tasks``), whose countdowns stay far below the broker's visibility timeout.
"""

from __future__ import annotations

from typing import Any

from celery import current_app
from django.conf import settings

from submissions.models import Submission

__all__ = [
    "ANNOUNCEMENT_NOTIFY",
    "REFERENCE_STATS_COMPUTE",
    "STANDINGS_REBUILD",
    "SUBMISSION_FINISHED_NOTIFY",
    "SUBMISSION_PROCESS",
    "UPLOAD_SESSION_VERIFY",
    "WEBHOOK_DELIVER",
    "announcement_notify_send",
    "reference_stats_send",
    "standings_rebuild_send",
    "submission_finished_notify_send",
    "submission_send",
    "submission_time_limits",
    "upload_session_verify_send",
    "webhook_deliver_send",
]

SUBMISSION_PROCESS = "scoring.submission_process"
REFERENCE_STATS_COMPUTE = "scoring.reference_stats_compute"
STANDINGS_REBUILD = "submissions.standings_rebuild"
UPLOAD_SESSION_VERIFY = "submissions.upload_session_verify"
SUBMISSION_FINISHED_NOTIFY = "notifications.submission_finished"
ANNOUNCEMENT_NOTIFY = "notifications.announcement_posted"
WEBHOOK_DELIVER = "notifications.webhook_deliver"


def submission_time_limits(submission_id: int) -> tuple[int, int]:
    """``(hard, soft)`` seconds for scoring ``submission_id``: its phase's execution time limit plus the
    scoring overhead (``ATELIER_SCORING_OVERHEAD_SECONDS``), never above ``ATELIER_TASK_HARD_TIME_LIMIT``
    (which the broker's visibility timeout covers twice over)."""
    ceiling = int(settings.ATELIER_TASK_HARD_TIME_LIMIT)
    limit = Submission.objects.filter(pk=submission_id).values_list("phase__execution_time_limit", flat=True).first()
    hard = ceiling if limit is None else min(ceiling, int(limit) + int(settings.ATELIER_SCORING_OVERHEAD_SECONDS))
    soft = max(hard - min(60, hard // 10), 1)
    return hard, soft


def _send(name: str, args: list[Any], **options: Any) -> None:
    current_app.send_task(name, args=args, **options)


def submission_send(*, submission_id: int) -> None:
    """Send ``scoring.submission_process`` for ``submission_id`` to the GPU queue, with its limits."""
    hard, soft = submission_time_limits(submission_id)
    _send(
        SUBMISSION_PROCESS,
        [submission_id],
        queue=settings.ATELIER_GPU_QUEUE,
        time_limit=hard,
        soft_time_limit=soft,
    )


def reference_stats_send(*, image_set_id: int) -> None:
    """Send ``scoring.reference_stats_compute`` for the style set ``image_set_id`` to the GPU queue
    (the task limits of the settings: ``CELERY_TASK_TIME_LIMIT``)."""
    _send(REFERENCE_STATS_COMPUTE, [image_set_id], queue=settings.ATELIER_GPU_QUEUE)


def standings_rebuild_send(*, phase_id: int) -> None:
    """Send ``submissions.standings_rebuild`` for ``phase_id`` to the default queue."""
    _send(STANDINGS_REBUILD, [phase_id], queue=settings.CELERY_TASK_DEFAULT_QUEUE)


def upload_session_verify_send(*, session_id: str) -> None:
    """Send ``submissions.upload_session_verify`` for the S3 upload session ``session_id`` to the default queue."""
    _send(UPLOAD_SESSION_VERIFY, [str(session_id)], queue=settings.CELERY_TASK_DEFAULT_QUEUE)


def submission_finished_notify_send(*, submission_id: int) -> None:
    """Send ``notifications.submission_finished`` (the submitter's e-mail, the competition's webhooks)
    for a submission that just became scored or failed, to the default queue."""
    _send(SUBMISSION_FINISHED_NOTIFY, [submission_id], queue=settings.CELERY_TASK_DEFAULT_QUEUE)


def announcement_notify_send(*, topic_id: int) -> None:
    """Send ``notifications.announcement_posted`` (e-mail to the participants) to the default queue."""
    _send(ANNOUNCEMENT_NOTIFY, [topic_id], queue=settings.CELERY_TASK_DEFAULT_QUEUE)


def webhook_deliver_send(*, delivery_id: int) -> None:
    """Send ``notifications.webhook_deliver`` (its first attempt) to the default queue."""
    _send(WEBHOOK_DELIVER, [delivery_id], queue=settings.CELERY_TASK_DEFAULT_QUEUE)
