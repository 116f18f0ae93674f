"""The ratings of a phase from its votes: fitted by the task, written as the ``human`` metric.

:func:`ratings_update` loads every counted vote of the phase (gold answers weigh the voters, and
are not counted themselves), fits :func:`gan_core.ratings.ratings_compute` (anchored on the
baselines, bootstrap over voters), and in one transaction writes each rated, scored submission's
``human`` score on both splits (the rating depends on public previews only, so the private board
may rank by it too), the fit the pair selection reads, the agreement with every automatic metric,
and rebuilds the phase's standings so the board shows it (decision 0017).
"""

from __future__ import annotations

import logging
import math

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from competitions.models import PhaseMetric
from gan_core.metrics.registry import METRICS
from gan_core.ratings import Votes, rank_agreement, ratings_compute, voter_weights
from gan_core.version import __version__ as GAN_CORE_VERSION
from judging.models import Choice, JudgingConfig, Vote
from judging.selectors import HUMAN
from submissions.models import Score, Submission
from submissions.standings import standings_rebuild

__all__ = ["HUMAN", "ratings_stale_phases", "ratings_update"]

logger = logging.getLogger(__name__)

SCORE = {Choice.A: 1.0, Choice.B: 0.0, Choice.TIE: 0.5}


def _gold_records(phase_id: int) -> dict[int, tuple[int, int]]:
    records: dict[int, list[int]] = {}
    for voter, choice, answer in Vote.objects.filter(phase_id=phase_id, gold__isnull=False).values_list(
        "voter_id", "choice", "gold__answer"
    ):
        record = records.setdefault(voter, [0, 0])
        record[0] += int(choice == answer)
        record[1] += 1
    return {voter: (correct, answered) for voter, (correct, answered) in records.items()}


def ratings_update(*, phase_id: int) -> int:
    """Refit the phase's ratings from its votes; returns the number of submissions rated."""
    config = JudgingConfig.objects.filter(phase_id=phase_id).first()
    if config is None:
        return 0
    through = Vote.objects.filter(phase_id=phase_id).aggregate(top=Max("pk"))["top"] or 0
    rows = list(
        Vote.objects.filter(phase_id=phase_id, gold__isnull=True, pk__lte=through)
        .filter(submission_a__state=Submission.State.SCORED, submission_b__state=Submission.State.SCORED)
        .values_list("voter_id", "submission_a_id", "submission_b_id", "choice")
    )
    weights = voter_weights(
        _gold_records(phase_id),
        policy=config.gold_policy,
        min_answers=config.gold_min_answers,
        min_accuracy=config.gold_min_accuracy,
    )
    ids = sorted({a for _, a, _, _ in rows} | {b for _, _, b, _ in rows})
    index = {pk: k for k, pk in enumerate(ids)}
    baselines = set(Submission.objects.filter(pk__in=ids, is_baseline=True).values_list("pk", flat=True))
    fit: dict[str, list[float]] = {}
    values: dict[int, tuple[float, float | None, float | None]] = {}
    if len(ids) >= 2:
        votes = Votes(
            n_items=len(ids),
            first=np.array([index[a] for _, a, _, _ in rows], dtype=np.int64),
            second=np.array([index[b] for _, _, b, _ in rows], dtype=np.int64),
            score=np.array([SCORE[choice] for *_, choice in rows]),
            weight=np.array([weights.get(voter, 1.0) for voter, *_ in rows]),
            voter=np.array([voter for voter, *_ in rows], dtype=np.int64),
        )
        ratings = ratings_compute(
            votes,
            baselines=[index[pk] for pk in sorted(baselines)],
            resamples=settings.ATELIER_RATINGS_BOOTSTRAP_RESAMPLES,
            seed=phase_id,
        )
        for pk, k in index.items():
            fit[str(pk)] = [float(ratings.theta[k]), float(ratings.variance[k]), float(ratings.comparisons[k])]
            low, high = float(ratings.low[k]), float(ratings.high[k])
            values[pk] = (
                float(ratings.value[k]),
                low if math.isfinite(low) else None,
                high if math.isfinite(high) else None,
            )
    agreement = _agreement(phase_id, values)
    with transaction.atomic():
        JudgingConfig.objects.select_for_update().get(pk=config.pk)
        scored = set(
            Submission.objects.select_for_update()
            .filter(pk__in=list(values), state=Submission.State.SCORED)
            .values_list("pk", flat=True)
        )
        Score.objects.filter(submission__phase_id=phase_id, metric=HUMAN).delete()
        Score.objects.bulk_create(
            Score(
                submission_id=pk,
                split=split,
                metric=HUMAN,
                value=value,
                interval_low=low,
                interval_high=high,
                calibrated=True,
                preprocessing_mode="",
                gan_core_version=GAN_CORE_VERSION,
            )
            for pk, (value, low, high) in values.items()
            if pk in scored
            for split in Score.Split.values
        )
        JudgingConfig.objects.filter(pk=config.pk).update(
            fit=fit, agreement=agreement, fitted_through=through, fitted_at=timezone.now()
        )
        standings_rebuild(phase_id=phase_id)
    logger.info("ratings of phase %s: %s submissions from %s votes", phase_id, len(values), len(rows))
    return len(values)


def _agreement(phase_id: int, values: dict[int, tuple[float, float | None, float | None]]) -> dict:
    """{metric: Agreement as a dict} for every automatic metric of the phase, on the public split."""
    if len(values) < 3:
        return {}
    ids = sorted(values)
    human = [values[pk][0] for pk in ids]
    metrics = [
        metric
        for metric in PhaseMetric.objects.filter(phase_id=phase_id).order_by("order", "metric")
        if metric.metric in METRICS and METRICS[metric.metric].source != "votes"
    ]
    found: dict[str, dict[int, float]] = {}
    for submission_id, metric, value in Score.objects.filter(
        submission_id__in=ids, split=Score.Split.PUBLIC, metric__in=[m.metric for m in metrics]
    ).values_list("submission_id", "metric", "value"):
        found.setdefault(metric, {})[submission_id] = value
    result = {}
    for metric in metrics:
        column = [found.get(metric.metric, {}).get(pk, math.nan) for pk in ids]
        agreement = rank_agreement(human, column, direction=metric.direction, resamples=500, seed=phase_id)
        if agreement is not None:
            result[metric.metric] = {
                key: (None if isinstance(value, float) and not math.isfinite(value) else value)
                for key, value in agreement.to_dict().items()
            }
    return result


def ratings_stale_phases() -> list[int]:
    """Phases with judging on whose newest vote is not in their ratings yet."""
    stale = []
    for config in JudgingConfig.objects.filter(enabled=True).only("phase_id", "fitted_through"):
        top = Vote.objects.filter(phase_id=config.phase_id).aggregate(top=Max("pk"))["top"] or 0
        if top > config.fitted_through:
            stale.append(config.phase_id)
    return stale
