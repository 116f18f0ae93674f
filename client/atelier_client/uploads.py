"""Resumable uploads: ``atelier submit`` sends a checkpoint through an upload session of the server.

1. The file's SHA-256 is computed, and the session opened with its name, size and digest (and the
   phase, description and config): the server refuses there, before any byte, whatever it can know
   without the file (not joined, phase closed, quota used, too many running, too large).
2. The bytes go in chunks at offsets (``PATCH``, local-disk servers) or as parts to presigned URLs
   of the bucket (S3 servers). After a connection error the client waits (1, 2, 4... s, up to
   :data:`RETRY_PATIENCE_S` in all), asks the server how much arrived, and goes on from there.
3. Complete: the server verifies the SHA-256 and the file, and answers the submission; its digest
   is compared with the local one (end to end). A server on S3 verifies in a task and answers the
   session, ``verifying``: the client polls it until it is ``completed`` (then reads the submission)
   or ``failed`` (then raises the refusal, as a completion would have answered it).

While the upload runs, the session is saved in ``$XDG_STATE_HOME/atelier/uploads/`` (``~/.local/
state``), with the file's path, size, modification time and digest; an interrupted run leaves it
there, and ``atelier submit ... --resume`` continues it. A finished or refused upload removes it.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from atelier_client.api import ApiError, AtelierApi, ServerUnreachableError, put_presigned

__all__ = [
    "PART_URL_BATCH",
    "RETRY_DELAYS_S",
    "RETRY_PATIENCE_S",
    "SavedUpload",
    "UploadInterruptedError",
    "file_sha256",
    "saved_upload_find",
    "state_dir",
    "upload_resumable",
]

RETRY_DELAYS_S = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
"""Waits between tries after a connection error (the last one repeats)."""
RETRY_PATIENCE_S = 600.0
"""How long an upload keeps trying after connection errors before it stops (and can be resumed)."""
PART_URL_BATCH = 50
VERIFY_POLL_S = (0.5, 1.0, 2.0, 3.0, 5.0)
"""Waits between status requests while the server verifies the file (the last one repeats)."""
PIECE = 64 * 1024
HASH_PIECE = 1 << 20


class UploadInterruptedError(Exception):
    """The upload stopped (the server stayed unreachable); it was saved and can be resumed."""

    def __init__(self, message: str, saved: SavedUpload) -> None:
        super().__init__(message)
        self.message = message
        self.saved = saved


def state_dir() -> Path:
    """``$XDG_STATE_HOME/atelier/uploads`` (``~/.local/state/atelier/uploads``)."""
    base = os.environ.get("XDG_STATE_HOME", "")
    folder = Path(base) if base and os.path.isabs(base) else Path.home() / ".local" / "state"
    return folder / "atelier" / "uploads"


@dataclass
class SavedUpload:
    """An upload session in progress, as saved in the state folder."""

    server: str
    session_id: str
    competition: str
    path: str
    size: int
    mtime_ns: int
    sha256: str

    @property
    def file(self) -> Path:
        return state_dir() / f"{self.session_id}.json"

    def save(self) -> None:
        folder = state_dir()
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = self.file.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(self)), encoding="utf-8")
        temporary.replace(self.file)

    def forget(self) -> None:
        self.file.unlink(missing_ok=True)

    def matches(self, path: Path) -> bool:
        """Whether ``path`` is still the file that was being uploaded (same size and modification time)."""
        stat = path.stat()
        return stat.st_size == self.size and stat.st_mtime_ns == self.mtime_ns


def saved_upload_find(*, server: str, competition: str, path: Path) -> SavedUpload | None:
    """The saved session of ``path`` to ``competition`` on ``server`` (the newest), if any."""
    folder = state_dir()
    if not folder.is_dir():
        return None
    found: list[tuple[float, SavedUpload]] = []
    for entry in folder.glob("*.json"):
        try:
            saved = SavedUpload(**json.loads(entry.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            continue
        if (saved.server, saved.competition, saved.path) == (server, competition, str(path.resolve())):
            found.append((entry.stat().st_mtime, saved))
    return max(found, key=lambda item: item[0])[1] if found else None


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for piece in iter(lambda: f.read(HASH_PIECE), b""):
            digest.update(piece)
    return digest.hexdigest()


def _pieces(path: Path, offset: int, length: int, on_piece: Callable[[int], None]) -> Iterator[bytes]:
    with path.open("rb") as f:
        f.seek(offset)
        remaining = length
        while remaining > 0:
            piece = f.read(min(PIECE, remaining))
            if not piece:
                raise OSError(f"{path} got shorter while it was being uploaded")
            remaining -= len(piece)
            yield piece
            on_piece(len(piece))


class _Retrier:
    """Waits after connection errors with growing delays, until the patience is spent."""

    def __init__(self, note: Callable[[str], None], sleep: Callable[[float], None]) -> None:
        self.note = note
        self.sleep = sleep
        self.failures = 0
        self.waited = 0.0

    def failed(self, error: Exception) -> None:
        delay = RETRY_DELAYS_S[min(self.failures, len(RETRY_DELAYS_S) - 1)]
        if self.waited + delay > RETRY_PATIENCE_S:
            raise error
        self.failures += 1
        self.waited += delay
        self.note(f"Connection lost ({error}); trying again in {delay:g} s.")
        self.sleep(delay)

    def succeeded(self) -> None:
        self.failures = 0
        self.waited = 0.0


def _with_retries(retrier: _Retrier, call: Callable[[], Any]) -> Any:
    while True:
        try:
            result = call()
        except ServerUnreachableError as error:
            retrier.failed(error)
            continue
        retrier.succeeded()
        return result


def upload_resumable(
    api: AtelierApi,
    competition: str,
    path: Path,
    *,
    phase: str | None = None,
    description: str | None = None,
    config: dict | None = None,
    resume: SavedUpload | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    note: Callable[[str], None] = lambda text: None,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Upload ``path`` through a session and complete it; return the submission's detail.

    Raises:
        ApiError: the server refused (at the session's creation, a chunk, or completion).
        UploadInterruptedError: the server stayed unreachable; the session is saved for ``--resume``.
        ValueError: the server's digest of the stored file is not the local one.
    """
    progress = on_progress or (lambda sent, total: None)
    retrier = _Retrier(note, sleep)
    stat = path.stat()
    sha256 = file_sha256(path)
    if resume is not None:
        if resume.sha256 != sha256 or resume.size != stat.st_size:
            resume.forget()
            raise ValueError(f"{path} changed since the interrupted upload: run without --resume to start over.")
        saved = resume
        session = _with_retries(retrier, lambda: api.upload_session_get(saved.session_id))
        note(f"Resuming the upload of {path.name} at {session['offset']} of {session['size']} bytes.")
    else:
        session = _with_retries(
            retrier,
            lambda: api.upload_session_create(
                competition,
                filename=path.name,
                size=stat.st_size,
                sha256=sha256,
                phase=phase,
                description=description,
                config=config,
            ),
        )
        saved = SavedUpload(
            server=api.url,
            session_id=str(session["id"]),
            competition=competition,
            path=str(path.resolve()),
            size=stat.st_size,
            mtime_ns=stat.st_mtime_ns,
            sha256=sha256,
        )
        saved.save()
    transfer = _Transfer(api, saved, path, progress, retrier)
    try:
        if session.get("state", "open") != "open":
            pass  # resumed after the bytes were all sent: the completion answers for the session
        elif session["backend"] == "s3":
            _send_parts(transfer, session)
        else:
            _send_chunks(transfer, session)
        detail = _with_retries(retrier, lambda: _complete(api, saved))
        if str(detail.get("id")) == saved.session_id:  # the session, not a submission: the server verifies
            detail = _verified(api, saved, detail, note, sleep, retrier)
    except ServerUnreachableError as error:
        raise UploadInterruptedError(
            f"The upload of {path.name} stopped: {error}. It was saved; continue it with "
            f"`atelier submit {competition} {path} --resume`.",
            saved,
        ) from error
    except ApiError as error:
        if error.code not in {"quota_exceeded", "too_many_running", "phase_closed", "upload_busy"}:
            saved.forget()  # the server deleted the session (or it is unusable): nothing to resume
        raise
    saved.forget()
    # The server checked the bytes that arrived against the declared digest; the stored file is the same one
    # unless a config was written into it (then its digest is the new file's).
    if config is None and detail.get("sha256") and detail["sha256"] != sha256:
        raise ValueError(
            f"The server stored a file with SHA-256 {detail['sha256']}, not {sha256}: submission #{detail.get('id')} "
            "is not your file; cancel it and upload again."
        )
    return detail


