"""Resumable uploads through the REST API on local disk: checks before any byte, chunks at offsets,
verification at completion, abort and expiry (S3: test_upload_sessions_s3.py)."""

from __future__ import annotations

import hashlib
import json
import struct
from datetime import timedelta

import pytest
from django.utils import timezone

from gan_platform.storages import private_storage
from submissions.models import Submission, UploadSession
from submissions.selectors import quota_get
from submissions.upload_sessions import upload_sessions_expire
from tests.gan_core.onnx_cases import refused_cases
from tests.submissions.helpers import TINY_CONFIG, pickle_bytes, safetensors_bytes
from tests.support.local_storage import local_private_root  # noqa: F401 (the private_root fixture)


@pytest.fixture(autouse=True)
def sessions_dir(settings, tmp_path):
    folder = tmp_path / "upload-sessions"
    settings.ATELIER_UPLOAD_SESSIONS_DIR = folder
    return folder


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def open_session(client, data: bytes, **fields):
    body = {"filename": "model.safetensors", "size": len(data), "sha256": digest(data), **fields}
    return client.post("/api/v1/competitions/wood/uploads/", body, format="json")


def send(client, session_id, data: bytes, offset: int):
    return client.generic(
        "PATCH",
        f"/api/v1/uploads/{session_id}/",
        data,
        content_type="application/offset+octet-stream",
        HTTP_UPLOAD_OFFSET=str(offset),
    )


def upload(client, data: bytes, *, chunk: int = 7, **fields):
    created = open_session(client, data, **fields)
    assert created.status_code == 201, created.json()
    session_id = created.json()["id"]
    for start in range(0, len(data), chunk):
        answer = send(client, session_id, data[start : start + chunk], start)
        assert answer.status_code == 200, answer.json()
    return session_id, client.post(f"/api/v1/uploads/{session_id}/complete/")


def stored_files(root):
    return sorted(path for path in root.rglob("*") if path.is_file()) if root.exists() else []


def bare_safetensors() -> bytes:
    """A valid checkpoint without the Atelier config in its metadata."""
    return safetensors_bytes(with_config=False)


def test_an_upload_in_chunks_becomes_a_submission_and_charges_the_quota_once(
    client_for, phase, alice, alice_team, sent, private_root, sessions_dir
):
    # given a valid checkpoint, sent in 7-byte chunks
    data = safetensors_bytes()
    client = client_for(alice)
    # when the session completes
    session_id, done = upload(client, data)
    # then the submission exists with the file's digest, the bytes moved to private storage
    assert done.status_code == 201, done.json()
    submission = Submission.objects.get(pk=done.json()["id"])
    assert (submission.sha256, submission.size, submission.original_name) == (
        digest(data),
        len(data),
        "model.safetensors",
    )
    assert private_storage().open(submission.file.name).read() == data
    assert quota_get(phase=phase, team=alice_team).used_today == 1
    assert list(sessions_dir.glob("*.part")) == []
    assert UploadSession.objects.get(pk=session_id).state == "completed"
    # and a second completion is refused
    again = client.post(f"/api/v1/uploads/{session_id}/complete/")
    assert (again.status_code, again.json()["error"]["code"]) == (409, "upload_not_open")
    assert Submission.objects.count() == 1


def test_a_chunk_at_the_wrong_offset_gets_409_with_the_current_offset_and_head_tells_it(
    client_for, phase, alice, alice_team
):
    data = safetensors_bytes()
    client = client_for(alice)
    session_id = open_session(client, data).json()["id"]
    assert send(client, session_id, data[:10], 0).status_code == 200
    # a client that lost track resends from 0
    wrong = send(client, session_id, data[:10], 0)
    assert wrong.status_code == 409
    assert (wrong.json()["error"]["code"], wrong.json()["error"]["offset"]) == ("offset_mismatch", 10)
    head = client.head(f"/api/v1/uploads/{session_id}/")
    assert (head["Upload-Offset"], head["Upload-Length"]) == ("10", str(len(data)))
    # completing early says how much is missing and keeps the session
    early = client.post(f"/api/v1/uploads/{session_id}/complete/")
    assert early.status_code == 409 and early.json()["error"]["offset"] == 10
    # resuming from the offset finishes it
    assert send(client, session_id, data[10:], 10).json()["offset"] == len(data)
    assert client.post(f"/api/v1/uploads/{session_id}/complete/").status_code == 201


def test_a_chunk_past_the_declared_size_is_refused(client_for, phase, alice, alice_team):
    data = safetensors_bytes()
    client = client_for(alice)
    session_id = open_session(client, data).json()["id"]
    answer = send(client, session_id, data + b"extra", 0)
    assert answer.status_code == 413 and answer.json()["error"]["code"] == "file_too_large"
    assert client.get(f"/api/v1/uploads/{session_id}/").json()["offset"] == 0


