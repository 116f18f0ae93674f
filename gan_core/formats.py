# Over 500 lines: format detection and the safetensors header reader are one contract, the checks
# the upload and the worker share; split, the web would import two modules for one question.
"""Checkpoint files by their bytes, without torch: what the web (at upload) and the worker (in its
sandbox) both need, in one place.

- :func:`detect_format`: safetensors or ONNX by content, never by file name; pickles,
  ``torch.save`` zips, TorchScript, ``torch.export`` programs, other zips, tar and compressed
  archives, polyglots (a safetensors or ONNX file that also carries a zip end record) and
  unrecognised bytes are refused with ``unsupported_format`` and a ``reason``. Reads the first
  512 bytes, the last 64 KiB, and for zips the central directory after bounding its size.
- :func:`read_safetensors_header`: the bounded safetensors header reader and checker (length
  prefix, UTF-8 JSON object without duplicate keys, dtypes, shapes, offsets, truncation).
- :func:`check_header`: both, as the upload runs them: the format, for safetensors the whole
  header and the presence of the Atelier config, for ONNX the opsets, operators, functions and
  external data (:func:`gan_core.onnx_header.check_onnx_file`, which the worker runs too). What
  needs torch or onnx (loading the weights, ONNX inputs and outputs, ONNX's own checker) stays in
  :mod:`gan_core.checkpoints`.

Nothing here imports torch, numpy or onnx (tests/gan_platform/test_web_imports.py checks it in a
fresh interpreter) and nothing hands participant bytes to the pickle module.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import os
import struct
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

from gan_core.failures import CheckpointError, FailureCode, quoted
from gan_core.onnx_header import OVERLONG_VARINT, STANDARD_ONNX_DOMAINS, check_onnx_file, read_varint

__all__ = [
    "ATELIER_METADATA_KEY",
    "MAX_SAFETENSORS_HEADER_BYTES",
    "STANDARD_ONNX_DOMAINS",
    "UPLOAD_INSTEAD",
    "CheckpointFormat",
    "HeaderCheck",
    "TensorEntry",
    "check_header",
    "config_from_metadata",
    "detect_format",
    "file_sha256",
    "missing_config_error",
    "read_safetensors_header",
]

ATELIER_METADATA_KEY = "atelier"
MAX_SAFETENSORS_HEADER_BYTES = 1 << 20
"""Bound on the JSON header of a safetensors checkpoint (1 MiB; a ResNet-9 header is about 12 KiB)."""
SAFETENSORS_DTYPE_SIZES = {"F32": 4, "F16": 2, "BF16": 2}
"""The allowed safetensors dtypes and their sizes in bytes."""
MAX_TENSOR_RANK = 8
MAX_TENSOR_BYTES = 1 << 62
"""Bound on ``numel * dtype size`` of one tensor, so no consumer's 64-bit arithmetic can overflow."""
MAX_ZIP_CENTRAL_DIRECTORY_BYTES = 1 << 20
MAX_ZIP_ENTRIES = 10_000
MAX_ONNX_BYTES = (1 << 31) - 1
"""protobuf cannot parse a message of 2 GiB or more: larger ONNX models need external data, refused here."""
MAX_ONNX_TOP_LEVEL_FIELDS = 100_000

UPLOAD_INSTEAD = (
    "Upload a safetensors file of a reference architecture with its config "
    "(python -m gan_core export --architecture resnet --hyperparameters '{\"n_blocks\": 9}' "
    "--module-factory package.module:function -o model.safetensors) or, where the phase allows it, "
    "an ONNX model (python -m gan_core export --onnx --module-factory package.module:function -o model.onnx)."
)

_ZIP_EOCD = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_EOCD = b"PK\x06\x06"
_ZIP_EOCD_SEARCH_BYTES = 22 + 0xFFFF
_COMPRESSED_MAGICS = {
    b"\x1f\x8b": "gzip",
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
    b"7z\xbc\xaf\x27\x1c": "7z",
    b"\x28\xb5\x2f\xfd": "zstd",
    b"Rar!": "rar",
}
# ModelProto field number -> protobuf wire type (0 varint, 2 length-delimited); onnx/onnx.proto.
_ONNX_MODEL_FIELDS = {1: 0, 2: 2, 3: 2, 4: 2, 5: 0, 6: 2, 7: 2, 8: 2, 14: 2, 20: 2, 25: 2, 26: 2}
_ONNX_GRAPH_FIELD = 7


class CheckpointFormat(enum.StrEnum):
    """The accepted checkpoint formats."""

    SAFETENSORS = "safetensors"
    ONNX = "onnx"


