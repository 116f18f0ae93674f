"""Pages of the discussion: a competition's topics, one topic with its replies, posting, moderation.

Views validate input, call one selector or service, and render or redirect with a message; the
rules are in ``discussion.services`` and ``discussion.selectors``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from competitions.models import Competition, Participation
from competitions.selectors import is_organizer
from competitions.shortcuts import competition_or_http404
from discussion import selectors, services
from discussion.models import Topic
from gan_platform.errors import ApplicationError, refused_as_page_not_found

MODERATION = {
    "hide": {"hidden": True},
    "show": {"hidden": False},
    "lock": {"locked": True},
    "unlock": {"locked": False},
    "pin": {"pinned": True},
    "unpin": {"pinned": False},
}
DONE = {
    "hide": "hidden",
    "show": "shown again",
    "lock": "locked",
    "unlock": "unlocked",
    "pin": "pinned",
    "unpin": "unpinned",
}


def _topic_or_404(request: HttpRequest, slug: str, topic_id: int) -> Topic:
    """The topic ``topic_id`` of the competition ``slug`` (in ``topic.competition``) if the requester
    may see both, else ``Http404``."""
    competition = competition_or_http404(request, slug)
    topic = selectors.topic_get(competition=competition, topic_id=topic_id, user=request.user)
    if topic is None:
        raise Http404(f"No topic {topic_id}.")
    topic.competition = competition
    return topic


def _page_or_404(request: HttpRequest, read: Callable[[int], selectors.Page]) -> selectors.Page:
    """The page ``?page=`` names, read by ``read(number)``; a page that is no number or past the last
    answers 404."""
    with refused_as_page_not_found():
        return read(selectors.page_number(request.GET.get("page")))


def _render(
    request: HttpRequest, competition: Competition, template: str, *, status: int = 200, **context: Any
) -> HttpResponse:
    """A discussion page of ``competition``: whether the requester organises it and may post, who its
    organizers are, and ``context``."""
    organizer = is_organizer(competition=competition, user=request.user)
    joined = (
        request.user.is_authenticated
        and Participation.objects.filter(competition=competition, user=request.user).exists()
    )
    shared = {
        "competition": competition,
        "active": "discussion",
        "organizer": organizer,
        "may_post": organizer or joined,
        "organizer_ids": set(competition.organizers.values_list("pk", flat=True)),
    }
    return render(request, template, {**shared, **context}, status=status)


def _refused(
    request: HttpRequest, competition: Competition, template: str, error: ApplicationError, **context: Any
) -> HttpResponse:
    """A post the services refused: its message, and the page again with what was written (in
    ``context``), so that nothing typed is lost, under the refusal's status."""
    messages.error(request, error.message)
    return _render(request, competition, template, status=error.status, **context)


def topic_list(request: HttpRequest, slug: str) -> HttpResponse:
    competition = competition_or_http404(request, slug)
    page = _page_or_404(
        request, lambda number: selectors.topic_page(competition=competition, user=request.user, page=number)
    )
    return _render(request, competition, "discussion/topic_list.html", page=page, form={"title": "", "body": ""})


@login_required
@require_POST
def topic_new(request: HttpRequest, slug: str) -> HttpResponse:
    competition = competition_or_http404(request, slug)
    title, body = request.POST.get("title", ""), request.POST.get("body", "")
    try:
        topic = services.topic_create(
            competition=competition,
            user=request.user,
            title=title,
            body=body,
            announcement=request.POST.get("announcement") == "on",
        )
    except ApplicationError as error:
        return _refused(
            request,
            competition,
            "discussion/topic_list.html",
            error,
            page=selectors.topic_page(competition=competition, user=request.user),
            form={"title": title, "body": body},
            form_error=error.message,
        )
    messages.success(request, "Your announcement is posted." if topic.is_announcement else "Your topic is posted.")
    return redirect("discussion:topic", slug=slug, topic_id=topic.pk)


def topic_detail(request: HttpRequest, slug: str, topic_id: int) -> HttpResponse:
    topic = _topic_or_404(request, slug, topic_id)
    page = _page_or_404(request, lambda number: selectors.reply_page(topic=topic, user=request.user, page=number))
    return _render(request, topic.competition, "discussion/topic_detail.html", topic=topic, page=page, reply_body="")


@login_required
@require_POST
def reply_new(request: HttpRequest, slug: str, topic_id: int) -> HttpResponse:
    topic = _topic_or_404(request, slug, topic_id)
    body = request.POST.get("body", "")
    try:
        reply = services.reply_create(topic=topic, user=request.user, body=body)
    except ApplicationError as error:
        return _refused(
            request,
            topic.competition,
            "discussion/topic_detail.html",
            error,
            topic=topic,
            page=selectors.reply_page(topic=topic, user=request.user),
            reply_body=body,
        )
    messages.success(request, "Your reply is posted.")
    last_page = selectors.reply_page(topic=topic, user=request.user).pages
    url = reverse("discussion:topic", kwargs={"slug": slug, "topic_id": topic.pk})
    return redirect(f"{url}?page={last_page}#reply-{reply.pk}" if last_page > 1 else f"{url}#reply-{reply.pk}")


@login_required
@require_POST
def topic_moderate(request: HttpRequest, slug: str, topic_id: int) -> HttpResponse:
    topic = _topic_or_404(request, slug, topic_id)
    action = request.POST.get("action", "")
    if action not in MODERATION:
        raise Http404(f"No moderation action {action!r}.")
    try:
        services.topic_moderate(topic=topic, user=request.user, **MODERATION[action])
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"The topic is {DONE[action]}.")
    return redirect("discussion:topic", slug=slug, topic_id=topic.pk)


@login_required
@require_POST
def reply_moderate(request: HttpRequest, slug: str, reply_id: int) -> HttpResponse:
    competition = competition_or_http404(request, slug)
    reply = selectors.reply_get(competition=competition, reply_id=reply_id, user=request.user)
    if reply is None:
        raise Http404(f"No reply {reply_id}.")
    action = request.POST.get("action", "")
    if action not in ("hide", "show"):
        raise Http404(f"No moderation action {action!r}.")
    try:
        services.reply_moderate(reply=reply, user=request.user, hidden=action == "hide")
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"The reply is {DONE[action]}.")
    url = reverse("discussion:topic", kwargs={"slug": slug, "topic_id": reply.topic_id})
    return redirect(f"{url}#reply-{reply.pk}")
