"""The competition a request names, or the answer for one it may not see, for the pages and the API.

One place for the rule every view starts with: a competition the requester may not see (or, for
the organizer pages, does not organise) answers 404, so that its existence does not leak.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest

from competitions.models import Competition
from competitions.selectors import competition_get, is_organizer
from gan_platform.errors import found_or_not_found


def competition_or_http404(request: HttpRequest, slug: str) -> Competition:
    """For pages: the competition ``slug`` if the requester may see it, else ``Http404``."""
    competition = competition_get(slug=slug, user=request.user)
    if competition is None:
        raise Http404(f"No competition {slug!r}.")
    return competition


def organized_or_http404(request: HttpRequest, slug: str) -> Competition:
    """For organizer pages: the competition ``slug`` if the requester organises it, else ``Http404``."""
    competition = competition_get(slug=slug, user=request.user)
    if competition is None or not is_organizer(competition=competition, user=request.user):
        raise Http404(f"No competition {slug!r} that you organise.")
    return competition


def competition_or_not_found(*, slug: str, user: Any) -> Competition:
    """For the API: the competition ``slug`` if ``user`` may see it.

    Raises:
        ApplicationError: ``not_found`` (404).
    """
    return found_or_not_found(competition_get(slug=slug, user=user), f"No competition {slug!r} that you may see.")
