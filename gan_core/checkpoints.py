"""Participant checkpoints: recognise, inspect, load and write them without running participant code.

Two formats are accepted (see docs/participants.md):

- ``safetensors`` weights of a reference architecture (``gan_core.generators``), its config in
  the header's ``__metadata__["atelier"]`` (a JSON string: ``{"architecture": ...,
  "hyperparameters": {...}, "value_range": "-1,1"}``). The 8-byte header length and the JSON
  header are read and checked here (size bound, dtypes, shapes, offsets, names and shapes
  against the architecture's state dict on the meta device) before any tensor is allocated;
  only then does safetensors' own loader read the weights.
- ONNX models, run by onnxruntime only: one file, no external data, no custom operators, one
  float32 ``(N, 3, H, W)`` input and output with dynamic batch and spatial dims.

Everything else is refused by content (never by file name) with ``unsupported_format`` and a
``reason``: pickles (``.pt``/``.pth``), ``torch.save`` zips, TorchScript, ``torch.export``
``.pt2``, other zips, tar and compressed archives, polyglots (a safetensors or ONNX file that
also carries a zip end-of-central-directory record), unrecognised bytes. Detection reads bytes
and, for zips, member names from the central directory after bounding its size; nothing here
hands participant bytes to torch's loaders (plain, TorchScript or export) or to the pickle module.
"""

# Over 500 lines: the safe loaders of both formats share their header checks and refusal codes; the split by format is issue 13.

from __future__ import annotations

import dataclasses
import enum
import hashlib
import io
import json
import math
import os
import struct
import warnings
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import torch
from torch import nn

from gan_core.contract import ValueRange, probe_image
from gan_core.failures import CheckpointError, FailureCode, quoted
from gan_core.generators import build_generator, expected_state_shapes, normalize_config, parameter_count

__all__ = [
    "CheckpointError",
    "CheckpointFormat",
    "CheckpointInfo",
    "FailureCode",
    "OnnxGenerator",
    "SafetensorsGenerator",
    "detect_format",
    "export_onnx",
    "inspect_checkpoint",
    "load_generator",
    "check_state_shapes",
    "save_safetensors_checkpoint",
]

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
STANDARD_ONNX_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml"})
ATELIER_METADATA_KEY = "atelier"
ONNX_INPUT_NAME = "input"
ONNX_OUTPUT_NAME = "output"
ONNX_OPSET = 17

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


@dataclasses.dataclass(frozen=True)
class CheckpointInfo:
    """What inspection learned from a checkpoint's header, before any weight was read.

    ``config``: for safetensors the complete generator config (``architecture``,
    ``hyperparameters`` with defaults filled in, ``value_range``); for ONNX ``{"value_range": ...}``
    when the file declares one, else ``{}``. ``architecture`` is ``None`` for ONNX.
    """

    format: CheckpointFormat
    sha256: str
    size: int
    architecture: str | None
    config: dict
    parameter_count: int


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


def _zip_member_names(path: Path, f: BinaryIO, size: int) -> list[str] | None:
    """Member names from the central directory, or ``None`` when it is too large or unreadable. Reads no member."""
    bounds = _zip_central_directory_bounds(f, size)
    if bounds is None:
        return None
    entries, cd_size = bounds
    if entries > MAX_ZIP_ENTRIES or cd_size > MAX_ZIP_CENTRAL_DIRECTORY_BYTES:
        return None
    try:
        with zipfile.ZipFile(path) as archive:
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


_OVERLONG_VARINT = -1


def _read_varint(f: BinaryIO) -> int | None:
    """One protobuf varint at the current position; ``None`` at end of file, ``_OVERLONG_VARINT`` past 10 bytes."""
    value = 0
    for shift in range(0, 70, 7):
        byte = f.read(1)
        if not byte:
            return None
        value |= (byte[0] & 0x7F) << shift
        if not byte[0] & 0x80:
            return value
    return _OVERLONG_VARINT


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
        tag = _read_varint(f)
        if tag is None or tag == _OVERLONG_VARINT:
            return _OnnxShape.TRUNCATED if tag is None and seen_graph else _OnnxShape.NOT_ONNX
        field, wire_type = tag >> 3, tag & 7
        if _ONNX_MODEL_FIELDS.get(field) != wire_type:
            return _OnnxShape.NOT_ONNX
        value = _read_varint(f)
        if value == _OVERLONG_VARINT:
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


