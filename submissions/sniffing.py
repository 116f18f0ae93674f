"""Checkpoint format by content, on the web side (no gan_core, no torch).

This is a cheap first gate so that a participant learns at once that a pickled
``.pt`` is refused; the worker validates the file fully (header, dtypes,
shapes, operators) in its sandbox. The file name and the client's content type
are never trusted: only the bytes decide.

- safetensors: 8-byte little-endian header length ``n``, then ``n`` bytes of a
  UTF-8 JSON object (``{"tensor": {"dtype", "shape", "data_offsets"}, ...,
  "__metadata__": {...}}``), then the raw tensor data. The header must fit in
  the file and parse as a JSON object.
- ONNX: a serialized protobuf ``ModelProto``. Its top-level fields are walked
  from the start: every tag must be a known ModelProto field with its wire type
  (``ir_version`` = 1 varint, ``graph`` = 7 length-delimited, ``opset_import``
  = 8, ...) and ``ir_version`` must be present with a plausible value.
- Refused with ``unsupported_format``: pickles (``.pt``/``.pth`` of old
  ``torch.save``), zip archives (``torch.save``, TorchScript, ``torch.export``
  ``.pt2``), tar and gzip files, anything else. Refused with ``empty_file``: a
  file of 0 bytes.
"""

from __future__ import annotations

import json
import struct
from typing import IO

from gan_platform.errors import ApplicationError

__all__ = ["HEAD_SIZE", "SAFETENSORS_MAX_HEADER", "checkpoint_format_sniff", "checkpoint_format_sniff_bytes"]

HEAD_SIZE = 64 * 1024
"""Bytes read from the start of the file to recognise ONNX and the refused formats."""

SAFETENSORS_MAX_HEADER = 1 << 20
"""The largest safetensors header the worker accepts (``gan_core.checkpoints.MAX_SAFETENSORS_HEADER_BYTES``,
1 MiB): the web side never reads more of an upload than the worker would accept."""

# ModelProto field number -> wire type (0 varint, 2 length-delimited), from onnx.proto3.
_ONNX_MODEL_FIELDS: dict[int, int] = {
    1: 0,  # ir_version
    2: 2,  # producer_name
    3: 2,  # producer_version
    4: 2,  # domain
    5: 0,  # model_version
    6: 2,  # doc_string
    7: 2,  # graph
    8: 2,  # opset_import
    14: 2,  # metadata_props
    20: 2,  # training_info
    25: 2,  # functions
    26: 2,  # configuration
}
_ONNX_MAX_IR_VERSION = 100

_WHAT_TO_UPLOAD = (
    "Upload the generator as safetensors weights of a reference architecture (gan_core.generators, "
    "`python -m gan_core export`) or as a single-file ONNX model."
)


def _refuse(message: str) -> ApplicationError:
    return ApplicationError(f"{message} {_WHAT_TO_UPLOAD}", code="unsupported_format")


def _read_varint(data: bytes, position: int) -> tuple[int, int] | None:
    """Decode a protobuf varint at ``position``: ``(value, next_position)``, or None if truncated or too long."""
    value = 0
    for shift in range(0, 70, 7):
        if position >= len(data):
            return None
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, position
    return None


def _looks_like_onnx(head: bytes, *, size: int) -> bool:
    """Whether ``head`` (the first bytes of a file of ``size`` bytes) starts like a serialized ONNX ModelProto.

    Walks the top-level fields: each must be a ModelProto field with its wire
    type, and no length may run past the end of the file. A walk that runs off
    the end of ``head`` stops there (the rest is the worker's to check), unless
    ``head`` is the whole file: then the last field must end exactly at its end.
    """
    position = 0
    fields_seen = 0
    ir_version_seen = False
    whole_file = len(head) == size
    while position < len(head):
        tag = _read_varint(head, position)
        if tag is None:
            return not whole_file and ir_version_seen
        key, position = tag
        field_number, wire_type = key >> 3, key & 0x07
        if _ONNX_MODEL_FIELDS.get(field_number) != wire_type:
            return False
        decoded = _read_varint(head, position)
        if decoded is None:
            return not whole_file and ir_version_seen
        value, position = decoded
        if wire_type == 0:
            if field_number == 1:
                if not 1 <= value <= _ONNX_MAX_IR_VERSION:
                    return False
                ir_version_seen = True
        else:
            if position + value > size:
                return False
            position += value
        fields_seen += 1
    return ir_version_seen and fields_seen >= 2


