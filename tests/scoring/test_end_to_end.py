"""End to end: the CLI uploads a reference generator to a live server, a real worker process scores it
through the real broker, and the scores appear on the leaderboard through the API and the CLI."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
import uuid
from datetime import UTC, datetime

import pytest
from django.conf import settings
from django.test import Client
from rest_framework.authtoken.models import Token

from submissions.models import Submission
from tests.scoring.conftest import SCORED_METRICS, checkpoint_bytes
from tests.scoring.helpers import score_keys, scoring_worker, wait_until_finished

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


class Board(threading.Thread):
    """Polls a public board anonymously every 0.1 s; ``first_seen``: when a row first appeared."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True, name="board-poller")
        self.url, self.first_seen, self.errors = url, None, []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set() and self.first_seen is None:
            try:
                with urllib.request.urlopen(self.url, timeout=5) as response:
                    if json.loads(response.read())["rows"]:
                        self.first_seen = datetime.now(UTC)
            except Exception as error:  # shown by the test when nothing was seen
                self.errors.append(repr(error))
            self.stop.wait(0.1)

    def __enter__(self) -> Board:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.join(timeout=10)


def test_a_generator_submitted_with_the_cli_is_scored_by_a_worker_and_ranked_on_the_leaderboard(
    arena, live_server, tmp_path, monkeypatch, capsys
):
    from atelier_client.cli import main as atelier

    # given a participant with an API token, the CLI pointed at the live server, and a worker on a queue of its own
    queue = f"test-gpu-{uuid.uuid4().hex[:10]}"
    monkeypatch.setattr(settings, "ATELIER_GPU_QUEUE", queue)
    # in the object-storage pass the upload is verified by a task on the default queue: the worker takes it too
    default_queue = f"test-default-{uuid.uuid4().hex[:10]}"
    monkeypatch.setattr(settings, "CELERY_TASK_DEFAULT_QUEUE", default_queue)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("ATELIER_TOKEN", Token.objects.create(user=arena["user"]).key)
    checkpoint = tmp_path / "generator.safetensors"
    checkpoint.write_bytes(checkpoint_bytes(seed=3))
    slug = arena["competition"].slug
    broker = "redis" if settings.REDIS_URL else "filesystem"

    seen = Board(f"{live_server.url}/api/v1/competitions/{slug}/leaderboard/")
    with scoring_worker(queue, default_queue) as worker, seen:
        # when the participant submits and waits (while an anonymous reader polls the public board)
        code = atelier(["submit", slug, str(checkpoint), "--url", live_server.url, "--wait", "--timeout", "300"])
        submitted = capsys.readouterr()
        wait_until_finished(Submission.objects.get(phase=arena["phase"]).pk, timeout=30)
        deadline = time.monotonic() + 10
        while seen.first_seen is None and time.monotonic() < deadline:
            time.sleep(0.1)

        # then the CLI saw it scored, through the real broker and a separate worker process
        assert code == 0, f"atelier submit exited {code} ({broker}):\n{submitted.out[-2000:]}\n{submitted.err[-2000:]}"
        submission = Submission.objects.get(phase=arena["phase"])
        wait_until_finished(submission.pk, timeout=30)
        assert submission.worker.startswith("test-") and worker["process"].poll() is None

    submission.refresh_from_db()
    assert submission.attempts == 1
    # and the score was on the public board within 2 s of being written, though nothing told the
    # web process (the worker is another process; the board's version comes from the database)
    assert seen.first_seen is not None, f"never visible ({broker}); errors: {seen.errors[:3]}"
    delay = (seen.first_seen - submission.finished_at).total_seconds()
    assert delay <= 2.0, f"visible {delay:.2f} s after it was written ({broker})"
    assert score_keys(submission.pk) == sorted((split, m) for split in ("public", "private") for m in SCORED_METRICS)

    # and the API's public leaderboard ranks it with its scores, marked uncalibrated
    client = Client()
    client.force_login(arena["user"])
    response = client.get(f"/api/v1/competitions/{slug}/leaderboard/", {"split": "public"})
    assert response.status_code == 200, response.content[:500]
    board = response.json()
    assert board["calibrated"] is False
    assert board["ranking_metric"] == "fid"
    rows = [row for row in board["rows"] if row["submission_id"] == submission.pk]
    assert len(rows) == 1 and rows[0]["rank"] == 1 and rows[0]["is_mine"] is True
    stored_fid = submission.scores.get(split="public", metric="fid").value
    assert rows[0]["scores"]["fid"]["value"] == pytest.approx(stored_fid)
    assert rows[0]["scores"]["fid"]["interval"] is not None

    # and the CLI shows the same leaderboard from the live server
    code = atelier(["leaderboard", slug, "--url", live_server.url, "--json"])
    shown = capsys.readouterr()
    assert code == 0, shown.err
    cli_board = json.loads(shown.out)
    cli_rows = [row for row in cli_board["rows"] if row["submission_id"] == submission.pk]
    assert cli_rows and cli_rows[0]["scores"]["fid"]["value"] == pytest.approx(stored_fid)
    code = atelier(["leaderboard", slug, "--url", live_server.url])
    text = capsys.readouterr().out
    assert code == 0 and f"#{submission.pk}" in text and arena["team"].name in text
