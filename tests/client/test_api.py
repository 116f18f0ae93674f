"""The HTTP layer: streamed multipart uploads, the error shape, unreachable servers."""

from __future__ import annotations

import random
import socket
import tracemalloc
from pathlib import Path

import pytest

from atelier_client import api as api_module
from atelier_client.api import (
    DEFAULT_CHUNK_SIZE,
    ApiError,
    AtelierApi,
    MultipartBody,
    ServerUnreachableError,
    UploadFileError,
    normalize_url,
)
from atelier_client.cli import main
from tests.client.conftest import TOKEN
from tests.client.fake_api import Answer, FakeApi, competition_detail, error_answer, submission_detail


def checkpoint_file(path: Path, size: int, *, seed: int = 0) -> bytes:
    """Write ``size`` random bytes (in 1 MiB pieces) and return their first and last 16 bytes as a fingerprint."""
    generator = random.Random(seed)
    with path.open("wb") as sink:
        left = size
        while left:
            piece = min(left, 1 << 20)
            sink.write(generator.randbytes(piece))
            left -= piece
    return path.read_bytes()[:16] + path.read_bytes()[-16:]


def multipart_fields(body: bytes, content_type: str) -> dict[str, tuple[str | None, bytes]]:
    """Parse a multipart/form-data body independently of the client: ``{name: (filename, content)}``."""
    boundary = content_type.split("boundary=", 1)[1].encode()
    delimiter = b"--" + boundary
    assert body.startswith(delimiter + b"\r\n"), "the body does not start with the boundary"
    assert body.endswith(b"\r\n" + delimiter + b"--\r\n"), "the body does not end with the closing boundary"
    inner = body[len(delimiter) + 2 : -(len(delimiter) + 6)]
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in inner.split(b"\r\n" + delimiter + b"\r\n"):
        head, content = part.split(b"\r\n\r\n", 1)
        disposition = next(line for line in head.split(b"\r\n") if line.lower().startswith(b"content-disposition"))
        params = dict(item.strip().split(b"=", 1) for item in disposition.split(b";")[1:] if b"=" in item)
        name = params[b"name"].strip(b'"').decode()
        filename = params[b"filename"].strip(b'"').decode() if b"filename" in params else None
        fields[name] = (filename, content)
    return fields


