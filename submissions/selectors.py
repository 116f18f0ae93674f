"""Reads of the submissions app: quotas, visibility, queue positions, leaderboards.

Every read is filtered by what the viewer may see:

- a submission is visible to the organizers of its competition, to the members
  of its team, and, when it is a baseline, to anyone who sees the competition;
  to everyone else it does not exist (the API answers 404, never 403);
- private-split scores are visible to organizers always, to others only once
  ``phase.private_is_revealed()``; hidden metrics (``PhaseMetric.shown`` False)
  only to organizers.

Leaderboards are cached in Django's cache under a per-phase version that
:func:`leaderboard_cache_bump` replaces (``submissions.services.leaderboard_invalidate``
calls it when a score lands), so a board computed from data read before the
change is written under the old version and never served.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from competitions.models import Competition, DatasetImage, Participation, Phase, PhaseMetric, Team
from competitions.selectors import is_organizer, preview_images
from gan_platform.errors import ApplicationError
from gan_platform.storages import private_storage
from submissions.models import Score, Submission

__all__ = [
    "LEADERBOARD_CACHE_SECONDS",
    "Quota",
    "QuotaCounts",
    "finite_or_none",
    "leaderboard_cache_bump",
    "leaderboard_get",
    "leaderboard_visible",
    "phase_resolve",
    "queue_positions",
    "quota_counts",
    "quota_day_bounds",
    "quota_get",
    "split_visible",
    "submission_get",
    "submission_list",
    "submission_preview_outputs",
    "submission_queue_position",
    "submission_scores_visible",
    "viewer_team",
]

LEADERBOARD_CACHE_SECONDS = 600
"""How long a computed board stays cached; a score landing replaces it at once."""


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def finite_or_none(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


# --- Viewer, phases ---------------------------------------------------------------------


def viewer_team(*, competition: Competition, user: Any) -> Team | None:
    """The team of ``user`` in ``competition``, or None (anonymous, or not joined)."""
    if not getattr(user, "is_authenticated", False):
        return None
    participation = Participation.objects.select_related("team").filter(competition=competition, user=user).first()
    return participation.team if participation else None


def phase_resolve(*, competition: Competition, slug: str | None, now: datetime | None = None) -> Phase:
    """The phase ``slug`` of ``competition``; without a slug, the open phase, else the latest phase
    that has started, else the first one.

    Raises:
        ApplicationError: ``not_found`` (404) naming the competition's phases.
    """
    now = now or timezone.now()
    phases = sorted(competition.phases.all(), key=lambda phase: (phase.order, phase.starts_at))
    if slug:
        for phase in phases:
            if phase.slug == slug:
                return phase
        names = ", ".join(phase.slug for phase in phases) or "none"
        raise ApplicationError(
            f"No phase {slug!r} in {competition.slug}; its phases are: {names}.", code="not_found", status=404
        )
    if not phases:
        raise ApplicationError(f"{competition.slug} has no phase yet.", code="not_found", status=404)
    open_phase = next((phase for phase in phases if phase.is_open(now)), None)
    if open_phase is not None:
        return open_phase
    started = [phase for phase in phases if phase.starts_at <= now]
    if started:
        return max(started, key=lambda phase: phase.starts_at)
    return phases[0]


# --- Quotas -------------------------------------------------------------------------------


def quota_day_bounds(now: datetime) -> tuple[datetime, datetime]:
    """The UTC day holding ``now``: ``(00:00 UTC of that day, 00:00 UTC of the next day)``."""
    utc = now.astimezone(UTC)
    start = utc.replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)


def quota_counted(queryset: QuerySet[Submission]) -> QuerySet[Submission]:
    """Submissions that count against a quota: not baselines, ``counts_against_quota``, and not
    cancelled before a worker started them."""
    return queryset.filter(is_baseline=False, counts_against_quota=True).exclude(
        state=Submission.State.CANCELLED, started_at__isnull=True
    )


@dataclass(frozen=True)
class QuotaCounts:
    used_today: int
    used_total: int
    running: int
    day_start: datetime
    resets_at: datetime


def quota_counts(*, phase: Phase, team: Team, now: datetime | None = None) -> QuotaCounts:
    """How much of ``phase``'s quota ``team`` used at ``now`` (three COUNT queries).

    ``used_today``: counted submissions (see :func:`quota_counted`) created in
    the UTC day of ``now``; ``used_total``: counted submissions of the phase;
    ``running``: unfinished submissions (queued or running, baselines aside).
    """
    now = now or timezone.now()
    day_start, resets_at = quota_day_bounds(now)
    team_submissions = Submission.objects.filter(phase=phase, team=team)
    counted = quota_counted(team_submissions)
    return QuotaCounts(
        used_today=counted.filter(created_at__gte=day_start, created_at__lt=resets_at).count(),
        used_total=counted.count(),
        running=team_submissions.filter(is_baseline=False, state__in=Submission.UNFINISHED_STATES).count(),
        day_start=day_start,
        resets_at=resets_at,
    )


@dataclass(frozen=True)
class Quota:
    phase: str
    daily_quota: int
    used_today: int
    remaining_today: int
    total_quota: int | None
    used_total: int
    remaining_total: int | None
    resets_at: str
    running: int
    max_running: int

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def quota_get(*, phase: Phase, team: Team, now: datetime | None = None) -> Quota:
    """The quota of ``team`` in ``phase`` at ``now``: used and remaining today and in total, the next
    reset (00:00 UTC, ISO 8601), unfinished submissions and their maximum.

    ``remaining_today`` is also bounded by what remains in total.
    """
    counts = quota_counts(phase=phase, team=team, now=now)
    remaining_total = None if phase.total_quota is None else max(phase.total_quota - counts.used_total, 0)
    remaining_today = max(phase.daily_quota - counts.used_today, 0)
    if remaining_total is not None:
        remaining_today = min(remaining_today, remaining_total)
    return Quota(
        phase=phase.slug,
        daily_quota=phase.daily_quota,
        used_today=counts.used_today,
        remaining_today=remaining_today,
        total_quota=phase.total_quota,
        used_total=counts.used_total,
        remaining_total=remaining_total,
        resets_at=_iso(counts.resets_at) or "",
        running=counts.running,
        max_running=phase.max_running,
    )


# --- Submissions --------------------------------------------------------------------------


def _competition_visible(competition: Competition, user: Any) -> bool:
    if competition.visibility != Competition.Visibility.DRAFT:
        return True
    return is_organizer(competition=competition, user=user)


def _submissions_with_details() -> QuerySet[Submission]:
    return Submission.objects.select_related("phase__competition", "team", "submitted_by").prefetch_related(
        Prefetch("scores", queryset=Score.objects.order_by("split", "metric")),
        Prefetch("phase__metrics", queryset=PhaseMetric.objects.order_by("order", "metric")),
    )


def submission_get(*, submission_id: int, user: Any) -> Submission | None:
    """The submission if ``user`` may see it (organizers, its team's members, anyone for a
    baseline of a competition they see), else None: callers answer 404 either way."""
    submission = _submissions_with_details().filter(pk=submission_id).first()
    if submission is None:
        return None
    competition = submission.phase.competition
    if is_organizer(competition=competition, user=user):
        return submission
    if not _competition_visible(competition, user):
        return None
    if submission.is_baseline:
        return submission
    if submission.team_id is not None and getattr(user, "is_authenticated", False):
        if Participation.objects.filter(team_id=submission.team_id, user=user).exists():
            return submission
    return None


def submission_list(*, competition: Competition, phase: Phase | None, user: Any) -> list[Submission]:
    """The submissions of the requester's team in ``competition`` (one ``phase`` or all), and the
    team-less baselines they submitted, newest first. Anonymous users get nothing."""
    if not getattr(user, "is_authenticated", False):
        return []
    team = viewer_team(competition=competition, user=user)
    mine = Q(team__isnull=True, submitted_by=user)
    if team is not None:
        mine |= Q(team=team)
    queryset = _submissions_with_details().filter(mine, phase__competition=competition)
    if phase is not None:
        queryset = queryset.filter(phase=phase)
    return list(queryset.order_by("-created_at", "-id"))


def queue_positions(submissions: Iterable[Submission]) -> dict[int, int]:
    """Queue positions (1: next) of the queued ones among ``submissions``, in one query.

    The GPU queue is shared by every competition: a position counts every
    queued submission created before it (ties by id).
    """
    queued = [submission for submission in submissions if submission.state == Submission.State.QUEUED]
    if not queued:
        return {}
    latest = max(submission.created_at for submission in queued)
    order = list(
        Submission.objects.filter(state=Submission.State.QUEUED, created_at__lte=latest)
        .order_by("created_at", "id")
        .values_list("id", flat=True)
    )
    rank = {submission_id: index + 1 for index, submission_id in enumerate(order)}
    return {submission.pk: rank[submission.pk] for submission in queued if submission.pk in rank}


def submission_queue_position(submission: Submission) -> int | None:
    """The queue position of one submission (1: next), or None when it is not queued."""
    if submission.state != Submission.State.QUEUED:
        return None
    earlier = Submission.objects.filter(state=Submission.State.QUEUED).filter(
        Q(created_at__lt=submission.created_at) | Q(created_at=submission.created_at, id__lt=submission.pk)
    )
    return earlier.count() + 1


def split_visible(*, phase: Phase, split: str, user: Any, now: datetime | None = None) -> bool:
    """Whether ``user`` may see figures of ``split`` in ``phase``."""
    if split == Score.Split.PUBLIC:
        return True
    if is_organizer(competition=phase.competition, user=user):
        return True
    return phase.private_is_revealed(now)


def submission_scores_visible(
    *, submission: Submission, user: Any, now: datetime | None = None, organizer: bool | None = None
) -> list[Score]:
    """The scores of ``submission`` that ``user`` may see: private split only for organizers or
    after the reveal; hidden metrics only for organizers. Uses the prefetched scores and metrics;
    pass ``organizer`` when it is already known (lists: one query, not one per row)."""
    phase = submission.phase
    if organizer is None:
        organizer = is_organizer(competition=phase.competition, user=user)
    private_ok = organizer or phase.private_is_revealed(now)
    hidden = {metric.metric for metric in phase.metrics.all() if not metric.shown}
    visible = []
    for score in submission.scores.all():
        if score.split == Score.Split.PRIVATE and not private_ok:
            continue
        if score.metric in hidden and not organizer:
            continue
        visible.append(score)
    return visible


def submission_preview_outputs(*, submission: Submission) -> list[tuple[DatasetImage, str, bool]]:
    """The public preview images of the submission's competition, each with the private-storage
    name of the submission's output on it and whether that output exists yet."""
    storage = private_storage()
    outputs = []
    for image in preview_images(competition=submission.phase.competition):
        name = submission.preview_output_name(image.name)
        outputs.append((image, name, storage.exists(name)))
    return outputs


