"""End to end: the CLI uploads a reference generator to a live server, a real worker process scores it
through the real broker, and the scores appear on the leaderboard through the API and the CLI."""

from __future__ import annotations

import json
import uuid

import pytest
from django.conf import settings
from django.test import Client
from rest_framework.authtoken.models import Token

from submissions.models import Submission
from tests.scoring.conftest import SCORED_METRICS, checkpoint_bytes
from tests.scoring.helpers import score_keys, scoring_worker, wait_until_finished

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_a_generator_submitted_with_the_cli_is_scored_by_a_worker_and_ranked_on_the_leaderboard(
    arena, live_server, tmp_path, monkeypatch, capsys
):
    from atelier_client.cli import main as atelier

    # given a participant with an API token, the CLI pointed at the live server, and a worker on a queue of its own
    queue = f"test-gpu-{uuid.uuid4().hex[:10]}"
    monkeypatch.setattr(settings, "ATELIER_GPU_QUEUE", queue)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("ATELIER_TOKEN", Token.objects.create(user=arena["user"]).key)
    checkpoint = tmp_path / "generator.safetensors"
    checkpoint.write_bytes(checkpoint_bytes(seed=3))
    slug = arena["competition"].slug
    broker = "redis" if settings.REDIS_URL else "filesystem"

    with scoring_worker(queue) as worker:
        # when the participant submits and waits
        code = atelier(["submit", slug, str(checkpoint), "--url", live_server.url, "--wait", "--timeout", "300"])
        submitted = capsys.readouterr()

        # then the CLI saw it scored, through the real broker and a separate worker process
        assert code == 0, f"atelier submit exited {code} ({broker}):\n{submitted.out[-2000:]}\n{submitted.err[-2000:]}"
        submission = Submission.objects.get(phase=arena["phase"])
        wait_until_finished(submission.pk, timeout=30)
        assert submission.worker.startswith("test-") and worker["process"].poll() is None

    submission.refresh_from_db()
    assert submission.attempts == 1
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
