"""Celery tasks of the notifications app (default queue): thin interfaces over ``notifications.services``.

- ``notifications.submission_finished(submission_id)``: the submitter's e-mail and the webhooks of
  a submission that became scored or failed (sent on commit by ``scoring.services``);
- ``notifications.announcement_posted(topic_id)``: an organizer's announcement by e-mail;
- ``notifications.webhook_deliver(delivery_id)``: one attempt of a webhook delivery, retried with
  exponential backoff (a countdown on the default queue, far below the broker's visibility
  timeout) until the delivery is delivered or failed; its attempts are counted in the database;
- ``notifications.phase_events_sweep()``: phases that opened or closed, and pending webhook
  deliveries whose message was lost (beat, 60 s).

E-mail tasks retry on a mail-server error (the event is sent once: ``EmailNotice``).
"""

from __future__ import annotations

from smtplib import SMTPException

from celery import shared_task
from django.conf import settings

MAIL_ERRORS = (OSError, SMTPException)
MAIL_TASK_OPTIONS = {
    "ignore_result": True,
    "autoretry_for": MAIL_ERRORS,
    "retry_backoff": 30,
    "retry_backoff_max": 3600,
    "max_retries": 5,
}
"""How the e-mail tasks retry on a mail-server error: from 30 s, doubling up to an hour, 5 times."""


@shared_task(name="notifications.submission_finished", **MAIL_TASK_OPTIONS)
def submission_finished(submission_id: int) -> dict:
    from notifications.services import submission_finished_notify

    return submission_finished_notify(submission_id=int(submission_id))


@shared_task(name="notifications.announcement_posted", **MAIL_TASK_OPTIONS)
def announcement_posted(topic_id: int) -> int:
    from notifications.services import announcement_notify

    return announcement_notify(topic_id=int(topic_id))


@shared_task(name="notifications.webhook_deliver", bind=True, ignore_result=True, max_retries=None)
def webhook_deliver(self, delivery_id: int) -> str:
    from notifications.webhooks import webhook_delivery_attempt

    attempt = webhook_delivery_attempt(delivery_id=int(delivery_id))
    if attempt.retry_in is not None:
        raise self.retry(countdown=attempt.retry_in, queue=settings.CELERY_TASK_DEFAULT_QUEUE)
    return attempt.status


@shared_task(name="notifications.phase_events_sweep", ignore_result=True)
def phase_events_sweep() -> int:
    from notifications.services import phase_events_record
    from notifications.webhooks import webhook_deliveries_resume

    webhook_deliveries_resume()
    return len(phase_events_record())
