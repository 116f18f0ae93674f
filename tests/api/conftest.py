"""Fixtures of the API tests: the submissions tests' fixtures, plus API clients."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.submissions.conftest import (  # noqa: F401 (fixtures)
    alice,
    alice_team,
    bob,
    bob_team,
    clean_cache,
    competition,
    isolated_storage,
    organizer,
    phase,
    sent,
)


@pytest.fixture
def client_for():
    """``client_for(user)``: an API client authenticated as ``user`` (None: anonymous)."""

    def make(user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return make
