"""Failure codes for generator checkpoints and their runs, and the base error that carries one.

Every refusal of a checkpoint, every broken output contract and every stopped sandbox run ends
with one ``FailureCode`` (a stable snake_case string: the platform stores it) and a message a
participant can act on: what was wrong and what to do instead. Codes never change meaning; new
ones may be added.
"""

from __future__ import annotations

import enum


class FailureCode(enum.StrEnum):
    """Stable codes the platform stores with a failed submission."""

    # The file itself (gan_core.checkpoints).
    UNSUPPORTED_FORMAT = "unsupported_format"  # pickle, torchscript, torch_export, zip, tar, polyglot, unrecognised
    EMPTY_FILE = "empty_file"
    TRUNCATED = "truncated"
    TOO_LARGE = "too_large"
    HEADER_TOO_LARGE = "header_too_large"
    BAD_HEADER = "bad_header"
    BAD_DTYPE = "bad_dtype"
    OFFSETS_OUT_OF_BOUNDS = "offsets_out_of_bounds"
    SHAPE_MISMATCH = "shape_mismatch"
    MISSING_TENSOR = "missing_tensor"
    UNEXPECTED_TENSOR = "unexpected_tensor"
    UNKNOWN_ARCHITECTURE = "unknown_architecture"
    BAD_CONFIG = "bad_config"
    ONNX_EXTERNAL_DATA = "onnx_external_data"
    ONNX_CUSTOM_OP = "onnx_custom_op"
    ONNX_INVALID = "onnx_invalid"
    # The output contract (gan_core.contract).
    WRONG_RANK = "wrong_rank"
    WRONG_DTYPE = "wrong_dtype"
    WRONG_CHANNELS = "wrong_channels"
    WRONG_SIZE = "wrong_size"
    WRONG_BATCH = "wrong_batch"
    NON_FINITE = "non_finite"
    TOO_SLOW = "too_slow"
    # The sandboxed run (gan_core.sandbox).
    OUT_OF_MEMORY = "out_of_memory"
    TIMEOUT = "timeout"
    OUTPUT_TOO_LARGE = "output_too_large"
    CRASHED = "crashed"
    SANDBOX_UNAVAILABLE = "sandbox_unavailable"
    #: The run's writes were refused for lack of space (``ENOSPC``) with neither output cap reached:
    #: the machine's disk or memory, the platform's fault (the parent's evidence, never the child's word).
    PLATFORM_NO_SPACE = "platform_no_space"


def quoted(value: object, limit: int = 80) -> str:
    """``repr`` of a participant-supplied value cut to ``limit`` characters, for messages that must stay short."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class GeneratorFailure(Exception):
    """A failure with a stable ``code`` (a ``FailureCode`` value, as ``str``) and a participant-safe ``message``.

    The message never contains host paths, stack traces or platform internals; it says what was
    wrong and what to upload or change instead.
    """

    code: str
    message: str

    def __init__(self, code: FailureCode | str, message: str) -> None:
        self.code = FailureCode(code).value
        self.message = message
        super().__init__(f"[{self.code}] {message}")

    def as_dict(self) -> dict[str, str]:
        """``{"code": ..., "message": ...}``, the shape the platform stores and the runner sends."""
        return {"code": self.code, "message": self.message}


class CheckpointError(GeneratorFailure):
    """A checkpoint file was refused (format, header, weights or configuration).

    ``reason`` refines ``unsupported_format`` (``pickle``, ``torchscript``, ``torch_export``,
    ``zip``, ``tar``, ``compressed``, ``polyglot``, ``unrecognised``, ``not_allowed``); ``None`` otherwise.
    """

    reason: str | None

    def __init__(self, code: FailureCode | str, message: str, *, reason: str | None = None) -> None:
        super().__init__(code, message)
        self.reason = reason
