"""Organizers' webhooks: adding and removing them, one delivery per event and webhook, and each
delivery attempt (signed, SSRF-guarded, retried with exponential backoff by
``notifications.tasks.webhook_deliver``); decision 0016."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from competitions.models import Competition
from competitions.selectors import is_organizer
from gan_platform.errors import ApplicationError
from notifications import webhook_http
from notifications.messages import body_for
from notifications.models import Webhook, WebhookDelivery
from submissions import sending

logger = logging.getLogger(__name__)


def _require_organizer(competition: Competition, user: Any) -> None:
    if not is_organizer(competition=competition, user=user):
        raise ApplicationError(
            f"Only organizers of {competition.title} manage its webhooks.", code="permission_denied", status=403
        )


def webhook_create(*, competition: Competition, user: Any, url: str, payload_format: str = "json") -> Webhook:
    """Add an HTTPS endpoint that receives the competition's events, with a new secret."""
    _require_organizer(competition, user)
    url = (url or "").strip()
    try:
        webhook_http.destination_check(url, resolve=False)
    except webhook_http.DestinationRefused as error:
        raise ApplicationError(str(error), code="validation_error", extra={"fields": {"url": [str(error)]}}) from error
    if payload_format not in Webhook.PayloadFormat.values:
        raise ApplicationError(
            f"payload_format is json or slack, not {payload_format!r}.",
            code="validation_error",
            extra={"fields": {"payload_format": ["json or slack"]}},
        )
    if Webhook.objects.filter(competition=competition, url=url).exists():
        raise ApplicationError(
            "This competition already sends its events to that URL.",
            code="validation_error",
            extra={"fields": {"url": ["Already added."]}},
        )
    webhook = Webhook(competition=competition, url=url, payload_format=payload_format, created_by=user)
    try:
        webhook.full_clean()
    except Exception as error:
        raise ApplicationError(
            f"url: {error}", code="validation_error", extra={"fields": {"url": [str(error)]}}
        ) from error
    webhook.save()
    return webhook


def webhook_delete(*, webhook: Webhook, user: Any) -> None:
    """Remove a webhook and its delivery log."""
    _require_organizer(webhook.competition, user)
    webhook.delete()


def webhook_secret_rotate(*, webhook: Webhook, user: Any) -> Webhook:
    """Give the webhook a new secret (the old one stops verifying at once)."""
    from notifications.models import webhook_secret

    _require_organizer(webhook.competition, user)
    webhook.secret = webhook_secret()
    webhook.save(update_fields=["secret"])
    return webhook


def webhook_event_dispatch(*, competition: Competition, event: str, event_key: str, payload: dict[str, Any]) -> int:
    """One delivery of the event per active webhook of the competition (none twice for the same
    ``event_key``); each delivery's first attempt is sent after the commit. Returns how many."""
    created = []
    with transaction.atomic():
        for webhook in Webhook.objects.filter(competition=competition, is_active=True):
            delivery, new = WebhookDelivery.objects.get_or_create(
                webhook=webhook,
                event_key=event_key,
                defaults={"event": event, "payload": body_for(webhook, payload)},
            )
            if new:
                created.append(delivery.pk)
        for delivery_id in created:
            transaction.on_commit(
                lambda delivery_id=delivery_id: sending.webhook_deliver_send(delivery_id=delivery_id), robust=True
            )
    return len(created)


@dataclass(frozen=True)
class Attempt:
    """What one delivery attempt did: ``status`` of the delivery after it, and ``retry_in`` seconds
    when it should be tried again (None: no further attempt)."""

    status: str
    retry_in: int | None = None


def retry_delay(attempts: int) -> int:
    """Seconds before the next attempt after ``attempts`` failed ones: the base doubled each time,
    at most an hour (``ATELIER_WEBHOOK_RETRY_BASE_SECONDS``: 30 s, 60 s, 120 s...)."""
    base = int(settings.ATELIER_WEBHOOK_RETRY_BASE_SECONDS)
    return min(base * 2 ** max(attempts - 1, 0), 3600)


