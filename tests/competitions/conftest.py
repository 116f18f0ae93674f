"""Fixtures of the competitions tests: private storage in a temporary folder, users."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.factories import organizer_create, user_create


@pytest.fixture(autouse=True)
def private_root(settings, tmp_path) -> Path:
    """Private storage under the test's temporary folder, so file assertions see only this test's files
    (and a fast password hasher: the factories set passwords)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    root = tmp_path / "private"
    settings.STORAGES = {
        **settings.STORAGES,
        "private": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(root), "base_url": None},
        },
    }
    return root


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
