"""The ratings of a phase as the organizers' judging page lists them (reads the ``human`` scores)."""

from __future__ import annotations

from typing import Any

from competitions.models import Phase
from gan_core.metrics.registry import METRICS
from submissions.models import Score

HUMAN = next(stored for stored, metric in METRICS.items() if metric.source == "votes")


def ratings_table(*, phase: Phase) -> list[dict[str, Any]]:
    """Rated submissions of the phase, best first: submission, team (or baseline), points and interval."""
    rows = (
        Score.objects.filter(submission__phase=phase, split=Score.Split.PUBLIC, metric=HUMAN)
        .select_related("submission__team")
        .order_by("-value", "submission_id")
    )
    return [
        {
            "submission_id": score.submission_id,
            "team": score.submission.team.name if score.submission.team else "Baseline",
            "value": score.value,
            "low": score.interval_low,
            "high": score.interval_high,
        }
        for score in rows
    ]