def _complete(api: AtelierApi, saved: SavedUpload) -> dict[str, Any]:
    """The completion's answer: the submission, or the session while the server verifies it."""
    try:
        return api.upload_session_complete(saved.session_id)
    except ApiError as error:
        state = error.body.get("state")
        if error.code == "upload_not_open" and state in {"verifying", "failed"}:
            return api.upload_session_get(saved.session_id)  # completed before (its answer was lost)
        if error.code == "upload_not_open" and state in {"completed", "completing"}:
            # A completion whose answer was lost: the submission exists. Find it among the team's.
            for submission in api.submissions_list(saved.competition):
                if submission.get("sha256") == saved.sha256:
                    return submission
        raise


def _verified(
    api: AtelierApi,
    saved: SavedUpload,
    session: dict[str, Any],
    note: Callable[[str], None],
    sleep: Callable[[float], None],
    retrier: _Retrier,
) -> dict[str, Any]:
    """Poll a session the server verifies until it leaves ``verifying``: the submission's detail when
    it is ``completed``, else the refusal it ``failed`` with, raised as the completion would have."""
    if session.get("state") == "verifying":
        note("Uploaded; the server is verifying the file.")
    polls = 0
    while session.get("state") == "verifying":
        sleep(VERIFY_POLL_S[min(polls, len(VERIFY_POLL_S) - 1)])
        polls += 1
        session = _with_retries(retrier, lambda: api.upload_session_get(saved.session_id))
    if session.get("state") == "completed" and session.get("submission") is not None:
        submission_id = int(session["submission"])
        return _with_retries(retrier, lambda: api.submission_get(submission_id))
    saved.forget()  # failed: the server deleted the bytes, nothing to resume
    error = session.get("error") or {}
    raise ApiError(
        str(error.get("message") or f"The upload ended {session.get('state')} on the server; upload it again."),
        status=int(error.get("status") or 409),
        code=str(error.get("code") or "upload_not_open"),
        fields=error.get("fields") if isinstance(error.get("fields"), dict) else None,
        body=error,
    )


