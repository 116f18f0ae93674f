"""Votes reach the ratings through a real worker process: a vote's commit sends
``judging.ratings_update`` over the configured broker, a Celery worker fits it and writes the
human metric; nothing is fitted in the request."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from judging import services
from judging.models import JudgingConfig
from judging.ratings import HUMAN
from submissions.models import Score
from tests.support.processes import celery_worker, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def no_broker() -> list:
    """Overrides the judging tests' fixture: here tasks really travel."""
    return []


def test_votes_are_fitted_by_a_worker_process_after_they_commit(board, config, phase, voter, settings):
    queue = f"test-judging-{uuid.uuid4().hex[:8]}"
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    rng = np.random.default_rng(0)
    with celery_worker(queues=[queue], ATELIER_RATINGS_BOOTSTRAP_RESAMPLES="20"):
        for _ in range(4):
            assignment = services.assignment_create(phase=phase, user=voter, rng=rng)
            services.vote_create(token=assignment.token, choice="left", user=voter)
        # the request did not fit anything; the first vote's commit sent the task
        config.refresh_from_db()
        assert config.requested_at is not None
        fitted = wait_until(
            lambda: JudgingConfig.objects.filter(pk=config.pk, fitted_at__isnull=False).first(),
            timeout=120,
            message="the worker to fit the ratings",
        )
    assert fitted.fitted_through >= phase.votes.order_by("pk").first().pk
    assert Score.objects.filter(metric=HUMAN, split="public").count() == len(fitted.fit) >= 2