# --- Leaderboards --------------------------------------------------------------------------


def _version_key(phase_id: int) -> str:
    return f"submissions:leaderboard:version:{phase_id}"


def leaderboard_cache_bump(*, phase_id: int) -> None:
    """Make every cached board of ``phase_id`` unreachable (a new version, so a board computed
    concurrently from older data is stored under the old version and never read)."""
    cache.set(_version_key(phase_id), uuid.uuid4().hex, timeout=None)


def _cache_version(phase_id: int) -> str:
    key = _version_key(phase_id)
    version = cache.get(key)
    if version is None:
        cache.add(key, uuid.uuid4().hex, timeout=None)
        version = cache.get(key) or "unversioned"
    return version


def leaderboard_visible(*, phase: Phase, split: str, viewer: Any, now: datetime | None = None) -> None:
    """Raise unless ``viewer`` may see the ``split`` board of ``phase``.

    Raises:
        ApplicationError: ``validation_error`` for an unknown split;
            ``private_leaderboard_hidden`` (403) for the private split before the
            reveal, for everyone but organizers. The message names no figure.
    """
    if split not in Score.Split.values:
        raise ApplicationError(
            f"split: {split!r} is not a split; use 'public' or 'private'.",
            code="validation_error",
            extra={"fields": {"split": ["Use 'public' or 'private'."]}},
        )
    if not split_visible(phase=phase, split=split, user=viewer, now=now):
        when = (
            f"when the phase ends ({_iso(phase.ends_at)})"
            if phase.reveal_private_at_end
            else "when the organizers reveal it"
        )
        raise ApplicationError(
            f"The private leaderboard of phase {phase.slug!r} is hidden until it is revealed, {when}.",
            code="private_leaderboard_hidden",
            status=403,
        )


