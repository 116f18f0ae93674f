"""The leaderboard's chart: the top teams' best score over time, as a server-rendered SVG.

Drawn from :func:`submissions.leaderboards.leaderboard_history` (cached per standings version), so
it costs the top teams' submissions, never the whole field's. Each team is a step line with its
own colour and dash pattern (told apart without colour too), named in a legend and in the text
alternative.
"""

from __future__ import annotations

from django.utils.html import escape

from submissions.leaderboards import HistorySeries

# Okabe-Ito colours (distinguishable with the common colour-vision deficiencies; the last two
# darkened for 3:1 against the card), each with its own dash pattern.
SERIES_STYLES = (
    ("#0072b2", ""),
    ("#d55e00", "6 3"),
    ("#009e73", "2 3"),
    ("#a8447c", "8 3 2 3"),
    ("#7a5c00", "1 2"),
)


def history_chart_svg(
    series: list[HistorySeries], *, label: str, decimals: int = 3, width: int = 640, height: int = 260
) -> str:
    """A step chart of each team's best-so-far ``label``, with axes, a legend and a text
    alternative; empty string when there is nothing to draw."""
    series = [line for line in series if line.points][: len(SERIES_STYLES)]
    if not series:
        return ""
    left, right, top = 64, 16, 16
    legend_h = 18 * len(series)
    bottom = 40 + legend_h
    plot_w, plot_h = width - left - right, height - top - bottom
    if plot_h < 60:
        height += 60 - plot_h
        plot_h = 60
    times = [at.timestamp() for line in series for at, _, _ in line.points]
    values = [value for line in series for _, value, _ in line.points]
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

    first = min(line.points[0][0] for line in series)
    last = max(line.points[-1][0] for line in series)
    parts = []
    summaries = []
    for index, line in enumerate(series):
        colour, dash = SERIES_STYLES[index]
        (at0, value0, _), *rest = line.points
        path = [f"M{x(at0.timestamp()):.1f},{y(value0):.1f}"]
        for at, value, _ in rest:
            path.append(f"H{x(at.timestamp()):.1f}V{y(value):.1f}")
        path.append(f"H{left + plot_w:.1f}")
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(f'<path d="{"".join(path)}" class="series" stroke="{colour}"{dash_attr}/>')
        for at, value, _ in line.points:
            parts.append(
                f'<circle cx="{x(at.timestamp()):.1f}" cy="{y(value):.1f}" r="3" fill="{colour}">'
                f"<title>{escape(line.team)}: {escape(f'{value:.{decimals}f}')} on {at:%Y-%m-%d %H:%M} UTC</title>"
                "</circle>"
            )
        legend_y = height - legend_h + 18 * index
        parts.append(
            f'<line x1="{left}" y1="{legend_y - 4}" x2="{left + 28}" y2="{legend_y - 4}" class="series" '
            f'stroke="{colour}"{dash_attr}/>'
            f'<text x="{left + 36}" y="{legend_y}" class="tick legend">{escape(line.team)}</text>'
        )
        best = line.points[-1][1]
        summaries.append(f"{line.team}: {len(line.points)} improvements, best {best:.{decimals}f}")
    description = f"Best {label} over time of the top {len(series)} teams. " + "; ".join(summaries) + "."
    axis_y = top + plot_h
    return (
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-labelledby="chart-title chart-desc" '
        f'xmlns="http://www.w3.org/2000/svg">'
        f'<title id="chart-title">Best {escape(label)} over time</title><desc id="chart-desc">{escape(description)}</desc>'
        f'<line x1="{left}" y1="{axis_y}" x2="{left + plot_w}" y2="{axis_y}" class="axis"/>'
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{axis_y}" class="axis"/>'
        f'<text x="{left - 6}" y="{top + 4}" text-anchor="end" class="tick">{v1:.{decimals}f}</text>'
        f'<text x="{left - 6}" y="{axis_y}" text-anchor="end" class="tick">{v0:.{decimals}f}</text>'
        f'<text x="{left}" y="{axis_y + 20}" class="tick">{first:%Y-%m-%d}</text>'
        f'<text x="{left + plot_w}" y="{axis_y + 20}" text-anchor="end" class="tick">{last:%Y-%m-%d}</text>'
        f"{''.join(parts)}</svg>"
    )
