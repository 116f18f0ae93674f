"""A small fake of the Atelier REST API on 127.0.0.1, for testing the client without Django.

Routes answer canned JSON (a sequence: each request takes the next answer, the
last one repeats), every request is recorded with its headers, and request
bodies are streamed to a file on disk in 64 KiB pieces (so the fake itself
never holds a whole upload in memory).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

READ_PIECE = 64 * 1024


@dataclass
class Answer:
    status: int = 200
    json_body: Any = None
    raw_body: bytes | None = None
    content_type: str = "application/json"


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body_path: Path
    body_size: int

    @property
    def body(self) -> bytes:
        return self.body_path.read_bytes()

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class FakeApi:
    """``with FakeApi(tmp_path) as api: api.route("GET", "/api/v1/me/", Answer(json_body={...}))``."""

    folder: Path
    routes: dict[tuple[str, str], list[Answer] | Callable[[RecordedRequest], Answer]] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def route(self, method: str, path: str, *answers: Answer | dict | list) -> None:
        """Answer ``method path`` with these answers in turn (the last one repeats); a dict or list is a 200 JSON."""
        self.routes[(method, path)] = [
            answer if isinstance(answer, Answer) else Answer(json_body=answer) for answer in answers
        ]

    def route_function(self, method: str, path: str, function: Callable[[RecordedRequest], Answer]) -> None:
        self.routes[(method, path)] = function

    def requests_to(self, method: str, path: str) -> list[RecordedRequest]:
        return [request for request in self.requests if request.method == method and request.path == path]

    def _answer(self, request: RecordedRequest) -> Answer:
        with self._lock:
            self.requests.append(request)
            route = self.routes.get((request.method, request.path))
            if route is None:
                return Answer(404, {"error": {"code": "not_found", "message": f"No route {request.path} in the fake."}})
            if callable(route):
                return route(request)
            return route.pop(0) if len(route) > 1 else route[0]

    def __enter__(self) -> FakeApi:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                with fake._lock:
                    body_path = fake.folder / f"request-{len(fake.requests)}-{threading.get_ident()}.body"
                received = 0
                with body_path.open("wb") as sink:
                    while received < length:
                        piece = self.rfile.read(min(READ_PIECE, length - received))
                        if not piece:
                            break
                        sink.write(piece)
                        received += len(piece)
                request = RecordedRequest(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query),
                    headers={key.lower(): value for key, value in self.headers.items()},
                    body_path=body_path,
                    body_size=received,
                )
                answer = fake._answer(request)
                payload = answer.raw_body if answer.raw_body is not None else json.dumps(answer.json_body).encode()
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self.folder.mkdir(parents=True, exist_ok=True)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-atelier-api", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def error_answer(status: int, code: str, message: str, **extra: Any) -> Answer:
    """An answer in the API's one error shape."""
    return Answer(status, {"error": {"code": code, "message": message, "fields": {}, **extra}})


def submission_detail(submission_id: int = 7, state: str = "queued", **overrides: Any) -> dict[str, Any]:
    """A submission as ``GET /api/v1/submissions/{id}/`` gives it."""
    detail: dict[str, Any] = {
        "id": submission_id,
        "competition": "monet",
        "phase": "main",
        "team": "ada",
        "state": state,
        "stage": state,
        "progress": {"done": 0, "total": 0},
        "queue_position": None,
        "failure": None,
        "scores": [],
        "is_final": False,
        "is_baseline": False,
        "counts_against_quota": True,
        "created_at": "2026-11-21T14:00:00Z",
        "finished_at": None,
        "description": "",
        "format": "safetensors",
        "size": 1234,
        "sha256": "0" * 64,
    }
    detail.update(overrides)
    return detail


def competition_detail(slug: str = "monet", *, upload_size_limit: int = 200 * 1024 * 1024) -> dict[str, Any]:
    """A competition as ``GET /api/v1/competitions/{slug}/`` gives it, with one open phase ``main``."""
    phase = {
        "slug": "main",
        "name": "Main phase",
        "starts_at": "2026-01-01T00:00:00Z",
        "ends_at": "2099-01-01T00:00:00Z",
        "daily_quota": 5,
        "total_quota": 50,
        "upload_size_limit": upload_size_limit,
        "execution_time_limit": 900,
        "final_selection_limit": 2,
        "metrics": [{"metric": "fid", "label": "FID", "direction": "lower", "is_ranking": True, "decimals": 2}],
    }
    return {
        "slug": slug,
        "title": "Photos to Monet",
        "summary": "",
        "current_phase": {key: phase[key] for key in ("slug", "name", "starts_at", "ends_at")},
        "phases": [phase],
        "accepted_formats": ["safetensors", "onnx"],
        "joined": True,
        "team": "ada",
    }
