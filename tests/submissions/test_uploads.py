"""The upload handler stops reading at the phase's size limit and leaves no file behind."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.handlers.wsgi import LimitedStream
from django.http.multipartparser import MultiPartParser
from django.test.client import BOUNDARY, MULTIPART_CONTENT, FakePayload, encode_multipart

from competitions.models import Phase
from submissions.models import Submission
from submissions.uploads import MULTIPART_ALLOWANCE, LimitedTemporaryFileUploadHandler
from tests.submissions.helpers import safetensors_bytes, stored_files


class CountingPayload(FakePayload):
    """The request body, counting the bytes the server read from it."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.bytes_read = 0

    def read(self, size: int = -1, /) -> bytes:
        content = super().read(size)
        self.bytes_read += len(content)
        return content


def multipart(file_bytes: bytes, **fields: str) -> bytes:
    return encode_multipart(BOUNDARY, {"file": SimpleUploadedFile("big.safetensors", file_bytes), **fields})


@pytest.fixture
def upload_temp_dir(settings, tmp_path) -> Path:
    folder = tmp_path / "uploads"
    folder.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(folder)
    return folder


def test_the_handler_stops_reading_the_stream_at_the_limit_and_deletes_its_partial_file(upload_temp_dir):
    # given a 1 MiB file and a 100 kB limit, with the up-front Content-Length check out of the way
    limit = 100_000
    body = multipart(b"\x00" * (1024 * 1024))
    stream = CountingPayload(body)
    handler = LimitedTemporaryFileUploadHandler(limit, allowance=10**9)
    meta = {"CONTENT_TYPE": MULTIPART_CONTENT, "CONTENT_LENGTH": str(len(body))}
    # when Django's multipart parser reads the body through it
    post, files = MultiPartParser(meta, LimitedStream(stream, len(body)), [handler]).parse()
    # then it stopped within two chunks of the limit, kept no file and left nothing on disk
    assert handler.limit_exceeded
    assert handler.bytes_received <= limit
    assert stream.bytes_read <= limit + 2 * handler.chunk_size + 1024
    assert stream.bytes_read < len(body) / 4
    assert len(files) == 0
    assert list(upload_temp_dir.iterdir()) == []


def test_the_handler_refuses_a_declared_oversized_body_without_reading_it(upload_temp_dir):
    body = multipart(b"\x00" * 300_000)
    stream = CountingPayload(body)
    handler = LimitedTemporaryFileUploadHandler(100_000)
    meta = {"CONTENT_TYPE": MULTIPART_CONTENT, "CONTENT_LENGTH": str(len(body))}
    post, files = MultiPartParser(meta, LimitedStream(stream, len(body)), [handler]).parse()
    assert handler.limit_exceeded
    assert stream.bytes_read == 0
    assert len(files) == 0 and len(post) == 0


def test_the_handler_accepts_a_file_within_the_limit(upload_temp_dir):
    data = safetensors_bytes()
    body = multipart(data, description="fine")
    handler = LimitedTemporaryFileUploadHandler(len(data))
    meta = {"CONTENT_TYPE": MULTIPART_CONTENT, "CONTENT_LENGTH": str(len(body))}
    post, files = MultiPartParser(meta, LimitedStream(CountingPayload(body), len(body)), [handler]).parse()
    assert not handler.limit_exceeded
    assert files["file"].read() == data
    assert post["description"] == "fine"


@pytest.mark.django_db
@pytest.mark.parametrize("declared_too_large", [False, True], ids=["stops-while-reading", "refused-before-reading"])
def test_the_create_endpoint_answers_413_and_keeps_nothing(
    phase, alice, alice_team, private_root, upload_temp_dir, monkeypatch, declared_too_large
):
    from rest_framework.test import APIClient

    # given a 64 KiB limit and small read chunks so that stopping early is visible
    limit = 64 * 1024
    Phase.objects.filter(pk=phase.pk).update(upload_size_limit=limit)
    monkeypatch.setattr(LimitedTemporaryFileUploadHandler, "chunk_size", 2048)
    size = limit + (10 * MULTIPART_ALLOWANCE if declared_too_large else MULTIPART_ALLOWANCE // 2)
    body = multipart(safetensors_bytes() + b"\x00" * (size - len(safetensors_bytes())), description="big")
    payload = CountingPayload(body)
    client = APIClient()
    client.force_authenticate(alice)
    # when it is posted
    response = client.generic(
        "POST",
        "/api/v1/competitions/wood/submissions/",
        data=body,
        content_type=MULTIPART_CONTENT,
        **{"wsgi.input": payload},
    )
    # then: 413 file_too_large, the body read only up to the limit (or not at all), nothing stored
    assert response.status_code == 413, response.content
    assert response.json()["error"]["code"] == "file_too_large"
    assert str(limit) in response.json()["error"]["message"]
    if declared_too_large:
        assert payload.bytes_read == 0
    else:
        assert limit < payload.bytes_read <= limit + 3 * 2048
        assert payload.bytes_read < len(body) - 2048
    assert Submission.objects.count() == 0
    assert stored_files(private_root) == []
    assert list(upload_temp_dir.iterdir()) == []
