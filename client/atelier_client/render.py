"""Human-readable output: stdout and stderr lines, JSON, tables, times, scores and values."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from atelier_client.api import ApiError


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def _note(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def _json_out(value: Any) -> None:
    _out(json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False))


def table_render(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Left-aligned columns separated by two spaces; ``None`` shows as ``-``."""
    cells = [[str(header) for header in headers]] + [
        ["-" if cell is None else str(cell) for cell in row] for row in rows
    ]
    widths = [max(len(row[column]) for row in cells) for column in range(len(headers))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


def time_format(value: Any) -> str:
    """``2026-12-01T00:00:00Z`` -> ``2026-12-01 00:00 UTC``; ``None`` -> ``-``; anything else unchanged."""
    if not value:
        return "-"
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _name(value: Any) -> str:
    """A related object as the API may give it: a slug string, or an object with slug/name/title."""
    if isinstance(value, dict):
        for key in ("slug", "name", "title", "id"):
            if value.get(key) is not None:
                return str(value[key])
        return "-"
    return "-" if value is None else str(value)


def _value_format(value: Any, decimals: int | None = None) -> str:
    if value is None:
        return "-"
    if not isinstance(value, int | float):
        return str(value)
    return f"{value:.{decimals}f}" if decimals is not None else f"{value:.5g}"


def _interval_format(interval: Any, decimals: int | None = None) -> str:
    if not interval or not isinstance(interval, list | tuple) or len(interval) != 2:
        return ""
    low, high = interval
    return f"[{_value_format(low, decimals)}, {_value_format(high, decimals)}]"


UNCALIBRATED_NOTE = (
    "note: uncalibrated scores, computed with random-initialised feature networks (tests and offline demos only): "
    "they are not comparable with published FID figures."
)


def _scores_print(detail: dict[str, Any]) -> None:
    scores = detail.get("scores") or []
    if not scores:
        _out("No scores.")
        return
    rows = [
        [
            score.get("split"),
            score.get("metric"),
            _value_format(score.get("value")),
            _interval_format(score.get("interval")) or "-",
        ]
        for score in scores
    ]
    _out(table_render(["SPLIT", "METRIC", "VALUE", "INTERVAL"], rows))
    if any(score.get("calibrated") is False for score in scores):
        _out(UNCALIBRATED_NOTE)


def _api_error_text(error: ApiError) -> str:
    return f"{_one_line(error.message)} [{error.code}]"
