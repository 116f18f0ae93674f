"""Template filters of the pages: safe Markdown, metric values, byte sizes, compact relative times."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import markdown as markdown_lib
import nh3
from django import template
from django.utils import timezone
from django.utils.safestring import mark_safe

register = template.Library()

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "dl", "dt", "em", "h2", "h3", "h4", "h5", "h6",
    "hr", "i", "li", "ol", "p", "pre", "strong", "sub", "sup", "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip


@register.filter
def markdown(text: str | None) -> str:
    """Organizer-written Markdown as sanitised HTML (no scripts, styles, images or raw HTML attributes).

    Headings start at h2: the page has its own h1.
    """
    html = markdown_lib.markdown(text or "", extensions=["tables", "fenced_code", "sane_lists"])
    html = html.replace("<h1", "<h2").replace("</h1>", "</h2>")
    return mark_safe(nh3.clean(html, tags=ALLOWED_TAGS, link_rel="noopener noreferrer nofollow"))


@register.filter
def metric_value(value: float | str | None, decimals: int = 3) -> str:
    """A score with the metric's decimals; an em dash when missing or not finite."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "—"
    if not math.isfinite(number):
        return "—"
    return f"{number:.{int(decimals)}f}"


@register.filter
def metric_interval(interval, decimals: int = 3) -> str:
    """A confidence interval as "[low, high]", or an empty string."""
    if not interval or interval[0] is None or interval[1] is None:
        return ""
    return f"[{metric_value(interval[0], decimals)}, {metric_value(interval[1], decimals)}]"


@register.filter
def megabytes(size: int | None) -> str:
    """A byte count in decimal units, as labelled: ``20 MB`` is 20,000,000 bytes, ``1.5 kB`` 1,500."""
    if size is None:
        return "—"
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if size >= scale:
            text = f"{size / scale:.1f}".removesuffix(".0")
            return f"{text} {unit}"
    return f"{size} bytes"


@register.filter
def get_item(mapping, key):
    """``mapping[key]`` in a template, None when missing."""
    if mapping is None:
        return None
    return mapping.get(key)


def _moment(value: datetime | str | None) -> datetime | None:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@register.filter
def compact_since(value: datetime | str | None, now: datetime | None = None) -> str:
    """How long ago, in one short token: ``now``, ``5m``, ``3h``, ``2d``, ``7w``, ``1y`` (the page's
    script keeps it current; the exact time goes in the element's title)."""
    moment = _moment(value)
    if moment is None:
        return "\u2014"
    seconds = max(0, int(((now or timezone.now()) - moment).total_seconds()))
    for unit, size in (("y", 365 * 86400), ("w", 7 * 86400), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return "now"


@register.filter
def exact_utc(value: datetime | str | None) -> str:
    """``2026-12-05 12:34:56 UTC``: the exact time for a title attribute."""
    moment = _moment(value)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if moment is not None else ""


@register.filter
def duration_short(value) -> str:
    """A timedelta as ``3d 4h``, ``5h 12m`` or ``12m``."""
    seconds = int(value.total_seconds()) if value is not None else 0
    days, rest = divmod(max(seconds, 0), 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m"


@register.filter
def list_item(sequence, index: int):
    """``sequence[index]`` in a template, None when out of range."""
    try:
        return sequence[int(index)]
    except (IndexError, TypeError, ValueError):
        return None


@register.simple_tag
def joined_or_organizer(competition, user) -> bool:
    """Whether ``user`` joined ``competition`` or organises it (for pages whose view did not say)."""
    from competitions.selectors import is_organizer, participation_get

    if not getattr(user, "is_authenticated", False):
        return False
    return participation_get(competition=competition, user=user) is not None or is_organizer(
        competition=competition, user=user
    )
