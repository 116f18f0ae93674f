"""A throttled upload that takes longer than the web server's timeout completes: the real gunicorn
with its checked-in configuration and ``ATELIER_WEB_TIMEOUT=2``, a client behind a loopback link
of 25 kB/s (``tests.support.link_proxy``), chunks of 64 KiB (each one alone longer than the
timeout)."""

from __future__ import annotations

import hashlib
import http.client
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token

from atelier_client.api import AtelierApi
from atelier_client.uploads import upload_resumable
from submissions.models import Submission
from tests.factories import competition_create_for_tests, participant_join, user_create
from tests.submissions.helpers import safetensors_bytes
from tests.support.link_proxy import LinkProxy
from tests.support.processes import REPO_ROOT, child_environment, dies_with_parent, free_port

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

TIMEOUT_S = 2
RATE = 25_000


def wait_until_up(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "gunicorn did not answer within 60 s"
        time.sleep(0.2)


def test_a_throttled_upload_longer_than_the_web_timeout_completes(tmp_path, state_home):
    competition = competition_create_for_tests(slug="wood", image_size=16, content_images=4, style_images=2)
    user = user_create("alice")
    participant_join(competition, user)
    token = Token.objects.create(user=user).key
    checkpoint = tmp_path / "generator.safetensors"
    checkpoint.write_bytes(safetensors_bytes(header_padding=200_000))
    port = free_port()
    env = child_environment(
        DJANGO_SETTINGS_MODULE="gan_platform.settings",
        ATELIER_WEB_BIND=f"127.0.0.1:{port}",
        ATELIER_WEB_WORKERS="1",
        ATELIER_WEB_THREADS="2",
        ATELIER_WEB_TIMEOUT=str(TIMEOUT_S),
        ATELIER_VAR_DIR=str(tmp_path / "var"),
        ATELIER_UPLOAD_CHUNK_BYTES=str(64 * 1024),
        ATELIER_S3_BUCKET="",  # local disk, in the object-storage pass too: the bytes must go through the web
    )
    log = tmp_path / "gunicorn.log"
    command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "gan_platform.wsgi:application"]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT, preexec_fn=dies_with_parent()
        )
    try:
        wait_until_up(port, process, log)
        with LinkProxy(("127.0.0.1", port), rate=RATE) as link:
            api = AtelierApi(link.url, token=token)
            started = time.monotonic()
            detail = upload_resumable(api, "wood", checkpoint)
            elapsed = time.monotonic() - started
    finally:
        process.terminate()
        process.wait(timeout=30)
    text = log.read_text()
    assert elapsed > 3 * TIMEOUT_S, elapsed  # it really was slow
    assert "WORKER TIMEOUT" not in text, text[-2000:]
    submission = Submission.objects.get(pk=detail["id"])
    assert submission.sha256 == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert (tmp_path / "var" / "private" / submission.file.name).read_bytes() == checkpoint.read_bytes()
