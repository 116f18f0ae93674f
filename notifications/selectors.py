"""Reads of the notifications app: a competition's webhooks and their delivery log (organizers only)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from competitions.models import Competition
from competitions.selectors import is_organizer
from notifications.models import Webhook, WebhookDelivery


def webhook_list(*, competition: Competition, user: Any) -> QuerySet[Webhook]:
    """The competition's webhooks, for its organizers (nothing for anyone else)."""
    if not is_organizer(competition=competition, user=user):
        return Webhook.objects.none()
    return Webhook.objects.filter(competition=competition).order_by("created_at", "id")


def webhook_get(*, competition: Competition, webhook_id: int, user: Any) -> Webhook | None:
    return webhook_list(competition=competition, user=user).filter(pk=webhook_id).select_related("competition").first()


def delivery_list(
    *, competition: Competition, user: Any, webhook: Webhook | None = None, limit: int = 50
) -> list[WebhookDelivery]:
    """The latest deliveries of the competition's webhooks (or of one), newest first."""
    if not is_organizer(competition=competition, user=user):
        return []
    queryset = WebhookDelivery.objects.filter(webhook__competition=competition).select_related("webhook")
    if webhook is not None:
        queryset = queryset.filter(webhook=webhook)
    return list(queryset.order_by("-created_at", "-id")[:limit])