def checkpoint_format_sniff_bytes(head: bytes, *, size: int, read_header: IO[bytes] | None = None) -> str:
    """The checkpoint format of a file from its first bytes.

    Args:
        head: the first ``min(size, HEAD_SIZE)`` bytes of the file.
        size: the file's size in bytes.
        read_header: the file itself, positioned anywhere; used to read a
            safetensors header longer than ``head``. Without it, ``head`` must
            hold the whole header.

    Returns:
        ``"safetensors"`` or ``"onnx"`` (the values of ``Submission.Format``).

    Raises:
        ApplicationError: ``empty_file`` for 0 bytes, ``unsupported_format``
            for anything else that is not one of the two formats; the message
            names what the file looks like and what to upload instead.
    """
    if size == 0 or not head:
        raise ApplicationError(
            f"The uploaded file is empty (0 bytes). {_WHAT_TO_UPLOAD}",
            code="empty_file",
        )
    if head[:1] == b"\x80" and head[1:2] in {b"\x02", b"\x03", b"\x04", b"\x05"}:
        raise _refuse(
            "The file is a Python pickle (a .pt/.pth file of torch.save): loading a pickle can run any code, "
            "so the platform refuses it."
        )
    if head[:4] in {b"PK\x03\x04", b"PK\x05\x06"}:
        raise _refuse(
            "The file is a zip archive (torch.save, TorchScript or a torch.export .pt2 program): loading these "
            "can run code, so the platform refuses them."
        )
    if len(head) >= 262 and head[257:262] == b"ustar":
        raise _refuse("The file is a tar archive (the legacy torch.save format); the platform refuses it.")
    if head[:2] == b"\x1f\x8b":
        raise _refuse("The file is gzip-compressed; upload the checkpoint itself, uncompressed.")

    if size >= 10 and len(head) >= 9:
        (header_length,) = struct.unpack("<Q", head[:8])
        if header_length > SAFETENSORS_MAX_HEADER and head[8:9] == b"{":
            raise ApplicationError(
                f"The file starts like safetensors but its header claims {header_length} bytes; at most "
                f"{SAFETENSORS_MAX_HEADER} are accepted (a reference generator needs a few KiB). {_WHAT_TO_UPLOAD}",
                code="header_too_large",
            )
        if 2 <= header_length <= SAFETENSORS_MAX_HEADER and 8 + header_length <= size and head[8:9] == b"{":
            if 8 + header_length <= len(head):
                header_bytes = head[8 : 8 + header_length]
            elif read_header is not None:
                read_header.seek(8)
                header_bytes = read_header.read(header_length)
            else:
                header_bytes = b""
            try:
                header = json.loads(header_bytes.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                header = None
            if isinstance(header, dict):
                return "safetensors"
            raise _refuse(
                "The file starts like safetensors but its header is not a JSON object, so it is damaged or truncated."
            )

    if _looks_like_onnx(head, size=size):
        return "onnx"
    raise _refuse("The file is neither safetensors nor ONNX (its first bytes match neither format).")


def checkpoint_format_sniff(file: IO[bytes], *, size: int) -> str:
    """The checkpoint format of an open binary file of ``size`` bytes (see :func:`checkpoint_format_sniff_bytes`).

    Reads at most ``HEAD_SIZE`` bytes, plus the safetensors header when it is
    longer; leaves the file positioned at 0.
    """
    file.seek(0)
    head = file.read(HEAD_SIZE)
    try:
        return checkpoint_format_sniff_bytes(head, size=size, read_header=file)
    finally:
        file.seek(0)
