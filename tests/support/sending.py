"""The platform's messages to its workers (``submissions.sending``), recorded instead of sent."""

from __future__ import annotations

from typing import Any


def sends_recorded(monkeypatch, send: str, key: str) -> list[Any]:
    """Replace ``submissions.sending.<send>`` by a stand-in that records the id it is given as the keyword
    ``key`` (``submission_id``, ``session_id``) and reaches no broker; returns those ids, in order."""
    calls: list[Any] = []
    monkeypatch.setattr(f"submissions.sending.{send}", lambda **ids: calls.append(ids[key]))
    return calls
