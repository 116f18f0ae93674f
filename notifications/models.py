"""Notifications: what each user wants by e-mail, organizers' webhooks and their delivery log.

E-mails and webhook deliveries are sent by Celery tasks on the default queue (``notifications.tasks``),
enqueued when the transaction that caused them commits; decision 0016.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q


class NotificationPreference(models.Model):
    """Which e-mails a user receives. No row: every kind is on."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preference"
    )
    submission_scored = models.BooleanField(default=True, help_text="E-mail me when my submission is scored.")
    submission_failed = models.BooleanField(default=True, help_text="E-mail me when my submission fails.")
    announcements = models.BooleanField(
        default=True, help_text="E-mail me the announcements of the competitions I joined."
    )
    updated_at = models.DateTimeField(auto_now=True)

    KINDS = ("submission_scored", "submission_failed", "announcements")

    def __str__(self) -> str:
        return f"notifications of {self.user}"


class EmailNotice(models.Model):
    """One e-mail event sent (``key``: ``submission:12:scored:<finished_at>``, ``announcement:7``): a task
    delivered twice by the broker sends it once."""

    key = models.CharField(max_length=200, unique=True)
    recipients = models.PositiveIntegerField(default=0)
    sent_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.key


def webhook_secret() -> str:
    return secrets.token_urlsafe(32)


class Webhook(models.Model):
    """An organizer's endpoint for one competition's events, signed with its own secret."""

    class PayloadFormat(models.TextChoices):
        JSON = "json", "JSON (Atelier's event object)"
        SLACK = "slack", 'Slack-compatible ({"text": ...})'

    EVENTS = ("submission.scored", "submission.failed", "phase.opened", "phase.closed")

    competition = models.ForeignKey("competitions.Competition", on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=64, default=webhook_secret)
    payload_format = models.CharField(max_length=8, choices=PayloadFormat.choices, default=PayloadFormat.JSON)
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["competition", "created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["competition", "url"], name="webhook_url_unique_per_competition")
        ]

    def __str__(self) -> str:
        return f"{self.url} ({self.competition_id})"


class WebhookDelivery(models.Model):
    """One event sent to one webhook: its payload, and how the attempts went."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=32)
    event_key = models.CharField(max_length=200, help_text="The event's identity: one delivery per webhook.")
    payload = models.JSONField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["webhook", "event_key"], name="webhook_delivery_once_per_event"),
            models.CheckConstraint(condition=Q(attempts__lte=20), name="webhook_delivery_attempts_bounded"),
        ]

    def __str__(self) -> str:
        return f"{self.event} to webhook {self.webhook_id} ({self.status})"


class PhaseEvent(models.Model):
    """A phase opened or closed: recorded once by the sweep (beat), which then notifies the webhooks."""

    class Kind(models.TextChoices):
        OPENED = "opened", "Opened"
        CLOSED = "closed", "Closed"

    phase = models.ForeignKey("competitions.Phase", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    at = models.DateTimeField(help_text="When the phase opened or closed.")
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["phase", "kind"], name="phase_event_once")]

    def __str__(self) -> str:
        return f"{self.phase_id} {self.kind}"