def webhook_delivery_attempt(*, delivery_id: int) -> Attempt:
    """Make one attempt of a pending delivery: sign the stored payload with a fresh timestamp, POST
    it, record the status code or the error. A 2xx answer delivers it; anything else is retried
    with exponential backoff until ``ATELIER_WEBHOOK_MAX_ATTEMPTS`` attempts, then it is failed; a
    destination refused (SSRF guard) fails at once."""
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update()
            .select_related("webhook")
            .filter(pk=delivery_id, status=WebhookDelivery.Status.PENDING)
            .first()
        )
        if delivery is None:
            return Attempt(status="gone")
        max_attempts = int(settings.ATELIER_WEBHOOK_MAX_ATTEMPTS)
        if delivery.attempts >= max_attempts:
            WebhookDelivery.objects.filter(pk=delivery.pk).update(status=WebhookDelivery.Status.FAILED)
            return Attempt(status=WebhookDelivery.Status.FAILED)
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            attempts=delivery.attempts + 1, last_attempt_at=timezone.now()
        )
    attempts = delivery.attempts + 1
    webhook = delivery.webhook
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Atelier-Webhook/1",
        "X-Atelier-Event": delivery.event,
        "X-Atelier-Delivery": str(delivery.pk),
        "X-Atelier-Timestamp": str(timestamp),
        "X-Atelier-Signature": webhook_http.signature(secret=webhook.secret, timestamp=timestamp, body=body),
    }
    status_code = None
    error = ""
    permanent = False
    try:
        destination = webhook_http.destination_check(webhook.url)
        response = webhook_http.webhook_post(
            destination, body=body, headers=headers, timeout=float(settings.ATELIER_WEBHOOK_TIMEOUT_SECONDS)
        )
        status_code = response.status
        if not 200 <= response.status < 300:
            error = f"HTTP {response.status}: {response.text[:500]}".strip()
    except webhook_http.DestinationRefused as refusal:
        error, permanent = f"Refused destination: {refusal}", True
    except Exception as failure:  # a receiver's fault of any kind is logged and retried
        error = f"{type(failure).__name__}: {failure}"[:1000]
    now = timezone.now()
    if not error:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=WebhookDelivery.Status.DELIVERED, last_status_code=status_code, last_error="", delivered_at=now
        )
        return Attempt(status=WebhookDelivery.Status.DELIVERED)
    final = permanent or attempts >= int(settings.ATELIER_WEBHOOK_MAX_ATTEMPTS)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=WebhookDelivery.Status.FAILED if final else WebhookDelivery.Status.PENDING,
        last_status_code=status_code,
        last_error=error,
    )
    logger.info("webhook delivery %s attempt %s: %s", delivery.pk, attempts, error)
    if final:
        return Attempt(status=WebhookDelivery.Status.FAILED)
    return Attempt(status=WebhookDelivery.Status.PENDING, retry_in=retry_delay(attempts))


#: A pending delivery whose next attempt is this late (beyond the longest countdown, an hour) lost
#: its message (a broker restart): the sweep sends it again.
RESUME_AFTER = timedelta(minutes=75)


def webhook_deliveries_resume(*, now=None) -> list[int]:
    """Send again the pending deliveries whose message was lost: never attempted for
    ``RESUME_AFTER - 1 h``, or last attempted more than ``RESUME_AFTER`` ago. Each is touched first
    (one conditional UPDATE), so two sweeps at once send it once."""
    now = now or timezone.now()
    first_due = now - (RESUME_AFTER - timedelta(hours=1))
    stale = (
        WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING)
        .filter(
            Q(attempts=0, created_at__lt=first_due, last_attempt_at__isnull=True)
            | Q(last_attempt_at__lt=now - RESUME_AFTER)
        )
        .values_list("pk", "last_attempt_at")[:500]
    )
    resent = []
    for delivery_id, last_attempt_at in list(stale):
        unchanged = Q(last_attempt_at__isnull=True) if last_attempt_at is None else Q(last_attempt_at=last_attempt_at)
        with transaction.atomic():
            if WebhookDelivery.objects.filter(unchanged, pk=delivery_id, status=WebhookDelivery.Status.PENDING).update(
                last_attempt_at=now
            ):
                resent.append(delivery_id)
                transaction.on_commit(
                    lambda delivery_id=delivery_id: sending.webhook_deliver_send(delivery_id=delivery_id), robust=True
                )
    return resent
