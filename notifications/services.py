"""Writes of the notifications app: preferences, e-mails, webhooks and their deliveries, phase events.

Everything here runs in a Celery task on the default queue (``notifications.tasks``) or in a
request that only changes rows; nothing sends mail or calls a webhook in a request. The events:

- a submission became ``scored`` or ``failed`` (``scoring.services`` sends
  ``notifications.submission_finished`` on commit): an e-mail to its submitter unless they turned
  that kind off, and one delivery per active webhook of its competition;
- an organizer posted an announcement (``discussion.services`` sends
  ``notifications.announcement_posted`` on commit): an e-mail to each participant who wants them;
- a phase opened or closed (``notifications.phase_events_sweep``, beat every 60 s): one delivery
  per webhook.

What a message says is what the participant may see: public-split scores of shown metrics (with
the phase's labels and decimals), the participant-safe failure message; never the private
split, a hidden metric or the organizer-only failure detail (webhook payloads included: a Slack
channel may be read by participants). Each e-mail event is sent once (``EmailNotice``), each
webhook event delivered once per webhook (a unique constraint), however often the broker delivers
the message. Decision 0016.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from competitions.models import Competition, Participation, Phase
from competitions.selectors import is_organizer
from discussion.models import Topic
from gan_core.metrics.registry import METRICS as METRIC_REGISTRY
from gan_platform.errors import ApplicationError
from notifications import webhook_http
from notifications.models import EmailNotice, NotificationPreference, PhaseEvent, Webhook, WebhookDelivery
from submissions import sending
from submissions.models import Score, Submission

logger = logging.getLogger(__name__)

#: A phase that opened or closed longer ago than this when the sweep first sees it is not announced
#: (a new installation does not fire every past phase's events).
PHASE_EVENT_LOOKBACK = timedelta(days=1)


# --------------------------------------------------------------------------- preferences


def preference_get(*, user: Any) -> NotificationPreference:
    """The user's preferences; every kind on when they never changed them (an unsaved row)."""
    return NotificationPreference.objects.filter(user=user).first() or NotificationPreference(user=user)


def preference_update(*, user: Any, **kinds: bool) -> NotificationPreference:
    """Turn e-mail kinds on or off (``submission_scored``, ``submission_failed``, ``announcements``)."""
    unknown = sorted(set(kinds) - set(NotificationPreference.KINDS))
    if unknown:
        raise ApplicationError(
            f"Unknown notification kind(s): {', '.join(unknown)}; the kinds are {', '.join(NotificationPreference.KINDS)}.",
            code="validation_error",
        )
    with transaction.atomic():
        preference, _created = NotificationPreference.objects.select_for_update().get_or_create(user=user)
        for kind, value in kinds.items():
            if value is not None:
                setattr(preference, kind, bool(value))
        preference.full_clean()
        preference.save()
    return preference


def _wants(user: Any, kind: str) -> bool:
    preference = NotificationPreference.objects.filter(user=user).first()
    return preference is None or bool(getattr(preference, kind))


# --------------------------------------------------------------------------- what a message says


def site_url(path: str) -> str:
    return settings.ATELIER_SITE_URL.rstrip("/") + path


def _number(value: float | None, decimals: int) -> str:
    if value is None or value != value or value in (float("inf"), float("-inf")):
        return "—"
    return f"{value:.{int(decimals)}f}"


def submission_public_scores(submission: Submission) -> list[dict[str, Any]]:
    """The submission's public-split scores of the shown metrics, ranking metric first, each with the
    metric registry's label and the phase's decimals (what the pages show)."""
    metrics = [metric for metric in submission.phase.metrics.all() if metric.shown]
    metrics.sort(key=lambda metric: (not metric.is_ranking, metric.order, metric.metric))
    scores = {score.metric: score for score in submission.scores.all() if score.split == Score.Split.PUBLIC}
    rows = []
    for metric in metrics:
        score = scores.get(metric.metric)
        if score is None:
            continue
        registered = METRIC_REGISTRY.get(metric.metric)
        interval = None
        if score.interval_low is not None and score.interval_high is not None:
            interval = [score.interval_low, score.interval_high]
        rows.append(
            {
                "metric": metric.metric,
                "label": registered.label if registered else metric.metric,
                "ranking": metric.is_ranking,
                "value": score.value,
                "decimals": metric.decimals,
                "display": _number(score.value, metric.decimals),
                "interval": interval,
                "interval_display": (
                    f"[{_number(interval[0], metric.decimals)}, {_number(interval[1], metric.decimals)}]"
                    if interval
                    else ""
                ),
                "calibrated": score.calibrated,
            }
        )
    return rows


