"""Builds the corpus of hostile checkpoint files at test time (no binary file is committed).

``build_hostile_corpus(directory, marker=...)`` writes every file into ``directory`` and
returns one ``HostileCase`` per file with the failure code (and, for ``unsupported_format``,
the reason) that ``gan_core.checkpoints.inspect_checkpoint`` must answer. Every payload that
can run code tries to create ``marker``: a test passes only if the marker never appears.
Reusable by the sandbox tests (B2).
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
import pickle
import struct
import tarfile
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import torch

TINY_CONFIG = {"architecture": "unet_small", "hyperparameters": {"base_channels": 2, "depth": 1}}
"""A reference config small enough to write its safetensors by hand."""


@dataclasses.dataclass(frozen=True)
class HostileCase:
    """One hostile file and the answer it must get."""

    name: str
    path: Path
    code: str
    reason: str | None = None
    description: str = ""


class MarkerPayload:
    """Unpickling this calls ``open(marker, "w")``: the marker file appears if anything unpickles it."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[Callable[..., object], tuple[str, str]]:
        return (open, (self.marker, "w"))


class FromFileModule(torch.nn.Module):
    """TorchScript-able module whose forward maps (and with ``shared=True`` creates) a file through ``torch.from_file``."""

    def __init__(self, marker: str) -> None:
        super().__init__()
        self.marker = marker

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stolen = torch.from_file(self.marker, shared=True, size=16, dtype=torch.uint8)
        return x + stolen.float().sum()


def pickle_payload(marker: Path, *, protocol: int) -> bytes:
    """A pickle whose loading creates ``marker``."""
    return pickle.dumps(MarkerPayload(marker), protocol=protocol)


def protocol_zero_payload(marker: Path) -> bytes:
    """A hand-written protocol 0 (text) pickle: ``open(marker, "w")``."""
    return f"cio\nopen\n(V{marker}\nVw\ntR.".encode()


def safetensors_bytes(
    tensors: dict[str, tuple[str, list[int], bytes]],
    *,
    metadata: dict[str, str] | None = None,
    header_override: dict | None = None,
    offsets_override: dict[str, list[int]] | None = None,
    header_length_override: int | None = None,
) -> bytes:
    """Hand-made safetensors bytes: ``tensors`` maps name -> (dtype, shape, raw bytes), laid out in order.

    Overrides let a test lie about offsets, the header or its length.
    """
    header: dict = {}
    data = io.BytesIO()
    for name, (dtype, shape, raw) in tensors.items():
        begin = data.tell()
        data.write(raw)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [begin, data.tell()]}
    for name, offsets in (offsets_override or {}).items():
        header[name]["data_offsets"] = offsets
    if metadata is not None:
        header["__metadata__"] = metadata
    if header_override is not None:
        header = header_override
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    length = len(text) if header_length_override is None else header_length_override
    return struct.pack("<Q", length) + text + data.getvalue()


def tiny_tensors(config: dict = TINY_CONFIG) -> dict[str, tuple[str, list[int], bytes]]:
    """Zero F32 tensors with exactly the names and shapes of ``config``'s state dict."""
    from gan_core.generators import expected_state_shapes

    tensors = {}
    for name, shape in expected_state_shapes(config).items():
        numel = 1
        for dim in shape:
            numel *= dim
        tensors[name] = ("F32", list(shape), bytes(4 * numel))
    return tensors


def tiny_metadata(config: dict = TINY_CONFIG) -> dict[str, str]:
    return {"atelier": json.dumps(config)}


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _onnx_identity_like(*, inputs: int = 1, static: bool = False):  # -> onnx.ModelProto
    import onnx
    from onnx import TensorProto, helper

    dims: list[int | str] = [1, 3, 8, 8] if static else ["N", 3, "H", "W"]
    graph_inputs = [helper.make_tensor_value_info(f"input{i}", TensorProto.FLOAT, dims) for i in range(inputs)]
    output = helper.make_tensor_value_info("output", TensorProto.FLOAT, dims)
    nodes = [helper.make_node("Identity", ["input0"], ["output"])]
    graph = helper.make_graph(nodes, "hostile", graph_inputs, [output])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), onnx


