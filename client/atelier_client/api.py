"""HTTP access to the Atelier REST API (``/api/v1/``), standard library only.

(Over 500 lines: one method per endpoint over one transport and one error mapping; split, each
piece would repeat the transport.)

Every call returns the decoded JSON body or raises :class:`ApiError` (the
server answered with an error: its ``{"error": {"code", "message"}}`` shape,
or a status without that shape) or :class:`ServerUnreachableError` (no answer:
refused, name not resolved, timed out, connection cut).

Uploads are streamed: :class:`MultipartBody` yields the multipart body in
chunks of at most ``chunk_size`` bytes with a Content-Length known in advance,
so a checkpoint of any size is sent without being read into memory.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import secrets
import socket
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote, urlencode, urlsplit

from atelier_client import __version__

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "ApiError",
    "AtelierApi",
    "MultipartBody",
    "ServerUnreachableError",
    "UploadFileError",
    "normalize_url",
    "open_for_upload",
    "put_presigned",
]

DEFAULT_CHUNK_SIZE = 64 * 1024
REQUEST_TIMEOUT_S = 30.0
# The server hashes and sniffs the file after the last byte arrives: give the answer time.
LIST_PAGE_SIZE = 200
UPLOAD_TIMEOUT_S = 300.0


class ApiError(Exception):
    """The server answered with an error.

    Attributes:
        status: HTTP status (400, 401, 403, 404, 413, 5xx...).
        code: the API's error code (``quota_exceeded``...), or ``http_<status>`` when the body had none.
        message: the server's message, as sent.
        fields: per-field messages of a ``validation_error`` (``{}`` otherwise).
        body: the whole ``error`` object (``resets_at`` and other extras live there).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str,
        fields: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.fields = dict(fields or {})
        self.body = dict(body or {})

    def __repr__(self) -> str:
        return f"ApiError({self.message!r}, status={self.status}, code={self.code!r})"


class ServerUnreachableError(Exception):
    """No answer from the server: connection refused, unknown host, TLS failure, timeout or connection cut."""


class UploadFileError(Exception):
    """The file to upload could not be read to the end, or changed size while it was sent."""


def normalize_url(url: str) -> str:
    """``HTTP://Host:8000/prefix/`` -> ``http://host:8000/prefix``; raises ValueError for what is not an http(s) URL."""
    text = url.strip()
    parts = urlsplit(text)
    if parts.scheme.lower() not in {"http", "https"} or not parts.hostname:
        raise ValueError(f"{url!r} is not a server address: give one like https://atelier.example.org")
    if parts.query or parts.fragment:
        raise ValueError(f"{url!r} has a query or fragment: give the server's address only")
    netloc = parts.hostname.lower()
    if ":" in netloc:  # IPv6 literal
        netloc = f"[{netloc}]"
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    return f"{parts.scheme.lower()}://{netloc}{parts.path.rstrip('/')}"


def open_for_upload(path: Path) -> IO[bytes]:
    """Open the file to upload, unbuffered: every read goes to the file (tests wrap this to watch the reads)."""
    return open(path, "rb", buffering=0)  # closed by MultipartBody.__iter__


def _quote_header_value(value: str) -> str:
    """A value for a quoted-string in Content-Disposition: no quotes, no line breaks (UTF-8 kept, as browsers do)."""
    return value.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


