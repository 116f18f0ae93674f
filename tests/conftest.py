"""Fixtures every test folder may ask for: these, and those of the plugins in ``pytest_plugins`` (the
web tests' competition and people: ``tests.support.wood``). Folders that want them for every test
wrap them in an autouse fixture of their own conftest (tests that run real worker processes must
not: a worker reads the private storage of its own settings).

The object-storage pass: when the environment names a bucket (``ATELIER_S3_BUCKET`` with
``ATELIER_S3_ENDPOINT_URL``, as ``.ci/run`` sets for ``ATELIER_TEST_STORAGE=s3``), the settings
put private files in it, for this process and every worker it starts; the bucket is created for the
session, and ``private_root`` gives each test a prefix of its own in it instead of a folder.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from django.conf import settings

from tests.support.object_storage import BucketFolder, bucket_create, private_storage_settings

pytest_plugins = ["tests.support.wood"]


def object_storage_pass() -> bool:
    """Whether this run keeps private files in an S3 bucket (the settings were given one)."""
    return bool(settings.ATELIER_S3_BUCKET)


def pytest_report_header(config) -> str:
    if object_storage_pass():
        options = settings.STORAGES["private"]["OPTIONS"]
        return f"private storage: s3://{options['bucket_name']} at {options['endpoint_url']}"
    return "private storage: local disk"


@pytest.fixture(scope="session")
def s3_server():
    """The endpoint URL of an S3-protocol server on 127.0.0.1: the one ``ATELIER_TEST_S3_ENDPOINT``
    names, else moto's ThreadedMotoServer on a free port for this session."""
    named = os.environ.get("ATELIER_TEST_S3_ENDPOINT", "").strip()
    if named:
        yield named.rstrip("/")
        return
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="session", autouse=True)
def object_storage_bucket(request) -> str | None:
    """In the object-storage pass: the configured bucket, created on the configured server."""
    if not object_storage_pass():
        return None
    endpoint = settings.STORAGES["private"]["OPTIONS"]["endpoint_url"]
    if not endpoint:
        pytest.exit("ATELIER_S3_BUCKET is set for the tests without ATELIER_S3_ENDPOINT_URL: tests never use AWS.")
    named = os.environ.get("ATELIER_TEST_S3_ENDPOINT", "").strip().rstrip("/")
    if named and named != endpoint.rstrip("/"):
        pytest.exit(f"ATELIER_TEST_S3_ENDPOINT={named} and ATELIER_S3_ENDPOINT_URL={endpoint} must name one server.")
    return bucket_create(endpoint, settings.ATELIER_S3_BUCKET)


@pytest.fixture
def s3_bucket(s3_server) -> str:
    """A new, empty bucket on the test S3 server (its name)."""
    return bucket_create(s3_server)


@pytest.fixture
def private_bucket(settings, s3_server, s3_bucket) -> dict:
    """This process's private storage in a new bucket under ``private/`` (ask for it before fixtures
    that store files, such as a competition's image sets); worker processes get the same bucket from
    ``s3_environment(endpoint, name)``. Yields ``{"endpoint", "name", "prefix"}``."""
    prefix = "private"
    settings.STORAGES = {**settings.STORAGES, "private": private_storage_settings(s3_server, s3_bucket, prefix)}
    return {"endpoint": s3_server, "name": s3_bucket, "prefix": prefix}


@pytest.fixture
def private_root(settings, tmp_path) -> Path | BucketFolder:
    """Private storage of this test alone, so file assertions see only its files: a folder under the
    test's temporary folder, or in the object-storage pass a prefix of the bucket (read through
    :class:`BucketFolder`, which supports ``root / name`` and ``root.rglob("*")``)."""
    if object_storage_pass():
        options = settings.STORAGES["private"]["OPTIONS"]
        prefix = f"{options['location']}/tests/{uuid.uuid4().hex}"
        private = private_storage_settings(options["endpoint_url"], options["bucket_name"], prefix)
        private["OPTIONS"].update(access_key=options["access_key"], secret_key=options["secret_key"])
        settings.STORAGES = {**settings.STORAGES, "private": private}
        return BucketFolder(options["endpoint_url"], options["bucket_name"], prefix)
    root = tmp_path / "private"
    settings.STORAGES = {
        **settings.STORAGES,
        "private": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(root), "base_url": None},
        },
    }
    return root
