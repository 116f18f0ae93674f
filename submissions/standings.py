"""Standings: the leaderboard's rows, maintained when scores change instead of computed when read.

One :class:`~submissions.models.Standing` per (phase, split, entrant), an entrant being a team or
a baseline submission. The services that change what a board holds call
:func:`standings_submission_changed` inside their own transaction (a score written, a rerun, a
cancel, a final selection, a baseline toggle), so the rows and the event commit together; it
recomputes only that entrant's rows from its own submissions. What changes every row (the
ranking metric, its direction, the number of automatic finals) is a :func:`standings_rebuild`,
run as the task ``submissions.standings_rebuild``: it replaces every row of the phase in one
transaction, so readers keep the old rows until the new ones are complete (MVCC on PostgreSQL,
WAL snapshots on SQLite).

Every change bumps ``StandingsState.version`` in the same transaction; readers take it from the
database, so ETags and cache keys change in every process at once. Changes that only alter what
a reader sees (the reveal, shown metrics, decimals, a team's name) call :func:`standings_touch`.

The ranking rules (kept exactly from the first version):

- public board: a team's row is its best scored submission on the public split;
- private board: the best, by private score, of its selected finals, or, when it selected none,
  of its ``max(1, final_selection_limit)`` best submissions by public score;
- a team's candidates need a finite ranking value on the split;
- best: the ranking value in the ranking direction, ties to the earlier submission, then the
  lower id; baselines get rows of their own (any score on the split), placed by their value,
  unranked.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from competitions.models import Phase, PhaseMetric
from submissions import sending
from submissions.models import Score, Standing, StandingsState, Submission

__all__ = [
    "RankingConfig",
    "ranking_config",
    "standings_rebuild",
    "standings_rebuild_enqueue",
    "standings_stale_phases",
    "standings_previous_scores",
    "standings_submission_changed",
    "standings_touch",
]

logger = logging.getLogger(__name__)

SPLITS = (Score.Split.PUBLIC, Score.Split.PRIVATE)
BULK_BATCH = 2000


@dataclass(frozen=True)
class RankingConfig:
    """What decides which submission counts and in which order: a change rebuilds every row."""

    metric: str | None
    direction: str
    final_selection_limit: int

    @property
    def digest(self) -> str:
        text = f"{self.metric}|{self.direction}|{self.final_selection_limit}"
        return hashlib.sha256(text.encode()).hexdigest()[:32]


def ranking_config(phase: Phase, metrics: Iterable[PhaseMetric] | None = None) -> RankingConfig:
    """The ranking configuration of ``phase`` (pass its metrics when they are loaded already)."""
    metrics = list(PhaseMetric.objects.filter(phase_id=phase.pk) if metrics is None else metrics)
    ranking = next((metric for metric in metrics if metric.is_ranking), None)
    return RankingConfig(
        metric=ranking.metric if ranking is not None else None,
        direction=ranking.direction if ranking is not None else PhaseMetric.Direction.LOWER,
        final_selection_limit=phase.final_selection_limit,
    )


# --- the pure computation ------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    pk: int
    team_id: int | None
    is_baseline: bool
    is_final: bool
    created_at: datetime
    held: bool = False


ScoreTuple = tuple[float | None, float | None, float | None, bool]  # value, low, high, calibrated
ScoreMap = dict[int, dict[str, dict[str, ScoreTuple]]]  # submission -> split -> metric -> score


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _ranking_value(config: RankingConfig, scores: ScoreMap, entry: _Entry, split: str) -> float | None:
    if config.metric is None:
        return None
    score = scores.get(entry.pk, {}).get(split, {}).get(config.metric)
    return _finite(score[0]) if score is not None else None


def _order_key(config: RankingConfig, scores: ScoreMap, entry: _Entry, split: str) -> tuple:
    value = _ranking_value(config, scores, entry, split)
    signed = (value if config.direction == PhaseMetric.Direction.LOWER else -value) if value is not None else 0.0
    return (value is None, signed, entry.created_at, entry.pk)


def _row(
    phase_id: int,
    split: str,
    entrant: str,
    config: RankingConfig,
    scores: ScoreMap,
    entry: _Entry,
    activity: list[_Entry],
) -> Standing:
    """The standing of ``entry`` for ``entrant``; ``activity``: the entrant's scored submissions
    (its entry count and last submission time)."""
    missing, rank_key, _, _ = _order_key(config, scores, entry, split)
    split_scores = scores[entry.pk][split]
    return Standing(
        phase_id=phase_id,
        split=split,
        entrant=entrant,
        team_id=entry.team_id,
        submission_id=entry.pk,
        is_baseline=entry.is_baseline,
        missing=missing,
        rank_key=rank_key,
        submitted_at=entry.created_at,
        values={metric: [_finite(value), low, high] for metric, (value, low, high, _) in split_scores.items()},
        calibrated=all(calibrated for *_, calibrated in split_scores.values()),
        held=entry.held,
        entries=len(activity),
        last_submitted_at=max(other.created_at for other in activity),
    )


def _team_rows(phase_id: int, team_id: int, config: RankingConfig, entries: list[_Entry], scores: ScoreMap):
    entrant = f"team:{team_id}"
    for split in SPLITS:
        if split == Score.Split.PUBLIC:
            pool = entries
        else:
            finals = [entry for entry in entries if entry.is_final]
            if finals:
                pool = finals
            else:
                count = max(1, config.final_selection_limit)
                pool = sorted(entries, key=lambda entry: _order_key(config, scores, entry, Score.Split.PUBLIC))[:count]
        candidates = [entry for entry in pool if scores.get(entry.pk, {}).get(split)]
        if config.metric is not None:
            candidates = [entry for entry in candidates if _ranking_value(config, scores, entry, split) is not None]
        if candidates:
            best = min(candidates, key=lambda entry: _order_key(config, scores, entry, split))
            yield _row(phase_id, split, entrant, config, scores, best, entries)


def _baseline_rows(phase_id: int, config: RankingConfig, entry: _Entry, scores: ScoreMap):
    for split in SPLITS:
        if scores.get(entry.pk, {}).get(split):
            yield _row(phase_id, split, f"baseline:{entry.pk}", config, scores, entry, [entry])


def _rows(phase_id: int, config: RankingConfig, entries: list[_Entry], scores: ScoreMap) -> list[Standing]:
    """Every standing of ``entries`` (scored submissions of one phase)."""
    by_team: dict[int, list[_Entry]] = {}
    rows: list[Standing] = []
    for entry in entries:
        if entry.is_baseline:
            rows.extend(_baseline_rows(phase_id, config, entry, scores))
        elif entry.team_id is not None:
            by_team.setdefault(entry.team_id, []).append(entry)
    for team_id, team_entries in by_team.items():
        rows.extend(_team_rows(phase_id, team_id, config, team_entries, scores))
    return rows


def _load(submissions: Any) -> tuple[list[_Entry], ScoreMap]:
    """The scored submissions of the queryset ``submissions`` and their scores, as plain tuples,
    and the ones being rerun with the scores they had (``previous_scores``), marked ``held``."""
    entries = [
        _Entry(*values)
        for values in submissions.filter(state=Submission.State.SCORED)
        .order_by()
        .values_list("pk", "team_id", "is_baseline", "is_final", "created_at")
    ]
    scores: ScoreMap = {}
    if entries:
        score_rows = Score.objects.filter(
            submission__in=submissions.filter(state=Submission.State.SCORED).order_by().values("pk")
        ).values_list("submission_id", "split", "metric", "value", "interval_low", "interval_high", "calibrated")
        for submission_id, split, metric, value, low, high, calibrated in score_rows.order_by().iterator(
            chunk_size=BULK_BATCH * 5
        ):
            scores.setdefault(submission_id, {}).setdefault(split, {})[metric] = (value, low, high, calibrated)
    held = (
        submissions.filter(state__in=Submission.UNFINISHED_STATES)
        .exclude(previous_scores={})
        .order_by()
        .values_list("pk", "team_id", "is_baseline", "is_final", "created_at", "previous_scores")
    )
    for *values, previous in held:
        entries.append(_Entry(*values, held=True))
        scores[values[0]] = {
            split: {metric: tuple(score) for metric, score in by_metric.items()}
            for split, by_metric in previous.items()
            if by_metric
        }
    return entries, scores


# --- writes -------------------------------------------------------------------------------


def _state_lock(phase_id: int) -> StandingsState:
    """Lock the phase's standings (serialises every change of its rows) and return the state.

    A phase without a state row yet (new, or standings from before this version) is built whole
    first, under the lock."""
    state = _state_row_locked(phase_id)
    if not state.built_for:
        _rebuild_locked(state)
    return state


def _state_row_locked(phase_id: int) -> StandingsState:
    """The phase's state row, created when missing (built_for empty), locked until the transaction ends."""
    StandingsState.objects.get_or_create(phase_id=phase_id)
    return StandingsState.objects.select_for_update().get(phase_id=phase_id)


