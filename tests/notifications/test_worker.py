"""A webhook delivery through a real Celery worker process and the configured broker: the task's
retries travel as messages with their countdown, on the default queue."""

from __future__ import annotations

import uuid

import pytest

from notifications.models import WebhookDelivery
from notifications.webhooks import webhook_create
from submissions import sending
from tests.support.processes import celery_worker, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_worker_retries_a_failing_receiver_with_growing_countdowns(competition, organizer, receiver, settings):
    queue = f"test-default-{uuid.uuid4().hex[:8]}"
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    receiver.statuses = [500, 503]
    webhook = webhook_create(competition=competition, user=organizer, url=receiver.url)
    delivery = WebhookDelivery.objects.create(
        webhook=webhook, event="phase.opened", event_key="phase:1:opened", payload={"event": "phase.opened"}
    )

    with celery_worker(queues=[queue], ATELIER_DEFAULT_QUEUE=queue, ATELIER_WEBHOOK_RETRY_BASE_SECONDS="1"):
        sending.webhook_deliver_send(delivery_id=delivery.pk)

        def delivered():
            delivery.refresh_from_db()
            return delivery.status == WebhookDelivery.Status.DELIVERED

        wait_until(delivered, timeout=90, interval=0.3, message="the webhook delivery")

    assert delivery.attempts == 3 and delivery.last_status_code == 200
    assert receiver.verified(webhook.secret) == [True, True, True]
    gaps = [
        later["at"] - earlier["at"] for earlier, later in zip(receiver.requests, receiver.requests[1:], strict=False)
    ]
    assert gaps[0] >= 0.9 and gaps[1] >= 1.9, f"countdowns of 1 s then 2 s, measured {gaps}"
