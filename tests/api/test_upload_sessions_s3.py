"""Resumable uploads on S3-compatible storage (moto's server, or ``ATELIER_TEST_S3_ENDPOINT``): the
bytes go from the client to the bucket through presigned part URLs, never through the web."""

from __future__ import annotations

import hashlib
import http.client
import uuid
from datetime import timedelta
from urllib.parse import urlsplit

import boto3
import pytest
from django.utils import timezone

from submissions.models import Submission, UploadSession
from submissions.selectors import quota_get
from submissions.upload_sessions import upload_sessions_expire
from tests.submissions.helpers import onnx_bytes

MIB = 1024 * 1024


@pytest.fixture
def bucket(s3_server, settings, tmp_path):
    name = f"atelier-{uuid.uuid4().hex[:12]}"
    client = boto3.client(
        "s3",
        endpoint_url=s3_server,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    client.create_bucket(Bucket=name)
    settings.ATELIER_S3_BUCKET = name
    settings.ATELIER_S3_PUBLIC_ENDPOINT_URL = s3_server
    settings.ATELIER_UPLOAD_CHUNK_BYTES = 5 * MIB
    settings.ATELIER_UPLOAD_SESSIONS_DIR = tmp_path / "upload-sessions"
    settings.STORAGES = {
        **settings.STORAGES,
        "private": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": name,
                "endpoint_url": s3_server,
                "access_key": "testing",
                "secret_key": "testing",
                "region_name": "us-east-1",
                "location": "private",
                "default_acl": "private",
                "file_overwrite": False,
                "addressing_style": "path",
            },
        },
    }
    return client, name


def big_onnx(size_mib: int = 6) -> bytes:
    """An ONNX model of about ``size_mib`` MiB (two parts of 5 MiB and the rest) that passes the upload's
    checks: the tests' Identity model with an initializer of patterned bytes."""
    from onnx import TensorProto, helper, load_from_string

    model = load_from_string(onnx_bytes())
    padding = bytes(range(256)) * (size_mib * MIB // 256)
    model.graph.initializer.append(helper.make_tensor("padding", TensorProto.UINT8, [len(padding)], padding, raw=True))
    return model.SerializeToString()


def put(url: str, data: bytes) -> int:
    """PUT a part as a client does (http.client: urllib would add a form Content-Type the URL was not signed for)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request("PUT", f"{parts.path}?{parts.query}", body=data)
        answer = connection.getresponse()
        answer.read()
        return answer.status
    finally:
        connection.close()


def objects(client, name) -> list[str]:
    """The submissions' objects (the competition's images live in the bucket too)."""
    listed = client.list_objects_v2(Bucket=name, Prefix="private/submissions/")
    return [item["Key"] for item in listed.get("Contents", [])]


def open_session(client, data: bytes, sha256: str | None = None):
    return client.post(
        "/api/v1/competitions/wood/uploads/",
        {"filename": "big.onnx", "size": len(data), "sha256": sha256 or hashlib.sha256(data).hexdigest()},
        format="json",
    )


def test_parts_go_to_the_bucket_resume_from_the_stored_ones_and_complete_into_a_submission(
    bucket, client_for, phase, alice, alice_team
):
    s3, name = bucket
    data = big_onnx()
    client = client_for(alice)
    created = open_session(client, data)
    assert created.status_code == 201, created.json()
    session = created.json()
    assert (session["backend"], session["chunk_size"]) == ("s3", 5 * MIB)
    urls = client.post(f"/api/v1/uploads/{session['id']}/parts/", {"part_numbers": [1, 2]}, format="json").json()
    assert [(u["part_number"], u["size"]) for u in urls] == [(1, 5 * MIB), (2, len(data) - 5 * MIB)]
    # the first part only (the connection broke), then the status tells where to go on
    assert put(urls[0]["url"], data[: 5 * MIB]) == 200
    status = client.get(f"/api/v1/uploads/{session['id']}/").json()
    assert status["offset"] == 5 * MIB and status["parts"] == [{"part_number": 1, "size": 5 * MIB}]
    assert client.post(f"/api/v1/uploads/{session['id']}/complete/").json()["error"]["code"] == "upload_incomplete"
    assert put(urls[1]["url"], data[5 * MIB :]) == 200
    done = client.post(f"/api/v1/uploads/{session['id']}/complete/")
    assert done.status_code == 201, done.json()
    submission = Submission.objects.get(pk=done.json()["id"])
    key = f"private/{submission.file.name}"
    assert objects(s3, name) == [key]
    assert s3.get_object(Bucket=name, Key=key)["Body"].read() == data
    assert submission.sha256 == hashlib.sha256(data).hexdigest()
    assert quota_get(phase=phase, team=alice_team).used_today == 1
    assert s3.list_multipart_uploads(Bucket=name).get("Uploads", []) == []


def test_a_wrong_sha256_on_s3_leaves_no_object_and_no_upload(bucket, client_for, phase, alice, alice_team):
    s3, name = bucket
    data = big_onnx()
    client = client_for(alice)
    session = open_session(client, data, sha256="1" * 64).json()
    urls = client.post(f"/api/v1/uploads/{session['id']}/parts/", {"part_numbers": [1, 2]}, format="json").json()
    put(urls[0]["url"], data[: 5 * MIB])
    put(urls[1]["url"], data[5 * MIB :])
    answer = client.post(f"/api/v1/uploads/{session['id']}/complete/")
    assert answer.json()["error"]["code"] == "sha256_mismatch"
    assert objects(s3, name) == [] and s3.list_multipart_uploads(Bucket=name).get("Uploads", []) == []
    assert Submission.objects.count() == 0 and UploadSession.objects.count() == 0


def test_an_expired_s3_session_is_aborted_and_leaves_no_parts(bucket, client_for, phase, alice, alice_team, settings):
    s3, name = bucket
    data = big_onnx()
    client = client_for(alice)
    session = open_session(client, data).json()
    urls = client.post(f"/api/v1/uploads/{session['id']}/parts/", {"part_numbers": [1]}, format="json").json()
    put(urls[0]["url"], data[: 5 * MIB])
    assert len(s3.list_multipart_uploads(Bucket=name).get("Uploads", [])) == 1
    later = timezone.now() + timedelta(seconds=settings.ATELIER_UPLOAD_SESSION_SECONDS + 1)
    assert upload_sessions_expire(now=later) == 1
    assert s3.list_multipart_uploads(Bucket=name).get("Uploads", []) == [] and objects(s3, name) == []
    assert UploadSession.objects.count() == 0


def test_local_chunks_are_refused_on_an_s3_session(bucket, client_for, phase, alice, alice_team):
    data = big_onnx(1)
    client = client_for(alice)
    session = open_session(client, data).json()
    answer = client.generic(
        "PATCH",
        f"/api/v1/uploads/{session['id']}/",
        data,
        content_type="application/offset+octet-stream",
        HTTP_UPLOAD_OFFSET="0",
    )
    assert answer.status_code == 409 and answer.json()["error"]["code"] == "upload_backend_s3"