def _metric_row(metric: PhaseMetric) -> dict[str, Any]:
    return {
        "metric": metric.metric,
        "label": metric.get_metric_display(),
        "direction": metric.direction,
        "is_ranking": metric.is_ranking,
        "decimals": metric.decimals,
    }


def _config_digest(phase: Phase, metrics: list[PhaseMetric]) -> str:
    """A digest of what shapes a board besides scores, so that configuration changes invalidate it."""
    parts = [
        phase.competition.feature_weights,
        str(phase.final_selection_limit),
        *(f"{m.metric}:{m.shown}:{m.is_ranking}:{m.direction}:{m.decimals}:{m.order}" for m in metrics),
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _row_name(submission: Submission) -> str:
    """The name a board shows: the team's, or "Baseline: <description>" for a team-less baseline."""
    if submission.team is not None:
        return submission.team.name
    return f"Baseline: {submission.description}" if submission.description else "Baseline"


def _rank_key(value: float, direction: str) -> float:
    return value if direction == PhaseMetric.Direction.LOWER else -value


def _board_compute(*, phase: Phase, split: str, audience: str, metrics: list[PhaseMetric]) -> dict[str, Any]:
    """The board of one split for one audience (``organizer`` or ``participant``), without
    viewer-specific fields. Rows carry ``_team_id`` for :func:`leaderboard_get` to mark the viewer's."""
    shown = metrics if audience == "organizer" else [metric for metric in metrics if metric.shown]
    shown_names = [metric.metric for metric in shown]
    ranking = next((metric for metric in metrics if metric.is_ranking), None)
    submissions = list(
        Submission.objects.filter(phase=phase, state=Submission.State.SCORED)
        .select_related("team")
        .prefetch_related("scores")
        .order_by("created_at", "id")
    )
    scores: dict[int, dict[str, dict[str, Score]]] = {}
    for submission in submissions:
        by_split: dict[str, dict[str, Score]] = {Score.Split.PUBLIC: {}, Score.Split.PRIVATE: {}}
        for score in submission.scores.all():
            by_split.setdefault(score.split, {})[score.metric] = score
        scores[submission.pk] = by_split

    def ranking_value(submission: Submission, on_split: str) -> float | None:
        if ranking is None:
            return None
        score = scores[submission.pk][on_split].get(ranking.metric)
        return finite_or_none(score.value) if score is not None else None

    def order_key(submission: Submission, on_split: str) -> tuple:
        value = ranking_value(submission, on_split)
        direction = ranking.direction if ranking is not None else PhaseMetric.Direction.LOWER
        return (
            value is None,
            _rank_key(value, direction) if value is not None else 0.0,
            submission.created_at,
            submission.pk,
        )

    by_team: dict[int, list[Submission]] = {}
    baselines: list[Submission] = []
    for submission in submissions:
        if submission.is_baseline:
            baselines.append(submission)
        elif submission.team_id is not None:
            by_team.setdefault(submission.team_id, []).append(submission)

    chosen: list[Submission] = []
    for team_submissions in by_team.values():
        if split == Score.Split.PUBLIC:
            pool = team_submissions
        else:
            finals = [submission for submission in team_submissions if submission.is_final]
            if finals:
                pool = finals
            else:
                count = max(1, phase.final_selection_limit)
                pool = sorted(team_submissions, key=lambda submission: order_key(submission, Score.Split.PUBLIC))[
                    :count
                ]
        candidates = [submission for submission in pool if scores[submission.pk][split]]
        if ranking is not None:
            candidates = [submission for submission in candidates if ranking_value(submission, split) is not None]
        if candidates:
            chosen.append(min(candidates, key=lambda submission: order_key(submission, split)))
    baselines = [submission for submission in baselines if scores[submission.pk][split]]

    rows_source = sorted([*chosen, *baselines], key=lambda submission: order_key(submission, split))
    rows = []
    rank = 0
    calibrated = phase.competition.calibrated
    for submission in rows_source:
        split_scores = scores[submission.pk][split]
        ranked = not submission.is_baseline and ranking is not None
        if ranked:
            rank += 1
        if any(not score.calibrated for score in split_scores.values()):
            calibrated = False
        rows.append(
            {
                "rank": rank if ranked else None,
                "team": _row_name(submission),
                "submission_id": submission.pk,
                "is_baseline": submission.is_baseline,
                "scores": {
                    name: {
                        "value": finite_or_none(split_scores[name].value),
                        "interval": (
                            [split_scores[name].interval_low, split_scores[name].interval_high]
                            if split_scores[name].interval_low is not None
                            and split_scores[name].interval_high is not None
                            else None
                        ),
                    }
                    for name in shown_names
                    if name in split_scores
                },
                "submitted_at": _iso(submission.created_at),
                "_team_id": submission.team_id,
            }
        )
    return {
        "phase": phase.slug,
        "split": split,
        "metrics": [_metric_row(metric) for metric in shown],
        "ranking_metric": ranking.metric if ranking is not None else None,
        "direction": ranking.direction if ranking is not None else None,
        "rows": rows,
        "calibrated": calibrated,
    }


def leaderboard_get(*, phase: Phase, split: str, viewer: Any, now: datetime | None = None) -> dict[str, Any]:
    """The ``split`` leaderboard of ``phase`` as ``viewer`` may see it.

    Rows: one per team, ranked by the ranking metric in its direction, ties
    broken by the earlier submission (then the lower id). On the public board a
    team's row is its best public submission. On the private board it is the
    best (by private score) of its selected finals, or, when it selected none,
    of its best ``max(1, phase.final_selection_limit)`` submissions by public
    score. Baselines (scored, ``is_baseline``) each get a row placed by their
    score, ``rank`` null, not counted in the ranks. ``scores`` hold the shown
    metrics only for participants (organizers: all). ``calibrated`` is False
    when the competition uses random feature networks or any shown row's score
    says so. ``is_mine`` marks the viewer's team.

    Cached per (phase, split, audience, configuration) under the phase's
    version; see :func:`leaderboard_cache_bump`.

    Raises:
        ApplicationError: see :func:`leaderboard_visible`.
    """
    leaderboard_visible(phase=phase, split=split, viewer=viewer, now=now)
    audience = "organizer" if is_organizer(competition=phase.competition, user=viewer) else "participant"
    metrics = list(phase.metrics.all())
    version = _cache_version(phase.pk)
    key = f"submissions:leaderboard:{phase.pk}:{version}:{split}:{audience}:{_config_digest(phase, metrics)}"
    board = cache.get(key)
    if board is None:
        board = _board_compute(phase=phase, split=split, audience=audience, metrics=metrics)
        cache.set(key, board, timeout=LEADERBOARD_CACHE_SECONDS)
    team = viewer_team(competition=phase.competition, user=viewer)
    team_id = team.pk if team is not None else None
    rows = []
    for row in board["rows"]:
        row = dict(row)
        row_team_id = row.pop("_team_id")
        row["is_mine"] = team_id is not None and row_team_id == team_id
        rows.append(row)
    return {**board, "rows": rows}