def test_a_wrong_sha256_is_refused_at_completion_and_nothing_is_stored(
    client_for, phase, alice, alice_team, private_root, sessions_dir, sent
):
    data = safetensors_bytes()
    client = client_for(alice)
    created = client.post(
        "/api/v1/competitions/wood/uploads/",
        {"filename": "m.safetensors", "size": len(data), "sha256": "0" * 64},
        format="json",
    )
    session_id = created.json()["id"]
    send(client, session_id, data, 0)
    answer = client.post(f"/api/v1/uploads/{session_id}/complete/")
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "sha256_mismatch" and digest(data) in answer.json()["error"]["message"]
    assert Submission.objects.count() == 0 and sent == []
    assert stored_files(private_root / "submissions") == [] and list(sessions_dir.glob("*")) == []
    assert not UploadSession.objects.filter(pk=session_id).exists()
    assert quota_get(phase=phase, team=alice_team).used_today == 0


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (safetensors_bytes()[:-4], "truncated"),
        (pickle_bytes(), "unsupported_format"),
        (bare_safetensors(), "bad_config"),
    ],
    ids=["truncated", "pickle", "no-config"],
)
def test_each_bad_file_is_refused_at_upload_with_its_code_and_no_quota_used(
    client_for, phase, alice, alice_team, private_root, sessions_dir, data, code
):
    session_id, answer = upload(client_for(alice), data)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == code, answer.json()
    assert Submission.objects.count() == 0
    assert quota_get(phase=phase, team=alice_team).used_today == 0
    assert stored_files(private_root / "submissions") == [] and list(sessions_dir.glob("*")) == []


ONNX_CASES = refused_cases()


@pytest.mark.parametrize("route", ["session", "one-shot"])
@pytest.mark.parametrize("name", ["external_data", "custom_node", "unknown_operator", "missing_opset", "truncated"])
def test_an_onnx_file_the_worker_refuses_is_refused_at_upload_by_either_route_and_no_quota_used(
    client_for, phase, alice, alice_team, private_root, sessions_dir, name, route
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    data, code = ONNX_CASES[name]
    client = client_for(alice)
    if route == "session":
        _, answer = upload(client, data, chunk=64, filename="model.onnx")
    else:
        answer = client.post(
            "/api/v1/competitions/wood/submissions/",
            {"file": SimpleUploadedFile("model.onnx", data)},
            format="multipart",
        )
    assert answer.status_code == 400 and answer.json()["error"]["code"] == code, answer.json()
    assert Submission.objects.count() == 0
    quota = quota_get(phase=phase, team=alice_team)
    assert (quota.used_today, quota.used_total) == (0, 0)
    assert stored_files(private_root / "submissions") == [] and list(sessions_dir.glob("*")) == []


def test_a_config_given_next_to_the_file_is_written_into_its_metadata(client_for, phase, alice, alice_team):
    config = TINY_CONFIG
    _, answer = upload(client_for(alice), bare_safetensors(), config=config)
    assert answer.status_code == 201, answer.json()
    submission = Submission.objects.get(pk=answer.json()["id"])
    stored = private_storage().open(submission.file.name).read()
    (length,) = struct.unpack("<Q", stored[:8])
    header = json.loads(stored[8 : 8 + length])
    assert json.loads(header["__metadata__"]["atelier"]) == config
    bare = bare_safetensors()
    assert stored[8 + length :] == bare[8 + struct.unpack("<Q", bare[:8])[0] :]  # the same tensor bytes
    assert submission.sha256 == digest(stored) and submission.size == len(stored)


def test_a_config_that_contradicts_the_files_own_is_refused(client_for, phase, alice, alice_team):
    _, answer = upload(client_for(alice), safetensors_bytes(), config={"architecture": "unet_small"})
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "bad_config"
    assert "give one" in answer.json()["error"]["message"]


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"config": {"hyperparameters": {}}}, "bad_config"),
        ({"config": "not json {"}, "bad_config"),
        ({"sha256": "xyz"}, "validation_error"),
        ({"size": 0}, "empty_file"),
        ({"size": 10**12}, "file_too_large"),
    ],
    ids=["config-without-architecture", "config-not-json", "bad-digest", "empty", "too-large"],
)
def test_what_the_declaration_tells_is_refused_before_any_byte(client_for, phase, alice, alice_team, fields, code):
    answer = open_session(client_for(alice), safetensors_bytes(), **fields)
    assert answer.json()["error"]["code"] == code and answer.status_code in (400, 413)
    assert UploadSession.objects.count() == 0


def test_a_quota_of_zero_refuses_the_session_before_any_byte(client_for, phase, alice, alice_team, sessions_dir):
    phase.daily_quota = 0
    phase.save()
    answer = open_session(client_for(alice), safetensors_bytes())
    assert answer.status_code == 429 and answer.json()["error"]["code"] == "quota_exceeded"
    assert UploadSession.objects.count() == 0 and list(sessions_dir.glob("*")) == []


