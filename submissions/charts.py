"""The leaderboard's chart: the best score over time, as a server-rendered SVG.

Only called after :func:`submissions.selectors.leaderboard_get` allowed the
viewer to see the split, with a metric the viewer's board shows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils.html import escape

from competitions.models import Phase, PhaseMetric
from submissions.models import Score, Submission


@dataclass(frozen=True)
class HistoryPoint:
    at: datetime
    value: float  # the best value so far, after this submission
    submission_id: int


def best_score_history(*, phase: Phase, split: str, viewer: Any, metric: str) -> list[HistoryPoint]:
    """Points where the best ``metric`` on ``split`` improved, in submission order (baselines excluded)."""
    direction = (
        PhaseMetric.objects.filter(phase=phase, metric=metric).values_list("direction", flat=True).first()
        or PhaseMetric.Direction.LOWER
    )
    rows = (
        Score.objects.filter(
            submission__phase=phase,
            submission__state=Submission.State.SCORED,
            submission__is_baseline=False,
            split=split,
            metric=metric,
        )
        .order_by("submission__created_at", "submission_id")
        .values_list("submission__created_at", "value", "submission_id")
    )
    points: list[HistoryPoint] = []
    best: float | None = None
    for at, value, submission_id in rows:
        if value is None or not math.isfinite(value):
            continue
        better = best is None or (value < best if direction == PhaseMetric.Direction.LOWER else value > best)
        if better:
            best = value
            points.append(HistoryPoint(at=at, value=value, submission_id=submission_id))
    return points


def history_svg(
    points: list[HistoryPoint], *, label: str, decimals: int = 3, width: int = 640, height: int = 220
) -> str:
    """A step chart of ``points`` with axes and a text alternative; empty string when there is nothing to draw."""
    if not points:
        return ""
    left, right, top, bottom = 64, 16, 16, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    times = [point.at.timestamp() for point in points]
    values = [point.value for point in points]
    t0, t1 = min(times), max(times)
    v0, v1 = min(values), max(values)
    if t1 == t0:
        t1 = t0 + 1
    if v1 == v0:
        v0, v1 = v0 - 0.5 * (abs(v0) or 1), v1 + 0.5 * (abs(v1) or 1)

    def x(t: float) -> float:
        return left + (t - t0) / (t1 - t0) * plot_w

    def y(v: float) -> float:
        return top + (v1 - v) / (v1 - v0) * plot_h

    path = [f"M{x(times[0]):.1f},{y(values[0]):.1f}"]
    for t, v in zip(times[1:], values[1:], strict=True):
        path.append(f"H{x(t):.1f}V{y(v):.1f}")
    path.append(f"H{left + plot_w:.1f}")
    dots = "".join(
        f'<circle cx="{x(t):.1f}" cy="{y(v):.1f}" r="3"><title>{escape(f"{v:.{decimals}f}")} '
        f"on {point.at:%Y-%m-%d %H:%M} UTC</title></circle>"
        for t, v, point in zip(times, values, points, strict=True)
    )
    best = values[-1]
    description = (
        f"Best {label} over time: {len(points)} improvements, from {values[0]:.{decimals}f} "
        f"on {points[0].at:%Y-%m-%d} to {best:.{decimals}f} on {points[-1].at:%Y-%m-%d}."
    )
    return (
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-labelledby="chart-title chart-desc" '
        f'xmlns="http://www.w3.org/2000/svg">'
        f'<title id="chart-title">Best {escape(label)} over time</title><desc id="chart-desc">{escape(description)}</desc>'
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" class="axis"/>'
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" class="axis"/>'
        f'<text x="{left - 6}" y="{top + 4}" text-anchor="end" class="tick">{v1:.{decimals}f}</text>'
        f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end" class="tick">{v0:.{decimals}f}</text>'
        f'<text x="{left}" y="{height - 12}" class="tick">{points[0].at:%Y-%m-%d}</text>'
        f'<text x="{left + plot_w}" y="{height - 12}" text-anchor="end" class="tick">{points[-1].at:%Y-%m-%d}</text>'
        f'<path d="{"".join(path)}" class="line"/>{dots}</svg>'
    )
