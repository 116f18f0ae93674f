"""A fixture for tests about the local-disk backend of upload sessions (chunks through the web)."""

from __future__ import annotations

import pytest


@pytest.fixture(name="private_root")
def local_private_root(settings, tmp_path):
    """Private storage on local disk, in the object-storage pass too: these tests are about the local-disk
    backend of upload sessions (chunks through the web; S3 sessions: test_upload_sessions_s3.py)."""
    root = tmp_path / "private"
    settings.ATELIER_S3_BUCKET = ""
    settings.STORAGES = {
        **settings.STORAGES,
        "private": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(root), "base_url": None},
        },
    }
    return root
