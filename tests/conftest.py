"""Fixtures every test folder may ask for. Folders that want them for every test wrap them in an
autouse fixture of their own conftest (tests that run real worker processes must not: a worker
reads the private storage of its own settings)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def private_root(settings, tmp_path) -> Path:
    """Private storage under the test's temporary folder, so file assertions see only this test's files."""
    root = tmp_path / "private"
    settings.STORAGES = {
        **settings.STORAGES,
        "private": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(root), "base_url": None},
        },
    }
    return root
