"""Fixtures of the notifications tests: the wood competition, its people and API clients
(``tests.support.wood``), tasks run in this process (as a worker would run them), a webhook
receiver on loopback."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from celery import current_app


@pytest.fixture(autouse=True)
def isolated(isolated_web_test) -> None:
    """Every notifications test: private storage in its temporary folder, a clean cache, no broker."""


@pytest.fixture
def tasks_run(monkeypatch) -> list[tuple[str, list]]:
    """Every task sent by name through ``submissions.sending``; the ``notifications.*`` ones run at
    once in this process (``Task.apply``: retries too, without their countdown)."""
    import notifications.tasks  # noqa: F401 (registers the tasks)

    calls: list[tuple[str, list]] = []

    def send(name, args, **options):
        calls.append((name, list(args)))
        if name.startswith("notifications."):
            result = current_app.tasks[name].apply(args=args)
            if result.failed():
                raise result.result

    monkeypatch.setattr("submissions.sending._send", send)
    return calls


@dataclass
class Receiver:
    """A webhook receiver: answers with ``statuses`` in turn (then 200) and keeps every request."""

    url: str
    statuses: list[int] = field(default_factory=list)
    requests: list[dict] = field(default_factory=list)

    def verified(self, secret: str) -> list[bool]:
        """Whether each request's X-Atelier-Signature is HMAC-SHA256(secret, timestamp + '.' + body)."""
        results = []
        for request in self.requests:
            signed = f"{request['headers']['X-Atelier-Timestamp']}.".encode() + request["body"]
            expected = "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
            results.append(hmac.compare_digest(expected, request["headers"]["X-Atelier-Signature"]))
        return results

    def payloads(self) -> list[dict]:
        return [json.loads(request["body"]) for request in self.requests]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP server on 127.0.0.1 and a free port, in a thread, stopped after the test."""
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            state.requests.append(
                {"path": self.path, "headers": dict(self.headers), "body": body, "at": time.monotonic()}
            )
            status = state.statuses.pop(0) if state.statuses else 200
            answer = b"ok" if status < 300 else b"receiver is down for maintenance"
            self.send_response(status)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/atelier"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def finish(request) -> Callable:
    """``finish(scores=[...])`` or ``finish(fail=(code, message, detail))``: a submission of alice's
    taken through the scoring services to scored or failed; returns it."""
    from scoring.services import ScoreValue, submission_claim, submission_fail, submission_finish
    from tests.scoring.conftest import submission_row

    the_phase = request.getfixturevalue("phase")
    the_user = request.getfixturevalue("alice")
    the_team = request.getfixturevalue("alice_team")

    def run(*, scores=None, fail=None, user=None, team=None):
        submission = submission_row(the_phase, team or the_team, user or the_user, b"weights")
        token = submission_claim(submission_id=submission.pk, worker="test")
        if fail is not None:
            code, message, detail = fail
            assert submission_fail(
                submission_id=submission.pk,
                token=token,
                code=code,
                message=message,
                detail=detail,
                participant_fault=True,
            )
        else:
            worker = {"calibrated": False, "preprocessing_mode": "clean", "gan_core_version": "test"}
            values = [
                ScoreValue(split, metric, value, low, high, **worker) for split, metric, value, low, high in scores
            ]
            assert submission_finish(submission_id=submission.pk, token=token, scores=values)
        submission.refresh_from_db()
        return submission

    return run