def onnx_external_data_bytes(location: str = "../../../../etc/passwd") -> bytes:
    """An ONNX model whose initializer claims a 10^10-element tensor stored in an external file."""
    model, onnx = _onnx_identity_like()
    tensor = onnx.TensorProto(name="stolen", data_type=onnx.TensorProto.FLOAT, dims=[100_000, 100_000])
    tensor.data_location = onnx.TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "400000000000")):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    model.graph.initializer.append(tensor)
    return model.SerializeToString()


def onnx_custom_op_bytes() -> bytes:
    """An ONNX model with a node of a custom domain (its kernel would come from a custom-op library)."""
    model, onnx = _onnx_identity_like()
    del model.graph.node[:]
    model.graph.node.append(onnx.helper.make_node("Boom", ["input0"], ["output"], domain="com.evil"))
    model.opset_import.append(onnx.helper.make_opsetid("com.evil", 1))
    return model.SerializeToString()


def onnx_custom_function_bytes() -> bytes:
    """An ONNX model calling a model-local function of a non-standard domain."""
    model, onnx = _onnx_identity_like()
    function = onnx.helper.make_function(
        "com.evil",
        "Wrap",
        ["x"],
        ["y"],
        [onnx.helper.make_node("Identity", ["x"], ["y"])],
        [onnx.helper.make_opsetid("", 17)],
    )
    model.functions.append(function)
    return model.SerializeToString()


def onnx_bytes(*, inputs: int = 1, static: bool = False) -> bytes:
    model, _ = _onnx_identity_like(inputs=inputs, static=static)
    return model.SerializeToString()


def torchscript_bytes(marker: Path) -> bytes:
    """A TorchScript archive whose forward calls ``torch.from_file(marker, shared=True)``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.script/save are deprecated in torch 2.14
        scripted = torch.jit.script(FromFileModule(str(marker)))
        buffer = io.BytesIO()
        torch.jit.save(scripted, buffer)
    return buffer.getvalue()


def torch_save_bytes(marker: Path) -> bytes:
    """A torch.save zip whose data.pkl holds a payload next to a real tensor."""
    buffer = io.BytesIO()
    torch.save({"weight": torch.zeros(2), "payload": MarkerPayload(marker)}, buffer)
    return buffer.getvalue()


def handmade_pt2_bytes(marker: Path) -> bytes:
    """A zip laid out like torch.export.save's .pt2, its weights a pickle payload."""
    return zip_bytes(
        {
            "model/archive_format": b"pt2",
            "model/archive_version": b"0",
            "model/models/model.json": b"{}",
            "model/data/weights/weight_0": pickle_payload(marker, protocol=2),
            "model/byteorder": b"little",
        }
    )


def real_pt2_bytes() -> bytes:
    """``torch.export.save`` of a tiny module (its weights are pickled: torch.export.load would unpickle them)."""
    exported = torch.export.export(torch.nn.Linear(2, 2), (torch.zeros(1, 2),))
    buffer = io.BytesIO()
    torch.export.save(exported, buffer)
    return buffer.getvalue()


def zip64_claim_bytes() -> bytes:
    """A zip whose zip64 end record claims 2**32 members in a 1 TiB central directory."""
    body = b"PK\x03\x04" + bytes(26)
    record = b"PK\x06\x06" + struct.pack("<QHHIIQQQQ", 44, 45, 45, 0, 0, 2**32, 2**32, 2**40, 0)
    locator = b"PK\x06\x07" + struct.pack("<IQI", 0, len(body), 1)
    end = b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    return body + record + locator + end


