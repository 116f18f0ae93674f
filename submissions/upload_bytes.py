"""Where the bytes of an upload session live (``submissions.upload_sessions``): a private file on
local disk (``ATELIER_UPLOAD_SESSIONS_DIR``, mode 0600, named by the session id), or an S3
multipart upload to the submission's final key in the private bucket; and how they are deleted."""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path
from typing import Any

from django.conf import settings

from gan_platform.storages import private_storage
from submissions.models import UploadSession

S3_MIN_PART_BYTES = 5 * 1024 * 1024
"""S3 refuses parts smaller than 5 MiB, except the last."""
S3_MAX_PARTS = 10_000
CORS_MAX_AGE_SECONDS = 3600


def cors_rules(origins: list[str]) -> dict[str, Any]:
    """The bucket's CORS configuration that lets browser pages of ``origins`` (``https://host[:port]``)
    PUT parts to presigned URLs and read each part's ``ETag`` (docs/decisions/0012)."""
    return {
        "CORSRules": [
            {
                "AllowedOrigins": [origin.rstrip("/") for origin in origins],
                "AllowedMethods": ["PUT"],
                "AllowedHeaders": ["*"],
                "ExposeHeaders": ["ETag"],
                "MaxAgeSeconds": CORS_MAX_AGE_SECONDS,
            }
        ]
    }


def bucket_cors_set(origins: list[str]) -> dict[str, Any]:
    """Put :func:`cors_rules` of ``origins`` on the private bucket (it replaces the bucket's CORS
    configuration); return the configuration the bucket answers afterwards."""
    client, bucket, _ = s3()
    client.put_bucket_cors(Bucket=bucket, CORSConfiguration=cors_rules(origins))
    return {"CORSRules": client.get_bucket_cors(Bucket=bucket)["CORSRules"]}


def sessions_dir() -> Path:
    folder = Path(settings.ATELIER_UPLOAD_SESSIONS_DIR)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def local_path(session: UploadSession) -> Path:
    return sessions_dir() / f"{session.pk.hex}.part"


def uses_s3() -> bool:
    return bool(getattr(settings, "ATELIER_S3_BUCKET", "")) and "S3Storage" in settings.STORAGES["private"]["BACKEND"]


# --- S3 ------------------------------------------------------------------------------------------


def s3() -> tuple[Any, str, Any]:
    """(client, bucket name, storage) of the private storage."""
    storage = private_storage()
    return storage.connection.meta.client, storage.bucket_name, storage


def s3_key(name: str) -> str:
    return private_storage()._normalize_name(name)


def s3_presigner() -> Any:
    """A client that signs for the address clients reach the bucket at (``ATELIER_S3_PUBLIC_ENDPOINT_URL``)."""
    import boto3
    from botocore.config import Config

    storage = private_storage()
    return boto3.session.Session().client(
        "s3",
        endpoint_url=settings.ATELIER_S3_PUBLIC_ENDPOINT_URL or storage.endpoint_url or None,
        aws_access_key_id=storage.access_key or None,
        aws_secret_access_key=storage.secret_key or None,
        region_name=storage.region_name or None,
        config=Config(signature_version="s3v4", s3={"addressing_style": storage.addressing_style or "auto"}),
    )


def s3_upload_origin() -> str:
    """``scheme://host[:port]`` that browsers send parts to: that of a presigned URL (the public
    endpoint, with the bucket's name in the host under virtual-hosted addressing). Nothing is sent."""
    from urllib.parse import urlsplit

    _, bucket, _ = s3()
    url = urlsplit(s3_presigner().generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "x"}))
    return f"{url.scheme}://{url.netloc}"


def s3_parts(session: UploadSession) -> list[dict[str, Any]]:
    client, bucket, _ = s3()
    parts: list[dict[str, Any]] = []
    marker = 0
    while True:
        answer = client.list_parts(
            Bucket=bucket, Key=s3_key(session.s3_key), UploadId=session.s3_upload_id, PartNumberMarker=marker
        )
        parts.extend(answer.get("Parts", []))
        if not answer.get("IsTruncated"):
            return parts
        marker = int(answer["NextPartNumberMarker"])


def part_count(session: UploadSession) -> int:
    return max(1, -(-session.size // session.part_size))


def part_length(session: UploadSession, number: int) -> int:
    return min(session.part_size, session.size - (number - 1) * session.part_size)


def bytes_delete(session: UploadSession, *, assembled: bool = False) -> None:
    """Delete what the session holds: its local file, its S3 multipart upload or (``assembled``) the
    object the completed multipart upload made."""
    if session.backend == UploadSession.Backend.LOCAL:
        with contextlib.suppress(FileNotFoundError):
            local_path(session).unlink()
        return
    client, bucket, _ = s3()
    key = s3_key(session.s3_key)
    if assembled:
        client.delete_object(Bucket=bucket, Key=key)
        return
    try:
        client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=session.s3_upload_id)
    except client.exceptions.NoSuchUpload:
        pass


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
