"""Resumable uploads: a session per checkpoint, bytes in chunks, a submission only when the whole
file checks out (decision 0012).

(Over 500 lines: one session's life, from its checks through its bytes to completion, verification
and expiry, is one state machine over one row; split, each step would import the others' guards.)

1. :func:`upload_session_create`: the client declares the file (name, size, SHA-256, optional
   config and description). Everything knowable before a byte is sent is checked here: logged in,
   joined with the rules accepted, phase window, quota, running limit, size limit, the config.
2. Bytes. On local disk (``backend == "local"``) :func:`upload_session_append` appends a chunk at
   an offset to a private file under ``ATELIER_UPLOAD_SESSIONS_DIR`` (mode 0600); the file's size
   is the offset, a chunk at another offset is refused with the current one (409). On S3
   (``backend == "s3"``) the session is an S3 multipart upload written straight to the
   submission's key: :func:`upload_session_part_urls` presigns part URLs and the client PUTs the
   parts to the bucket, never through a web worker.
3. :func:`upload_session_complete`: the file must be whole; then the SHA-256 of the whole file is
   verified (a wrong digest is refused and nothing is kept), the config written in
   (:func:`submissions.uploads.checkpoint_prepare`), the worker's torch-free checks run, and only
   then :func:`submissions.services.submission_store` creates the submission and charges the quota,
   atomically, under the team's lock. On local disk this happens in the request (a local file is
   read). On S3 the request only assembles the parts (no byte read), marks the session
   ``verifying`` and sends ``submissions.upload_session_verify`` on commit (the default queue,
   202): :func:`upload_session_verify` reads the object back in the task and does the same, or
   marks the session ``failed`` with the same refusal and deletes the object; the client polls the
   session. :func:`upload_sessions_verify_sweep` (beat, 60 s) sends the task again for a session
   still verifying (its worker died).
4. :func:`upload_session_abort` (the client) and :func:`upload_sessions_expire` (beat, every 10
   min) delete a session and its bytes (the local file, or an S3 multipart abort). An open session
   expires ``ATELIER_UPLOAD_SESSION_SECONDS`` after its last chunk; a user keeps at most
   :data:`MAX_OPEN_SESSIONS` open (opening another deletes the least recently used). A verifying
   session never expires; a failed one (its error kept for the client) does.

A refusal of the file itself at completion (digest, format, header, config) deletes the session
(S3: marks it failed and deletes the object): the same bytes would be refused again. A refusal of
the moment (quota used, too many running, phase closed) before the file is read leaves it open
until it expires, so it can be completed later.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import hashlib
import logging
import os
import tempfile
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, BinaryIO

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from competitions.models import Phase
from gan_platform.errors import ApplicationError, error_body
from submissions import sending, services, upload_bytes
from submissions.models import Submission, UploadSession
from submissions.upload_bytes import S3_MAX_PARTS, S3_MIN_PART_BYTES
from submissions.uploads import LocalFile, checkpoint_prepare, config_check

__all__ = [
    "S3_MAX_PARTS",
    "S3_MIN_PART_BYTES",
    "SessionStatus",
    "upload_session_abort",
    "upload_session_append",
    "upload_session_complete",
    "upload_session_create",
    "upload_session_get",
    "upload_session_part_urls",
    "upload_session_status",
    "upload_session_verify",
    "upload_sessions_expire",
    "upload_sessions_verify_sweep",
]

logger = logging.getLogger(__name__)

READ_CHUNK = 1024 * 1024
MAX_OPEN_SESSIONS = 4
"""Open sessions one user keeps at once; opening another deletes the least recently used one (an
abandoned browser upload), so the disk a user can hold is bounded without blocking them."""
MAX_PART_URLS = 1000
SHA256_LENGTH = 64


# --- reads ---------------------------------------------------------------------------------------


def upload_session_get(*, session_id: Any, user: Any) -> UploadSession:
    """The session ``session_id`` of ``user`` (an expired open one is gone); another user's is ``not_found``."""
    try:
        key = uuid.UUID(str(session_id))
    except ValueError:
        key = None
    session = (
        UploadSession.objects.select_related("phase__competition", "team").filter(pk=key, user_id=user.pk).first()
        if key is not None and getattr(user, "is_authenticated", False)
        else None
    )
    if session is None or (session.state == UploadSession.State.OPEN and session.expires_at <= timezone.now()):
        raise ApplicationError(
            f"No upload session {str(session_id)[:40]} of yours: it expired, was aborted or completed. "
            "Start a new upload.",
            code="not_found",
            status=404,
        )
    return session


