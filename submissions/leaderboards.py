"""Reads of the leaderboards: pages of the standings, the viewer's own row, the full export, the
best-score history. Selectors in the sense of the conventions; kept apart from
``submissions.selectors`` for size. (Just over 500 lines: the page, my row and the export share
their ranking query.)

Every read costs O(page), not O(teams): rows come from :class:`~submissions.models.Standing`
in the order of its index, numbered by a window function (``ROW_NUMBER`` over the non-baseline
rows), ``LIMIT``/``OFFSET`` for the page; the viewer's rank is one ``COUNT`` of the rows before
it. What is shared by every viewer of an audience (a page's rows, the row count, the calibrated
flag, the history) is cached under the phase's standings version, read from the database on
every request, so a change is visible in every process as soon as it commits, whatever cache
backend each process has. A missing entry is built once (single flight, :func:`_shared`); the
others are served the previous version's entry meanwhile, labelled with its own version.

Visibility is the selectors' (:func:`submissions.selectors.leaderboard_visible`): the private split
only for organizers or after the reveal, hidden metrics only for organizers.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.core.cache import cache
from django.db.models import F, QuerySet, Window
from django.db.models.expressions import RawSQL
from django.db.models.functions import RowNumber

from competitions.models import Phase, PhaseMetric
from competitions.selectors import is_organizer
from gan_platform.errors import ApplicationError
from submissions.models import Score, Standing, StandingsState, Submission
from submissions.selectors import leaderboard_visible, split_visible, viewer_team

__all__ = [
    "PAGE_SIZE_DEFAULT",
    "PAGE_SIZE_MAX",
    "BoardView",
    "HistorySeries",
    "etag_matches",
    "leaderboard_etag",
    "leaderboard_get",
    "leaderboard_history",
    "leaderboard_page",
    "leaderboard_leader",
    "leaderboard_place",
    "leaderboard_rows_all",
    "leaderboard_view",
    "page_params",
]

PAGE_SIZE_DEFAULT = 50
PAGE_SIZE_MAX = 200
CACHE_SECONDS = 600
"""How long a shared entry stays cached; a new standings version makes it unreachable at once."""
BUILD_LOCK_SECONDS = 10
HISTORY_TEAMS = 5

_ORDER = [F(name).asc() for name in Standing.ORDER]
_FIELDS = (
    "is_baseline",
    "team_id",
    "team__name",
    "submission_id",
    "submission__description",
    "submitted_at",
    "values",
    "calibrated",
    "entries",
    "last_submitted_at",
    "held",
)
BASELINE_NAME_CHARACTERS = 32


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class BoardView:
    """What one request may see of one board: resolved once, used by every read below."""

    phase: Phase
    split: str
    audience: str  # "organizer" or "participant"
    metrics: list[PhaseMetric]  # the metrics this audience sees, in the phase's order
    ranking: PhaseMetric | None
    version: int
    team_id: int | None
    calibrated_competition: bool

    @property
    def shape(self) -> str:
        """A digest of what shapes the rows besides the standings: the shown metrics' settings."""
        parts = [f"{m.metric}:{m.is_ranking}:{m.direction}:{m.decimals}:{m.order}" for m in self.metrics]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:12]

    @property
    def key(self) -> str:
        return f"{self.phase.pk}:{self.split}:{self.audience}:{self.shape}"


