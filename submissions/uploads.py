"""The streamed upload handler of the submission-create endpoint.

``FILE_UPLOAD_MAX_MEMORY_SIZE`` only decides memory versus disk; it is not a
size limit. :class:`LimitedTemporaryFileUploadHandler` is: it streams the file
part to a temporary file and stops reading the request at the limit.

- Before reading anything, a request whose ``Content-Length`` is more than the
  limit plus :data:`MULTIPART_ALLOWANCE` (boundaries, part headers and the
  small form fields) is refused without reading its body.
- While reading, as soon as the file part would pass the limit, the partial
  temporary file is closed (which deletes it) and ``StopUpload(connection_reset
  =True)`` stops the parser: the rest of the body is never read.

The view checks :attr:`LimitedTemporaryFileUploadHandler.limit_exceeded` after
parsing and answers ``file_too_large`` (HTTP 413). The handler is installed for
the submission-create view only (``SubmissionCreateApi.initialize_request``).
"""

from __future__ import annotations

from typing import Any

from django.core.files.uploadhandler import StopUpload, TemporaryFileUploadHandler
from django.http import QueryDict
from django.utils.datastructures import MultiValueDict

__all__ = ["MULTIPART_ALLOWANCE", "LimitedTemporaryFileUploadHandler"]

MULTIPART_ALLOWANCE = 16 * 1024
"""Bytes of a multipart body allowed beyond the file limit for boundaries, part headers and the small
form fields (``description`` is at most 500 characters, ``phase`` a slug)."""


class LimitedTemporaryFileUploadHandler(TemporaryFileUploadHandler):
    """Stream uploaded files to a temporary file, stopping at ``limit`` bytes per request.

    Args:
        limit: the most bytes of file content accepted (all file parts together).
        request: the Django request (passed on to the base handler).
        allowance: bytes of the body beyond ``limit`` accepted before reading.

    Attributes:
        limit_exceeded: True once the limit was hit; nothing was kept then.
        bytes_received: file bytes accepted so far.
    """

    chunk_size = 64 * 1024

    def __init__(self, limit: int, request: Any = None, *, allowance: int = MULTIPART_ALLOWANCE) -> None:
        super().__init__(request)
        self.limit = limit
        self.allowance = allowance
        self.limit_exceeded = False
        self.bytes_received = 0

    def handle_raw_input(
        self,
        input_data: Any,
        META: dict[str, Any],
        content_length: int,
        boundary: bytes,
        encoding: str | None = None,
    ) -> tuple[QueryDict, MultiValueDict] | None:
        if content_length is not None and content_length > self.limit + self.allowance:
            # Refuse before reading a byte: the body is declared too large.
            self.limit_exceeded = True
            return QueryDict(encoding=encoding), MultiValueDict()
        return None

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        if self.bytes_received + len(raw_data) > self.limit:
            self.limit_exceeded = True
            self._discard()
            raise StopUpload(connection_reset=True)
        self.bytes_received += len(raw_data)
        return super().receive_data_chunk(raw_data, start)

    def upload_interrupted(self) -> None:
        self._discard()

    def _discard(self) -> None:
        file = getattr(self, "file", None)
        if file is not None and not file.closed:
            # A NamedTemporaryFile (delete=True) removes itself when closed.
            file.close()