@dataclass(frozen=True)
class _Transfer:
    """What sending the bytes of a session needs, whichever way they go: the server, the saved session,
    the local file, the progress callback ``(sent, total)`` and the retries after connection errors."""

    api: AtelierApi
    saved: SavedUpload
    path: Path
    progress: Callable[[int, int], None]
    retrier: _Retrier


def _send_chunks(transfer: _Transfer, session: dict[str, Any]) -> None:
    api, saved, progress, retrier = transfer.api, transfer.saved, transfer.progress, transfer.retrier
    size, chunk = saved.size, max(int(session.get("chunk_size") or 0), PIECE)
    offset = int(session["offset"])
    progress(offset, size)
    while offset < size:
        length = min(chunk, size - offset)
        sent = [offset]

        def on_piece(count: int, sent: list[int] = sent) -> None:
            sent[0] += count
            progress(sent[0], size)

        try:
            answer = api.upload_session_append(
                saved.session_id, offset=offset, length=length, pieces=_pieces(transfer.path, offset, length, on_piece)
            )
            offset = int(answer["offset"])
            retrier.succeeded()
        except ServerUnreachableError as error:
            retrier.failed(error)
            offset = int(_with_retries(retrier, lambda: api.upload_session_get(saved.session_id))["offset"])
            progress(offset, size)
        except ApiError as error:
            if error.code in {"offset_mismatch", "upload_busy"} and isinstance(error.body.get("offset"), int):
                offset = int(error.body["offset"])  # the server knows better: go on from its offset
                if error.code == "upload_busy":
                    retrier.failed(ServerUnreachableError("another chunk is still being written"))
                continue
            raise


def _send_parts(transfer: _Transfer, session: dict[str, Any]) -> None:
    api, saved, progress, retrier = transfer.api, transfer.saved, transfer.progress, transfer.retrier
    size, part_size = saved.size, int(session["chunk_size"])
    count = max(1, -(-size // part_size))
    stored = {int(part["part_number"]) for part in session.get("parts", [])}
    done = sum(min(part_size, size - (n - 1) * part_size) for n in stored)
    progress(done, size)
    missing = [n for n in range(1, count + 1) if n not in stored]
    with transfer.path.open("rb") as f:
        for start in range(0, len(missing), PART_URL_BATCH):
            batch = missing[start : start + PART_URL_BATCH]
            urls = _with_retries(retrier, lambda batch=batch: api.upload_session_parts(saved.session_id, batch))
            for part in urls:
                number = int(part["part_number"])
                f.seek((number - 1) * part_size)
                data = f.read(int(part["size"]))
                _with_retries(retrier, lambda url=part["url"], data=data: put_presigned(url, data))
                done += len(data)
                progress(done, size)
