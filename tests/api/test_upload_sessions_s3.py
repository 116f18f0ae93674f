"""Resumable uploads on S3-compatible storage (moto's server, or ``ATELIER_TEST_S3_ENDPOINT``): the
bytes go from the client to the bucket through presigned part URLs, never through the web, and the
completion's read-back (SHA-256, checks) runs in the task ``submissions.upload_session_verify``, which
these tests run themselves (as a worker would, once or twice)."""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import uuid
from datetime import timedelta
from urllib.parse import urlsplit

import boto3
import pytest
from django.core.management import call_command
from django.utils import timezone

from submissions import upload_sessions
from submissions.models import Submission, UploadSession
from submissions.selectors import quota_get
from submissions.upload_sessions import (
    VERIFY_MAX_SENDS,
    upload_session_verify,
    upload_sessions_expire,
    upload_sessions_verify_sweep,
)
from tests.submissions.helpers import big_onnx
from tests.support.sending import sends_recorded

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


@pytest.fixture
def verifications(monkeypatch) -> list[str]:
    """Session ids sent to ``submissions.upload_session_verify`` (nothing reaches a broker)."""
    return sends_recorded(monkeypatch, "upload_session_verify_send", "session_id")


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


def uploaded(client, data: bytes, sha256: str | None = None) -> str:
    """A session of ``data`` with every part in the bucket (not completed): its id."""
    created = open_session(client, data, sha256)
    assert created.status_code == 201, created.json()
    session = created.json()
    urls = client.post(f"/api/v1/uploads/{session['id']}/parts/", {"part_numbers": [1, 2]}, format="json").json()
    assert put(urls[0]["url"], data[: 5 * MIB]) == 200 and put(urls[1]["url"], data[5 * MIB :]) == 200
    return session["id"]


def verifying(client, data: bytes, sha256: str | None = None, *, capture) -> str:
    """A session of ``data`` uploaded and completed: verifying, its task sent (not run). Its id."""
    session_id = uploaded(client, data, sha256)
    complete(client, session_id, capture)
    return session_id


def complete(client, session_id: str, capture) -> dict:
    """POST complete/ (its on-commit callbacks run): the answer, which must be 202 with the session, verifying."""
    with capture(execute=True):
        answer = client.post(f"/api/v1/uploads/{session_id}/complete/")
    assert answer.status_code == 202, answer.json()
    return answer.json()


def open_session(client, data: bytes, sha256: str | None = None):
    return client.post(
        "/api/v1/competitions/wood/uploads/",
        {"filename": "big.onnx", "size": len(data), "sha256": sha256 or hashlib.sha256(data).hexdigest()},
        format="json",
    )