def leaderboard_view(*, phase: Phase, split: str, viewer: Any, now: datetime | None = None) -> BoardView:
    """Check that ``viewer`` may see the ``split`` board of ``phase`` and resolve what they see.

    Raises:
        ApplicationError: see :func:`submissions.selectors.leaderboard_visible`.
    """
    leaderboard_visible(phase=phase, split=split, viewer=viewer, now=now)
    organizer = is_organizer(competition=phase.competition, user=viewer)
    metrics = list(phase.metrics.all())
    shown = metrics if organizer else [metric for metric in metrics if metric.shown]
    version = StandingsState.objects.filter(phase_id=phase.pk).values_list("version", flat=True).first()
    if version is None:
        # standings from before this version, or a phase no event touched yet: built once, under
        # the standings lock (a concurrent reader waits for it, it does not build again)
        from submissions.standings import standings_rebuild

        standings_rebuild(phase_id=phase.pk)
        version = StandingsState.objects.values_list("version", flat=True).get(phase_id=phase.pk)
    team = viewer_team(competition=phase.competition, user=viewer)
    return BoardView(
        phase=phase,
        split=split,
        audience="organizer" if organizer else "participant",
        metrics=shown,
        ranking=next((metric for metric in metrics if metric.is_ranking), None),
        version=version,
        team_id=team.pk if team is not None else None,
        calibrated_competition=phase.competition.calibrated,
    )


def page_params(page: Any, page_size: Any) -> tuple[int, int]:
    """``(page, page_size)`` from query parameters (``None``: the defaults).

    Raises:
        ApplicationError: ``validation_error`` naming the parameter and the allowed range.
    """

    def whole(name: str, value: Any, default: int, top: int | None) -> int:
        if value in (None, ""):
            return default
        try:
            number = int(value)
        except (TypeError, ValueError):
            number = 0
        if number < 1 or (top is not None and number > top):
            allowed = f"from 1 to {top}" if top is not None else "from 1"
            raise ApplicationError(
                f"{name}: must be a whole number {allowed}; got {value!r}.",
                code="validation_error",
                extra={"fields": {name: [f"A whole number {allowed}."]}},
            )
        return number

    return whole("page", page, 1, None), whole("page_size", page_size, PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX)


def leaderboard_etag(view: BoardView, *, version: int | None = None, variant: str = "") -> str:
    """The entity tag of what ``view`` shows at ``version`` (default: the current one), for one
    ``variant`` of the response (page, page size, format)."""
    text = (
        f"{view.key}:{view.version if version is None else version}:{view.team_id}:"
        f"{view.calibrated_competition}:{variant}"
    )
    return '"' + hashlib.sha256(text.encode()).hexdigest()[:32] + '"'


def etag_matches(if_none_match: str, etag: str) -> bool:
    """Whether an ``If-None-Match`` header value names ``etag`` (or ``*``)."""
    tags = [tag.strip() for tag in if_none_match.split(",")]
    return etag in tags or "*" in tags


# --- the shared entries -------------------------------------------------------------------


def _shared(name: str, view: BoardView, compute: Callable[[], Any]) -> tuple[int, Any]:
    """``(version, value)`` of the shared entry ``name`` of ``view``: the current version's when
    cached; else built by one request (a lock in the cache) while the others get the previous
    version's value if there is one (they compute it themselves when there is none)."""
    key = f"lb:{view.key}:{name}"
    current = f"{key}:v{view.version}"
    value = cache.get(current)
    if value is not None:
        return view.version, value
    lock = f"{current}:building"
    if cache.add(lock, 1, timeout=BUILD_LOCK_SECONDS):
        try:
            value = compute()
            cache.set_many({current: value, f"{key}:latest": (view.version, value)}, timeout=CACHE_SECONDS)
        finally:
            cache.delete(lock)
        return view.version, value
    previous = cache.get(f"{key}:latest")
    if previous is not None and previous[0] < view.version:
        return previous
    return view.version, compute()


def _standings(view: BoardView) -> QuerySet[Standing]:
    return Standing.objects.filter(phase_id=view.phase.pk, split=view.split)


def _ranked(view: BoardView) -> QuerySet[Standing]:
    """The standings in board order, numbered among the non-baseline rows (``position``)."""
    return (
        _standings(view)
        .annotate(position=Window(RowNumber(), partition_by=[F("is_baseline")], order_by=_ORDER))
        .order_by(*_ORDER)
    )


