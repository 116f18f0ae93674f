"""Template filters of the pages: safe Markdown, metric values, byte sizes."""

from __future__ import annotations

import math

import markdown as markdown_lib
import nh3
from django import template
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
    if size is None:
        return "—"
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.0f} MB" if size % (1024 * 1024) == 0 else f"{size / (1024 * 1024):.1f} MB"
    return f"{size / 1024:.0f} KB"


@register.filter
def get_item(mapping, key):
    """``mapping[key]`` in a template, None when missing."""
    if mapping is None:
        return None
    return mapping.get(key)