@dataclasses.dataclass(frozen=True)
class SessionStatus:
    session: UploadSession
    offset: int
    parts: list[dict[str, int]]


def upload_session_status(*, session: UploadSession) -> SessionStatus:
    """How much arrived: on local disk the file's size; on S3 the parts stored and the bytes of the
    unbroken run of parts from the first (what a client can resume after). A session that is no
    longer open takes no bytes: the offset recorded when it stopped, and no parts."""
    if session.state != UploadSession.State.OPEN:
        return SessionStatus(session, session.offset, [])
    return _received(session)


def _received(session: UploadSession) -> SessionStatus:
    if session.backend == UploadSession.Backend.LOCAL:
        try:
            offset = upload_bytes.local_path(session).stat().st_size
        except FileNotFoundError:
            offset = 0
        return SessionStatus(session, offset, [])
    parts = [{"part_number": int(p["PartNumber"]), "size": int(p["Size"])} for p in upload_bytes.s3_parts(session)]
    offset = 0
    for expected, part in enumerate(sorted(parts, key=lambda p: p["part_number"]), start=1):
        if part["part_number"] != expected or part["size"] != upload_bytes.part_length(session, expected):
            break
        offset += part["size"]
    return SessionStatus(session, offset, parts)


# --- writes --------------------------------------------------------------------------------------