def baseline_short_name(description: str) -> str:
    """A baseline's name in the team column: its description's first clause, at most
    :data:`BASELINE_NAME_CHARACTERS` characters (the whole description goes on hover)."""
    text = " ".join(description.split())
    clause = re.split(r"(?<=[^\s])[.:;,(\u2014]|\s-\s", text, maxsplit=1)[0].strip() if text else ""
    if len(clause) > BASELINE_NAME_CHARACTERS:
        clause = clause[: BASELINE_NAME_CHARACTERS - 1].rsplit(" ", 1)[0].rstrip() + "\u2026"
    return f"Baseline: {clause}" if clause else "Baseline"


def _row_name(row: dict[str, Any]) -> str:
    if row["team_id"] is not None:
        return row["team__name"]
    return baseline_short_name(row["submission__description"] or "")


def _format(view: BoardView, row: dict[str, Any], rank: int | None) -> dict[str, Any]:
    values = row["values"]
    scores = {}
    for metric in view.metrics:
        found = values.get(metric.metric)
        if found is not None:
            value, low, high = found
            scores[metric.metric] = {
                "value": value,
                "interval": [low, high] if low is not None and high is not None else None,
            }
    return {
        "rank": rank if view.ranking is not None and not row["is_baseline"] else None,
        "team": _row_name(row),
        "submission_id": row["submission_id"],
        "is_baseline": row["is_baseline"],
        "scores": scores,
        "submitted_at": _iso(row["submitted_at"]),
        "entries": row["entries"],
        "rerunning": row["held"],
        "last_submitted_at": _iso(row["last_submitted_at"] or row["submitted_at"]),
        "description": (row["submission__description"] or None) if row["team_id"] is None else None,
        "_team_id": row["team_id"],
    }


def _summary(view: BoardView) -> dict[str, Any]:
    standings = _standings(view)
    return {
        "count": standings.count(),
        "calibrated": not standings.filter(calibrated=False).exists(),
    }


def _page_rows(view: BoardView, page: int, page_size: int) -> list[dict[str, Any]]:
    offset = (page - 1) * page_size
    rows = _ranked(view).values("position", *_FIELDS)[offset : offset + page_size]
    return [_format(view, row, row["position"]) for row in rows]


def _before_count(*, baselines: bool) -> RawSQL:
    """The number of rows of the same board ordered before the row at hand (a correlated
    ``COUNT`` with a row-value comparison over :data:`Standing.ORDER`, which the board's index
    serves); without ``baselines``, only the ranked rows."""
    table = Standing._meta.db_table
    others = ", ".join(f"other.{name}" for name in Standing.ORDER)
    this = ", ".join(f"{table}.{name}" for name in Standing.ORDER)
    ranked = "" if baselines else " AND NOT other.is_baseline"
    return RawSQL(
        f"SELECT COUNT(*) FROM {table} other WHERE other.phase_id = {table}.phase_id AND "
        f"other.split = {table}.split{ranked} AND ({others}) < ({this})",
        (),
    )


def _mine(view: BoardView, page_size: int) -> dict[str, Any] | None:
    """The viewer's team's row with its rank, position and page, or None (one query)."""
    if view.team_id is None:
        return None
    row = (
        _standings(view)
        .filter(team_id=view.team_id, is_baseline=False)
        .annotate(before_all=_before_count(baselines=True), before_ranked=_before_count(baselines=False))
        .values("before_all", "before_ranked", *_FIELDS)
        .first()
    )
    if row is None:
        return None
    mine = _format(view, row, row["before_ranked"] + 1)
    mine["position"] = row["before_all"] + 1
    mine["page"] = row["before_all"] // page_size + 1
    mine.pop("_team_id")
    mine["is_mine"] = True
    return mine


def leaderboard_leader(view: BoardView) -> dict[str, Any] | None:
    """The first ranked row of the board (the current leader), or None (one query)."""
    if view.ranking is None:
        return None
    row = _standings(view).filter(is_baseline=False).order_by(*_ORDER).values(*_FIELDS).first()
    if row is None:
        return None
    leader = _format(view, row, 1)
    leader.pop("_team_id")
    return leader


