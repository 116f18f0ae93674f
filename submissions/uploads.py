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

:func:`checkpoint_prepare` is what both upload paths (this one-shot POST and the resumable
sessions of ``submissions.upload_sessions``) do with an architecture config given next to a
safetensors file (a form field, ``--config FILE``): it is written into the file's metadata
(``__metadata__["atelier"]``, where ``python -m gan_core export`` puts it and the worker reads
it), so the stored checkpoint is self-describing and the worker needs no second input.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any, BinaryIO

from django.conf import settings
from django.core.files import File
from django.core.files.uploadhandler import StopUpload, TemporaryFileUploadHandler
from django.http import QueryDict
from django.utils.datastructures import MultiValueDict

from gan_core.failures import CheckpointError
from gan_core.formats import ATELIER_METADATA_KEY, CheckpointFormat, detect_format, read_safetensors_header
from gan_platform.errors import ApplicationError

__all__ = [
    "MULTIPART_ALLOWANCE",
    "LimitedTemporaryFileUploadHandler",
    "LocalFile",
    "Prepared",
    "checkpoint_error",
    "checkpoint_prepare",
    "config_check",
]

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


def checkpoint_error(error: CheckpointError) -> ApplicationError:
    """The API's refusal for a refusal of ``gan_core.formats``: same code, reason and message."""
    extra = {"reason": error.reason} if error.reason else {}
    return ApplicationError(error.message, code=str(error.code), extra=extra)


def config_check(config: Any, *, accepted_architectures: list[str] | None = None) -> dict:
    """A config given next to the file: a JSON object naming an ``architecture`` (one the
    competition accepts, when it names some) with optional ``hyperparameters`` (an object). The
    worker checks the hyperparameters against the architecture."""
    if isinstance(config, str):
        try:
            config = json.loads(config)
        except ValueError as error:
            raise ApplicationError(
                f"config: not valid JSON ({str(error)[:100]}); give the architecture config as a JSON object, "
                'e.g. {"architecture": "resnet", "hyperparameters": {"n_blocks": 9}}.',
                code="bad_config",
            ) from None
    if not isinstance(config, dict) or not isinstance(config.get("architecture"), str):
        raise ApplicationError(
            'config: a JSON object with an "architecture" name is expected, e.g. '
            '{"architecture": "resnet", "hyperparameters": {"n_blocks": 9}}.',
            code="bad_config",
        )
    if not isinstance(config.get("hyperparameters", {}), dict):
        raise ApplicationError('config: "hyperparameters" must be a JSON object.', code="bad_config")
    accepted = list(accepted_architectures or [])
    if accepted and config["architecture"] not in accepted:
        raise ApplicationError(
            f"config: architecture {config['architecture'][:40]!r} is not accepted here; accepted: {', '.join(accepted)}.",
            code="unknown_architecture",
            extra={"accepted_architectures": accepted},
        )
    return config


class LocalFile(File):
    """A file on local disk that private storage may move instead of copying (``temporary_file_path``)."""

    def __init__(self, path: str | os.PathLike, name: str) -> None:
        super().__init__(open(path, "rb"), name=name)
        self.path = os.fspath(path)
        self.size = os.path.getsize(self.path)

    def temporary_file_path(self) -> str:
        return self.path


@dataclasses.dataclass
class Prepared:
    """The file to store (the upload itself, or a copy with the config written in) and its size."""

    file: Any
    size: int


@contextlib.contextmanager
def checkpoint_prepare(*, file: BinaryIO, size: int, config: dict | None) -> Iterator[Prepared]:
    """The checkpoint to check and store, with ``config`` (given next to the file) written in.

    Without a config, the file itself. With one: the file must be safetensors (an ONNX model
    carries its architecture itself: ``bad_config``); a config already in the file must be the same
    (else ``bad_config``: give one); otherwise a copy is written (a temporary file, removed on exit
    unless storage moved it) with the config in ``__metadata__["atelier"]`` and the same tensors.
    """
    if config is None:
        yield Prepared(file, size)
        return
    try:
        if detect_format(file, size) is not CheckpointFormat.SAFETENSORS:
            raise ApplicationError(
                "A config goes with safetensors weights only: an ONNX model carries its architecture itself. "
                "Upload it without a config.",
                code="bad_config",
            )
        entries, metadata, data_size = read_safetensors_header(file, size)
    except CheckpointError as error:
        raise checkpoint_error(error) from None
    own = metadata.get(ATELIER_METADATA_KEY)
    if own is not None:
        try:
            same = json.loads(own) == config
        except ValueError:
            same = False
        if not same:
            raise ApplicationError(
                "The file carries its own config in its metadata and another was given next to it: give one "
                "of them (leave out --config, or export the weights without one).",
                code="bad_config",
            )
        file.seek(0)
        yield Prepared(file, size)
        return
    header: dict[str, Any] = {
        "__metadata__": {**metadata, ATELIER_METADATA_KEY: json.dumps(config, sort_keys=True)},
        **{
            name: {"dtype": entry.dtype, "shape": list(entry.shape), "data_offsets": [entry.begin, entry.end]}
            for name, entry in entries.items()
        },
    }
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # safetensors aligns the data section to 8 bytes
    directory = settings.FILE_UPLOAD_TEMP_DIR
    os.makedirs(directory, exist_ok=True)
    handle, path = tempfile.mkstemp(prefix="config-", suffix=".safetensors", dir=directory)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(len(text).to_bytes(8, "little") + text)
            file.seek(size - data_size)
            shutil.copyfileobj(file, out, 1 << 20)
        file.seek(0)
        prepared = LocalFile(path, getattr(file, "name", None) or "checkpoint")
        try:
            yield Prepared(prepared, prepared.size)
        finally:
            prepared.close()
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