def _refuse(reason: str, explanation: str) -> CheckpointError:
    return CheckpointError(
        FailureCode.UNSUPPORTED_FORMAT,
        f"Unsupported checkpoint format ({reason}): {explanation} {UPLOAD_INSTEAD}",
        reason=reason,
    )


_PICKLE_WHY = "loading a pickle can run arbitrary code, so the platform never opens one."


def _zip_central_directory_bounds(f: BinaryIO, size: int) -> tuple[int, int] | None:
    """``(entries, central directory bytes)`` from the end record(s) of a zip, or ``None`` if there is no end record.

    Reads at most the last 64 KiB + 22 bytes and, for zip64, one 56-byte record.
    """
    tail_length = min(size, _ZIP_EOCD_SEARCH_BYTES)
    f.seek(size - tail_length)
    tail = f.read(tail_length)
    position = tail.rfind(_ZIP_EOCD)
    if position < 0 or position + 22 > len(tail):
        return None
    # end of central directory: signature, disk numbers (2 x 2 bytes), entries on disk, entries, size, offset
    entries, cd_size = struct.unpack("<HI", tail[position + 10 : position + 16])
    locator = position - 20
    if locator >= 0 and tail[locator : locator + 4] == _ZIP64_LOCATOR:
        (zip64_offset,) = struct.unpack("<Q", tail[locator + 8 : locator + 16])
        if zip64_offset + 56 <= size:
            f.seek(zip64_offset)
            record = f.read(56)
            if record[:4] == _ZIP64_EOCD:
                # zip64 end record: ..., entries on disk at 24, entries at 32, size at 40, offset at 48 (8 bytes each)
                entries, cd_size = struct.unpack("<QQ", record[32:48])
    return entries, cd_size


def _zip_member_names(f: BinaryIO, size: int) -> list[str] | None:
    """Member names from the central directory, or ``None`` when it is too large or unreadable. Reads no member."""
    bounds = _zip_central_directory_bounds(f, size)
    if bounds is None:
        return None
    entries, cd_size = bounds
    if entries > MAX_ZIP_ENTRIES or cd_size > MAX_ZIP_CENTRAL_DIRECTORY_BYTES:
        return None
    try:
        f.seek(0)
        with zipfile.ZipFile(f) as archive:
            return archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
        return None


def _classify_zip(names: list[str] | None) -> CheckpointError:
    """The refusal for a zip archive, from its member names (never its contents)."""
    names = names or []
    leaf = {name.rsplit("/", 1)[-1] for name in names}
    parts = {part for name in names for part in name.split("/")[:-1]}
    if "constants.pkl" in leaf or "code" in parts:
        return _refuse(
            "torchscript",
            "this is a TorchScript archive (torch.jit.save). TorchScript programs can read and write files "
            "(torch.from_file), so the platform never loads them.",
        )
    if "archive_format" in leaf or "models" in parts:
        return _refuse(
            "torch_export",
            "this is a torch.export program (.pt2). Loading one unpickles its weights and can run code, "
            "so the platform never loads them.",
        )
    if any(name.endswith(".pkl") for name in leaf):
        return _refuse(
            "pickle",
            f"this is a torch.save archive (a zip holding a pickle, data.pkl; what .pt/.pth files are); {_PICKLE_WHY}",
        )
    return _refuse("zip", "this is a zip archive. Upload the single model file itself, not an archive.")


class _OnnxShape(enum.Enum):
    NOT_ONNX = "not_onnx"
    ONNX = "onnx"
    TRUNCATED = "truncated"


def _onnx_structure(f: BinaryIO, size: int) -> _OnnxShape:
    """Walk the top-level protobuf fields of a would-be ONNX ModelProto without parsing them.

    ONNX when every field is a known ModelProto field with its wire type, a graph is present
    and the fields end exactly at the end of the file; TRUNCATED when a field runs past it.
    """
    f.seek(0)
    position = 0
    seen_graph = False
    for _ in range(MAX_ONNX_TOP_LEVEL_FIELDS):
        if position == size:
            return _OnnxShape.ONNX if seen_graph else _OnnxShape.NOT_ONNX
        tag = read_varint(f)
        if tag is None or tag == OVERLONG_VARINT:
            return _OnnxShape.TRUNCATED if tag is None and seen_graph else _OnnxShape.NOT_ONNX
        field, wire_type = tag >> 3, tag & 7
        if _ONNX_MODEL_FIELDS.get(field) != wire_type:
            return _OnnxShape.NOT_ONNX
        value = read_varint(f)
        if value == OVERLONG_VARINT:
            return _OnnxShape.NOT_ONNX
        if value is None:
            return _OnnxShape.TRUNCATED if seen_graph or position > 0 else _OnnxShape.NOT_ONNX
        if wire_type == 2:
            end = f.tell() + value
            if end > size:
                return _OnnxShape.TRUNCATED if position > 0 or field == _ONNX_GRAPH_FIELD else _OnnxShape.NOT_ONNX
            f.seek(end)
        seen_graph = seen_graph or field == _ONNX_GRAPH_FIELD
        position = f.tell()
    return _OnnxShape.NOT_ONNX