def leaderboard_place(*, submission: Submission, viewer: Any) -> dict[str, Any]:
    """Where ``submission`` stands on the public board as ``viewer`` may see it (one or two queries).

    Returns ``rank`` (None when unranked), ``page`` and ``anchor`` (its row's id on that page, or
    None when it has no row), ``counting_id`` (the team's submission that holds the row, when another
    one does) and ``reason`` (why it has no rank, in one sentence, or None).
    """
    place: dict[str, Any] = {"rank": None, "page": None, "anchor": None, "counting_id": None, "reason": None}
    phase = submission.phase
    if submission.state != Submission.State.SCORED:
        reasons = {
            Submission.State.FAILED: "It failed, so it has no score and no place on the board.",
            Submission.State.CANCELLED: "It was cancelled, so it has no place on the board.",
        }
        place["reason"] = reasons.get(submission.state, "It is not scored yet; its place appears once it is.")
        return place
    try:
        view = leaderboard_view(phase=phase, split=Score.Split.PUBLIC, viewer=viewer)
    except ApplicationError as error:
        place["reason"] = error.message
        return place
    if view.ranking is None:
        place["reason"] = "The phase has no ranking metric yet, so no submission is ranked."
        return place
    rows = _standings(view).annotate(
        before_all=_before_count(baselines=True), before_ranked=_before_count(baselines=False)
    )
    if submission.is_baseline:
        rows = rows.filter(entrant=f"baseline:{submission.pk}")
    elif submission.team_id is not None:
        rows = rows.filter(team_id=submission.team_id, is_baseline=False)
    else:
        rows = rows.none()
    row = rows.values("before_all", "before_ranked", "submission_id", "missing").first()
    if row is None:
        place["reason"] = "It has no finite score on the ranking metric, so it is not on the board."
        return place
    place["page"] = row["before_all"] // PAGE_SIZE_DEFAULT + 1
    mine = view.team_id is not None and view.team_id == submission.team_id and not submission.is_baseline
    place["anchor"] = "mine" if mine else f"row-{row['submission_id']}"
    if submission.is_baseline:
        place["reason"] = "Baselines are shown on the board for comparison; they are not ranked."
    elif row["submission_id"] != submission.pk:
        place["counting_id"] = row["submission_id"]
        place["rank"] = row["before_ranked"] + 1
        place["reason"] = "Another submission of the team scores better and holds its row on the board."
    elif row["missing"]:
        place["reason"] = "It has no finite score on the ranking metric, so it is placed after the ranked rows."
    else:
        place["rank"] = row["before_ranked"] + 1
    return place


def leaderboard_page(view: BoardView, *, page: int = 1, page_size: int = PAGE_SIZE_DEFAULT) -> dict[str, Any]:
    """One page of the board of ``view``, with ``mine`` (the viewer's team's row, its rank and
    page, wherever it is; None without one), ``count`` (rows, baselines included), ``pages`` and
    ``version`` (of the standings the rows come from).

    Raises:
        ApplicationError: ``not_found`` (404) for a page after the last.
    """
    _, summary = _shared("summary", view, lambda: _summary(view))
    pages = max(1, math.ceil(summary["count"] / page_size))
    if page > pages:
        raise ApplicationError(
            f"page: the board has {pages} page(s) of {page_size} rows; page {page} does not exist.",
            code="not_found",
            status=404,
        )
    version, rows = _shared(f"page:{page}:{page_size}", view, lambda: _page_rows(view, page, page_size))
    shown_rows = []
    for row in rows:
        row = dict(row)
        row_team = row.pop("_team_id")
        row["is_mine"] = view.team_id is not None and row_team == view.team_id
        shown_rows.append(row)
    return {
        "phase": view.phase.slug,
        "split": view.split,
        "metrics": [
            {
                "metric": metric.metric,
                "label": metric.get_metric_display(),
                "direction": metric.direction,
                "is_ranking": metric.is_ranking,
                "decimals": metric.decimals,
            }
            for metric in view.metrics
        ],
        "ranking_metric": view.ranking.metric if view.ranking is not None else None,
        "direction": view.ranking.direction if view.ranking is not None else None,
        "calibrated": view.calibrated_competition and summary["calibrated"],
        "count": summary["count"],
        "page": page,
        "page_size": page_size,
        "pages": pages,
        "rows": shown_rows,
        "mine": _mine(view, page_size),
        "version": version,
    }