def test_not_joined_and_closed_phase_are_refused_before_any_byte(client_for, phase, alice, bob, bob_team):
    assert open_session(client_for(alice), safetensors_bytes()).json()["error"]["code"] == "not_joined"
    phase.ends_at = timezone.now() - timedelta(minutes=1)
    phase.save()
    answer = client_for(bob).post(
        "/api/v1/competitions/wood/uploads/?",
        {"filename": "m", "size": 10, "sha256": "a" * 64, "phase": phase.slug},
        format="json",
    )
    assert (answer.status_code, answer.json()["error"]["code"]) == (403, "phase_closed")


def test_another_users_session_is_not_found(client_for, phase, alice, alice_team, bob, bob_team):
    data = safetensors_bytes()
    session_id = open_session(client_for(alice), data).json()["id"]
    assert client_for(bob).get(f"/api/v1/uploads/{session_id}/").status_code == 404
    assert send(client_for(bob), session_id, data, 0).status_code == 404
    assert client_for(bob).delete(f"/api/v1/uploads/{session_id}/").status_code == 404


def test_abort_deletes_the_session_and_its_bytes(client_for, phase, alice, alice_team, sessions_dir):
    data = safetensors_bytes()
    client = client_for(alice)
    session_id = open_session(client, data).json()["id"]
    send(client, session_id, data[:20], 0)
    assert len(list(sessions_dir.glob("*.part"))) == 1
    assert client.delete(f"/api/v1/uploads/{session_id}/").status_code == 204
    assert list(sessions_dir.glob("*")) == [] and UploadSession.objects.count() == 0
    assert client.get(f"/api/v1/uploads/{session_id}/").status_code == 404


def test_an_expired_session_leaves_no_bytes(client_for, phase, alice, alice_team, sessions_dir, settings):
    data = safetensors_bytes()
    client = client_for(alice)
    session_id = open_session(client, data).json()["id"]
    send(client, session_id, data[:20], 0)
    orphan = sessions_dir / ("f" * 32 + ".part")  # a file whose row never got written
    orphan.write_bytes(b"x")
    # when the session outlives its time and the beat task runs
    later = timezone.now() + timedelta(seconds=settings.ATELIER_UPLOAD_SESSION_SECONDS + 1)
    import os

    os.utime(orphan, (0, 0))
    assert client.get(f"/api/v1/uploads/{session_id}/").status_code == 200
    assert upload_sessions_expire(now=later) == 1
    # then neither the row nor any byte remains
    assert UploadSession.objects.count() == 0 and list(sessions_dir.glob("*")) == []
    assert client.get(f"/api/v1/uploads/{session_id}/").status_code == 404


def test_a_session_past_its_expiry_takes_no_more_bytes(client_for, phase, alice, alice_team):
    data = safetensors_bytes()
    client = client_for(alice)
    session_id = open_session(client, data).json()["id"]
    UploadSession.objects.filter(pk=session_id).update(expires_at=timezone.now() - timedelta(seconds=1))
    answer = send(client, session_id, data, 0)
    assert answer.status_code == 404 and "expired" in answer.json()["error"]["message"]


def test_a_quota_used_up_meanwhile_keeps_the_session_for_later(client_for, phase, alice, alice_team):
    data = safetensors_bytes()
    client = client_for(alice)
    session_id = open_session(client, data).json()["id"]
    send(client, session_id, data, 0)
    phase.daily_quota = 0
    phase.save()
    answer = client.post(f"/api/v1/uploads/{session_id}/complete/")
    assert answer.status_code == 429 and answer.json()["error"]["code"] == "quota_exceeded"
    assert client.get(f"/api/v1/uploads/{session_id}/").json()["state"] == "open"


def test_the_one_shot_post_takes_a_config_field_and_refuses_before_reading_when_the_quota_is_used(
    client_for, phase, alice, alice_team
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = client_for(alice)
    answer = client.post(
        "/api/v1/competitions/wood/submissions/",
        {
            "file": SimpleUploadedFile("m.safetensors", bare_safetensors()),
            "config": json.dumps(TINY_CONFIG),
        },
        format="multipart",
    )
    assert answer.status_code == 201, answer.json()
    phase.daily_quota = 1
    phase.save()
    refused = client.post(
        "/api/v1/competitions/wood/submissions/",
        {"file": SimpleUploadedFile("m.safetensors", safetensors_bytes())},
        format="multipart",
    )
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "quota_exceeded"


def test_a_user_keeps_at_most_four_open_sessions_and_the_least_recent_goes(
    client_for, phase, alice, alice_team, sessions_dir
):
    client = client_for(alice)
    data = safetensors_bytes()
    ids = [open_session(client, data).json()["id"] for _ in range(5)]
    assert client.get(f"/api/v1/uploads/{ids[0]}/").status_code == 404  # the oldest was deleted
    assert [client.get(f"/api/v1/uploads/{i}/").status_code for i in ids[1:]] == [200] * 4
    assert len(list(sessions_dir.glob("*.part"))) == 4
