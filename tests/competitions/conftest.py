"""Fixtures of the competitions tests: private storage in a temporary folder; users (olga the organizer,
alice, bob) come from ``tests.support.wood``."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def isolated_storage(private_root) -> None:
    """Every competitions test: private storage in its temporary folder."""


def stored_files(root: Path) -> list[str]:
    """Every file under ``root``, relative and sorted."""
    return (
        sorted(path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file()) if root.exists() else []
    )
