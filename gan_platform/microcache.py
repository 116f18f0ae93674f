"""Microcaching: a process-local copy of anonymous responses that a view itself declared
shareable, served for at most a second or so.

A view that answers ``Cache-Control: public, max-age=N`` tells every HTTP cache between it and
the reader (a CDN, a proxy, the browser) that the response may be reused for ``N`` seconds by
anyone. :func:`microcached` does the same inside the process, for the requests that provably
carry no identity (no ``Authorization`` header, no session or messages cookie): the first one
runs the view, the others within ``min(N, ATELIER_MICROCACHE_SECONDS)`` get its bytes. When an
entry has expired, one request reads the page again while the others of the process are served the
expired copy for at most one more window (so that the threads of a worker do not all read the same
page at once). Nothing is ever invalidated, from this process or another: an entry simply ages out,
so a change is visible at most two windows late (the leaderboards promise 2 s; the default window
is 0.5 s). A hit still
passes every middleware on the way out (security and CSP headers, ...).

Only a 200 with a body is kept, and not when the response would set a cookie (a CSRF token or a
session was made while rendering): those belong to one reader. ``If-None-Match`` naming the kept
``ETag`` is answered 304 from the entry. ``ATELIER_MICROCACHE_SECONDS=0`` turns it off (the test
settings do, so that a test sees its own writes at once; the tests of this module turn it on).
"""

from __future__ import annotations

import functools
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse

__all__ = ["clear", "microcached"]

MAX_ENTRIES = 512
"""Entries kept per process (least recently stored dropped first): pages of a few boards."""

_MAX_AGE = re.compile(r"(?:^|,)\s*max-age=(\d+)")
_KEPT_HEADERS = ("Content-Type", "ETag", "Cache-Control", "Vary", "Content-Language", "Link", "X-Total-Count")


@dataclass(frozen=True)
class _Entry:
    expires: float
    status: int
    content: bytes
    headers: tuple[tuple[str, str], ...]


_entries: OrderedDict[str, _Entry] = OrderedDict()
_refreshing: set[str] = set()
_lock = threading.Lock()


def clear() -> None:
    """Forget every entry of this process."""
    with _lock:
        _entries.clear()
        _refreshing.clear()


def _seconds() -> float:
    return float(getattr(settings, "ATELIER_MICROCACHE_SECONDS", 0) or 0)


def _anonymous(request: HttpRequest) -> bool:
    """Whether ``request`` carries nothing that could make its response differ from another
    anonymous reader's: no credentials, no session, no pending messages."""
    if request.method not in ("GET", "HEAD") or "HTTP_AUTHORIZATION" in request.META:
        return False
    cookies = request.COOKIES
    return settings.SESSION_COOKIE_NAME not in cookies and "messages" not in cookies


def _key(request: HttpRequest) -> str:
    meta = request.META
    return "\n".join(
        (request.get_host(), request.get_full_path(), meta.get("HTTP_ACCEPT", ""), meta.get("HTTP_ACCEPT_LANGUAGE", ""))
    )


def _shareable_for(response: HttpResponse, request: HttpRequest) -> float:
    """Seconds ``response`` may be kept (0: not at all)."""
    if response.status_code != 200 or response.streaming or response.cookies:
        return 0.0
    if request.META.get("CSRF_COOKIE_NEEDS_UPDATE") or getattr(getattr(request, "session", None), "modified", False):
        return 0.0  # a token or a session was made for this reader
    control = response.get("Cache-Control", "")
    if "public" not in control or "no-store" in control or "private" in control:
        return 0.0
    found = _MAX_AGE.search(control)
    return min(float(found.group(1)), _seconds()) if found else 0.0


def _replay(entry: _Entry, request: HttpRequest) -> HttpResponse:
    headers = dict(entry.headers)
    etag = headers.get("ETag")
    if etag is not None and request.method in ("GET", "HEAD"):
        tags = [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]
        if etag in tags or "*" in tags:
            response = HttpResponse(status=304)
            for name in ("ETag", "Cache-Control", "Vary"):
                if name in headers:
                    response[name] = headers[name]
            return response
    response = HttpResponse(entry.content, status=entry.status)
    for name, value in entry.headers:
        response[name] = value
    return response


def microcached(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Wrap ``view`` (a Django view function, e.g. ``SomeApi.as_view()``) with the microcache."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if _seconds() <= 0 or not _anonymous(request):
            return view(request, *args, **kwargs)
        key = _key(request)
        now = time.monotonic()
        refreshing = False
        with _lock:
            entry = _entries.get(key)
            if entry is not None and entry.expires <= now:
                if key in _refreshing and now < entry.expires + _seconds():
                    pass  # another request of this process reads it again: serve the expired copy meanwhile
                else:
                    _refreshing.add(key)
                    refreshing = True
                    entry = None
        if entry is not None:
            return _replay(entry, request)
        try:
            response = view(request, *args, **kwargs)
            if hasattr(response, "render") and callable(response.render) and not getattr(response, "is_rendered", True):
                response.render()
            keep = _shareable_for(response, request)
            if keep > 0:
                headers = tuple((name, response[name]) for name in _KEPT_HEADERS if name in response)
                stored = _Entry(
                    expires=time.monotonic() + keep,
                    status=response.status_code,
                    content=response.content,
                    headers=headers,
                )
                with _lock:
                    _entries[key] = stored
                    _entries.move_to_end(key)
                    while len(_entries) > MAX_ENTRIES:
                        _entries.popitem(last=False)
        finally:
            if refreshing:
                with _lock:
                    _refreshing.discard(key)
        return response

    return wrapper
