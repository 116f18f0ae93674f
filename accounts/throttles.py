"""Throttles of the accounts app, shared by every process through the database.

Failed logins (the login page, the admin, ``POST /api/v1/auth/token/``) are
counted by django-axes with its database handler; this module adds what axes
does not cover (sign-up and password reset) with a sliding-window log in
:class:`accounts.models.ThrottleHit`, and the one place that turns either into
"try again at ...". A cache would not do: in the embedded configuration every
process has its own.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from axes.handlers.proxy import AxesProxyHandler
from axes.models import AccessAttempt
from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import ThrottleHit


@dataclass(frozen=True)
class Limit:
    """At most ``count`` attempts per ``window_seconds`` for one key of ``scope``."""

    scope: str
    count: int
    window_seconds: int


@dataclass(frozen=True)
class Throttled(Exception):
    """The action is refused until ``retry_at``; ``reason`` says by what (``"address"``, ``"account"``)."""

    retry_at: datetime
    reason: str

    @property
    def retry_after_seconds(self) -> int:
        return max(1, math.ceil((self.retry_at - timezone.now()).total_seconds()))

    def message(self, action: str) -> str:
        """``"Too many login attempts for this account. Try again in 15 minutes (at 10:45 UTC)."``"""
        seconds = self.retry_after_seconds
        if seconds < 120:
            wait = f"{seconds} seconds"
        else:
            wait = f"{math.ceil(seconds / 60)} minutes"
        at = timezone.localtime(self.retry_at).strftime("%H:%M:%S %Z")
        whose = "from your address" if self.reason == "address" else "for this account"
        return f"Too many {action} attempts {whose}. Try again in {wait} (at {at})."


def client_address(request: HttpRequest) -> str:
    """The client's IP address: ``REMOTE_ADDR``, or the ``X-Forwarded-For`` entry our own proxies added.

    With ``ATELIER_TRUSTED_PROXIES = n`` (> 0), the n-th address from the right of
    ``X-Forwarded-For`` is the client's (each trusted proxy appends the address it
    saw); entries further left are the client's own claims and never trusted.
    Also ``AXES_CLIENT_IP_CALLABLE``.
    """
    proxies = settings.ATELIER_TRUSTED_PROXIES
    remote = request.META.get("REMOTE_ADDR", "") or ""
    if proxies <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if len(forwarded) >= proxies:
        return forwarded[-proxies]
    return remote


def account_key(value: str | None) -> str:
    """A username or e-mail address as one throttle key: case and surrounding spaces ignored."""
    return (value or "").strip().lower()


def login_username(request: HttpRequest, credentials: dict | None) -> str | None:
    """``AXES_USERNAME_CALLABLE``: the account a login attempt names, normalised like :func:`account_key`."""
    field = settings.AXES_USERNAME_FORM_FIELD
    raw = (credentials or {}).get(field)
    if raw is None:
        data = getattr(request, "data", None) or request.POST
        raw = data.get(field)
    return account_key(raw) if raw else None


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _retry_at(hits: list[datetime], limit: Limit) -> datetime | None:
    """When the window holds fewer than ``limit.count`` of ``hits`` (newest first); None when it does now."""
    if len(hits) < limit.count:
        return None
    return hits[limit.count - 1] + timedelta(seconds=limit.window_seconds)


@transaction.atomic
def throttle_hit(*, limits: dict[str, tuple[Limit, str]]) -> None:
    """Record one attempt under each ``reason: (limit, key)``, or raise :class:`Throttled` and record nothing.

    Keys that are empty (no e-mail given) are not counted. A refused attempt is
    not recorded, so the retry time shown stays true.
    """
    now = timezone.now()
    refusals: list[Throttled] = []
    pending: list[ThrottleHit] = []
    for reason, (limit, key) in limits.items():
        if not key:
            continue
        digest = _digest(key)
        since = now - timedelta(seconds=limit.window_seconds)
        ThrottleHit.objects.filter(scope=limit.scope, created_at__lte=since).delete()
        hits = list(
            ThrottleHit.objects.filter(scope=limit.scope, key=digest, created_at__gt=since)
            .order_by("-created_at")
            .values_list("created_at", flat=True)[: limit.count]
        )
        retry_at = _retry_at(hits, limit)
        if retry_at is not None:
            refusals.append(Throttled(retry_at=retry_at, reason=reason))
        pending.append(ThrottleHit(scope=limit.scope, key=digest, created_at=now))
    if refusals:
        raise max(refusals, key=lambda refusal: refusal.retry_at)
    ThrottleHit.objects.bulk_create(pending)


def sign_up_limits(request: HttpRequest, *, username: str, email: str) -> dict[str, tuple[Limit, str]]:
    per_address = Limit("sign-up:address", settings.ATELIER_SIGN_UP_LIMIT, 3600)
    per_account = Limit("sign-up:account", settings.ATELIER_SIGN_UP_LIMIT, 3600)
    return {
        "address": (per_address, client_address(request)),
        "account": (per_account, account_key(email) or account_key(username)),
    }


def password_reset_limits(request: HttpRequest, *, email: str) -> dict[str, tuple[Limit, str]]:
    per_address = Limit("password-reset:address", settings.ATELIER_PASSWORD_RESET_LIMIT, 3600)
    # Fewer per address than per client: each one sends a mail to somebody's inbox.
    per_account = Limit("password-reset:account", max(1, settings.ATELIER_PASSWORD_RESET_LIMIT // 3), 3600)
    return {"address": (per_address, client_address(request)), "account": (per_account, account_key(email))}


def login_lockout(request: HttpRequest, credentials: dict | None) -> Throttled | None:
    """Why and until when axes refuses logins for this request's address or account, or None.

    Axes locks while the failures recorded in the last ``AXES_COOLOFF_TIME`` reach
    ``AXES_FAILURE_LIMIT``, per address or per account (each record counts the
    failures of one address, account and user agent, stamped with the last one):
    the lock lifts when enough records have aged out.
    """
    AxesProxyHandler.update_request(request)
    limit = settings.AXES_FAILURE_LIMIT
    cool_off = settings.AXES_COOLOFF_TIME
    username = login_username(request, credentials)
    found: list[Throttled] = []
    for reason, filters in (("address", {"ip_address": request.axes_ip_address}), ("account", {"username": username})):
        if filters.get("username", "") is None:
            continue
        rows = AccessAttempt.objects.filter(attempt_time__gte=timezone.now() - cool_off, **filters).order_by(
            "-attempt_time"
        )
        if (rows.aggregate(total=Sum("failures_since_start"))["total"] or 0) < limit:
            continue
        running = 0
        for attempt_time, failures in rows.values_list("attempt_time", "failures_since_start"):
            running += failures
            if running >= limit:
                found.append(Throttled(retry_at=attempt_time + cool_off, reason=reason))
                break
    return max(found, key=lambda item: item.retry_at) if found else None