def detect_format(path: Path) -> CheckpointFormat:
    """Recognise a checkpoint by its content, never by its file name.

    Returns the format of a file that looks like safetensors (an 8-byte little-endian header
    length followed by ``{``) or ONNX (a protobuf ModelProto walked field by field). Raises
    ``CheckpointError``: ``empty_file``; ``truncated`` (an ONNX-shaped file cut short);
    ``unsupported_format`` with ``reason`` ``pickle`` (protocol 2+ magic, protocol 0/1 shape,
    or a torch.save zip), ``torchscript``, ``torch_export``, ``zip``, ``tar``, ``compressed``,
    ``polyglot`` (also a zip) or ``unrecognised``.
    """
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        raise CheckpointError(
            FailureCode.EMPTY_FILE,
            f"The checkpoint file is empty (0 bytes); the upload may have failed. {UPLOAD_INSTEAD}",
        )
    with path.open("rb") as f:
        head = f.read(512)
        f.seek(size - 1)
        last = f.read(1)
        if head[:2] == b"PK":
            raise _classify_zip(_zip_member_names(path, f, size))
        if len(head) >= 262 and head[257:262] == b"ustar":
            raise _refuse("tar", "this is a tar archive. Upload the single model file itself, not an archive.")
        for magic, name in _COMPRESSED_MAGICS.items():
            if head.startswith(magic):
                raise _refuse("compressed", f"this is a {name}-compressed file. Upload the uncompressed model file.")
        if head[0] == 0x80 and len(head) > 1 and head[1] <= 5:
            raise _refuse(
                "pickle", f"this is a Python pickle (what torch.save writes to .pt/.pth files); {_PICKLE_WHY}"
            )
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
                raise _classify_zip(_zip_member_names(path, f, size))
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


def _sha256(f: BinaryIO) -> str:
    f.seek(0)
    digest = hashlib.sha256()
    for chunk in iter(lambda: f.read(1 << 20), b""):
        digest.update(chunk)
    return digest.hexdigest()


