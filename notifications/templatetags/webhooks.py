"""``{% webhook_deliveries competition %}``: the latest webhook deliveries, for the organizer dashboard."""

from __future__ import annotations

from django import template

from notifications.models import WebhookDelivery

register = template.Library()


@register.inclusion_tag("notifications/_deliveries.html")
def webhook_deliveries(competition, limit: int = 10) -> dict:
    """The competition's latest deliveries (the dashboard is for organizers only: its view checks)."""
    deliveries = list(
        WebhookDelivery.objects.filter(webhook__competition=competition)
        .select_related("webhook")
        .order_by("-created_at", "-id")[:limit]
    )
    return {"competition": competition, "deliveries": deliveries, "summary": True}