def upload_session_create(
    *,
    phase: Phase,
    user: Any,
    filename: str,
    size: int,
    sha256: str,
    description: str = "",
    config: Any = None,
    is_baseline: bool = False,
) -> UploadSession:
    """Open a resumable upload after every check that needs no byte of the file.

    Raises:
        ApplicationError: those of :func:`submissions.services.submission_precheck`, ``empty_file``,
            ``file_too_large`` (413), ``validation_error`` (the digest is not 64 hex digits),
            ``bad_config``, ``unknown_architecture``.
    """
    team = services.submission_precheck(phase=phase, user=user, is_baseline=is_baseline, description=description)
    services._size_require(phase=phase, size=size)
    digest = (sha256 or "").strip().lower()
    if len(digest) != SHA256_LENGTH or any(c not in "0123456789abcdef" for c in digest):
        raise ApplicationError(
            "sha256: give the file's SHA-256 as 64 hexadecimal digits (sha256sum FILE).",
            code="validation_error",
            extra={"fields": {"sha256": ["64 hexadecimal digits."]}},
        )
    if config is not None:
        if "safetensors" not in (phase.competition.accepted_formats or []):
            raise ApplicationError(
                f"A config goes with safetensors weights, which {phase.competition.slug} does not accept.",
                code="bad_config",
            )
        config = config_check(config, accepted_architectures=phase.competition.accepted_architectures)
    session = UploadSession(
        phase=phase,
        team=team,
        user=user,
        filename=(os.path.basename(filename or "") or "checkpoint")[:255],
        size=size,
        sha256=digest,
        description=(description or "").strip(),
        config=config,
        is_baseline=is_baseline,
        backend=UploadSession.Backend.S3 if upload_bytes.uses_s3() else UploadSession.Backend.LOCAL,
        expires_at=timezone.now() + timedelta(seconds=settings.ATELIER_UPLOAD_SESSION_SECONDS),
    )
    if session.backend == UploadSession.Backend.S3:
        part_size = max(settings.ATELIER_UPLOAD_CHUNK_BYTES, S3_MIN_PART_BYTES, -(-size // S3_MAX_PARTS))
        session.part_size = part_size
        session.s3_key = f"submissions/{phase.pk}/{uuid.uuid4().hex}/checkpoint"
        client, bucket, _ = upload_bytes.s3()
        answer = client.create_multipart_upload(Bucket=bucket, Key=upload_bytes.s3_key(session.s3_key))
        session.s3_upload_id = answer["UploadId"]
    else:
        session.part_size = settings.ATELIER_UPLOAD_CHUNK_BYTES
    session.full_clean()
    session.save()
    if session.backend == UploadSession.Backend.LOCAL:
        descriptor = os.open(upload_bytes.local_path(session), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        os.close(descriptor)
    older = UploadSession.objects.filter(user_id=user.pk, state=UploadSession.State.OPEN).order_by("-expires_at")
    for stale in older[MAX_OPEN_SESSIONS:]:
        with contextlib.suppress(ApplicationError):
            upload_session_abort(session=stale)
    return session


_OTHER_BACKEND = {
    UploadSession.Backend.LOCAL: (
        "This session uploads to object storage: PUT the parts to the URLs of POST .../parts/.",
        "upload_backend_s3",
    ),
    UploadSession.Backend.S3: (
        "This session uploads to the server: PATCH the chunks to the session's URL.",
        "upload_backend_local",
    ),
}
"""The backend an operation needs -> what a session of the other backend is told (409), and its code."""


def _open_require(session: UploadSession, *, backend: str | None = None) -> None:
    """Refuse (409) a session that is no longer open, or (``backend``) one that uploads elsewhere."""
    if session.state != UploadSession.State.OPEN:
        raise ApplicationError(
            f"Upload session {session.pk} is {session.state}; it takes no more bytes.",
            code="upload_not_open",
            status=409,
            extra={"state": session.state},
        )
    if backend is not None and session.backend != backend:
        message, code = _OTHER_BACKEND[backend]
        raise ApplicationError(message, code=code, status=409)


def upload_session_append(*, session: UploadSession, offset: int, length: int, stream: BinaryIO) -> int:
    """Append ``length`` bytes read from ``stream`` at ``offset`` (local disk); return the new offset.

    The file is locked (``flock``) while it is written: a second chunk at the same time is refused
    (409, ``upload_busy``). ``offset`` must equal the bytes received so far (else 409,
    ``offset_mismatch``, with ``offset``); the chunk may not run past the declared size (413). When
    the client goes away mid-chunk, what arrived is kept: the client asks the offset and goes on.
    """
    _open_require(session, backend=UploadSession.Backend.LOCAL)
    try:
        descriptor = os.open(upload_bytes.local_path(session), os.O_WRONLY | os.O_APPEND)
    except FileNotFoundError:
        raise ApplicationError(
            f"Upload session {session.pk} lost its bytes (it expired): start a new upload.",
            code="not_found",
            status=404,
        ) from None
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            raise ApplicationError(
                "Another chunk of this upload is being written now; wait for it, then ask the offset (HEAD).",
                code="upload_busy",
                status=409,
                extra={"offset": os.fstat(descriptor).st_size},
            ) from None
        current = os.fstat(descriptor).st_size
        if offset != current:
            raise ApplicationError(
                f"This chunk starts at byte {offset}, but {current} bytes have arrived: send from offset {current}.",
                code="offset_mismatch",
                status=409,
                extra={"offset": current},
            )
        if current + length > session.size:
            raise ApplicationError(
                f"The chunk ({length} bytes at {offset}) runs past the declared size of {session.size} bytes.",
                code="file_too_large",
                status=413,
                extra={"offset": current, "limit": session.size},
            )
        remaining = length
        while remaining > 0:
            try:
                data = stream.read(min(READ_CHUNK, remaining))
            except Exception:  # the client went away mid-chunk (server-specific errors): keep what arrived
                logger.info("upload %s: chunk cut after %d of %d bytes", session.pk, length - remaining, length)
                break
            if not data:
                break
            os.write(descriptor, data)
            remaining -= len(data)
        new_offset = os.fstat(descriptor).st_size
    finally:
        os.close(descriptor)
    UploadSession.objects.filter(pk=session.pk, state=UploadSession.State.OPEN).update(
        offset=new_offset, expires_at=timezone.now() + timedelta(seconds=settings.ATELIER_UPLOAD_SESSION_SECONDS)
    )
    session.offset = new_offset
    return new_offset


def upload_session_part_urls(*, session: UploadSession, part_numbers: list[int]) -> list[dict[str, Any]]:
    """Presigned PUT URLs of the S3 parts ``part_numbers`` (1-based), each with the size it must have."""
    _open_require(session, backend=UploadSession.Backend.S3)
    count = upload_bytes.part_count(session)
    wanted = sorted(set(part_numbers))
    if not wanted or len(wanted) > MAX_PART_URLS or wanted[0] < 1 or wanted[-1] > count:
        raise ApplicationError(
            f"part_numbers: give 1 to {MAX_PART_URLS} part numbers between 1 and {count}.",
            code="validation_error",
            extra={"fields": {"part_numbers": [f"Between 1 and {count}."]}},
        )
    presigner = upload_bytes.s3_presigner()
    _, bucket, _ = upload_bytes.s3()
    key = upload_bytes.s3_key(session.s3_key)
    UploadSession.objects.filter(pk=session.pk, state=UploadSession.State.OPEN).update(
        expires_at=timezone.now() + timedelta(seconds=settings.ATELIER_UPLOAD_SESSION_SECONDS)
    )
    return [
        {
            "part_number": number,
            "size": upload_bytes.part_length(session, number),
            "url": presigner.generate_presigned_url(
                "upload_part",
                Params={"Bucket": bucket, "Key": key, "UploadId": session.s3_upload_id, "PartNumber": number},
                ExpiresIn=settings.ATELIER_UPLOAD_PART_URL_SECONDS,
                HttpMethod="PUT",
            ),
        }
        for number in wanted
    ]


def upload_session_abort(*, session: UploadSession) -> None:
    """Delete the session and its bytes (an open one; a completing one is left to its request)."""
    deleted = UploadSession.objects.filter(pk=session.pk, state=UploadSession.State.OPEN).delete()[0]
    if not deleted:
        _open_require(session)
    upload_bytes.bytes_delete(session)


def upload_sessions_expire(*, now: Any = None) -> int:
    """Delete expired sessions (open, failed, or stuck completing after a crash) and their bytes, and
    local session files that no session owns (a crash between the row and the file). A verifying
    session is never deleted here: its object is the submission's to be, and the verify sweep sends
    its task again (:func:`upload_sessions_verify_sweep`). Returns how many."""
    now = now or timezone.now()
    removed = 0
    kept = [UploadSession.State.COMPLETED, UploadSession.State.VERIFYING]
    stale = UploadSession.objects.filter(expires_at__lte=now).exclude(state__in=kept)
    for session in stale:
        if UploadSession.objects.filter(pk=session.pk, expires_at__lte=now).exclude(state__in=kept).delete()[0]:
            try:  # a failed session's object was deleted when it failed: again, in case that did not work
                upload_bytes.bytes_delete(session, assembled=session.state == UploadSession.State.FAILED)
            except Exception:  # one unreachable bucket must not stop the sweep
                logger.exception("upload %s: its bytes could not be deleted", session.pk)
            removed += 1
    folder = upload_bytes.sessions_dir()
    known = {
        key.hex
        for key in UploadSession.objects.exclude(state=UploadSession.State.COMPLETED).values_list("pk", flat=True)
    }
    cutoff = now.timestamp() - settings.ATELIER_UPLOAD_SESSION_SECONDS
    for path in folder.glob("*.part"):
        with contextlib.suppress(FileNotFoundError):
            if path.stem not in known and path.stat().st_mtime < cutoff:
                path.unlink()
    UploadSession.objects.filter(state=UploadSession.State.COMPLETED, created_at__lte=now - timedelta(days=30)).delete()
    return removed


def _s3_assemble(session: UploadSession) -> None:
    """Complete the S3 multipart upload: the parts become the submission's object (no byte is read)."""
    client, bucket, _ = upload_bytes.s3()
    etags = {int(p["PartNumber"]): p["ETag"] for p in upload_bytes.s3_parts(session)}
    client.complete_multipart_upload(
        Bucket=bucket,
        Key=upload_bytes.s3_key(session.s3_key),
        UploadId=session.s3_upload_id,
        MultipartUpload={
            "Parts": [{"PartNumber": n, "ETag": etags[n]} for n in range(1, upload_bytes.part_count(session) + 1)]
        },
    )


@contextlib.contextmanager
def _s3_downloaded(session: UploadSession) -> Iterator[tuple[Path, str]]:
    """The assembled object read once into a temporary file, and its SHA-256 computed on the way (S3
    computes no SHA-256 of a multipart object): ``(path, hex digest)``."""
    client, bucket, _ = upload_bytes.s3()
    handle, path = tempfile.mkstemp(prefix="assembled-", dir=settings.FILE_UPLOAD_TEMP_DIR)
    digest = hashlib.sha256()
    try:
        with os.fdopen(handle, "wb") as out:
            body = client.get_object(Bucket=bucket, Key=upload_bytes.s3_key(session.s3_key))["Body"]
            for chunk in body.iter_chunks(1 << 20):
                digest.update(chunk)
                out.write(chunk)
        yield Path(path), digest.hexdigest()
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _received_require(session: UploadSession, offset: int) -> None:
    if offset != session.size:
        raise ApplicationError(
            f"{offset} of {session.size} bytes have arrived: send the rest from offset {offset}, then complete.",
            code="upload_incomplete",
            status=409,
            extra={"offset": offset, "size": session.size},
        )


FILE_REFUSALS_KEEP_SESSION = {"quota_exceeded", "too_many_running", "phase_closed", "upload_incomplete"}


class _AlreadyFinished(Exception):
    """Another completion or verification of the session finished first (a duplicate task delivery)."""


def _submission_from_file(
    session: UploadSession, *, team: Any, path: Path, sha256: str, expected: str, assembled: bool
) -> Submission:
    """The whole file at ``path`` (SHA-256 ``sha256``) checked and stored as the session's submission.

    The digest must be the declared one; the config is written in (:func:`checkpoint_prepare`), the
    worker's torch-free checks run, and :func:`submissions.services.submission_store` creates the
    submission and charges the quota in the transaction that marks the session ``completed``, with
    the session's row locked and still in state ``expected`` (else :class:`_AlreadyFinished`, and
    nothing is stored). ``assembled``: the file is the S3 object at the submission's key, which the
    submission keeps unless a config was written in (then the rewritten copy is stored instead).
    """
    if sha256 != session.sha256:
        raise ApplicationError(
            f"The file that arrived has SHA-256 {sha256}, not the declared {session.sha256}: it was "
            "damaged on the way or changed since. Nothing was kept; upload it again.",
            code="sha256_mismatch",
            extra={"sha256": sha256, "declared": session.sha256},
        )
    phase = session.phase
    with path.open("rb") as raw, checkpoint_prepare(file=raw, size=session.size, config=session.config) as prepared:
        file_format = services._format_require(phase=phase, uploaded_file=prepared.file, size=prepared.size)
        rewritten = prepared.file is not raw
        content = prepared.file if rewritten else LocalFile(path, session.filename)
        try:
            with transaction.atomic():
                if not UploadSession.objects.select_for_update().filter(pk=session.pk, state=expected).exists():
                    raise _AlreadyFinished(str(session.pk))
                submission = services.submission_store(
                    phase=phase,
                    team=team,
                    user=session.user,
                    original_name=session.filename,
                    file_format=file_format,
                    sha256=upload_bytes.sha256_of(Path(content.temporary_file_path())) if rewritten else sha256,
                    size=prepared.size,
                    description=session.description,
                    is_baseline=session.is_baseline,
                    content=content if (rewritten or not assembled) else None,
                    stored_name=None if (rewritten or not assembled) else session.s3_key,
                )
                UploadSession.objects.filter(pk=session.pk).update(
                    state=UploadSession.State.COMPLETED, submission=submission
                )
        finally:
            content.close()
    if rewritten and assembled:
        upload_bytes.bytes_delete(session, assembled=True)  # the copy with the config was stored instead
    session.state, session.submission = UploadSession.State.COMPLETED, submission
    return submission


def upload_session_complete(*, session: UploadSession, user: Any) -> UploadSession:
    """Finish the upload (see the module's docstring); return the session, ``completed`` with its
    ``submission`` (local disk: verified here), or ``verifying`` (S3: the parts are assembled, and
    ``submissions.upload_session_verify`` is sent on commit to read the object back and finish).

    Raises:
        ApplicationError: ``upload_not_open`` (409: completing, verifying or completed already),
            ``upload_incomplete`` (409, with ``offset``), those of
            :func:`submissions.services.submission_precheck` (quota, running limit, phase closed:
            the session stays open), and on local disk ``sha256_mismatch``, the format and header
            codes of the worker's checks and ``bad_config`` (nothing kept).
    """
    claimed = UploadSession.objects.filter(pk=session.pk, state=UploadSession.State.OPEN).update(
        state=UploadSession.State.COMPLETING,
        expires_at=timezone.now() + timedelta(seconds=settings.ATELIER_UPLOAD_SESSION_SECONDS),
    )
    if not claimed:
        session.refresh_from_db()
        _open_require(session)
    try:
        team = services.submission_precheck(
            phase=session.phase, user=user, is_baseline=session.is_baseline, description=session.description
        )
        _received_require(session, _received(session).offset)
        if session.backend == UploadSession.Backend.LOCAL:
            path = upload_bytes.local_path(session)
            _submission_from_file(
                session,
                team=team,
                path=path,
                sha256=upload_bytes.sha256_of(path),
                expected=UploadSession.State.COMPLETING,
                assembled=False,
            )
            upload_bytes.bytes_delete(session)  # nothing left when storage moved it; a copy's source otherwise
            return session
        _s3_assemble(session)
    except ApplicationError as error:
        if error.code in FILE_REFUSALS_KEEP_SESSION:
            UploadSession.objects.filter(pk=session.pk, state=UploadSession.State.COMPLETING).update(
                state=UploadSession.State.OPEN
            )
        else:
            UploadSession.objects.filter(pk=session.pk).delete()
            with contextlib.suppress(Exception):
                upload_bytes.bytes_delete(session)
        raise
    except BaseException:
        UploadSession.objects.filter(pk=session.pk, state=UploadSession.State.COMPLETING).update(
            state=UploadSession.State.OPEN
        )
        raise
    _verify_send(session, previous_state=UploadSession.State.COMPLETING, sends=0)
    return session


def _verify_send(session: UploadSession, *, previous_state: str, sends: int, now: Any = None) -> bool:
    """Mark the session verifying (from ``previous_state`` with ``sends`` tasks sent so far) and send its
    verification on commit; False when another process changed it first."""
    changed = UploadSession.objects.filter(pk=session.pk, state=previous_state, verify_sends=sends).update(
        state=UploadSession.State.VERIFYING,
        offset=session.size,
        verify_sends=sends + 1,
        expires_at=(now or timezone.now()) + timedelta(seconds=settings.ATELIER_UPLOAD_VERIFY_GRACE_SECONDS),
    )
    if changed:
        session.state, session.offset, session.verify_sends = UploadSession.State.VERIFYING, session.size, sends + 1
        transaction.on_commit(lambda: sending.upload_session_verify_send(session_id=str(session.pk)), robust=True)
    return bool(changed)


def _verify_fail(session: UploadSession, error: ApplicationError) -> bool:
    """A verifying session becomes ``failed`` with ``error`` (as the API would answer it), and its object is
    deleted: nothing stored, no quota. False when it was not verifying any more (nothing changed)."""
    answer = {"status": error.status, **error_body(error.code, error.message, **error.extra)["error"]}
    failed = UploadSession.objects.filter(pk=session.pk, state=UploadSession.State.VERIFYING).update(
        state=UploadSession.State.FAILED,
        error=answer,
        expires_at=timezone.now() + timedelta(seconds=settings.ATELIER_UPLOAD_SESSION_SECONDS),
    )
    if failed:
        session.state, session.error = UploadSession.State.FAILED, answer
        try:
            upload_bytes.bytes_delete(session, assembled=True)
        except Exception:  # one unreachable bucket: the failed session stays until it expires
            logger.exception(
                "upload %s: the refused object could not be deleted (the expiry sweep tries again)", session.pk
            )
    return bool(failed)


def upload_session_verify(*, session_id: Any) -> str:
    """Verify a ``verifying`` S3 session (the task ``submissions.upload_session_verify``): stream the
    assembled object, compare its SHA-256, and create the submission as :func:`upload_session_complete`
    does on local disk; or mark the session ``failed`` with the refusal the completion would have
    answered, and delete the object. Safe to run twice: the session's row is locked when the
    submission is stored, and a run that finds it no longer verifying does nothing. An error that is
    not a refusal (storage unreachable) leaves it verifying, for the sweep to send again.

    Returns the session's state afterwards (``gone`` when there is no such session).
    """
    session = UploadSession.objects.select_related("phase__competition", "team", "user").filter(pk=session_id).first()
    if session is None:
        return "gone"
    if session.state != UploadSession.State.VERIFYING:
        return session.state
    try:
        team = services.submission_precheck(
            phase=session.phase, user=session.user, is_baseline=session.is_baseline, description=session.description
        )
        with _s3_downloaded(session) as (path, digest):
            _submission_from_file(
                session, team=team, path=path, sha256=digest, expected=UploadSession.State.VERIFYING, assembled=True
            )
    except _AlreadyFinished:
        logger.info("upload %s: verified by another delivery already", session.pk)
        session.refresh_from_db()
    except ApplicationError as error:
        if not _verify_fail(session, error):
            session.refresh_from_db()
    return session.state


VERIFY_MAX_SENDS = 5
"""Verification tasks sent for one session before the sweep gives up and marks it failed."""


def upload_sessions_verify_sweep(*, now: Any = None) -> list[str]:
    """Send the verification again for sessions still verifying ``ATELIER_UPLOAD_VERIFY_GRACE_SECONDS``
    after it was last sent (the message was lost or its worker died; beat, 60 s); after
    :data:`VERIFY_MAX_SENDS` sends the session fails (``verify_failed``). Returns the ids sent again."""
    now = now or timezone.now()
    resent: list[str] = []
    for session in UploadSession.objects.filter(state=UploadSession.State.VERIFYING, expires_at__lte=now):
        if session.verify_sends >= VERIFY_MAX_SENDS:
            _verify_fail(
                session,
                ApplicationError(
                    f"The uploaded file could not be verified ({session.verify_sends} tries): nothing was kept. "
                    "Upload it again, or ask the organizers if this repeats.",
                    code="verify_failed",
                    status=503,
                ),
            )
        elif _verify_send(session, previous_state=UploadSession.State.VERIFYING, sends=session.verify_sends, now=now):
            resent.append(str(session.pk))
    return resent
