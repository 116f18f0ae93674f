"""Reads of human judging: who may vote, which submissions a voter may see, the votes' export.

Visibility: a voter only ever sees public preview outputs of submissions that are on the phase's
public board (the public split's standings: each team's counting submission, and the baselines),
never their identity; votes are cast only by the voters the phase's rules admit.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Max

from competitions.models import Competition, Participation, Phase, PhaseMetric
from competitions.selectors import is_organizer
from gan_core.metrics.registry import METRICS
from gan_platform.errors import ApplicationError
from judging.models import JudgingConfig, Vote
from submissions.models import Score, Standing, Submission

__all__ = [
    "HUMAN",
    "PoolEntry",
    "judging_config_get",
    "pool_get",
    "ranks_by_votes",
    "ratings_table",
    "vote_rows",
    "voter_check",
    "voter_pseudonym",
]


HUMAN = next(stored for stored, metric in METRICS.items() if metric.source == "votes")
"""The stored name of the metric computed from votes (``human``)."""


def judging_config_get(*, phase: Phase) -> JudgingConfig | None:
    return JudgingConfig.objects.filter(phase=phase).first()


def _competition_visible(competition: Competition, user: Any) -> bool:
    return competition.visibility != Competition.Visibility.DRAFT or is_organizer(competition=competition, user=user)


def voter_check(*, config: JudgingConfig | None, user: Any) -> None:
    """Raise unless ``user`` may vote under ``config``.

    Raises:
        ApplicationError: ``not_found`` (404) when judging is off or the competition is not
            visible; ``not_authenticated`` (401); ``voting_not_allowed`` (403) naming who may vote.
    """
    if config is None or not config.enabled or not _competition_visible(config.phase.competition, user):
        raise ApplicationError("This phase does not collect votes.", code="not_found", status=404)
    if not getattr(user, "is_authenticated", False):
        raise ApplicationError("Log in to vote.", code="not_authenticated", status=401)
    if config.voters == JudgingConfig.Voters.PARTICIPANTS:
        if not Participation.objects.filter(competition_id=config.phase.competition_id, user=user).exists():
            raise ApplicationError(
                "Only participants of this competition may vote: join it first.", code="voting_not_allowed", status=403
            )
    elif config.voters == JudgingConfig.Voters.RATERS:
        if not config.raters.filter(pk=user.pk).exists():
            raise ApplicationError(
                "Only the organizers' invited raters may vote on this phase.", code="voting_not_allowed", status=403
            )


@dataclass(frozen=True)
class PoolEntry:
    submission_id: int
    team_id: int | None
    is_baseline: bool


def ranks_by_votes(*, phase: Phase) -> bool:
    """Whether the phase ranks its board by a metric computed from votes (the human rating)."""
    ranking = PhaseMetric.objects.filter(phase=phase, is_ranking=True).values_list("metric", flat=True).first()
    return ranking is not None and ranking in METRICS and METRICS[ranking].source == "votes"


def pool_get(*, phase: Phase) -> list[PoolEntry]:
    """The submissions voters may see: those on the phase's public board. When the board is ranked
    by the human rating, each team's newest scored submission too (it has no rating yet, so it could
    never reach a board that needs one); it is shown anonymised like any other."""
    rows = Standing.objects.filter(phase=phase, split=Score.Split.PUBLIC).values_list(
        "submission_id", "team_id", "is_baseline"
    )
    pool = {submission_id: PoolEntry(submission_id, team_id, baseline) for submission_id, team_id, baseline in rows}
    if ranks_by_votes(phase=phase):
        newest = (
            Submission.objects.filter(phase=phase, state=Submission.State.SCORED, is_baseline=False, team__isnull=False)
            .values("team_id")
            .annotate(latest=Max("pk"))
        )
        for row in newest:
            pool.setdefault(row["latest"], PoolEntry(row["latest"], row["team_id"], False))
    return sorted(pool.values(), key=lambda entry: entry.submission_id)


def voter_pseudonym(user_id: int) -> str:
    """A keyed hash of a voter's id (HMAC-SHA-256 with the secret key): stable across exports,
    not reversible without the key."""
    key = hashlib.sha256(f"atelier-judging:{settings.SECRET_KEY}".encode()).digest()
    return hmac.new(key, str(user_id).encode(), hashlib.sha256).hexdigest()[:16]


EXPORT_FIELDS = (
    "voter",
    "phase",
    "submission_a",
    "submission_b",
    "image",
    "choice",
    "shown_left",
    "gold",
    "created_at",
)


def vote_rows(*, phase: Phase) -> Iterator[dict[str, Any]]:
    """Every vote of the phase for the organizers' export, oldest first: the voter pseudonymised,
    the pair (submission ids, ``a`` the lower), the preview image's name, the choice (``a``,
    ``b`` or ``tie``), which one was shown on the left, whether it was a gold pair, the time."""
    votes = (
        Vote.objects.filter(phase=phase)
        .order_by("created_at", "pk")
        .values_list(
            "voter_id",
            "submission_a_id",
            "submission_b_id",
            "image__name",
            "choice",
            "a_was_left",
            "gold_id",
            "created_at",
        )
    )
    for voter, a, b, image, choice, a_was_left, gold, created_at in votes.iterator(chunk_size=2000):
        yield {
            "voter": voter_pseudonym(voter),
            "phase": phase.slug,
            "submission_a": a,
            "submission_b": b,
            "image": image,
            "choice": choice,
            "shown_left": "a" if a_was_left else "b",
            "gold": gold is not None,
            "created_at": created_at.isoformat().replace("+00:00", "Z"),
        }


def ratings_table(*, phase: Phase) -> list[dict[str, Any]]:
    """Rated submissions of the phase, best first: submission, team (or baseline), points, interval."""
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
