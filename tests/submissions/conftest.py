"""Fixtures of the submissions tests: the wood competition and its people (``tests.support.wood``);
every test with private storage of its own, a clean cache and no broker."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def isolated(isolated_web_test) -> None:
    """Every submissions test: private storage in its temporary folder, a clean cache, no broker."""
