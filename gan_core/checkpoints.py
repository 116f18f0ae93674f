# Over 500 lines: inspection and loading of both formats share their refusal codes and the export
# writes what the loaders read; by format it would be two modules importing each other.
"""Participant checkpoints: inspect, load and write them without running participant code.

Two formats are accepted (see docs/participants.md); recognising them by their bytes and reading
their headers is torch-free and lives in :mod:`gan_core.formats`, shared with the web's upload:

- ``safetensors`` weights of a reference architecture (``gan_core.generators``), its config in
  the header's ``__metadata__["atelier"]`` (a JSON string: ``{"architecture": ...,
  "hyperparameters": {...}, "value_range": "-1,1"}``). The header is read and checked
  (:func:`gan_core.formats.read_safetensors_header`), then names and shapes against the
  architecture's state dict on the meta device, before any tensor is allocated; only then does
  safetensors' own loader read the weights.
- ONNX models, run by onnxruntime only: one file, no external data, no custom operators, one
  float32 ``(N, 3, H, W)`` input and output with dynamic batch and spatial dims.

Nothing here hands participant bytes to torch's loaders (plain, TorchScript or export) or to the
pickle module.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import os
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import torch
from torch import nn

from gan_core.architectures import check_state_shapes
from gan_core.contract import ValueRange, probe_image
from gan_core.failures import CheckpointError, FailureCode
from gan_core.formats import (
    ATELIER_METADATA_KEY,
    MAX_ONNX_BYTES,
    UPLOAD_INSTEAD,
    CheckpointFormat,
    config_from_metadata,
    detect_format,
    file_sha256,
    missing_config_error,
    read_safetensors_header,
)
from gan_core.generators import build_generator, normalize_config, parameter_count
from gan_core.onnx_header import check_onnx_file

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

ONNX_INPUT_NAME = "input"
ONNX_OUTPUT_NAME = "output"
ONNX_OPSET = 17


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


def _check_value_range(declared: str, expected: ValueRange | str | None) -> None:
    if expected is not None and declared != ValueRange(expected).value:
        raise CheckpointError(
            FailureCode.BAD_CONFIG,
            f"Your checkpoint declares the value range {declared}, but this phase feeds and expects "
            f"{ValueRange(expected).value}. Re-export with --value-range {ValueRange(expected).value}.",
        )


def _inspect_safetensors(
    f: BinaryIO,
    size: int,
    *,
    config: Mapping[str, Any] | None,
    allowed_architectures: frozenset[str] | None,
    value_range: ValueRange | str | None,
) -> tuple[dict, int]:
    entries, metadata, _ = read_safetensors_header(f, size)
    declared = config_from_metadata(metadata)
    chosen = config if config is not None else declared
    if chosen is None:
        raise missing_config_error()
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

    check_onnx_file(io.BytesIO(data), len(data))  # the upload's refusals, defined once
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as error:
        raise CheckpointError(
            FailureCode.ONNX_INVALID, f"The ONNX file cannot be parsed ({str(error)[:120]}). {UPLOAD_INSTEAD}"
        ) from None
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
            declared = config_from_metadata({ATELIER_METADATA_KEY: prop.value}) or {}
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
            digest = file_sha256(f)
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
        entries, _, _ = read_safetensors_header(io.BytesIO(data), len(data))
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
