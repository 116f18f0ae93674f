"""Fixtures of the discussion tests: the submissions tests' competition and people, API clients."""

from __future__ import annotations

import pytest

from tests.api.conftest import (  # noqa: F401 (fixtures)
    alice,
    alice_team,
    bob,
    bob_team,
    clean_cache,
    client_for,
    competition,
    isolated_storage,
    organizer,
    phase,
    sent,
)


@pytest.fixture
def notify_sent(monkeypatch) -> list[tuple[str, list]]:
    """Every task the discussion sends by name (nothing reaches a broker)."""
    calls: list[tuple[str, list]] = []
    monkeypatch.setattr("submissions.sending._send", lambda name, args, **options: calls.append((name, args)))
    return calls