def _bump(phase_id: int) -> None:
    StandingsState.objects.filter(phase_id=phase_id).update(version=F("version") + 1)


def standings_previous_scores(*, submission_id: int) -> dict[str, dict[str, list[Any]]]:
    """The submission's scores as ``Submission.previous_scores`` keeps them during a rerun."""
    previous: dict[str, dict[str, list[Any]]] = {}
    rows = Score.objects.filter(submission_id=submission_id).values_list(
        "split", "metric", "value", "interval_low", "interval_high", "calibrated"
    )
    for split, metric, value, low, high, calibrated in rows:
        previous.setdefault(split, {})[metric] = [_finite(value), low, high, calibrated]
    return previous


def standings_submission_changed(*, submission_id: int) -> None:
    """Recompute the rows of the entrants ``submission_id`` belongs to (its team, and itself as a
    baseline) and bump the version. Call inside the transaction that changed the submission or its
    scores; takes the phase's standings lock until that transaction ends."""
    found = Submission.objects.filter(pk=submission_id).values_list("phase_id", "team_id").first()
    if found is None:
        return
    phase_id, team_id = found
    with transaction.atomic():
        state = _state_lock(phase_id)
        phase = Phase.objects.get(pk=phase_id)
        config = ranking_config(phase)
        entrants = [f"baseline:{submission_id}"]
        if team_id is not None:
            entrants.append(f"team:{team_id}")
        Standing.objects.filter(phase_id=phase_id, entrant__in=entrants).delete()
        rows: list[Standing] = []
        if team_id is not None:
            entries, scores = _load(Submission.objects.filter(phase_id=phase_id, team_id=team_id, is_baseline=False))
            rows.extend(_team_rows(phase_id, team_id, config, entries, scores))
        entries, scores = _load(Submission.objects.filter(pk=submission_id, is_baseline=True))
        for entry in entries:
            rows.extend(_baseline_rows(phase_id, config, entry, scores))
        Standing.objects.bulk_create(rows)
        if state.built_for != config.digest:
            # the configuration changed and its rebuild has not run yet: rows written now follow
            # the new configuration, the rebuild brings the others in line
            transaction.on_commit(lambda: standings_rebuild_enqueue(phase_id=phase_id))
        _bump(phase_id)


