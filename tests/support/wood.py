"""Fixtures of the web tests (a pytest plugin the root conftest loads): the "wood" competition with
its organizer and open phase, alice and bob with a team each, API clients, and what a folder's tests
want isolated. None is autouse: a folder that wants every test isolated says so in its conftest with
``@pytest.fixture(autouse=True) def isolated(isolated_web_test): ...``."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from tests.factories import competition_create_for_tests, organizer_create, participant_join, user_create
from tests.support.sending import sends_recorded


@pytest.fixture
def clean_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def sent(monkeypatch) -> list[int]:
    """Submission ids sent to ``scoring.submission_process`` (nothing reaches a broker)."""
    return sends_recorded(monkeypatch, "submission_send", "submission_id")


@pytest.fixture
def isolated_web_test(private_root, clean_cache, sent) -> None:
    """Private storage of the test's own, a clean cache, and no submission sent to a broker."""


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


@pytest.fixture
def client_for():
    """``client_for(user)``: an API client authenticated as ``user`` (None: anonymous)."""

    def make(user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return make