@dataclass
class MultipartBody:
    """A ``multipart/form-data`` body of text fields and one file, streamed from disk.

    ``len(body)`` is the exact byte count, known before the first byte is sent;
    iterating yields ``bytes`` chunks of at most ``chunk_size`` bytes, reading
    the file ``chunk_size`` bytes at a time. The file must not change while it
    is sent: a size change raises OSError.
    """

    fields: dict[str, str]
    file_field: str
    path: Path
    chunk_size: int = DEFAULT_CHUNK_SIZE
    boundary: str = field(default_factory=lambda: f"atelier-{secrets.token_hex(16)}")
    file_size: int = field(init=False)
    _head: bytes = field(init=False, repr=False)
    _tail: bytes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        self.file_size = self.path.stat().st_size
        parts = []
        for name, value in self.fields.items():
            parts.append(
                f'--{self.boundary}\r\nContent-Disposition: form-data; name="{_quote_header_value(name)}"\r\n\r\n'
                f"{value}\r\n".encode()
            )
        parts.append(
            (
                f'--{self.boundary}\r\nContent-Disposition: form-data; name="{_quote_header_value(self.file_field)}"; '
                f'filename="{_quote_header_value(self.path.name)}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
        )
        self._head = b"".join(parts)
        self._tail = f"\r\n--{self.boundary}--\r\n".encode()

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def __len__(self) -> int:
        return len(self._head) + self.file_size + len(self._tail)

    def __iter__(self) -> Iterator[bytes]:
        for offset in range(0, len(self._head), self.chunk_size):
            yield self._head[offset : offset + self.chunk_size]
        sent = 0
        try:
            with open_for_upload(self.path) as stream:
                while True:
                    chunk = stream.read(self.chunk_size)
                    if not chunk:
                        break
                    sent += len(chunk)
                    if sent > self.file_size:
                        break
                    yield chunk
        except OSError as error:
            raise UploadFileError(f"Cannot read {self.path}: {error.strerror or error}") from error
        if sent != self.file_size:
            raise UploadFileError(
                f"{self.path} changed size while it was being uploaded ({self.file_size} bytes announced, "
                f"{sent} read): upload a file that is not being written to"
            )
        yield self._tail


def _decode_json(raw: bytes, content_type: str) -> Any:
    if not raw:
        return None
    if "json" not in content_type.lower():
        return None
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None


def _attachment_name(disposition: str) -> str:
    """The bare file name of ``Content-Disposition: attachment; filename="..."`` (no folder), or ''."""
    match = re.search(r'filename="?([^";]+)"?', disposition)
    name = Path(match.group(1)).name if match else ""
    return "" if name in {"", ".", ".."} else name


_STATUS_CODES = {
    400: "validation_error",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    413: "file_too_large",
    429: "throttled",
}


def _error_from_response(status: int, reason: str, payload: Any, url: str) -> ApiError:
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        error = payload["error"]
        code = str(error.get("code") or _STATUS_CODES.get(status, f"http_{status}"))
        message = str(error.get("message") or f"HTTP {status} {reason}")
        fields = error.get("fields") if isinstance(error.get("fields"), dict) else {}
        return ApiError(message, status=status, code=code, fields=fields, body=error)
    if isinstance(payload, dict) and "detail" in payload:  # DRF's own shape, if a view escapes the handler
        return ApiError(str(payload["detail"]), status=status, code=_STATUS_CODES.get(status, f"http_{status}"))
    return ApiError(
        f"The server answered HTTP {status} {reason} for {url}.",
        status=status,
        code=_STATUS_CODES.get(status, f"http_{status}"),
    )


class AtelierApi:
    """One Atelier server: ``AtelierApi("https://atelier.example.org", token="...")``.

    Method names are ``<entity>_<action>`` like the server's services; each
    returns the JSON the contract documents for its endpoint.
    """

    def __init__(self, url: str, *, token: str | None = None, timeout: float = REQUEST_TIMEOUT_S) -> None:
        self.url = normalize_url(url)
        self.token = token
        self.timeout = timeout
        parts = urlsplit(self.url)
        self._scheme = parts.scheme
        self._host = parts.hostname or ""
        self._port = parts.port
        self._prefix = parts.path

    # -- transport -------------------------------------------------------------------------------------------

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        if self._scheme == "https":
            return http.client.HTTPSConnection(
                self._host, self._port, timeout=timeout, context=ssl.create_default_context()
            )
        return http.client.HTTPConnection(self._host, self._port, timeout=timeout)

    def request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str | None] | None = None,
        json_body: Any = None,
        body: MultipartBody | None = None,
        on_progress: Callable[[int, int], None] | None = None,
        timeout: float | None = None,
        raw_body: tuple[int, Iterator[bytes]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """Send one request to ``/api/v1/<path>``; return the decoded JSON (None for an empty answer).

        ``body`` streams a multipart upload; ``on_progress(sent, total)`` is called once before the first byte
        (``sent == 0``) and after each chunk, in bytes of the whole body. ``raw_body`` is ``(length, pieces)``
        sent as ``application/offset+octet-stream`` (a chunk of a resumable upload); ``headers`` are added.
        """
        target = f"{self._prefix}/api/v1/{path.lstrip('/')}"
        params = {key: value for key, value in (query or {}).items() if value is not None}
        if params:
            target = f"{target}?{urlencode(params)}"
        full_url = f"{self._scheme}://{urlsplit(self.url).netloc}{target}"
        extra_headers = headers or {}
        headers = {
            "Accept": "application/json",
            "User-Agent": f"atelier-client/{__version__}",
            **extra_headers,
        }
        if self.token:
            headers["Authorization"] = f"Token {self.token}"
        payload: bytes | Iterator[bytes] | None = None
        if json_body is not None:
            payload = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
            headers["Content-Length"] = str(len(payload))
        elif body is not None:
            headers["Content-Type"] = body.content_type
            headers["Content-Length"] = str(len(body))
            payload = self._counted(body, on_progress)
        elif raw_body is not None:
            headers["Content-Type"] = "application/offset+octet-stream"
            headers["Content-Length"] = str(raw_body[0])
            payload = raw_body[1]
        elif method in {"POST", "PUT", "PATCH"}:
            headers["Content-Length"] = "0"

        connection = self._connection(timeout or self.timeout)
        try:
            with self._transport_errors(method, target):
                try:
                    connection.request(method, target, body=payload, headers=headers)
                except (BrokenPipeError, ConnectionResetError):
                    # The server may answer (413, 403...) and close before the whole upload was sent: read its answer.
                    if body is None and raw_body is None:
                        raise
                response = connection.getresponse()
                raw = response.read()
        finally:
            connection.close()

        content_type = response.getheader("Content-Type", "")
        decoded = _decode_json(raw, content_type)
        if 200 <= response.status < 300:
            if raw and decoded is None:
                raise ApiError(
                    f"{full_url} answered {content_type or 'something'} that is not JSON: "
                    f"is {self.url} the address of an Atelier server?",
                    status=response.status,
                    code="not_json",
                )
            return decoded
        if 300 <= response.status < 400:
            location = response.getheader("Location", "?")
            raise ApiError(
                f"The server redirected {full_url} to {location}: give that server address with --url.",
                status=response.status,
                code=f"http_{response.status}",
            )
        raise _error_from_response(response.status, response.reason, decoded, full_url)

    @contextlib.contextmanager
    def _transport_errors(self, method: str, target: str) -> Iterator[None]:
        """Turn what the network raises into :class:`ServerUnreachableError` that says what failed."""
        try:
            yield
        except UploadFileError:
            raise
        except ssl.SSLError as error:
            raise ServerUnreachableError(f"TLS with {self.url} failed: {error}") from error
        except socket.gaierror as error:
            raise ServerUnreachableError(f"Cannot resolve the host of {self.url}: {error.strerror or error}") from error
        except TimeoutError as error:
            raise ServerUnreachableError(f"{self.url} did not answer in time ({method} {target})") from error
        except ConnectionRefusedError as error:
            raise ServerUnreachableError(f"{self.url} refused the connection: is the server running?") from error
        except (ConnectionError, http.client.HTTPException) as error:
            raise ServerUnreachableError(f"The connection to {self.url} broke: {error}") from error
        except OSError as error:
            raise ServerUnreachableError(f"Cannot reach {self.url}: {error}") from error

    def download(
        self,
        path: str,
        *,
        destination: Path | None = None,
        query: dict[str, str | None] | None = None,
        overwrite: bool = False,
    ) -> tuple[Path, int]:
        """GET ``/api/v1/<path>`` and stream the answer into ``destination`` (default: the name the
        server gives, in the current folder), written to a temporary file beside it and renamed into
        place, so a failed download leaves nothing; returns ``(path, bytes written)``. Raises
        :class:`ApiError` for an error answer, :class:`ServerUnreachableError`, :class:`FileExistsError`
        when the file exists and ``overwrite`` is false, or :class:`OSError` when it cannot be written."""
        target = f"{self._prefix}/api/v1/{path.lstrip('/')}"
        params = {key: value for key, value in (query or {}).items() if value is not None}
        if params:
            target = f"{target}?{urlencode(params)}"
        full_url = f"{self._scheme}://{urlsplit(self.url).netloc}{target}"
        headers = {"Accept": "application/zip, application/json", "User-Agent": f"atelier-client/{__version__}"}
        if self.token:
            headers["Authorization"] = f"Token {self.token}"
        connection = self._connection(self.timeout)
        temporary: Path | None = None
        try:
            with self._transport_errors("GET", target):
                connection.request("GET", target, headers=headers)
                response = connection.getresponse()
                if response.status != 200:
                    raw = response.read()
            if response.status != 200:
                payload = _decode_json(raw, response.getheader("Content-Type", ""))
                raise _error_from_response(response.status, response.reason, payload, full_url)
            if destination is None:
                destination = Path(_attachment_name(response.getheader("Content-Disposition", "")) or "download")
            destination = Path(destination)
            if destination.exists() and not overwrite:
                raise FileExistsError(f"{destination} exists")
            temporary = destination.with_name(f".{destination.name}.{secrets.token_hex(4)}.partial")
            written = 0
            with temporary.open("wb") as handle:  # local errors stay OSError; network ones are mapped below
                while True:
                    with self._transport_errors("GET", target):
                        block = response.read(DEFAULT_CHUNK_SIZE)
                    if not block:
                        break
                    handle.write(block)
                    written += len(block)
            temporary.replace(destination)
            return destination, written
        finally:
            connection.close()
            if temporary is not None:
                temporary.unlink(missing_ok=True)

    @staticmethod
    def _counted(body: MultipartBody, on_progress: Callable[[int, int], None] | None) -> Iterator[bytes]:
        total = len(body)
        sent = 0
        if on_progress is not None:
            on_progress(0, total)
        for chunk in body:
            yield chunk
            sent += len(chunk)
            if on_progress is not None:
                on_progress(sent, total)

    # -- operations ------------------------------------------------------------------------------------------

    def token_obtain(self, *, username: str, password: str) -> str:
        """POST auth/token/ -> the API token of these credentials."""
        answer = self.request("POST", "auth/token/", json_body={"username": username, "password": password})
        if not isinstance(answer, dict) or not answer.get("token"):
            raise ApiError("The server's answer to the login carries no token.", status=200, code="bad_answer")
        return str(answer["token"])

    def token_revoke(self) -> None:
        """POST auth/token/revoke/: the server forgets this client's token (it answers 401 from then on)."""
        self.request("POST", "auth/token/revoke/")

    def me_get(self) -> dict[str, Any]:
        return self.request("GET", "me/")

    def competitions_list(self) -> list[dict[str, Any]]:
        return self.request("GET", "competitions/")

    def competition_get(self, slug: str) -> dict[str, Any]:
        return self.request("GET", f"competitions/{quote(slug, safe='')}/")

    def competition_join(self, slug: str, *, accept_rules: bool) -> dict[str, Any]:
        """POST competitions/{slug}/join/ -> the participation (competition, team, accepted_rules_at, joined_at)."""
        return self.request(
            "POST", f"competitions/{quote(slug, safe='')}/join/", json_body={"accept_rules": accept_rules}
        )

    def quota_get(self, slug: str, *, phase: str | None = None) -> dict[str, Any]:
        return self.request("GET", f"competitions/{quote(slug, safe='')}/quota/", query={"phase": phase})

    def leaderboard_get(self, slug: str, *, phase: str | None = None, split: str | None = None) -> dict[str, Any]:
        return self.request(
            "GET", f"competitions/{quote(slug, safe='')}/leaderboard/", query={"phase": phase, "split": split}
        )

    def comparison_get(self, slug: str, ids: list[int]) -> dict[str, Any]:
        """Two to six submissions side by side: scores and preview output URLs."""
        return self.request(
            "GET", f"competitions/{quote(slug, safe='')}/compare/", query={"ids": ",".join(str(i) for i in ids)}
        )

    def submissions_list(
        self, slug: str, *, phase: str | None = None, state: str | None = None, order: str | None = None
    ) -> list[dict[str, Any]]:
        """Every submission of one's team (``state``: only those; ``order``: newest (default), oldest
        or best), as the server orders them (it pages them; this reads every page)."""
        found: list[dict[str, Any]] = []
        page = 1
        while True:
            batch = self.request(
                "GET",
                f"competitions/{quote(slug, safe='')}/submissions/",
                query={
                    "phase": phase,
                    "state": state,
                    "order": order,
                    "page": str(page),
                    "page_size": str(LIST_PAGE_SIZE),
                },
            )
            found.extend(batch)
            if len(batch) < LIST_PAGE_SIZE:
                return found
            page += 1

    def submission_create(
        self,
        slug: str,
        path: Path,
        *,
        phase: str | None = None,
        description: str | None = None,
        on_progress: Callable[[int, int], None] | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> dict[str, Any]:
        """Stream ``path`` as a new submission (201: its detail); ``on_progress(sent, total)`` follows the upload."""
        fields = {}
        if description:
            fields["description"] = description
        if phase:
            fields["phase"] = phase
        body = MultipartBody(fields=fields, file_field="file", path=path, chunk_size=chunk_size)
        return self.request(
            "POST",
            f"competitions/{quote(slug, safe='')}/submissions/",
            # The phase in the query too: the server sizes its upload limit before it reads the body.
            query={"phase": phase},
            body=body,
            on_progress=on_progress,
            timeout=UPLOAD_TIMEOUT_S,
        )

    def submission_get(self, submission_id: int) -> dict[str, Any]:
        return self.request("GET", f"submissions/{int(submission_id)}/")

    def submission_select_final(self, submission_id: int, *, selected: bool) -> dict[str, Any]:
        """POST submissions/{id}/select-final/ -> the submission detail (``is_final``)."""
        return self.request("POST", f"submissions/{int(submission_id)}/select-final/", json_body={"selected": selected})

    def submission_cancel(self, submission_id: int) -> dict[str, Any]:
        return self.request("POST", f"submissions/{int(submission_id)}/cancel/")

    # -- discussion and notifications ----------------------------------------------------------------------------

    def topics_list(self, slug: str, *, page: int | None = None) -> dict[str, Any]:
        """GET competitions/{slug}/topics/ -> {page, pages, count, results: [topic]} (pinned first)."""
        query = {"page": str(page) if page else None}
        return self.request("GET", f"competitions/{quote(slug, safe='')}/topics/", query=query)

    def topic_get(self, slug: str, topic_id: int, *, page: int | None = None) -> dict[str, Any]:
        """GET competitions/{slug}/topics/{id}/ -> {topic, page, pages, count, replies: [reply]}."""
        query = {"page": str(page) if page else None}
        return self.request("GET", f"competitions/{quote(slug, safe='')}/topics/{int(topic_id)}/", query=query)

    def topic_create(self, slug: str, *, title: str, body: str, announcement: bool = False) -> dict[str, Any]:
        return self.request(
            "POST",
            f"competitions/{quote(slug, safe='')}/topics/create/",
            json_body={"title": title, "body": body, "announcement": announcement},
        )

    def reply_create(self, slug: str, topic_id: int, *, body: str) -> dict[str, Any]:
        return self.request(
            "POST", f"competitions/{quote(slug, safe='')}/topics/{int(topic_id)}/reply/", json_body={"body": body}
        )

    def topic_moderate(
        self,
        slug: str,
        topic_id: int,
        *,
        hidden: bool | None = None,
        locked: bool | None = None,
        pinned: bool | None = None,
    ) -> dict[str, Any]:
        """POST competitions/{slug}/topics/{id}/moderate/ (organizers; fields left None stay as they are)."""
        changes = {"hidden": hidden, "locked": locked, "pinned": pinned}
        return self.request(
            "POST",
            f"competitions/{quote(slug, safe='')}/topics/{int(topic_id)}/moderate/",
            json_body={key: value for key, value in changes.items() if value is not None},
        )

    def reply_moderate(self, slug: str, reply_id: int, *, hidden: bool) -> dict[str, Any]:
        """POST competitions/{slug}/replies/{id}/moderate/ (organizers)."""
        return self.request(
            "POST",
            f"competitions/{quote(slug, safe='')}/replies/{int(reply_id)}/moderate/",
            json_body={"hidden": hidden},
        )

    def starter_kit_download(
        self, slug: str, *, destination: Path | None = None, phase: str | None = None, overwrite: bool = False
    ) -> tuple[Path, int]:
        """GET competitions/{slug}/starter-kit.zip into ``destination`` (default: the server's file name,
        ``SLUG-PHASE-starter-kit.zip``); returns ``(path, size in bytes)``."""
        return self.download(
            f"competitions/{quote(slug, safe='')}/starter-kit.zip",
            destination=destination,
            query={"phase": phase},
            overwrite=overwrite,
        )

    def notification_settings_get(self) -> dict[str, bool]:
        return self.request("GET", "notifications/settings/")

    def notification_settings_update(self, **kinds: bool) -> dict[str, bool]:
        return self.request("POST", "notifications/settings/update/", json_body=kinds)

    # -- resumable uploads (decision 0012 of the server) -------------------------------------------------------

    def upload_session_create(self, slug: str, **fields: Any) -> dict[str, Any]:
        """POST competitions/{slug}/uploads/ (filename, size, sha256, phase, description, config) -> the session."""
        body = {key: value for key, value in fields.items() if value is not None}
        return self.request("POST", f"competitions/{quote(slug, safe='')}/uploads/", json_body=body)

    def upload_session_get(self, session_id: str) -> dict[str, Any]:
        return self.request("GET", f"uploads/{quote(session_id, safe='')}/")

    def upload_session_append(
        self, session_id: str, *, offset: int, length: int, pieces: Iterator[bytes], timeout: float | None = None
    ) -> dict[str, Any]:
        """PATCH uploads/{id}/: ``length`` bytes from ``pieces`` at ``offset`` -> the session (its new offset)."""
        return self.request(
            "PATCH",
            f"uploads/{quote(session_id, safe='')}/",
            raw_body=(length, pieces),
            headers={"Upload-Offset": str(offset)},
            timeout=timeout,
        )

    def upload_session_parts(self, session_id: str, part_numbers: list[int]) -> list[dict[str, Any]]:
        return self.request(
            "POST", f"uploads/{quote(session_id, safe='')}/parts/", json_body={"part_numbers": part_numbers}
        )

    def upload_session_complete(self, session_id: str) -> dict[str, Any]:
        return self.request("POST", f"uploads/{quote(session_id, safe='')}/complete/", timeout=UPLOAD_TIMEOUT_S)

    def upload_session_abort(self, session_id: str) -> None:
        self.request("DELETE", f"uploads/{quote(session_id, safe='')}/")


def put_presigned(url: str, data: bytes, *, timeout: float = UPLOAD_TIMEOUT_S) -> None:
    """PUT one part to a presigned object-storage URL (no Atelier token goes there)."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(
            parts.hostname or "", parts.port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    try:
        connection.request("PUT", f"{parts.path}?{parts.query}", body=data, headers={"Content-Length": str(len(data))})
        response = connection.getresponse()
        raw = response.read()
    except (OSError, http.client.HTTPException) as error:
        raise ServerUnreachableError(f"The connection to the object store {parts.netloc} broke: {error}") from error
    finally:
        connection.close()
    if not 200 <= response.status < 300:
        raise ApiError(
            f"The object store refused a part (HTTP {response.status}): {raw[:200].decode('utf-8', 'replace')}",
            status=response.status,
            code=f"http_{response.status}",
        )
