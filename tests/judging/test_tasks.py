"""The ratings tasks: the sweep refits exactly the phases with votes their ratings lack."""

from __future__ import annotations

import numpy as np

from judging import services
from judging.models import JudgingConfig
from judging.ratings import HUMAN
from judging.tasks import ratings_sweep, ratings_update
from submissions.models import Score


def test_the_sweep_refits_phases_with_new_votes_and_then_nothing(board, config, phase, voter, settings):
    settings.ATELIER_RATINGS_BOOTSTRAP_RESAMPLES = 10
    assert ratings_sweep() == []
    rng = np.random.default_rng(0)
    for _ in range(5):
        services.vote_create(
            token=services.assignment_create(phase=phase, user=voter, rng=rng).token, choice="left", user=voter
        )
    assert ratings_sweep() == [phase.pk]
    config.refresh_from_db()
    assert config.fitted_through == phase.votes.order_by("-pk").first().pk and config.fitted_at is not None
    assert Score.objects.filter(metric=HUMAN, split="public").count() == len(config.fit) >= 2
    assert ratings_sweep() == []
    assert ratings_update(phase.pk) == len(config.fit)


def test_a_phase_without_judging_has_no_ratings(phase):
    assert ratings_update(phase.pk) == 0
    assert not JudgingConfig.objects.exists()
