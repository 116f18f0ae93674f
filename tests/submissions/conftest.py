"""Fixtures of the submissions tests: private storage in a temporary folder, a clean cache, no broker."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from tests.factories import competition_create_for_tests, organizer_create, participant_join, user_create


@pytest.fixture(autouse=True)
def isolated_storage(private_root) -> None:
    """Every submissions (and API) test: private storage in its temporary folder."""


@pytest.fixture(autouse=True)
def clean_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def sent(monkeypatch) -> list[int]:
    """Submission ids sent to ``scoring.submission_process`` (nothing reaches a broker)."""
    calls: list[int] = []
    monkeypatch.setattr("submissions.sending.submission_send", lambda *, submission_id: calls.append(submission_id))
    return calls


@pytest.fixture
def organizer(db):
    return organizer_create("olga")


@pytest.fixture
def competition(db, organizer):
    return competition_create_for_tests(
        slug="wood", organizer=organizer, style_images=2, content_images=4, preview=2, image_size=16
    )


@pytest.fixture
def phase(competition):
    return competition.phases.get()


@pytest.fixture
def alice(db):
    return user_create("alice")


@pytest.fixture
def bob(db):
    return user_create("bob")


@pytest.fixture
def alice_team(competition, alice):
    return participant_join(competition, alice).team


@pytest.fixture
def bob_team(competition, bob):
    return participant_join(competition, bob).team
