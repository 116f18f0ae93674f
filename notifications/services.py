"""Writes of the notifications app: preferences, e-mails, phase events (webhooks: ``notifications.webhooks``).

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

import logging
from datetime import timedelta
from typing import Any

from django.core.mail import EmailMessage, get_connection
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from competitions.models import Competition, Participation, Phase
from discussion.models import Topic
from gan_platform.errors import ApplicationError
from notifications.messages import (
    competition_data,
    phase_data,
    site_url,
    submission_event,
    submission_key,
    submission_load,
    submission_payload,
    submission_public_scores,
)
from notifications.models import EmailNotice, NotificationPreference, PhaseEvent
from notifications.webhooks import webhook_event_dispatch
from submissions.models import Submission

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
    submission = submission_load(submission_id)
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
    emails = _email_once(submission_key(submission), messages)
    webhooks = webhook_event_dispatch(
        competition=competition,
        event=submission_event(submission),
        event_key=submission_key(submission),
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
                        "competition": competition_data(phase.competition),
                        "phase": phase_data(phase),
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
