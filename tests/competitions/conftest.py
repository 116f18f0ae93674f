"""Fixtures of the competitions tests: private storage in a temporary folder, users."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.factories import organizer_create, user_create


@pytest.fixture(autouse=True)
def isolated_storage(private_root) -> None:
    """Every competitions test: private storage in its temporary folder."""


def stored_files(root: Path) -> list[str]:
    """Every file under ``root``, relative and sorted."""
    return (
        sorted(path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file()) if root.exists() else []
    )


@pytest.fixture
def organizer(db):
    return organizer_create("olga")


@pytest.fixture
def alice(db):
    return user_create("alice")


@pytest.fixture
def bob(db):
    return user_create("bob")
