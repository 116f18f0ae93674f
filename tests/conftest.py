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


@pytest.fixture(scope="session")
def s3_server():
    """The endpoint URL of an S3-protocol server: ``ATELIER_TEST_S3_ENDPOINT`` when set (a MinIO, say),
    else moto's ``ThreadedMotoServer`` on 127.0.0.1 and a free port, stopped after the session."""
    import os
    import socket

    endpoint = os.environ.get("ATELIER_TEST_S3_ENDPOINT")
    if endpoint:
        yield endpoint.rstrip("/")
        return
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:  # pragma: no cover
        pytest.skip("moto[server] is not installed (requirements-dev.txt): no S3-protocol server to test against")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
