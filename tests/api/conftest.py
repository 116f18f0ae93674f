"""Fixtures of the API tests: the wood competition, its people and API clients (``tests.support.wood``);
every test with private storage of its own, a clean cache and no broker."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def isolated(isolated_web_test) -> None:
    """Every API test: private storage in its temporary folder, a clean cache, no broker."""
