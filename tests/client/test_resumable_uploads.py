# ruff: noqa: F811 (fixtures imported from test_live_server are parameters here)
"""`atelier submit` through the resumable upload sessions of a live server, over a link that breaks
(``tests.support.link_proxy``): it resumes by itself from the server's offset, and ``--resume``
continues an upload an earlier run left."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from atelier_client import uploads as client_uploads
from atelier_client.cli import main
from gan_platform.storages import private_storage
from submissions.models import Submission, UploadSession
from tests.client.test_live_server import (  # noqa: F401 (fixtures)
    alice,
    competition,
    config_home,
    isolated_storage,
    logged_in_alice,
    sent,
)
from tests.submissions.helpers import TINY_CONFIG, safetensors_bytes
from tests.support.link_proxy import LinkProxy
from tests.support.local_storage import local_private_root  # noqa: F401 (the private_root fixture)

pytestmark = pytest.mark.django_db(transaction=True)

CHUNK = 64 * 1024


@pytest.fixture
def small_chunks(settings, tmp_path):
    settings.ATELIER_UPLOAD_CHUNK_BYTES = CHUNK
    settings.ATELIER_UPLOAD_SESSIONS_DIR = tmp_path / "upload-sessions"
    return settings.ATELIER_UPLOAD_SESSIONS_DIR


@pytest.fixture
def big_checkpoint(tmp_path) -> Path:
    path = tmp_path / "generator.safetensors"
    path.write_bytes(safetensors_bytes(header_padding=900_000))  # about 14 chunks
    return path


@pytest.fixture
def proxy(live_server, logged_in_alice, config_home, monkeypatch):
    """The live server behind a link that can be cut; the client talks to it with alice's token."""
    saved = json.loads((config_home / "atelier" / "config.json").read_text())
    token = saved["servers"][saved["url"]]["token"]
    host, port = live_server.thread.host, live_server.thread.port
    with LinkProxy((host, port)) as link:
        monkeypatch.setenv("ATELIER_URL", link.url)
        monkeypatch.setenv("ATELIER_TOKEN", token)
        yield link


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch):
    monkeypatch.setattr(client_uploads, "RETRY_DELAYS_S", (0.05,))


def stored_bytes(submission_id: int) -> bytes:
    with private_storage().open(Submission.objects.get(pk=submission_id).file.name, "rb") as stored:
        return stored.read()


def test_an_upload_cut_mid_way_resumes_by_itself_from_the_servers_offset(
    proxy, big_checkpoint, small_chunks, sent, capsys
):
    size = big_checkpoint.stat().st_size
    proxy.cut_after(size // 2)

    code = main(["submit", "wood", str(big_checkpoint), "--json"])

    output = capsys.readouterr()
    assert code == 0, output.err
    detail = json.loads(output.out)
    assert proxy.cuts == 1 and "Connection lost" in output.err
    assert stored_bytes(detail["id"]) == big_checkpoint.read_bytes()
    assert sent == [detail["id"]]
    # what arrived before the cut was kept: at most about one chunk went up twice (plus headers)
    assert proxy.sent < size + 2 * CHUNK + 40_000, (proxy.sent, size)
    assert list(small_chunks.glob("*")) == []


def test_resume_continues_an_upload_an_earlier_run_left(
    proxy, big_checkpoint, small_chunks, sent, state_home, monkeypatch, capsys
):
    size = big_checkpoint.stat().st_size
    # given an earlier run that gave up when the link broke half-way
    monkeypatch.setattr(client_uploads, "RETRY_PATIENCE_S", 0.0)
    proxy.cut_after(size // 2)
    assert main(["submit", "wood", str(big_checkpoint)]) == 9
    first = capsys.readouterr()
    assert "--resume" in first.err
    (saved,) = (state_home / "atelier" / "uploads").glob("*.json")
    session = UploadSession.objects.get(pk=json.loads(saved.read_text())["session_id"])
    assert 0 < session.offset < size
    sent_first = proxy.sent
    # when it is resumed
    monkeypatch.setattr(client_uploads, "RETRY_PATIENCE_S", 600.0)
    code = main(["submit", "wood", str(big_checkpoint), "--resume", "--json"])
    # then it goes on from the server's offset, and the file arrives whole
    output = capsys.readouterr()
    assert code == 0, output.err
    assert "Resuming the upload" in output.err
    detail = json.loads(output.out)
    assert stored_bytes(detail["id"]) == big_checkpoint.read_bytes()
    assert proxy.sent - sent_first < size - session.offset + CHUNK + 40_000
    assert list((state_home / "atelier" / "uploads").glob("*.json")) == []
    assert Submission.objects.count() == 1


def test_a_quota_of_zero_refuses_before_any_byte_of_the_file(proxy, big_checkpoint, small_chunks, competition, capsys):
    competition.phases.update(daily_quota=0)
    before = proxy.sent

    code = main(["submit", "wood", str(big_checkpoint)])

    assert code == 5
    assert "daily quota" in capsys.readouterr().err
    assert proxy.sent - before < 4000  # the competition and the session's declaration, not the file
    assert UploadSession.objects.count() == 0


def test_config_file_is_sent_with_the_session_and_written_into_the_file(proxy, tmp_path, small_chunks, capsys):
    import struct

    bare = tmp_path / "bare.safetensors"
    bare.write_bytes(safetensors_bytes(with_config=False))
    config = tmp_path / "config.json"
    config.write_text(json.dumps(TINY_CONFIG))

    refused = main(["submit", "wood", str(bare)])
    assert refused == 6 and "carries no Atelier config" in capsys.readouterr().err

    code = main(["submit", "wood", str(bare), "--config", str(config), "--json"])
    output = capsys.readouterr()
    assert code == 0, output.err
    stored = stored_bytes(json.loads(output.out)["id"])
    (length,) = struct.unpack("<Q", stored[:8])
    assert json.loads(json.loads(stored[8 : 8 + length])["__metadata__"]["atelier"])["architecture"] == (
        "transformer_net"
    )