def tar_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def build_hostile_corpus(directory: Path, *, marker: Path, with_real_pt2: bool = True) -> list[HostileCase]:
    """Write every hostile file into ``directory``; return the cases. ``marker`` must not exist afterwards."""
    directory.mkdir(parents=True, exist_ok=True)
    cases: list[HostileCase] = []

    def add(name: str, content: bytes, code: str, reason: str | None = None, description: str = "") -> None:
        path = directory / name
        path.write_bytes(content)
        cases.append(HostileCase(name, path, code, reason, description))

    for index, extension in enumerate((".pt", ".pth", ".bin", ".safetensors", ".onnx", ".ckpt", "")):
        protocol = 2 + index % 4
        add(f"reduce_payload{extension}", pickle_payload(marker, protocol=protocol), "unsupported_format", "pickle")
    add("reduce_payload_protocol0.pt", protocol_zero_payload(marker), "unsupported_format", "pickle")
    add("torch_save_zip.pth", torch_save_bytes(marker), "unsupported_format", "pickle", "torch.save archive")
    add("torch_save_zip_renamed.safetensors", torch_save_bytes(marker), "unsupported_format", "pickle")
    add("torchscript_from_file.pt", torchscript_bytes(marker), "unsupported_format", "torchscript")
    add("handmade.pt2", handmade_pt2_bytes(marker), "unsupported_format", "torch_export")
    if with_real_pt2:
        add("real_export.pt2", real_pt2_bytes(), "unsupported_format", "torch_export")
    valid = safetensors_bytes(tiny_tensors(), metadata=tiny_metadata())
    add("plain.zip", zip_bytes({"model.safetensors": valid}), "unsupported_format", "zip")
    many = {f"archive/data/{index}": b"" for index in range(10_001)}
    add(
        "many_members.zip",
        zip_bytes({**many, "archive/data.pkl": pickle_payload(marker, protocol=2)}),
        "unsupported_format",
        "zip",
        description="more members than the bound: refused as a zip without listing them",
    )
    add("zip64_claim.zip", zip64_claim_bytes(), "unsupported_format", "zip", description="claims a 1 TiB directory")
    prefixed_zip = b"#!/bin/sh\necho self-extracting\n" + torch_save_bytes(marker)
    add("prefixed_torch_save.bin", prefixed_zip, "unsupported_format", "pickle", description="zip behind a prefix")
    add("archive.tar", tar_bytes({"model.pt": pickle_payload(marker, protocol=4)}), "unsupported_format", "tar")
    add("model.safetensors.gz", gzip.compress(valid), "unsupported_format", "compressed")
    add("empty.safetensors", b"", "empty_file")
    add("random.bin", bytes(range(7, 250)) * 3, "unsupported_format", "unrecognised")
    add("truncated_data.safetensors", valid[: len(valid) - 10], "truncated")
    add("truncated_header.safetensors", valid[:20], "truncated")
    add("truncated_length.safetensors", valid[:5], "unsupported_format", "unrecognised", "shorter than a length")
    onnx_ok = onnx_bytes()
    add("truncated.onnx", onnx_ok[: len(onnx_ok) - 7], "truncated")
    # Polyglots: valid safetensors that also carry a zip end record (appended, or hidden in the last tensor).
    payload_zip = zip_bytes({"archive/data.pkl": pickle_payload(marker, protocol=2)})
    add("polyglot_appended.safetensors", valid + payload_zip, "unsupported_format", "polyglot")
    hidden = tiny_tensors()
    last = list(hidden)[-1]
    hidden[last] = ("F32", [len(payload_zip) + (-len(payload_zip) % 4)], payload_zip + bytes(-len(payload_zip) % 4))
    hidden_bytes = safetensors_bytes(hidden, metadata=tiny_metadata())
    add("polyglot_inside_tensor.safetensors", hidden_bytes, "unsupported_format", "polyglot")
    add("polyglot.onnx", onnx_ok + b"\x32" + _varint(len(payload_zip)) + payload_zip, "unsupported_format", "polyglot")
    # Safetensors headers that lie.
    add(
        "header_100mb.safetensors",
        struct.pack("<Q", 100 * 1024 * 1024) + b'{"a": 1}',
        "header_too_large",
        description="claims a 100 MB header",
    )
    add(
        "tensor_10gb.safetensors",
        safetensors_bytes(
            {"huge": ("F32", [50_000, 50_000], b"")},
            metadata=tiny_metadata(),
            offsets_override={"huge": [0, 10_000_000_000]},
        ),
        "truncated",
        description="claims one 10 GB tensor in a file of a few hundred bytes",
    )
    add(
        "overflowing_shape.safetensors",
        safetensors_bytes(
            {"w": ("F32", [2**32, 2**32, 2**32], b"")}, metadata=tiny_metadata(), offsets_override={"w": [0, 16]}
        ),
        "bad_header",
    )
    add(
        "giant_dimension.safetensors",
        safetensors_bytes({"w": ("F32", [0, 2**70], b"")}, metadata=tiny_metadata()),
        "bad_header",
        description="a dimension no int64 can hold, in an empty tensor",
    )
    add(
        "metadata_not_object.safetensors",
        safetensors_bytes(tiny_tensors(), header_override={"__metadata__": "resnet"}),
        "bad_header",
    )
    past_end = tiny_tensors()
    names = list(past_end)
    raw_past = safetensors_bytes(past_end, metadata=tiny_metadata())
    header_past = json.loads(raw_past[8 : 8 + struct.unpack("<Q", raw_past[:8])[0]])
    begin, end = header_past[names[-1]]["data_offsets"]
    add(
        "offsets_past_end.safetensors",
        safetensors_bytes(
            past_end, metadata=tiny_metadata(), offsets_override={names[-1]: [begin + 10**9, end + 10**9]}
        ),
        "offsets_out_of_bounds",
    )
    first_offsets = header_past[names[0]]["data_offsets"]
    second_offsets = header_past[names[1]]["data_offsets"]
    span = second_offsets[1] - second_offsets[0]
    add(
        "overlapping_offsets.safetensors",
        safetensors_bytes(
            past_end,
            metadata=tiny_metadata(),
            offsets_override={names[1]: [first_offsets[1] - 4, first_offsets[1] - 4 + span]},
        ),
        "offsets_out_of_bounds",
    )
    add("trailing_bytes.safetensors", valid + b"\0" * 64, "offsets_out_of_bounds")
    for dtype in ("I64", "F64", "EVIL"):
        wrong = tiny_tensors()
        dtype_name, shape, raw = wrong[names[0]]
        wrong[names[0]] = (dtype, shape, raw + raw if dtype in ("I64", "F64") else raw)
        add(f"dtype_{dtype.lower()}.safetensors", safetensors_bytes(wrong, metadata=tiny_metadata()), "bad_dtype")
    missing = tiny_tensors()
    del missing[names[0]]
    add("missing_tensor.safetensors", safetensors_bytes(missing, metadata=tiny_metadata()), "missing_tensor")
    extra = tiny_tensors()
    extra["backdoor.weight"] = ("F32", [4], bytes(16))
    add("extra_tensor.safetensors", safetensors_bytes(extra, metadata=tiny_metadata()), "unexpected_tensor")
    reshaped = tiny_tensors()
    dtype_name, shape, raw = reshaped[names[0]]
    reshaped[names[0]] = (dtype_name, [shape[0] * 2, *shape[1:]], raw + raw)
    add("shape_mismatch.safetensors", safetensors_bytes(reshaped, metadata=tiny_metadata()), "shape_mismatch")
    add("header_not_json.safetensors", struct.pack("<Q", 8) + b"{not js}", "bad_header")
    nested = b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    add(
        "header_nested.safetensors",
        struct.pack("<Q", len(nested)) + nested,
        "bad_header",
        description="JSON nesting bomb",
    )
    duplicated = b'{"__metadata__":{},"__metadata__":{}}'
    add("header_duplicate_keys.safetensors", struct.pack("<Q", len(duplicated)) + duplicated, "bad_header")
    add(
        "empty_header.safetensors",
        struct.pack("<Q", 8) + b"{}      ",
        "bad_config",
        description="no tensors, no config",
    )
    add("no_config.safetensors", safetensors_bytes(tiny_tensors()), "bad_config")
    unknown = {"architecture": "stylegan_with_code", "hyperparameters": {}}
    add(
        "unknown_architecture.safetensors",
        safetensors_bytes(tiny_tensors(), metadata={"atelier": json.dumps(unknown)}),
        "unknown_architecture",
    )
    bad_hyper = {"architecture": "unet_small", "hyperparameters": {"base_channels": 2, "depth": 1, "exec": "rm -rf"}}
    add(
        "bad_hyperparameter.safetensors",
        safetensors_bytes(tiny_tensors(), metadata={"atelier": json.dumps(bad_hyper)}),
        "bad_config",
    )
    # ONNX.
    add("external_data.onnx", onnx_external_data_bytes(), "onnx_external_data")
    add("custom_op.onnx", onnx_custom_op_bytes(), "onnx_custom_op")
    add("custom_function.onnx", onnx_custom_function_bytes(), "onnx_custom_op")
    add("static_shapes.onnx", onnx_bytes(static=True), "onnx_invalid")
    add("two_inputs.onnx", onnx_bytes(inputs=2), "onnx_invalid")
    return cases


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)
