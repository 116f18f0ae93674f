"""Fixtures of the discussion tests: the wood competition, its people and API clients
(``tests.support.wood``)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def isolated(isolated_web_test) -> None:
    """Every discussion test: private storage in its temporary folder, a clean cache, no broker."""


@pytest.fixture
def notify_sent(monkeypatch) -> list[tuple[str, list]]:
    """Every task the discussion sends by name (nothing reaches a broker)."""
    calls: list[tuple[str, list]] = []
    monkeypatch.setattr("submissions.sending._send", lambda name, args, **options: calls.append((name, args)))
    return calls
