"""Human-readable output: stdout and stderr lines, JSON, tables, times, scores and values."""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable, Sequence
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


def _answer_out(value: Any, text: str, *, as_json: bool) -> None:
    """A command's answer: the API's ``value`` as JSON with ``--json``, else the sentence ``text``."""
    if as_json:
        _json_out(value)
    else:
        _out(text)


def table_render(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Left-aligned columns separated by two spaces; ``None`` shows as ``-``."""
    cells = [[str(header) for header in headers]] + [
        ["-" if cell is None else str(cell) for cell in row] for row in rows
    ]
    widths = [max(len(row[column]) for row in cells) for column in range(len(headers))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


def output_width() -> int | None:
    """Columns the output may use: ``$COLUMNS``, else the terminal's width; ``None`` (no limit) when
    stdout is not a terminal and ``COLUMNS`` is unset, so piped output keeps every character."""
    if not os.environ.get("COLUMNS") and not sys.stdout.isatty():
        return None
    return shutil.get_terminal_size((100, 24)).columns


def truncate(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, the cut marked with an ellipsis."""
    if len(text) <= width:
        return text
    return text[: max(width - 1, 0)] + "\u2026"


def table_fit(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    width: int | None,
    shrinkable: Sequence[int] = (),
    optional: Sequence[int] = (),
    minimum: int = 8,
) -> tuple[str, list[str]]:
    """:func:`table_render` narrowed to ``width`` columns, and the headers of the columns left out.

    First the ``shrinkable`` columns (names) are truncated down to ``minimum`` characters, then the
    ``optional`` columns are left out from the last one listed, until the table fits.
    """
    headers = [str(header) for header in headers]
    original = [["-" if cell is None else str(cell) for cell in row] for row in rows]
    left_out = list(reversed(list(optional)))
    for count in range(len(left_out) + 1):
        keep = [column for column in range(len(headers)) if column not in left_out[:count]]
        cells = [list(row) for row in original]

        def render(cells: list[list[str]] = cells, keep: list[int] = keep) -> str:
            return table_render([headers[i] for i in keep], [[row[i] for i in keep] for row in cells])

        def widest(render: Callable[[], str] = render) -> int:
            return max((len(line) for line in render().splitlines()), default=0)

        for column in shrinkable:
            if width is None or widest() <= width:
                break
            current = max([len(headers[column]), *(len(row[column]) for row in cells)])
            limit = max(minimum, current - (widest() - width))
            for row in cells:
                row[column] = truncate(row[column], limit)
        if width is None or widest() <= width or count == len(left_out):
            return render(), [headers[column] for column in sorted(left_out[:count])]
    raise AssertionError("unreachable")


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
    rows = []
    for score in scores:
        decimals = score.get("decimals") if isinstance(score.get("decimals"), int) else None
        label = score.get("label") or score.get("metric")
        rows.append(
            [
                score.get("split"),
                f"{label} (ranking)" if score.get("is_ranking") else label,
                _value_format(score.get("value"), decimals),
                _interval_format(score.get("interval"), decimals) or "-",
            ]
        )
    _out(table_render(["SPLIT", "METRIC", "VALUE", "INTERVAL"], rows))
    if any(score.get("calibrated") is False for score in scores):
        _out(UNCALIBRATED_NOTE)


def _api_error_text(error: ApiError) -> str:
    return f"{_one_line(error.message)} [{error.code}]"