def _first_names(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(quoted(name) for name in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclasses.dataclass(frozen=True)
class _TensorEntry:
    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int


def _read_safetensors_header(f: BinaryIO, size: int) -> tuple[dict[str, _TensorEntry], dict[str, str], int]:
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
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_reject_duplicates)
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
    entries: dict[str, _TensorEntry] = {}
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
        entries[name] = _TensorEntry(name, dtype, tuple(shape), begin, end)
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


def _config_from_metadata(metadata: Mapping[str, str]) -> dict | None:
    text = metadata.get(ATELIER_METADATA_KEY)
    if text is None:
        return None
    try:
        config = json.loads(text, object_pairs_hook=_reject_duplicates)
    except (ValueError, RecursionError):
        raise CheckpointError(
            FailureCode.BAD_CONFIG, f'The "{ATELIER_METADATA_KEY}" metadata entry is not valid JSON. {UPLOAD_INSTEAD}'
        ) from None
    if not isinstance(config, dict):
        raise CheckpointError(
            FailureCode.BAD_CONFIG, f'The "{ATELIER_METADATA_KEY}" metadata entry must be a JSON object.'
        )
    return config


def _check_value_range(declared: str, expected: ValueRange | str | None) -> None:
    if expected is not None and declared != ValueRange(expected).value:
        raise CheckpointError(
            FailureCode.BAD_CONFIG,
            f"Your checkpoint declares the value range {declared}, but this phase feeds and expects "
            f"{ValueRange(expected).value}. Re-export with --value-range {ValueRange(expected).value}.",
        )


def check_state_shapes(shapes: Mapping[str, tuple[int, ...]], config: Mapping[str, Any]) -> None:
    """Compare tensor names and shapes with the state dict of ``config``'s generator (computed on the meta device).

    Raises ``CheckpointError`` with ``missing_tensor``, ``unexpected_tensor`` or ``shape_mismatch``
    (in that order), naming the first few tensors.
    """
    normalized = normalize_config(config)
    expected = expected_state_shapes(normalized)
    described = f"architecture {normalized['architecture']!r} with hyper-parameters {normalized['hyperparameters']}"
    missing = [name for name in expected if name not in shapes]
    unexpected = [name for name in shapes if name not in expected]
    if missing:
        hint = ""
        prefixes = {name.split(".", 1)[0] + "." for name in unexpected if "." in name}
        if len(prefixes) == 1 and all(name.split(".", 1)[-1] in expected for name in unexpected):
            hint = (
                f" Your tensor names start with {prefixes.pop()!r}: save module.state_dict() of the generator itself."
            )
        raise CheckpointError(
            FailureCode.MISSING_TENSOR,
            f"{len(missing)} tensors of {described} are missing: {_first_names(missing)}.{hint} "
            "Check the architecture and hyper-parameters in the config.",
        )
    if unexpected:
        raise CheckpointError(
            FailureCode.UNEXPECTED_TENSOR,
            f"{len(unexpected)} tensors are not part of {described}: {_first_names(unexpected)}. "
            "Check the architecture and hyper-parameters in the config.",
        )
    mismatched = [name for name in expected if tuple(shapes[name]) != expected[name]]
    if mismatched:
        first = mismatched[0]
        raise CheckpointError(
            FailureCode.SHAPE_MISMATCH,
            f"{len(mismatched)} tensors have the wrong shape for {described}: {_first_names(mismatched)}; "
            f"for example {quoted(first)} is {list(shapes[first])}, expected {list(expected[first])}. "
            "Check the hyper-parameters in the config (ngf, channels, n_blocks...).",
        )


def _inspect_safetensors(
    f: BinaryIO,
    size: int,
    *,
    config: Mapping[str, Any] | None,
    allowed_architectures: frozenset[str] | None,
    value_range: ValueRange | str | None,
) -> tuple[dict, int]:
    entries, metadata, _ = _read_safetensors_header(f, size)
    declared = _config_from_metadata(metadata)
    chosen = config if config is not None else declared
    if chosen is None:
        raise CheckpointError(
            FailureCode.BAD_CONFIG,
            f'The safetensors file carries no Atelier config (__metadata__["{ATELIER_METADATA_KEY}"]) and none was '
            "given. Write it with python -m gan_core export, or pass the config next to the file.",
        )
    normalized = normalize_config(chosen)
    if allowed_architectures is not None and normalized["architecture"] not in allowed_architectures:
        raise CheckpointError(
            FailureCode.UNKNOWN_ARCHITECTURE,
            f"Architecture {normalized['architecture']!r} is not accepted in this phase; accepted are "
            f"{', '.join(sorted(allowed_architectures)) or 'none (ONNX only)'}.",
        )
    _check_value_range(normalized["value_range"], value_range)
    check_state_shapes({name: entry.shape for name, entry in entries.items()}, normalized)
    return normalized, parameter_count(normalized)


def _onnx_tensors(graph: Any) -> Any:
    """Every TensorProto of a graph and its subgraphs: initializers, sparse initializers, tensor attributes."""
    import onnx

    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.TENSOR:
                yield attribute.t
            elif attribute.type == onnx.AttributeProto.TENSORS:
                yield from attribute.tensors
            elif attribute.type == onnx.AttributeProto.SPARSE_TENSOR:
                yield attribute.sparse_tensor.values
                yield attribute.sparse_tensor.indices
            elif attribute.type == onnx.AttributeProto.GRAPH:
                yield from _onnx_tensors(attribute.g)
            elif attribute.type == onnx.AttributeProto.GRAPHS:
                for subgraph in attribute.graphs:
                    yield from _onnx_tensors(subgraph)


def _onnx_nodes(nodes: Any) -> Any:
    """Every node of a node list and of its subgraphs."""
    import onnx

    for node in nodes:
        yield node
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.GRAPH:
                yield from _onnx_nodes(attribute.g.node)
            elif attribute.type == onnx.AttributeProto.GRAPHS:
                for subgraph in attribute.graphs:
                    yield from _onnx_nodes(subgraph.node)


def _describe_dims(value_info: Any) -> tuple[int | None, list[int | str | None]]:
    tensor_type = value_info.type.tensor_type
    elem_type = tensor_type.elem_type if value_info.type.HasField("tensor_type") else None
    if not tensor_type.HasField("shape"):
        return elem_type, []
    dims: list[int | str | None] = []
    for dim in tensor_type.shape.dim:
        if dim.HasField("dim_value"):
            dims.append(dim.dim_value)
        elif dim.HasField("dim_param"):
            dims.append(dim.dim_param)
        else:
            dims.append(None)
    return elem_type, dims


def _inspect_onnx(data: bytes, *, value_range: ValueRange | str | None) -> tuple[dict, int]:
    import onnx
    from google.protobuf.message import DecodeError

    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as error:
        raise CheckpointError(
            FailureCode.ONNX_INVALID, f"The ONNX file cannot be parsed ({str(error)[:120]}). {UPLOAD_INSTEAD}"
        ) from None
    for tensor in _onnx_tensors(model.graph):
        if tensor.data_location == onnx.TensorProto.EXTERNAL or len(tensor.external_data) > 0:
            raise CheckpointError(
                FailureCode.ONNX_EXTERNAL_DATA,
                f"ONNX tensor {tensor.name[:80]!r} keeps its data in an external file; only single-file models are "
                "accepted. Export without external data (python -m gan_core export --onnx ...); models of 2 GiB "
                "or more are too large for the platform.",
            )
    for opset in model.opset_import:
        if opset.domain not in STANDARD_ONNX_DOMAINS:
            raise CheckpointError(
                FailureCode.ONNX_CUSTOM_OP,
                f"The ONNX model imports the operator domain {opset.domain[:80]!r}; only standard ONNX operators "
                "are accepted (no custom operators). Re-export using standard operators only.",
            )
    for function in model.functions:
        if function.domain not in STANDARD_ONNX_DOMAINS or any(
            node.domain not in STANDARD_ONNX_DOMAINS for node in _onnx_nodes(function.node)
        ):
            raise CheckpointError(
                FailureCode.ONNX_CUSTOM_OP,
                f"The ONNX model defines the function {function.name[:80]!r} in domain {function.domain[:80]!r}; "
                "only standard ONNX operators are accepted. Re-export with functions inlined "
                "(python -m gan_core export --onnx ...).",
            )
    for node in _onnx_nodes(model.graph.node):
        if node.domain not in STANDARD_ONNX_DOMAINS:
            raise CheckpointError(
                FailureCode.ONNX_CUSTOM_OP,
                f"ONNX node {node.name[:80]!r} uses operator {node.op_type[:80]!r} of domain {node.domain[:80]!r}; "
                "only standard ONNX operators are accepted (no custom operators).",
            )
    initializer_names = {tensor.name for tensor in model.graph.initializer}
    inputs = [value for value in model.graph.input if value.name not in initializer_names]
    outputs = list(model.graph.output)
    if len(inputs) != 1 or len(outputs) != 1:
        raise CheckpointError(
            FailureCode.ONNX_INVALID,
            f"The ONNX model has {len(inputs)} inputs and {len(outputs)} outputs; it must have exactly one image "
            "input and one image output, float32 (N, 3, H, W).",
        )
    for role, value in (("input", inputs[0]), ("output", outputs[0])):
        elem_type, dims = _describe_dims(value)
        if elem_type != onnx.TensorProto.FLOAT:
            raise CheckpointError(
                FailureCode.ONNX_INVALID,
                f"The ONNX model's {role} {value.name[:80]!r} is not float32; export the model in float32.",
            )
        if len(dims) != 4:
            shape_text = f"has rank {len(dims)}" if dims else "declares no shape"
            raise CheckpointError(
                FailureCode.ONNX_INVALID,
                f"The ONNX model's {role} {value.name[:80]!r} {shape_text}; it must be 4-dimensional, (N, 3, H, W), "
                "with dynamic N, H and W.",
            )
        static = [
            axis
            for axis, dim in zip(("batch N", "height H", "width W"), (dims[0], dims[2], dims[3]), strict=True)
            if isinstance(dim, int)
        ]
        if static:
            raise CheckpointError(
                FailureCode.ONNX_INVALID,
                f"The ONNX model's {role} has a fixed {', '.join(static)} ({'x'.join(str(d) for d in dims)}); "
                "batch, height and width must be dynamic. Export with dynamic axes "
                "(python -m gan_core export --onnx does it).",
            )
        if isinstance(dims[1], int) and dims[1] != 3:
            code = FailureCode.WRONG_CHANNELS if role == "output" else FailureCode.ONNX_INVALID
            raise CheckpointError(
                code, f"The ONNX model's {role} has {dims[1]} channels; it must have 3 (RGB), (N, 3, H, W)."
            )
    try:
        onnx.checker.check_model(model)
    except (onnx.checker.ValidationError, ValueError) as error:
        raise CheckpointError(
            FailureCode.ONNX_INVALID, f"The ONNX model does not pass onnx.checker: {str(error).splitlines()[0][:200]}"
        ) from None
    config: dict[str, Any] = {}
    for prop in model.metadata_props:
        if prop.key == ATELIER_METADATA_KEY:
            declared = _config_from_metadata({ATELIER_METADATA_KEY: prop.value}) or {}
            if "value_range" in declared:
                if declared["value_range"] not in {v.value for v in ValueRange}:
                    raise CheckpointError(
                        FailureCode.BAD_CONFIG,
                        f"The ONNX metadata declares an unknown value range {declared['value_range']!r}.",
                    )
                config["value_range"] = declared["value_range"]
    if "value_range" in config:
        _check_value_range(config["value_range"], value_range)
    parameters = sum(math.prod(tensor.dims) for tensor in model.graph.initializer)
    return config, parameters


def inspect_checkpoint(
    path: Path,
    *,
    allowed_formats: frozenset[CheckpointFormat] = frozenset(CheckpointFormat),
    allowed_architectures: frozenset[str] | None = None,
    max_bytes: int | None = None,
    config: Mapping[str, Any] | None = None,
    value_range: ValueRange | str | None = None,
) -> CheckpointInfo:
    """Check a checkpoint from its header and structure only; allocate no tensor.

    ``config``: a sidecar generator config for safetensors; it replaces the one in the file's
    metadata. ``value_range``: the phase's declared range; a checkpoint declaring another is
    refused with ``bad_config``. Raises ``CheckpointError`` with the codes listed in
    ``gan_core.failures.FailureCode`` (file, header, weight and ONNX codes). For ONNX the whole
    file is parsed as protobuf (bounded by ``max_bytes`` and protobuf's 2 GiB limit) but no
    tensor data is decoded.
    """
    path = Path(path)
    size = path.stat().st_size
    if max_bytes is not None and size > max_bytes:
        raise CheckpointError(
            FailureCode.TOO_LARGE,
            f"The checkpoint is {size} bytes; this phase accepts at most {max_bytes}. Use a smaller model "
            "configuration or half-precision weights (python -m gan_core export --dtype float16).",
        )
    detected = detect_format(path)
    if detected not in allowed_formats:
        allowed = " or ".join(sorted(fmt.value for fmt in allowed_formats)) or "none"
        raise CheckpointError(
            FailureCode.UNSUPPORTED_FORMAT,
            f"This phase accepts {allowed} checkpoints, not {detected.value}. {UPLOAD_INSTEAD}",
            reason="not_allowed",
        )
    with path.open("rb") as f:
        if detected is CheckpointFormat.SAFETENSORS:
            normalized, parameters = _inspect_safetensors(
                f, size, config=config, allowed_architectures=allowed_architectures, value_range=value_range
            )
            digest = _sha256(f)
            return CheckpointInfo(detected, digest, size, normalized["architecture"], normalized, parameters)
        if size > MAX_ONNX_BYTES:
            raise CheckpointError(
                FailureCode.TOO_LARGE, f"The ONNX file is {size} bytes; single-file ONNX models must be under 2 GiB."
            )
        f.seek(0)
        data = f.read()
    onnx_config, parameters = _inspect_onnx(data, value_range=value_range)
    return CheckpointInfo(detected, hashlib.sha256(data).hexdigest(), size, None, onnx_config, parameters)


def _read_verified(path: Path, info: CheckpointInfo) -> bytes:
    data = Path(path).read_bytes()
    if hashlib.sha256(data).hexdigest() != info.sha256:
        raise CheckpointError(FailureCode.BAD_HEADER, "The checkpoint changed after it was inspected; upload it again.")
    return data


class SafetensorsGenerator:
    """A reference generator with weights loaded by safetensors; call it on float32 ``(N, 3, H, W)`` in the declared range."""

    def __init__(self, module: nn.Module, device: torch.device) -> None:
        self.module = module
        self.device = device

    @torch.inference_mode()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return self.module(images.to(self.device, torch.float32))


class OnnxGenerator:
    """An ONNX model run by an onnxruntime session; call it on float32 ``(N, 3, H, W)``; returns float32 on the input's device."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.input_name = session.get_inputs()[0].name
        self.output_name = session.get_outputs()[0].name

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        array = images.detach().to("cpu", torch.float32).contiguous().numpy()
        try:
            (result,) = self.session.run([self.output_name], {self.input_name: array})
        except Exception as error:  # onnxruntime raises its own exception types per failure
            raise CheckpointError(
                FailureCode.CRASHED, f"Your ONNX model failed while running: {str(error).splitlines()[0][:300]}"
            ) from None
        return torch.from_numpy(result).to(images.device)


def load_generator(
    path: Path, info: CheckpointInfo, *, device: torch.device, threads: int | None = None
) -> Callable[[torch.Tensor], torch.Tensor]:
    """Open an inspected checkpoint as a callable: float32 ``(N, 3, H, W)`` in the declared range -> float32 ``(N, 3, H, W)``.

    The file is read once and must still have the inspected SHA-256. Safetensors: the header
    and names are checked again on the bytes read, then the weights come from safetensors' own
    loader into ``build_generator(info.config)`` with ``load_state_dict(strict=True)``,
    evaluation mode, on ``device``. ONNX: an onnxruntime
    session from the bytes (so no external file can be reached), no custom-op library, default
    graph optimisations, the CUDA execution provider when ``device`` is CUDA and onnxruntime has
    it, else CPU. ``threads`` caps onnxruntime's intra-op threads (``None``: its default).
    Runs participant weights: call it inside the sandbox on the platform.
    """
    device = torch.device(device)
    data = _read_verified(path, info)
    if info.format is CheckpointFormat.SAFETENSORS:
        from safetensors.torch import load as load_safetensors

        # the bytes handed to safetensors are the bytes checked: header and names again (cheap, header only)
        entries, _, _ = _read_safetensors_header(io.BytesIO(data), len(data))
        check_state_shapes({name: entry.shape for name, entry in entries.items()}, info.config)
        state = load_safetensors(data)
        del data
        module = build_generator(info.config)
        module.load_state_dict(state, strict=True)
        del state
        return SafetensorsGenerator(module.eval().to(device), device)
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    providers = ["CPUExecutionProvider"]
    if device.type == "cuda" and "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    try:
        session = onnxruntime.InferenceSession(data, sess_options=options, providers=providers)
    except Exception as error:  # onnxruntime raises its own exception types per failure
        raise CheckpointError(
            FailureCode.ONNX_INVALID, f"onnxruntime cannot open the ONNX model: {str(error).splitlines()[0][:300]}"
        ) from None
    return OnnxGenerator(session)


_TORCH_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def save_safetensors_checkpoint(
    state_dict: Mapping[str, torch.Tensor], path: Path, *, config: Mapping[str, Any], dtype: str = "float32"
) -> dict:
    """Write weights and their config as one safetensors checkpoint; returns the normalized config written.

    ``state_dict``: the generator's tensors (any device, floating point). ``dtype``:
    ``"float32"`` (default), ``"float16"`` or ``"bfloat16"``. The config goes to
    ``__metadata__["atelier"]`` as JSON. Names and shapes are not checked here: inspect the file
    afterwards (``python -m gan_core export`` does).
    """
    from safetensors.torch import save_file

    normalized = normalize_config(config)
    if dtype not in _TORCH_DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(_TORCH_DTYPES)}, got {dtype!r}")
    tensors = {
        name: tensor.detach().to("cpu", _TORCH_DTYPES[dtype]).contiguous().clone()
        for name, tensor in state_dict.items()
    }
    save_file(tensors, str(path), metadata={ATELIER_METADATA_KEY: json.dumps(normalized, sort_keys=True)})
    return normalized


def export_onnx(
    module: nn.Module, path: Path, *, value_range: ValueRange | str = ValueRange.MINUS_ONE_ONE, sample_size: int = 64
) -> None:
    """Export a module to a single-file ONNX model with dynamic batch, height and width.

    ``module``: maps float32 ``(N, 3, H, W)`` to float32 ``(N, 3, H, W)``; put in evaluation mode
    here. Uses the TorchScript-based exporter (opset ``ONNX_OPSET``, input ``"input"``, output
    ``"output"``) and records ``{"value_range": ...}`` in the model's ``metadata_props["atelier"]``.
    """
    import onnx

    value_range = ValueRange(value_range)
    from gan_core.contract import GeneratorContract

    sample = probe_image(GeneratorContract(value_range=value_range, size_multiple=1), size=sample_size)
    axes = {0: "batch", 2: "height", 3: "width"}
    buffer = io.BytesIO()
    module = module.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation and instance-norm training-mode notes
        torch.onnx.export(
            module,
            (sample,),
            buffer,
            input_names=[ONNX_INPUT_NAME],
            output_names=[ONNX_OUTPUT_NAME],
            dynamic_axes={ONNX_INPUT_NAME: axes, ONNX_OUTPUT_NAME: axes},
            opset_version=ONNX_OPSET,
            dynamo=False,
        )
    model = onnx.load_model_from_string(buffer.getvalue())
    del model.metadata_props[:]
    entry = model.metadata_props.add()
    entry.key = ATELIER_METADATA_KEY
    entry.value = json.dumps({"value_range": value_range.value})
    temporary = Path(f"{path}.partial-{os.getpid()}")
    temporary.write_bytes(model.SerializeToString())
    temporary.replace(path)