def _submission_load(submission_id: int) -> Submission | None:
    return (
        Submission.objects.select_related("phase__competition", "team", "submitted_by")
        .prefetch_related("scores", "phase__metrics")
        .filter(pk=submission_id)
        .first()
    )


def _submission_event(submission: Submission) -> str:
    return "submission.scored" if submission.state == Submission.State.SCORED else "submission.failed"


def _submission_key(submission: Submission) -> str:
    finished = submission.finished_at.isoformat() if submission.finished_at else "unfinished"
    return f"submission:{submission.pk}:{submission.state}:{finished}"


def _competition_data(competition: Competition) -> dict[str, Any]:
    return {
        "slug": competition.slug,
        "title": competition.title,
        "url": site_url(reverse("competitions:detail", kwargs={"slug": competition.slug})),
    }


def _phase_data(phase: Phase) -> dict[str, Any]:
    return {
        "slug": phase.slug,
        "name": phase.name,
        "starts_at": phase.starts_at.isoformat(),
        "ends_at": phase.ends_at.isoformat(),
    }


def submission_payload(submission: Submission) -> dict[str, Any]:
    """The JSON webhook payload of a scored or failed submission (participant-visible facts only)."""
    failed = submission.state == Submission.State.FAILED
    return {
        "event": _submission_event(submission),
        "competition": _competition_data(submission.phase.competition),
        "phase": _phase_data(submission.phase),
        "submission": {
            "id": submission.pk,
            "url": site_url(reverse("submissions:detail", kwargs={"submission_id": submission.pk})),
            "team": submission.team.name if submission.team_id else None,
            "is_baseline": submission.is_baseline,
            "state": submission.state,
            "finished_at": submission.finished_at.isoformat() if submission.finished_at else None,
            "scores": []
            if failed
            else [
                {key: row[key] for key in ("metric", "label", "ranking", "value", "display", "interval")}
                for row in submission_public_scores(submission)
            ],
            "failure": {"code": submission.failure_code, "message": submission.failure_message} if failed else None,
        },
    }


def _slack_text(payload: dict[str, Any]) -> str:
    competition = payload["competition"]
    head = f"*{competition['title']}*"
    if payload["event"].startswith("phase."):
        phase = payload["phase"]
        verb = "opened" if payload["event"] == "phase.opened" else "closed"
        return f"{head}: phase {phase['name']} {verb}. <{competition['url']}|Open the competition>"
    submission = payload["submission"]
    who = submission["team"] or "a baseline"
    link = f"<{submission['url']}|#{submission['id']}>"
    if payload["event"] == "submission.scored":
        scores = ", ".join(f"{row['label']} {row['display']}" for row in submission["scores"]) or "no public score"
        return f"{head}: submission {link} by {who} scored: {scores}."
    failure = submission["failure"] or {}
    return f"{head}: submission {link} by {who} failed ({failure.get('code', '')}): {failure.get('message', '')}"


def _body_for(webhook: Webhook, payload: dict[str, Any]) -> dict[str, Any]:
    if webhook.payload_format == Webhook.PayloadFormat.SLACK:
        return {"text": _slack_text(payload)}
    return payload


# --------------------------------------------------------------------------- e-mail


def _email_once(key: str, messages: list[EmailMessage]) -> int:
    """Send ``messages`` unless the event ``key`` was sent already; returns how many were sent.

    The notice row is written first (its unique key stops a second task), and removed again when
    sending fails, so that the task's retry sends it.
    """
    if not messages:
        return 0
    try:
        with transaction.atomic():
            notice = EmailNotice.objects.create(key=key, recipients=len(messages))
    except IntegrityError:
        logger.info("e-mail %s was sent already", key)
        return 0
    try:
        with get_connection() as connection:
            sent = connection.send_messages(messages) or 0
    except Exception:
        notice.delete()
        raise
    return sent