def test_parts_go_to_the_bucket_resume_from_the_stored_ones_and_complete_into_a_submission(
    bucket, client_for, phase, alice, alice_team, verifications, sent, django_capture_on_commit_callbacks
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

    # the completion assembles the parts and answers at once: the read-back is the task's
    done = complete(client, session["id"], django_capture_on_commit_callbacks)
    assert (done["id"], done["state"], done["offset"], done["submission"], done["error"]) == (
        session["id"],
        "verifying",
        len(data),
        None,
        None,
    )
    assert verifications == [session["id"]]
    assert Submission.objects.count() == 0 and quota_get(phase=phase, team=alice_team).used_today == 0
    assert client.get(f"/api/v1/uploads/{session['id']}/").json()["state"] == "verifying"
    again = client.post(f"/api/v1/uploads/{session['id']}/complete/")
    assert (again.status_code, again.json()["error"]["state"]) == (409, "verifying")

    # the task (delivered twice) makes one submission of the stored object
    with django_capture_on_commit_callbacks(execute=True):
        assert upload_session_verify(session_id=session["id"]) == "completed"
        assert upload_session_verify(session_id=session["id"]) == "completed"
    submission = Submission.objects.get()
    status = client.get(f"/api/v1/uploads/{session['id']}/").json()
    assert (status["state"], status["submission"], status["error"]) == ("completed", submission.pk, None)
    key = f"private/{submission.file.name}"
    assert objects(s3, name) == [key]
    assert s3.get_object(Bucket=name, Key=key)["Body"].read() == data
    assert submission.sha256 == hashlib.sha256(data).hexdigest()
    assert quota_get(phase=phase, team=alice_team).used_today == 1
    assert sent == [submission.pk]
    assert s3.list_multipart_uploads(Bucket=name).get("Uploads", []) == []


def test_a_duplicate_delivery_that_loses_the_race_stores_nothing_and_deletes_nothing(
    bucket, client_for, phase, alice, alice_team, verifications, monkeypatch, django_capture_on_commit_callbacks
):
    # given a verifying session, and a second delivery of its task that runs while the first is reading
    s3, name = bucket
    client = client_for(alice)
    session_id = verifying(client, big_onnx(), capture=django_capture_on_commit_callbacks)
    real_download = upload_sessions._s3_downloaded
    first = {"state": None}

    def download_while_the_other_delivery_finishes(session):
        if first["state"] is None:
            monkeypatch.setattr(upload_sessions, "_s3_downloaded", real_download)
            first["state"] = upload_session_verify(session_id=session_id)
        return real_download(session)

    monkeypatch.setattr(upload_sessions, "_s3_downloaded", download_while_the_other_delivery_finishes)

    # when the late delivery gets to store
    assert upload_session_verify(session_id=session_id) == "completed"

    # then the first one made the only submission, charged once, and its object is still there
    assert first["state"] == "completed"
    submission = Submission.objects.get()
    assert UploadSession.objects.get(pk=session_id).submission_id == submission.pk
    assert quota_get(phase=phase, team=alice_team).used_today == 1
    assert objects(s3, name) == [f"private/{submission.file.name}"]


def test_a_wrong_sha256_on_s3_fails_the_session_and_leaves_no_object_and_no_upload(
    bucket, client_for, phase, alice, alice_team, verifications, sent, django_capture_on_commit_callbacks
):
    s3, name = bucket
    data = big_onnx()
    client = client_for(alice)
    session_id = verifying(client, data, sha256="1" * 64, capture=django_capture_on_commit_callbacks)
    assert len(objects(s3, name)) == 1  # assembled, not yet read back

    assert upload_session_verify(session_id=session_id) == "failed"
    assert upload_session_verify(session_id=session_id) == "failed"  # a second delivery changes nothing

    status = client.get(f"/api/v1/uploads/{session_id}/").json()
    actual = hashlib.sha256(data).hexdigest()
    assert (status["state"], status["submission"]) == ("failed", None)
    assert status["error"] == {
        "status": 400,
        "code": "sha256_mismatch",
        "message": f"The file that arrived has SHA-256 {actual}, not the declared {'1' * 64}: it was "
        "damaged on the way or changed since. Nothing was kept; upload it again.",
        "fields": {},
        "sha256": actual,
        "declared": "1" * 64,
    }
    assert objects(s3, name) == [] and s3.list_multipart_uploads(Bucket=name).get("Uploads", []) == []
    assert Submission.objects.count() == 0 and sent == []
    assert quota_get(phase=phase, team=alice_team).used_today == 0
    # the failed session keeps its error until it expires, then goes
    later = timezone.now() + timedelta(seconds=upload_sessions.settings.ATELIER_UPLOAD_SESSION_SECONDS + 1)
    assert upload_sessions_expire(now=later) == 1 and UploadSession.objects.count() == 0


def test_a_file_refused_by_the_checks_in_the_task_fails_with_the_checks_code(
    bucket, client_for, phase, alice, alice_team, verifications, django_capture_on_commit_callbacks
):
    s3, name = bucket
    data = bytes(range(256)) * (6 * MIB // 256)  # not a checkpoint of any accepted format
    client = client_for(alice)
    session_id = verifying(client, data, capture=django_capture_on_commit_callbacks)

    assert upload_session_verify(session_id=session_id) == "failed"

    error = client.get(f"/api/v1/uploads/{session_id}/").json()["error"]
    assert error["code"] == "unsupported_format" and error["status"] == 400, error
    assert objects(s3, name) == [] and Submission.objects.count() == 0
    assert quota_get(phase=phase, team=alice_team).used_today == 0


def test_a_session_stuck_verifying_is_sent_again_never_expired_and_failed_after_the_last_try(
    bucket, client_for, phase, alice, alice_team, verifications, settings, django_capture_on_commit_callbacks
):
    # given a verifying session whose task was lost (its worker died)
    s3, name = bucket
    client = client_for(alice)
    session_id = verifying(client, big_onnx(), capture=django_capture_on_commit_callbacks)
    assert verifications == [session_id]

    # the sweep leaves it alone within the grace, then sends it again, once per grace
    assert upload_sessions_verify_sweep() == []
    later = timezone.now() + timedelta(seconds=settings.ATELIER_UPLOAD_VERIFY_GRACE_SECONDS + 1)
    with django_capture_on_commit_callbacks(execute=True):
        assert upload_sessions_verify_sweep(now=later) == [session_id]
        assert upload_sessions_verify_sweep(now=later) == []
    assert verifications == [session_id, session_id]
    assert UploadSession.objects.get(pk=session_id).verify_sends == 2

    # the expiry sweep, long after, keeps its object: it is the submission's to be
    much_later = timezone.now() + timedelta(seconds=settings.ATELIER_UPLOAD_SESSION_SECONDS * 3)
    assert upload_sessions_expire(now=much_later) == 0
    assert len(objects(s3, name)) == 1 and UploadSession.objects.get(pk=session_id).state == "verifying"

    # after the last try the sweep gives up: failed, the object deleted, nothing charged
    UploadSession.objects.filter(pk=session_id).update(verify_sends=VERIFY_MAX_SENDS)
    assert upload_sessions_verify_sweep(now=much_later) == []
    session = UploadSession.objects.get(pk=session_id)
    assert (session.state, session.error["code"], session.error["status"]) == ("failed", "verify_failed", 503)
    assert objects(s3, name) == [] and Submission.objects.count() == 0
    assert quota_get(phase=phase, team=alice_team).used_today == 0


def test_a_resent_verification_of_a_stuck_session_creates_the_submission(
    bucket, client_for, phase, alice, alice_team, verifications, settings, django_capture_on_commit_callbacks
):
    s3, name = bucket
    client = client_for(alice)
    session_id = verifying(client, big_onnx(), capture=django_capture_on_commit_callbacks)
    later = timezone.now() + timedelta(seconds=settings.ATELIER_UPLOAD_VERIFY_GRACE_SECONDS + 1)
    with django_capture_on_commit_callbacks(execute=True):
        assert upload_sessions_verify_sweep(now=later) == [session_id]

    # the re-sent task and the first one both arrive in the end
    assert [upload_session_verify(session_id=sent_id) for sent_id in verifications] == ["completed", "completed"]
    assert Submission.objects.count() == 1 and quota_get(phase=phase, team=alice_team).used_today == 1
    assert upload_sessions_verify_sweep(now=later + timedelta(days=1)) == []


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


def test_the_upload_cors_command_puts_the_rule_browsers_need_on_the_bucket(bucket, settings):
    s3, name = bucket
    out = io.StringIO()

    call_command(
        "upload_cors", "--origin", "https://atelier.example.org/", "--origin", "http://localhost:8000", stdout=out
    )

    expected = [
        {
            "AllowedOrigins": ["https://atelier.example.org", "http://localhost:8000"],
            "AllowedMethods": ["PUT"],
            "AllowedHeaders": ["*"],
            "ExposeHeaders": ["ETag"],
            "MaxAgeSeconds": 3600,
        }
    ]
    assert s3.get_bucket_cors(Bucket=name)["CORSRules"] == expected
    assert json.loads(out.getvalue()) == {"CORSRules": expected}
    settings.ATELIER_SITE_URL = "https://site.example.org"
    printed = io.StringIO()
    call_command("upload_cors", "--print", stdout=printed)
    assert json.loads(printed.getvalue())["CORSRules"][0]["AllowedOrigins"] == ["https://site.example.org"]
