"""Writes of the discussion: topics, replies, moderation.

Who may post: a participant of the competition or one of its organizers (a visitor reads, and
joins to post). Only organizers post announcements (pinned, e-mailed to the participants who
want them after the commit) and moderate: hide or show a topic or a reply, lock or unlock a topic,
pin or unpin it. A locked topic takes no reply. Posting is limited per user and hour
(``ATELIER_DISCUSSION_POST_LIMIT``), counted from the posts themselves, so every process sees the
same count.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Model
from django.utils import timezone

from competitions.models import Competition, Participation
from competitions.selectors import is_organizer
from discussion.models import Reply, Topic
from gan_platform.errors import ApplicationError
from submissions import sending

#: Seconds over which ``ATELIER_DISCUSSION_POST_LIMIT`` posts are allowed.
POST_WINDOW_SECONDS = 3600


def _full_clean(instance: Model) -> None:
    try:
        instance.full_clean()
    except ValidationError as error:
        fields = {key: [str(message) for message in messages] for key, messages in error.message_dict.items()}
        summary = "; ".join(f"{key}: {' '.join(messages)}" for key, messages in fields.items())
        raise ApplicationError(summary, code="validation_error", extra={"fields": fields}) from error


def _require_text(field: str, value: str, *, limit: int | None = None) -> str:
    text = (value or "").strip()
    if not text:
        raise ApplicationError(
            f"{field}: write something; it may not be empty.",
            code="validation_error",
            extra={"fields": {field: ["This field may not be empty."]}},
        )
    if limit is not None and len(text) > limit:
        raise ApplicationError(
            f"{field}: at most {limit} characters (this one has {len(text)}).",
            code="validation_error",
            extra={"fields": {field: [f"At most {limit} characters."]}},
        )
    return text


def _require_poster(*, competition: Competition, user: Any) -> bool:
    """Participants and organizers post; returns whether ``user`` organises the competition."""
    if not getattr(user, "is_authenticated", False):
        raise ApplicationError("Log in to post in the discussion.", code="not_authenticated", status=401)
    organizer = is_organizer(competition=competition, user=user)
    if not organizer and not Participation.objects.filter(competition=competition, user=user).exists():
        raise ApplicationError(
            f"Join {competition.title} (accept its rules) to post in its discussion.",
            code="not_participant",
            status=403,
        )
    return organizer


def _require_organizer(*, competition: Competition, user: Any) -> None:
    if not is_organizer(competition=competition, user=user):
        raise ApplicationError(
            f"Only organizers of {competition.title} may do this.", code="permission_denied", status=403
        )


def _post_limit_require(*, user: Any, now) -> None:
    """At most ``ATELIER_DISCUSSION_POST_LIMIT`` topics and replies per user in ``POST_WINDOW_SECONDS``."""
    limit = int(settings.ATELIER_DISCUSSION_POST_LIMIT)
    since = now - timedelta(seconds=POST_WINDOW_SECONDS)
    times = sorted(
        [
            *Topic.objects.filter(author=user, created_at__gt=since).values_list("created_at", flat=True),
            *Reply.objects.filter(author=user, created_at__gt=since).values_list("created_at", flat=True),
        ]
    )
    if len(times) < limit:
        return
    retry_at = times[len(times) - limit] + timedelta(seconds=POST_WINDOW_SECONDS)
    wait = max(1, math.ceil((retry_at - now).total_seconds()))
    minutes = math.ceil(wait / 60)
    raise ApplicationError(
        f"You posted {len(times)} times in the last hour, the most allowed ({limit}). "
        f"Try again in {minutes} minute{'s' if minutes != 1 else ''} (at {retry_at:%H:%M} UTC).",
        code="throttled",
        status=429,
        extra={"wait": wait, "retry_at": retry_at.isoformat()},
    )


def topic_create(*, competition: Competition, user: Any, title: str, body: str, announcement: bool = False) -> Topic:
    """Open a topic. ``announcement`` (organizers only): pinned, and e-mailed after the commit to the
    participants who want announcements."""
    organizer = _require_poster(competition=competition, user=user)
    if announcement and not organizer:
        raise ApplicationError(
            "Only organizers post announcements; post an ordinary topic instead.",
            code="permission_denied",
            status=403,
        )
    title = _require_text("title", title, limit=200)
    body = _require_text("body", body, limit=20000)
    now = timezone.now()
    with transaction.atomic():
        _post_limit_require(user=user, now=now)
        topic = Topic(
            competition=competition,
            author=user,
            title=title,
            body=body,
            is_announcement=announcement,
            is_pinned=announcement,
        )
        _full_clean(topic)
        topic.save()
        if announcement:
            topic_id = topic.pk
            transaction.on_commit(lambda: sending.announcement_notify_send(topic_id=topic_id), robust=True)
    return topic


def reply_create(*, topic: Topic, user: Any, body: str) -> Reply:
    """Reply to a topic the user may see; refused when the topic is locked."""
    competition = topic.competition
    _require_poster(competition=competition, user=user)
    body = _require_text("body", body, limit=20000)
    now = timezone.now()
    with transaction.atomic():
        locked = Topic.objects.select_for_update().filter(pk=topic.pk).values_list("is_locked", flat=True).first()
        if locked:
            raise ApplicationError(
                "This topic is locked by the organizers: it takes no more replies. Open a new topic instead.",
                code="topic_locked",
                status=409,
            )
        _post_limit_require(user=user, now=now)
        reply = Reply(topic=topic, author=user, body=body)
        _full_clean(reply)
        reply.save()
        Topic.objects.filter(pk=topic.pk).update(reply_count=F("reply_count") + 1, last_activity_at=now)
    return reply


def topic_moderate(
    *,
    topic: Topic,
    user: Any,
    hidden: bool | None = None,
    locked: bool | None = None,
    pinned: bool | None = None,
) -> Topic:
    """Organizers hide or show, lock or unlock, pin or unpin a topic (None: unchanged)."""
    _require_organizer(competition=topic.competition, user=user)
    changes = {
        field: value
        for field, value in (("is_hidden", hidden), ("is_locked", locked), ("is_pinned", pinned))
        if value is not None
    }
    if not changes:
        raise ApplicationError(
            "Say what to change: hidden, locked or pinned (true or false).",
            code="validation_error",
            extra={"fields": {"non_field_errors": ["Give hidden, locked or pinned."]}},
        )
    Topic.objects.filter(pk=topic.pk).update(**changes)
    topic.refresh_from_db()
    return topic


def reply_moderate(*, reply: Reply, user: Any, hidden: bool) -> Reply:
    """Organizers hide or show a reply; the topic's count of visible replies follows."""
    _require_organizer(competition=reply.topic.competition, user=user)
    with transaction.atomic():
        changed = Reply.objects.filter(pk=reply.pk).exclude(is_hidden=hidden).update(is_hidden=hidden)
        if changed:
            Topic.objects.filter(pk=reply.topic_id).update(reply_count=F("reply_count") + (-1 if hidden else 1))
    reply.refresh_from_db()
    return reply