def submission_finished_notify(*, submission_id: int) -> dict[str, int]:
    """E-mail the submitter of a scored or failed submission (unless they turned that kind off) and
    queue one delivery per active webhook of its competition. Idempotent."""
    submission = _submission_load(submission_id)
    if submission is None or submission.state not in (Submission.State.SCORED, Submission.State.FAILED):
        return {"emails": 0, "webhooks": 0}
    scored = submission.state == Submission.State.SCORED
    kind = "submission_scored" if scored else "submission_failed"
    competition = submission.phase.competition
    user = submission.submitted_by
    messages = []
    if not submission.is_baseline and user.email and _wants(user, kind):
        context = {
            "submission": submission,
            "competition": competition,
            "phase": submission.phase,
            "scores": submission_public_scores(submission) if scored else [],
            "url": site_url(reverse("submissions:detail", kwargs={"submission_id": submission.pk})),
            "settings_url": site_url(reverse("notifications:settings")),
        }
        subject = (
            f"[{competition.title}] Submission #{submission.pk} is scored"
            if scored
            else f"[{competition.title}] Submission #{submission.pk} failed"
        )
        body = render_to_string(f"notifications/email/{kind}.txt", context)
        messages.append(EmailMessage(subject=subject, body=body, to=[user.email]))
    emails = _email_once(_submission_key(submission), messages)
    webhooks = webhook_event_dispatch(
        competition=competition,
        event=_submission_event(submission),
        event_key=_submission_key(submission),
        payload=submission_payload(submission),
    )
    return {"emails": emails, "webhooks": webhooks}


def announcement_notify(*, topic_id: int) -> int:
    """E-mail an announcement to every participant who wants announcements (not to its author);
    nothing when the topic was hidden meanwhile or the competition is a draft. Idempotent."""
    topic = Topic.objects.select_related("competition", "author").filter(pk=topic_id, is_announcement=True).first()
    if topic is None or topic.is_hidden or topic.competition.visibility == Competition.Visibility.DRAFT:
        return 0
    competition = topic.competition
    opted_out = NotificationPreference.objects.filter(announcements=False).values("user_id")
    recipients = (
        Participation.objects.filter(competition=competition)
        .exclude(user=topic.author)
        .exclude(user__email="")
        .exclude(user_id__in=opted_out)
        .select_related("user")
        .order_by("user_id")
    )
    url = site_url(reverse("discussion:topic", kwargs={"slug": competition.slug, "topic_id": topic.pk}))
    settings_url = site_url(reverse("notifications:settings"))
    messages = []
    for participation in recipients:
        body = render_to_string(
            "notifications/email/announcement.txt",
            {"topic": topic, "competition": competition, "url": url, "settings_url": settings_url},
        )
        # one message per participant: nobody sees the others' addresses
        messages.append(
            EmailMessage(subject=f"[{competition.title}] {topic.title}", body=body, to=[participation.user.email])
        )
    return _email_once(f"announcement:{topic.pk}", messages)


# --------------------------------------------------------------------------- webhooks


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
                defaults={"event": event, "payload": _body_for(webhook, payload)},
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


# --------------------------------------------------------------------------- phase events


def phase_events_record(*, now=None) -> list[PhaseEvent]:
    """Record each phase that opened or closed since the last sweep (within ``PHASE_EVENT_LOOKBACK``)
    and dispatch ``phase.opened`` / ``phase.closed`` to its competition's webhooks. Two sweeps at
    once record each event once (unique constraint)."""
    now = now or timezone.now()
    since = now - PHASE_EVENT_LOOKBACK
    recorded = []
    for kind, field, event in (
        (PhaseEvent.Kind.OPENED, "starts_at", "phase.opened"),
        (PhaseEvent.Kind.CLOSED, "ends_at", "phase.closed"),
    ):
        done = PhaseEvent.objects.filter(kind=kind).values("phase_id")
        phases = (
            Phase.objects.filter(**{f"{field}__gt": since, f"{field}__lte": now})
            .exclude(pk__in=done)
            .select_related("competition")
        )
        for phase in phases:
            try:
                with transaction.atomic():
                    record = PhaseEvent.objects.create(phase=phase, kind=kind, at=getattr(phase, field))
                    payload = {
                        "event": event,
                        "competition": _competition_data(phase.competition),
                        "phase": _phase_data(phase),
                    }
                    webhook_event_dispatch(
                        competition=phase.competition,
                        event=event,
                        event_key=f"phase:{phase.pk}:{kind}",
                        payload=payload,
                    )
            except IntegrityError:
                continue
            recorded.append(record)
    return recorded
