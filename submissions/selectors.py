"""Reads of the submissions app: quotas, visibility, queue positions, leaderboards.

(Just over 500 lines: every read with its visibility rule stays in one place, on purpose.)

Every read is filtered by what the viewer may see:

- a submission is visible to the organizers of its competition, to the members
  of its team, and, when it is a baseline, to anyone who sees the competition;
  to everyone else it does not exist (the API answers 404, never 403);
- private-split scores are visible to organizers always, to others only once
  ``phase.private_is_revealed()``; hidden metrics (``PhaseMetric.shown`` False)
  only to organizers.

The leaderboards themselves are read from the standings in :mod:`submissions.leaderboards`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import F, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.utils import timezone

from competitions.models import Competition, DatasetImage, Participation, Phase, PhaseMetric, Team
from competitions.selectors import is_organizer, phase_current, preview_images
from gan_core.metrics.registry import METRICS as METRIC_REGISTRY
from gan_platform.errors import ApplicationError
from gan_platform.paging import Page
from gan_platform.storages import private_storage
from submissions.models import Score, Submission

__all__ = [
    "Quota",
    "QuotaCounts",
    "MetricDisplay",
    "finite_or_none",
    "metric_display",
    "leaderboard_visible",
    "phase_resolve",
    "phase_to_submit",
    "queue_positions",
    "quota_counts",
    "quota_day_bounds",
    "quota_get",
    "split_visible",
    "submission_get",
    "SUBMISSION_ORDERS",
    "competition_activity",
    "finals_selected",
    "submission_list",
    "submission_preview_outputs",
    "submission_queue_position",
    "submission_scores_visible",
    "viewer_team",
]


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


def phase_to_submit(*, competition: Competition, slug: str | None) -> Phase:
    """The phase a new submission (or upload session) goes to: the phase ``slug`` when named,
    else the phase open now.

    Raises:
        ApplicationError: ``not_found`` (404) for an unknown ``slug``; ``phase_closed`` (403) when
            no phase is named and none is open.
    """
    if slug:
        return phase_resolve(competition=competition, slug=slug)
    phase = phase_current(competition=competition)
    if phase is None:
        raise ApplicationError(
            f"No phase of {competition.slug} is open now; name a phase or wait until one opens.",
            code="phase_closed",
            status=403,
        )
    return phase


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


SUBMISSIONS_PAGE_SIZE = 50


def _submissions_mine(*, competition: Competition, phase: Phase | None, user: Any) -> QuerySet[Submission]:
    if not getattr(user, "is_authenticated", False):
        return Submission.objects.none()
    team = viewer_team(competition=competition, user=user)
    mine = Q(team__isnull=True, submitted_by=user)
    if team is not None:
        mine |= Q(team=team)
    queryset = Submission.objects.filter(mine, phase__competition=competition)
    if phase is not None:
        queryset = queryset.filter(phase=phase)
    return queryset


SUBMISSION_ORDERS = ("newest", "oldest", "best")


def submission_list(
    *,
    competition: Competition,
    phase: Phase | None,
    user: Any,
    page: int = 1,
    page_size: int = SUBMISSIONS_PAGE_SIZE,
    state: str | None = None,
    order: str = "newest",
) -> Page[Submission]:
    """One page of the submissions of the requester's team in ``competition`` (one ``phase`` or
    all) and the team-less baselines they submitted, with their total. Anonymous users get
    nothing; a page after the last is empty.

    ``state``: only those in that state. ``order``: ``newest`` (default), ``oldest``, or ``best``
    (the phase's ranking metric on the public split in its direction, unscored ones last; needs
    ``phase``, and a ranking metric the requester may see).

    Raises:
        ApplicationError: ``validation_error`` for an unknown state or order, or ``best`` without
            a phase or a visible ranking metric.
    """
    if state and state not in Submission.State.values:
        raise ApplicationError(
            f"state: {state!r} is not a state; use one of {', '.join(Submission.State.values)}.",
            code="validation_error",
        )
    if order not in SUBMISSION_ORDERS:
        raise ApplicationError(
            f"order: {order!r} is not an order; use one of {', '.join(SUBMISSION_ORDERS)}.", code="validation_error"
        )
    queryset = _submissions_mine(competition=competition, phase=phase, user=user)
    if state:
        queryset = queryset.filter(state=state)
    total = queryset.count()
    offset = (page - 1) * page_size
    ordering: list[Any] = ["-created_at", "-id"] if order != "oldest" else ["created_at", "id"]
    if order == "best":
        ranking = _ranking_metric_visible(phase=phase, user=user)
        value = Subquery(
            Score.objects.filter(submission_id=OuterRef("pk"), split=Score.Split.PUBLIC, metric=ranking.metric)
            .order_by()
            .values("value")[:1]
        )
        queryset = queryset.annotate(ranking_value=value)
        key = F("ranking_value")
        ordering = [
            key.asc(nulls_last=True) if ranking.direction == PhaseMetric.Direction.LOWER else key.desc(nulls_last=True),
            "created_at",
            "id",
        ]
    chosen = list(queryset.order_by(*ordering).values_list("pk", flat=True)[offset : offset + page_size])
    found = {item.pk: item for item in _submissions_with_details().filter(pk__in=chosen)}
    items = [found[pk] for pk in chosen if pk in found]
    return Page(items=items, number=page, size=page_size, total=total)


def _ranking_metric_visible(*, phase: Phase | None, user: Any) -> PhaseMetric:
    if phase is None:
        raise ApplicationError("order: best needs a phase (?phase=SLUG).", code="validation_error")
    ranking = next((metric for metric in phase.metrics.all() if metric.is_ranking), None)
    if ranking is None or (not ranking.shown and not is_organizer(competition=phase.competition, user=user)):
        raise ApplicationError(
            "order: best is not available: this phase shows no ranking metric.", code="validation_error"
        )
    return ranking


def finals_selected(*, competition: Competition, phase: Phase, user: Any) -> int:
    """How many of the requester's team's submissions of ``phase`` are selected as final."""
    return _submissions_mine(competition=competition, phase=phase, user=user).filter(is_final=True).count()


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


@dataclass(frozen=True)
class MetricDisplay:
    """How a phase shows its metrics: labels, decimals and order (the phase's settings, else the
    registry's), and which metric ranks. Built from the prefetched ``phase.metrics``."""

    labels: Mapping[str, str]
    decimal_places: Mapping[str, int]
    positions: Mapping[str, tuple[int, int]]
    ranking: str | None

    def label(self, metric: str) -> str:
        return self.labels.get(metric) or _registry_entry(metric, "label", metric)

    def decimals(self, metric: str) -> int:
        found = self.decimal_places.get(metric)
        return found if found is not None else _registry_entry(metric, "decimals", 3)

    def position(self, metric: str) -> tuple[int, int]:
        registry_order = list(METRIC_REGISTRY)
        index = registry_order.index(metric) if metric in registry_order else len(registry_order)
        return self.positions.get(metric, (999, index))

    def sorted_scores(self, scores: Iterable[Score]) -> list[Score]:
        """Ranking metric first, then the phase's order, then the registry's; public before private."""
        split_order = {Score.Split.PUBLIC: 0, Score.Split.PRIVATE: 1}
        return sorted(
            scores,
            key=lambda score: (
                score.metric != self.ranking,
                self.position(score.metric),
                split_order.get(score.split, 2),
            ),
        )


def _registry_entry(metric: str, field: str, default: Any) -> Any:
    entry = METRIC_REGISTRY.get(metric)
    return getattr(entry, field) if entry is not None else default


def metric_display(*, phase: Phase) -> MetricDisplay:
    """:class:`MetricDisplay` of ``phase`` (no query when its metrics are prefetched)."""
    metrics = list(phase.metrics.all())
    registry_order = list(METRIC_REGISTRY)
    return MetricDisplay(
        labels={metric.metric: metric.get_metric_display() for metric in metrics},
        decimal_places={metric.metric: metric.decimals for metric in metrics},
        positions={
            metric.metric: (
                metric.order,
                registry_order.index(metric.metric) if metric.metric in registry_order else len(registry_order),
            )
            for metric in metrics
        },
        ranking=next((metric.metric for metric in metrics if metric.is_ranking), None),
    )


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


# --- Leaderboards (the boards themselves: submissions.leaderboards) -----------------------


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


def competition_activity(
    *, competition: Competition, phase: Phase | None, now: datetime | None = None
) -> dict[str, Any]:
    """The overview's figures: ``participants``, ``teams`` (with a member), ``submissions`` (every
    phase), ``scored_today`` (scored since midnight UTC) and ``time_left`` (of ``phase`` while it is
    open, else None). Four counting queries; the leader comes from the board, not from here."""
    now = now or timezone.now()
    midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    submissions = Submission.objects.filter(phase__competition=competition)
    return {
        "participants": Participation.objects.filter(competition=competition).count(),
        "teams": Participation.objects.filter(competition=competition).values("team_id").distinct().count(),
        "submissions": submissions.count(),
        "scored_today": submissions.filter(state=Submission.State.SCORED, finished_at__gte=midnight).count(),
        "time_left": (phase.ends_at - now) if phase is not None and phase.starts_at <= now < phase.ends_at else None,
    }