def leaderboard_get(
    *,
    phase: Phase,
    split: str,
    viewer: Any,
    now: datetime | None = None,
    page: int = 1,
    page_size: int = PAGE_SIZE_DEFAULT,
) -> dict[str, Any]:
    """:func:`leaderboard_page` of :func:`leaderboard_view` (one page of the board as ``viewer``
    may see it).

    Rows: one per team, ranked by the ranking metric in its direction, ties broken by the earlier
    submission (then the lower id); the rules of the rows are in :mod:`submissions.standings`.
    Baselines each get a row placed by their score, ``rank`` null. ``scores`` hold the shown
    metrics only for participants (organizers: all). ``calibrated`` is False when the competition
    uses random feature networks or any row's score says so. ``is_mine`` marks the viewer's team.

    Raises:
        ApplicationError: see :func:`submissions.selectors.leaderboard_visible` and
            :func:`leaderboard_page`.
    """
    view = leaderboard_view(phase=phase, split=split, viewer=viewer, now=now)
    return leaderboard_page(view, page=page, page_size=page_size)


def leaderboard_rows_all(view: BoardView, *, chunk_size: int = 2000) -> Iterator[dict[str, Any]]:
    """Every row of the board of ``view`` in order, read in chunks (the export streams them)."""
    for row in _ranked(view).values("position", *_FIELDS).iterator(chunk_size=chunk_size):
        formatted = _format(view, row, row["position"])
        formatted["is_mine"] = view.team_id is not None and formatted.pop("_team_id") == view.team_id
        yield formatted


# --- history ------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistorySeries:
    """One team's best-so-far steps: ``points`` are (moment, best value after it, submission id)."""

    team: str
    points: list[tuple[datetime, float, int]]


def _history(view: BoardView, teams: int) -> list[HistorySeries]:
    metric = view.ranking
    top = list(_ranked(view).filter(is_baseline=False, team__isnull=False).values_list("team_id", "team__name")[:teams])
    if metric is None or not top:
        return []
    names = dict(top)
    scores = (
        Score.objects.filter(
            submission__phase_id=view.phase.pk,
            submission__team_id__in=list(names),
            submission__state=Submission.State.SCORED,
            submission__is_baseline=False,
            split=view.split,
            metric=metric.metric,
        )
        .order_by("submission__created_at", "submission_id")
        .values_list("submission__team_id", "submission__created_at", "value", "submission_id")
    )
    lower = metric.direction == PhaseMetric.Direction.LOWER
    best: dict[int, float] = {}
    points: dict[int, list[tuple[datetime, float, int]]] = {team_id: [] for team_id in names}
    for team_id, at, value, submission_id in scores:
        if value is None or not math.isfinite(value):
            continue
        current = best.get(team_id)
        if current is None or (value < current if lower else value > current):
            best[team_id] = value
            points[team_id].append((at, value, submission_id))
    return [HistorySeries(team=names[team_id], points=points[team_id]) for team_id, _ in top if points[team_id]]


def leaderboard_history(view: BoardView, *, teams: int = HISTORY_TEAMS) -> list[HistorySeries]:
    """The best-so-far steps of the board's top ``teams`` teams on its ranking metric (cached per
    standings version; O(those teams' submissions))."""
    if view.audience != "organizer" and not split_visible(phase=view.phase, split=view.split, user=None):
        return []  # leaderboard_view refused it already; this read does not depend on its caller
    _, series = _shared(f"history:{teams}", view, lambda: _history(view, teams))
    return series
