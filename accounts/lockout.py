"""What a client sees when it is throttled: a page, or the API's JSON error, with ``Retry-After``."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone

from accounts.throttles import Throttled, login_lockout
from gan_platform.errors import error_body


def throttled_page(request: HttpRequest, refusal: Throttled, *, action: str) -> HttpResponse:
    response = render(
        request,
        "registration/throttled.html",
        {"message": refusal.message(action), "retry_at": refusal.retry_at},
        status=429,
    )
    response["Retry-After"] = str(refusal.retry_after_seconds)
    return response


def throttled_json(refusal: Throttled, *, action: str) -> JsonResponse:
    seconds = refusal.retry_after_seconds
    body = error_body("throttled", refusal.message(action), wait=seconds, retry_at=refusal.retry_at.isoformat())
    response = JsonResponse(body, status=429)
    response["Retry-After"] = str(seconds)
    return response


def login_lockout_response(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """``AXES_LOCKOUT_CALLABLE``: the answer to a login attempt while axes locks it out."""
    refusal = login_lockout(request, credentials) or Throttled(
        retry_at=timezone.now() + timezone.timedelta(minutes=1), reason="address"
    )
    if request.path.startswith("/api/"):
        return throttled_json(refusal, action="login")
    return throttled_page(request, refusal, action="login")