def _looks_like_old_pickle(head: bytes, last: bytes) -> bool:
    """Protocol 0/1 pickles: text opcodes (GLOBAL ``c``, MARK ``(``, dict/list ``}`` ``]``...) ending with STOP ``.``."""
    return bool(head) and head[:1] in (b"c", b"(", b"}", b"]", b")", b"N", b"I", b"S", b"V") and last == b"."


def detect_format(source: Path | str | BinaryIO, size: int | None = None) -> CheckpointFormat:
    """Recognise a checkpoint by its content, never by its file name.

    Returns the format of a file that looks like safetensors (an 8-byte little-endian header
    length followed by ``{``) or ONNX (a protobuf ModelProto walked field by field). Raises
    ``CheckpointError``: ``empty_file``; ``truncated`` (an ONNX-shaped file cut short);
    ``unsupported_format`` with ``reason`` ``pickle`` (protocol 2+ magic, protocol 0/1 shape,
    or a torch.save zip), ``torchscript``, ``torch_export``, ``zip``, ``tar``, ``compressed``,
    ``polyglot`` (also a zip) or ``unrecognised``.
    """
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        with path.open("rb") as f:
            return _detect(f, path.stat().st_size)
    if size is None:
        raise TypeError("detect_format(file, size): the size of an open file is required")
    position = source.tell()
    try:
        return _detect(source, size)
    finally:
        source.seek(position)


def _detect(f: BinaryIO, size: int) -> CheckpointFormat:
    if size == 0:
        raise CheckpointError(
            FailureCode.EMPTY_FILE,
            f"The checkpoint file is empty (0 bytes); the upload may have failed. {UPLOAD_INSTEAD}",
        )
    f.seek(0)
    head = f.read(512)
    f.seek(size - 1)
    last = f.read(1)
    if head[:2] == b"PK":
        raise _classify_zip(_zip_member_names(f, size))
    if len(head) >= 262 and head[257:262] == b"ustar":
        raise _refuse("tar", "this is a tar archive. Upload the single model file itself, not an archive.")
    for magic, name in _COMPRESSED_MAGICS.items():
        if head.startswith(magic):
            raise _refuse("compressed", f"this is a {name}-compressed file. Upload the uncompressed model file.")
    if head[0] == 0x80 and len(head) > 1 and head[1] <= 5:
        raise _refuse("pickle", f"this is a Python pickle (what torch.save writes to .pt/.pth files); {_PICKLE_WHY}")
    detected: CheckpointFormat | None = None
    if len(head) >= 9 and head[8:9] == b"{":
        detected = CheckpointFormat.SAFETENSORS
    elif _looks_like_old_pickle(head, last):
        raise _refuse("pickle", f"this is a Python pickle (protocol 0 or 1); {_PICKLE_WHY}")
    else:
        shape = _onnx_structure(f, size)
        if shape is _OnnxShape.TRUNCATED:
            raise CheckpointError(
                FailureCode.TRUNCATED,
                f"The ONNX file is cut short ({size} bytes): a field runs past its end. Upload the complete file.",
            )
        if shape is _OnnxShape.ONNX:
            detected = CheckpointFormat.ONNX
    if detected is None:
        if _zip_central_directory_bounds(f, size) is not None:  # a zip behind a prefix (self-extracting...)
            raise _classify_zip(_zip_member_names(f, size))
        raise _refuse(
            "unrecognised", f"this file is neither safetensors nor ONNX (it starts with bytes {head[:8].hex()})."
        )
    if _zip_central_directory_bounds(f, size) is not None:
        raise _refuse(
            "polyglot",
            f"this file looks like {detected.value} but also carries a zip archive record (a polyglot file, "
            "which other tools would open as an archive). Re-export the model so that it holds nothing else.",
        )
    return detected