class ReadRecorder:
    """Wraps the file the client uploads and records the size of every read it asks for and gets."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.asked: list[int] = []
        self.got: list[int] = []

    def read(self, size: int = -1) -> bytes:
        self.asked.append(size)
        data = self.stream.read(size)
        self.got.append(len(data))
        return data

    def __enter__(self) -> ReadRecorder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stream.close()


@pytest.fixture
def recorded_reads(monkeypatch: pytest.MonkeyPatch) -> list[ReadRecorder]:
    recorders: list[ReadRecorder] = []
    original = api_module.open_for_upload

    def recording_open(path: Path) -> ReadRecorder:
        recorder = ReadRecorder(original(path))
        recorders.append(recorder)
        return recorder

    monkeypatch.setattr(api_module, "open_for_upload", recording_open)
    return recorders


def test_submit_streams_the_file_in_bounded_reads_and_the_server_receives_the_exact_bytes(
    logged_in, tmp_path, recorded_reads, capsys
):
    # given a 1.5 MiB checkpoint and a server that accepts it
    path = tmp_path / "generator.safetensors"
    size = 3 * DEFAULT_CHUNK_SIZE * 8 + 123  # not a multiple of the chunk size
    checkpoint_file(path, size)
    logged_in.route("GET", "/api/v1/competitions/monet/", competition_detail())
    logged_in.route("POST", "/api/v1/competitions/monet/submissions/", Answer(201, submission_detail(7)))

    # when it is submitted with a description
    code = main(["submit", "monet", str(path), "--description", "ResNet, 9 blocks, épique"])

    # then the server received exactly the file's bytes, in a well-formed multipart body of announced length
    assert code == 0, capsys.readouterr().err
    (request,) = logged_in.requests_to("POST", "/api/v1/competitions/monet/submissions/")
    assert request.headers["authorization"] == f"Token {TOKEN}"
    assert int(request.headers["content-length"]) == request.body_size
    assert "transfer-encoding" not in request.headers
    fields = multipart_fields(request.body, request.headers["content-type"])
    assert fields["file"] == ("generator.safetensors", path.read_bytes())
    assert fields["description"] == (None, "ResNet, 9 blocks, épique".encode())
    assert "phase" not in fields
    # and the client read the file one bounded chunk at a time, never "read everything"
    (reads,) = recorded_reads
    assert all(0 < asked <= DEFAULT_CHUNK_SIZE for asked in reads.asked)
    assert max(reads.got) == DEFAULT_CHUNK_SIZE
    assert sum(reads.got) == size
    assert len(reads.asked) >= size // DEFAULT_CHUNK_SIZE
    assert "Submitted generator.safetensors to monet (phase main) as #7: queued." in capsys.readouterr().out


def test_the_upload_never_holds_the_whole_file_in_memory(fake_api, tmp_path):
    # given an 8 MiB file and a server that writes what it receives to disk
    path = tmp_path / "big.onnx"
    size = 8 << 20
    checkpoint_file(path, size, seed=1)
    fake_api.route("POST", "/api/v1/competitions/monet/submissions/", Answer(201, submission_detail(8)))
    client = AtelierApi(fake_api.url, token="t")

    # when it is uploaded under tracemalloc
    tracemalloc.start()
    try:
        detail = client.submission_create("monet", path, phase="main")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    # then the upload completed and the peak of Python allocations stayed far below the file's size
    assert detail["id"] == 8
    (request,) = fake_api.requests
    assert multipart_fields(request.body, request.headers["content-type"])["file"][1] == path.read_bytes()
    assert peak < size / 8, f"peak {peak} bytes while uploading {size} bytes"


def test_the_progress_callback_counts_up_to_the_announced_length(fake_api, tmp_path):
    path = tmp_path / "g.safetensors"
    checkpoint_file(path, 200_000)
    fake_api.route("POST", "/api/v1/competitions/monet/submissions/", Answer(201, submission_detail(9)))
    seen: list[tuple[int, int]] = []

    AtelierApi(fake_api.url).submission_create(
        "monet", path, on_progress=lambda sent, total: seen.append((sent, total))
    )

    (request,) = fake_api.requests
    totals = {total for _, total in seen}
    assert totals == {request.body_size}
    assert seen[0][0] == 0 and seen[-1][0] == request.body_size
    assert [sent for sent, _ in seen] == sorted(sent for sent, _ in seen)


def test_multipart_body_length_is_known_before_sending_and_exact(tmp_path):
    path = tmp_path / 'we"ird\nname.onnx'
    checkpoint_file(path, 100_001)
    body = MultipartBody(fields={"phase": "main"}, file_field="file", path=path, chunk_size=4096)

    chunks = list(body)

    assert len(body) == sum(len(chunk) for chunk in chunks)
    assert max(len(chunk) for chunk in chunks) <= 4096
    fields = multipart_fields(b"".join(chunks), body.content_type)
    assert fields["phase"] == (None, b"main")
    assert fields["file"] == ("we%22ird%0Aname.onnx", path.read_bytes())


def test_a_file_that_grows_during_the_upload_is_refused_not_sent_truncated(tmp_path):
    path = tmp_path / "growing.onnx"
    path.write_bytes(b"x" * 1000)
    body = MultipartBody(fields={}, file_field="file", path=path, chunk_size=256)
    path.write_bytes(b"x" * 2000)

    with pytest.raises(UploadFileError, match="changed size"):
        list(body)


def test_errors_in_the_api_shape_keep_code_message_and_extras(fake_api):
    fake_api.route(
        "GET",
        "/api/v1/competitions/monet/quota/",
        error_answer(429, "quota_exceeded", "5 of 5 used today; resets at 00:00 UTC.", resets_at="2026-11-22T00:00Z"),
    )

    with pytest.raises(ApiError) as caught:
        AtelierApi(fake_api.url).quota_get("monet", phase="main")

    assert caught.value.status == 429
    assert caught.value.code == "quota_exceeded"
    assert caught.value.message == "5 of 5 used today; resets at 00:00 UTC."
    assert caught.value.body["resets_at"] == "2026-11-22T00:00Z"
    assert fake_api.requests[0].query == {"phase": ["main"]}


def test_a_refused_connection_is_server_unreachable():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # nothing listens on the port now

    with pytest.raises(ServerUnreachableError, match="refused the connection"):
        AtelierApi(f"http://127.0.0.1:{port}").competitions_list()


def test_a_server_that_never_answers_times_out_as_unreachable():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)  # accepts the connection in the backlog, never answers
        client = AtelierApi(f"http://127.0.0.1:{listener.getsockname()[1]}", timeout=0.3)
        with pytest.raises(ServerUnreachableError, match="did not answer in time"):
            client.competitions_list()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://127.0.0.1:8000/", "http://127.0.0.1:8000"),
        ("HTTPS://Atelier.Example.org", "https://atelier.example.org"),
        ("https://example.org/atelier/", "https://example.org/atelier"),
        ("http://[::1]:8000", "http://[::1]:8000"),
    ],
)
def test_server_addresses_are_normalized(given, expected):
    assert normalize_url(given) == expected


@pytest.mark.parametrize("given", ["localhost:8000", "ftp://example.org", "http://", "http://x.org/?a=1"])
def test_what_is_not_a_server_address_is_refused(given):
    with pytest.raises(ValueError, match="server"):
        normalize_url(given)


def test_a_path_prefix_in_the_server_address_is_kept(tmp_path):
    with FakeApi(tmp_path / "prefixed") as fake:
        fake.route("GET", "/atelier/api/v1/competitions/", [])
        assert AtelierApi(fake.url + "/atelier").competitions_list() == []
        assert fake.requests[0].path == "/atelier/api/v1/competitions/"


def test_https_to_a_server_that_speaks_plain_http_is_unreachable_with_a_tls_message(fake_api):
    client = AtelierApi(fake_api.url.replace("http://", "https://"))

    with pytest.raises(ServerUnreachableError, match="TLS with https://127.0.0.1"):
        client.competitions_list()
