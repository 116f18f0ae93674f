"""Reads of the discussion: who sees a competition sees its discussion; hidden posts are the organizers'.

Every read starts from :func:`competitions.selectors.competition_get` (the competition the
requester may see) and filters hidden topics and replies out for everyone but its organizers.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from competitions.models import Competition
from competitions.selectors import is_organizer
from discussion.models import Reply, Topic
from gan_platform.errors import ApplicationError
from gan_platform.paging import Page, page_count

PAGE_SIZE = 20


def page_number(raw: str | None) -> int:
    """``?page=`` as a number from 1; refuses anything else with a message that says what to send."""
    if raw in (None, ""):
        return 1
    try:
        number = int(raw)
    except (TypeError, ValueError):
        number = 0
    if number < 1:
        raise ApplicationError(
            f"page={raw!r} is not a page number: give a whole number from 1.",
            code="validation_error",
            extra={"fields": {"page": ["A whole number from 1."]}},
        )
    return number


def _page(queryset: QuerySet, number: int, size: int = PAGE_SIZE) -> Page:
    """Page ``number`` of ``queryset``; one past the last is refused (``not_found``, 404)."""
    total = queryset.count()
    pages = page_count(total=total, size=size)
    if number > pages:
        raise ApplicationError(
            f"There are {pages} page(s); page {number} does not exist.", code="not_found", status=404
        )
    items = list(queryset[(number - 1) * size : number * size])
    return Page(items=items, number=number, size=size, total=total)


def topics_visible(*, competition: Competition, user: Any) -> QuerySet[Topic]:
    """The competition's topics ``user`` may see (hidden ones for its organizers only), pinned first,
    then by latest activity."""
    queryset = Topic.objects.filter(competition=competition).select_related("author")
    if not is_organizer(competition=competition, user=user):
        queryset = queryset.filter(is_hidden=False)
    return queryset.order_by("-is_pinned", "-last_activity_at", "-id")


def topic_page(*, competition: Competition, user: Any, page: int = 1) -> Page:
    """A page of :func:`topics_visible` (``PAGE_SIZE`` topics)."""
    return _page(topics_visible(competition=competition, user=user), page)


def topic_get(*, competition: Competition, topic_id: int, user: Any) -> Topic | None:
    """One topic of the competition that ``user`` may see, or None."""
    return topics_visible(competition=competition, user=user).filter(pk=topic_id).first()


def reply_page(*, topic: Topic, user: Any, page: int = 1) -> Page:
    """A page of the topic's replies, oldest first (hidden ones for the organizers only)."""
    queryset = Reply.objects.filter(topic=topic).select_related("author").order_by("created_at", "id")
    if not is_organizer(competition=topic.competition, user=user):
        queryset = queryset.filter(is_hidden=False)
    return _page(queryset, page)


def reply_get(*, competition: Competition, reply_id: int, user: Any) -> Reply | None:
    """One reply in a topic of the competition that ``user`` may see, or None."""
    queryset = Reply.objects.filter(pk=reply_id, topic__competition=competition).select_related("topic", "author")
    if not is_organizer(competition=competition, user=user):
        queryset = queryset.filter(is_hidden=False, topic__is_hidden=False)
    return queryset.first()