def file_sha256(f: BinaryIO) -> str:
    """The SHA-256 of a whole open file (hex), read in 1 MiB chunks from its start."""
    f.seek(0)
    digest = hashlib.sha256()
    for chunk in iter(lambda: f.read(1 << 20), b""):
        digest.update(chunk)
    return digest.hexdigest()


def first_names(names: list[str], limit: int = 5) -> str:
    """The first ``limit`` names, quoted, and how many more."""
    shown = ", ".join(quoted(name) for name in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclasses.dataclass(frozen=True)
class TensorEntry:
    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int


def read_safetensors_header(f: BinaryIO, size: int) -> tuple[dict[str, TensorEntry], dict[str, str], int]:
    """Parse and check a safetensors header: ``(tensors by name, metadata, data section size)``.

    Checks, in order: length prefix (``truncated``, ``header_too_large``), UTF-8 JSON object
    without duplicate keys (``bad_header``), entries (``bad_header``, ``bad_dtype``, shape
    overflow ``bad_header``), offsets (``offsets_out_of_bounds``; ``truncated`` when the offsets
    are consistent but the file ends early). Reads at most ``MAX_SAFETENSORS_HEADER_BYTES + 8``.
    """
    f.seek(0)
    prefix = f.read(8)
    if len(prefix) < 8:
        raise CheckpointError(
            FailureCode.TRUNCATED, "The safetensors file is cut short inside its 8-byte header length."
        )
    (header_length,) = struct.unpack("<Q", prefix)
    if header_length > MAX_SAFETENSORS_HEADER_BYTES:
        raise CheckpointError(
            FailureCode.HEADER_TOO_LARGE,
            f"The safetensors header claims {header_length} bytes; at most {MAX_SAFETENSORS_HEADER_BYTES} are "
            f"accepted (a reference generator needs a few KiB). {UPLOAD_INSTEAD}",
        )
    if 8 + header_length > size:
        raise CheckpointError(
            FailureCode.TRUNCATED,
            f"The safetensors header claims {header_length} bytes but the file ends after {size - 8}; "
            "the file is cut short. Upload the complete file.",
        )
    raw = f.read(header_length)
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=reject_duplicate_keys)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise CheckpointError(
            FailureCode.BAD_HEADER, f"The safetensors header is not valid JSON ({str(error)[:120]}). {UPLOAD_INSTEAD}"
        ) from None
    if not isinstance(header, dict):
        raise CheckpointError(FailureCode.BAD_HEADER, f"The safetensors header is not a JSON object. {UPLOAD_INSTEAD}")
    metadata = header.pop("__metadata__", None)
    metadata = {} if metadata is None else metadata
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise CheckpointError(
            FailureCode.BAD_HEADER, "The safetensors __metadata__ must be a JSON object of strings to strings."
        )
    data_size = size - 8 - header_length
    entries: dict[str, TensorEntry] = {}
    for name, entry in header.items():
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise CheckpointError(
                FailureCode.BAD_HEADER,
                f"Tensor {quoted(name)} in the safetensors header must have exactly dtype, shape and data_offsets.",
            )
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if dtype not in SAFETENSORS_DTYPE_SIZES:
            raise CheckpointError(
                FailureCode.BAD_DTYPE,
                f"Tensor {quoted(name)} has dtype {str(dtype)[:20]!r}; allowed are {', '.join(SAFETENSORS_DTYPE_SIZES)}. "
                "Save floating-point weights (python -m gan_core export writes float32).",
            )
        if (
            not isinstance(shape, list)
            or len(shape) > MAX_TENSOR_RANK
            or not all(_is_int(d) and 0 <= d <= MAX_TENSOR_BYTES for d in shape)
        ):
            raise CheckpointError(
                FailureCode.BAD_HEADER,
                f"Tensor {quoted(name)} has an invalid shape {quoted(shape)}; a shape is a list of at most "
                f"{MAX_TENSOR_RANK} non-negative integers.",
            )
        nbytes = SAFETENSORS_DTYPE_SIZES[dtype]
        for dim in shape:
            nbytes *= dim
            if nbytes > MAX_TENSOR_BYTES:
                raise CheckpointError(
                    FailureCode.BAD_HEADER,
                    f"Tensor {quoted(name)} has shape {quoted(shape)} whose size overflows; {UPLOAD_INSTEAD}",
                )
        if not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_int(o) and o >= 0 for o in offsets):
            raise CheckpointError(
                FailureCode.BAD_HEADER,
                f"Tensor {quoted(name)} must have data_offsets [begin, end] of non-negative integers.",
            )
        begin, end = offsets
        if end < begin or end - begin != nbytes:
            raise CheckpointError(
                FailureCode.OFFSETS_OUT_OF_BOUNDS,
                f"Tensor {quoted(name)} ({dtype}, shape {quoted(shape)}) needs {nbytes} bytes but its data_offsets "
                f"[{begin}, {end}] span {end - begin}. {UPLOAD_INSTEAD}",
            )
        entries[name] = TensorEntry(name, dtype, tuple(shape), begin, end)
    ordered = sorted(entries.values(), key=lambda e: (e.begin, e.end))
    expected_begin = 0
    for entry in ordered:
        if entry.begin != expected_begin:
            problem = "overlaps the previous tensor" if entry.begin < expected_begin else "leaves a gap before it"
            raise CheckpointError(
                FailureCode.OFFSETS_OUT_OF_BOUNDS,
                f"Tensor {quoted(entry.name)} has data_offsets [{entry.begin}, {entry.end}] that {problem} "
                f"(expected to start at {expected_begin}). {UPLOAD_INSTEAD}",
            )
        expected_begin = entry.end
    if expected_begin > data_size:
        raise CheckpointError(
            FailureCode.TRUNCATED,
            f"The safetensors header describes {expected_begin} bytes of tensor data but the file holds only "
            f"{data_size}; the file is cut short. Upload the complete file.",
        )
    if expected_begin < data_size:
        raise CheckpointError(
            FailureCode.OFFSETS_OUT_OF_BOUNDS,
            f"The safetensors file has {data_size - expected_begin} bytes after its last tensor that no tensor "
            f"accounts for. {UPLOAD_INSTEAD}",
        )
    return entries, metadata, data_size