def standings_touch(*, phase_id: int) -> None:
    """Bump the version of a phase's standings: what readers see changed though no row did (a
    reveal, shown metrics or decimals, a team renamed). Call inside the changing transaction."""
    with transaction.atomic():
        _state_lock(phase_id)
        _bump(phase_id)


def _rebuild_locked(state: StandingsState) -> int:
    phase = Phase.objects.get(pk=state.phase_id)
    config = ranking_config(phase)
    entries, scores = _load(Submission.objects.filter(phase_id=phase.pk))
    rows = _rows(phase.pk, config, entries, scores)
    Standing.objects.filter(phase_id=phase.pk).delete()
    Standing.objects.bulk_create(rows, batch_size=BULK_BATCH)
    now = timezone.now()
    StandingsState.objects.filter(phase_id=phase.pk).update(
        version=F("version") + 1, built_for=config.digest, rebuilt_at=now
    )
    state.built_for, state.rebuilt_at = config.digest, now
    return len(rows)


def standings_rebuild(*, phase_id: int) -> int:
    """Replace every standing of the phase, in one transaction; returns the number of rows.

    Readers are served the old rows until it commits; changes of single entrants wait for it (the
    standings lock), so none is lost."""
    with transaction.atomic():
        count = _rebuild_locked(_state_row_locked(phase_id))
    logger.info("standings of phase %s rebuilt: %s rows", phase_id, count)
    return count


def standings_rebuild_enqueue(*, phase_id: int) -> None:
    """Send ``submissions.standings_rebuild`` for the phase; a broker error is logged and the
    reconciler's sweep (:func:`standings_stale_phases`) catches up."""
    try:
        sending.standings_rebuild_send(phase_id=phase_id)
    except Exception:
        logger.exception("could not send the standings rebuild of phase %s; the reconciler will", phase_id)


def standings_stale_phases() -> list[int]:
    """Phases whose standings were built for another ranking configuration (or never built)."""
    built = dict(StandingsState.objects.values_list("phase_id", "built_for"))
    stale = []
    for phase in Phase.objects.prefetch_related("metrics"):
        if built.get(phase.pk) != ranking_config(phase, phase.metrics.all()).digest:
            stale.append(phase.pk)
    return stale
