"""An S3-protocol server for tests (moto's), and what tests need to look into its buckets.

``s3_server`` (tests/conftest.py) yields the endpoint of a server on 127.0.0.1: moto's
``ThreadedMotoServer`` started for the session, or the one named by ``ATELIER_TEST_S3_ENDPOINT``
(``.ci/run`` starts ``moto_server`` for its object-storage pass and names it there).

:class:`BucketFolder` lets the tests that inspect private files (``private_root``) read a bucket
prefix the way they read a folder: ``root / name`` and ``root.rglob("*")``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath

#: Credentials for the test server: those of the object-storage pass, else any (moto accepts any).
TEST_ACCESS_KEY_ID = os.environ.get("ATELIER_S3_ACCESS_KEY_ID") or "atelier-test"
TEST_SECRET_ACCESS_KEY = os.environ.get("ATELIER_S3_SECRET_ACCESS_KEY") or "atelier-test-secret"
TEST_REGION = "us-east-1"
#: Grantees that make an object readable by someone other than the bucket's owner.
PUBLIC_GRANTEES = (
    "http://acs.amazonaws.com/groups/global/AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
)


def s3_client(endpoint: str):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=TEST_ACCESS_KEY_ID,
        aws_secret_access_key=TEST_SECRET_ACCESS_KEY,
        region_name=TEST_REGION,
        config=Config(s3={"addressing_style": "path"}),
    )


def bucket_create(endpoint: str, name: str | None = None) -> str:
    """Create bucket ``name`` (default: a new unique name) unless it exists; return its name."""
    name = name or f"atelier-test-{uuid.uuid4().hex[:12]}"
    client = s3_client(endpoint)
    existing = {bucket["Name"] for bucket in client.list_buckets().get("Buckets", [])}
    if name not in existing:
        client.create_bucket(Bucket=name)
    return name


def s3_environment(endpoint: str, bucket: str, prefix: str = "private") -> dict[str, str]:
    """The ``ATELIER_S3_*`` variables that point a process (web or worker) at ``bucket``."""
    return {
        "ATELIER_S3_BUCKET": bucket,
        "ATELIER_S3_ENDPOINT_URL": endpoint,
        "ATELIER_S3_ACCESS_KEY_ID": TEST_ACCESS_KEY_ID,
        "ATELIER_S3_SECRET_ACCESS_KEY": TEST_SECRET_ACCESS_KEY,
        "ATELIER_S3_REGION": TEST_REGION,
        "ATELIER_S3_PREFIX": prefix,
    }


def private_storage_settings(endpoint: str, bucket: str, prefix: str) -> dict:
    """``settings.STORAGES["private"]`` for ``bucket`` under ``prefix``, as the settings module builds it."""
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "endpoint_url": endpoint,
            "access_key": TEST_ACCESS_KEY_ID,
            "secret_key": TEST_SECRET_ACCESS_KEY,
            "region_name": TEST_REGION,
            "location": prefix,
            "default_acl": "private",
            "file_overwrite": False,
            "addressing_style": "path",
        },
    }


def object_keys(endpoint: str, bucket: str, prefix: str = "") -> list[str]:
    client = s3_client(endpoint)
    keys: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(item["Key"] for item in page.get("Contents", []))
    return sorted(keys)


def public_grants(endpoint: str, bucket: str, key: str) -> list[dict]:
    """The grants on ``key`` that let anyone but the owner read it (empty for a private object)."""
    grants = s3_client(endpoint).get_object_acl(Bucket=bucket, Key=key)["Grants"]
    return [grant for grant in grants if grant.get("Grantee", {}).get("URI") in PUBLIC_GRANTEES]


def anonymous_get_status(endpoint: str, bucket: str, key: str) -> int:
    """The HTTP status of an unsigned GET of the object's path-style URL (403 for a private object)."""
    import urllib.error
    import urllib.parse
    import urllib.request

    url = f"{endpoint.rstrip('/')}/{bucket}/{urllib.parse.quote(key)}"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@dataclass(frozen=True)
class BucketFolder:
    """A prefix of a bucket read like the folder the local private storage would use: ``root / name``
    (a file or a sub-folder), ``read_bytes()``, ``exists()``, ``is_file()``, ``rglob("*")`` and
    ``relative_to(root)``: the little of ``pathlib.Path`` the tests use on ``private_root``."""

    endpoint: str
    bucket: str
    prefix: str
    name: str = ""

    def _key(self) -> str:
        return f"{self.prefix}/{self.name}" if self.name else self.prefix

    def __truediv__(self, name: str) -> BucketFolder:
        joined = f"{self.name}/{name}" if self.name else str(name)
        return BucketFolder(self.endpoint, self.bucket, self.prefix, joined.strip("/"))

    def read_bytes(self) -> bytes:
        return s3_client(self.endpoint).get_object(Bucket=self.bucket, Key=self._key())["Body"].read()

    def is_file(self) -> bool:
        return bool(self.name) and self._key() in object_keys(self.endpoint, self.bucket, self._key())

    def exists(self) -> bool:
        return not self.name or bool(object_keys(self.endpoint, self.bucket, self._key()))

    def rglob(self, pattern: str) -> Iterator[BucketFolder]:
        assert pattern == "*", "only rglob('*') is supported on a bucket"
        root = BucketFolder(self.endpoint, self.bucket, self.prefix)
        keys = object_keys(self.endpoint, self.bucket, self._key() + "/")
        return iter([root / key[len(self.prefix) + 1 :] for key in keys])

    def relative_to(self, other: BucketFolder) -> PurePosixPath:
        assert (other.endpoint, other.bucket, other.prefix) == (self.endpoint, self.bucket, self.prefix), other
        return PurePosixPath(self.name).relative_to(other.name) if other.name else PurePosixPath(self.name)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self._key()}"