def config_from_metadata(metadata: Mapping[str, str]) -> dict | None:
    text = metadata.get(ATELIER_METADATA_KEY)
    if text is None:
        return None
    try:
        config = json.loads(text, object_pairs_hook=reject_duplicate_keys)
    except (ValueError, RecursionError):
        raise CheckpointError(
            FailureCode.BAD_CONFIG, f'The "{ATELIER_METADATA_KEY}" metadata entry is not valid JSON. {UPLOAD_INSTEAD}'
        ) from None
    if not isinstance(config, dict):
        raise CheckpointError(
            FailureCode.BAD_CONFIG, f'The "{ATELIER_METADATA_KEY}" metadata entry must be a JSON object.'
        )
    return config


def missing_config_error() -> CheckpointError:
    """``bad_config`` for a safetensors file without its Atelier config."""
    return CheckpointError(
        FailureCode.BAD_CONFIG,
        f'The safetensors file carries no Atelier config (__metadata__["{ATELIER_METADATA_KEY}"]): the '
        "platform cannot tell which architecture its weights are for. Write the file with python -m "
        "gan_core export --architecture ..., which stores it.",
    )


@dataclasses.dataclass(frozen=True)
class HeaderCheck:
    """What :func:`check_header` learned: the format and, for safetensors, the tensors' shapes and
    the declared config (the Atelier metadata entry, not yet normalised)."""

    format: CheckpointFormat
    shapes: dict[str, tuple[int, ...]]
    config: dict | None


def check_header(source: Path | str | BinaryIO, size: int | None = None, *, require_config: bool = True) -> HeaderCheck:
    """Everything about a checkpoint that its header tells, torch-free: :func:`detect_format`, then
    for safetensors :func:`read_safetensors_header` and (``require_config``) the Atelier config's
    presence. An open file is left where it was.

    Raises:
        CheckpointError: the codes of :func:`detect_format`, :func:`read_safetensors_header` and
            :func:`gan_core.onnx_header.check_onnx_file` (``onnx_external_data``, ``onnx_custom_op``,
            ``onnx_invalid``);
            ``bad_config`` when the config is missing or is not a JSON object.
    """
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        with path.open("rb") as f:
            return check_header(f, path.stat().st_size, require_config=require_config)
    if size is None:
        raise TypeError("check_header(file, size): the size of an open file is required")
    detected = detect_format(source, size)
    if detected is CheckpointFormat.ONNX:
        check_onnx_file(source, size)
    if detected is not CheckpointFormat.SAFETENSORS:
        return HeaderCheck(format=detected, shapes={}, config=None)
    position = source.tell()
    try:
        entries, metadata, _ = read_safetensors_header(source, size)
    finally:
        source.seek(position)
    config = config_from_metadata(metadata)
    if config is None and require_config:
        raise missing_config_error()
    return HeaderCheck(format=detected, shapes={name: entry.shape for name, entry in entries.items()}, config=config)
