"""What an ONNX file declares, read without onnx, torch or protobuf, and the refusals it earns: one
definition for the web's upload (:func:`gan_core.formats.check_header`) and the worker
(:func:`gan_core.checkpoints.inspect_checkpoint`, which runs ``onnx.checker`` only afterwards), so
the two sides cannot disagree.

- :func:`read_onnx_header`: a bounded walk of the protobuf ModelProto, field by field, that keeps
  the opset imports, the operators (``op_type``, ``domain``, with the first node using each) of
  the graph and its subgraphs, the first tensors with external-data markers and the model-local
  functions. Raw tensor bytes are skipped with a
  seek, strings are read up to :data:`MAX_STRING_BYTES`: memory stays small for a 500 MB model.
- :func:`check_onnx_header`: the refusals, in order: external data (``onnx_external_data``), a
  non-standard operator domain in the opset imports, a function or a node (``onnx_custom_op``), a
  missing or unsupported ai.onnx opset, an operator unknown to that opset (``onnx_invalid``).

Nothing here imports torch, numpy or onnx (tests/gan_platform/test_web_imports.py checks it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import BinaryIO

from gan_core.failures import CheckpointError, FailureCode
from gan_core.onnx_operators import ONNX_OPERATORS

__all__ = [
    "MAX_ONNX_OPSET",
    "MIN_ONNX_OPSET",
    "OVERLONG_VARINT",
    "STANDARD_ONNX_DOMAINS",
    "OnnxHeader",
    "check_onnx_file",
    "check_onnx_header",
    "read_onnx_header",
]

STANDARD_ONNX_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml"})
MIN_ONNX_OPSET = 7
"""onnxruntime guarantees ai.onnx opsets from 7 on."""
MAX_ONNX_OPSET = 26
"""The newest ai.onnx opset the worker's onnxruntime (1.31) supports; the export writes 17."""
MAX_STRING_BYTES = 1024
"""Strings are read up to this; messages quote 80 characters and no standard name is longer."""
MAX_DISTINCT_OPERATORS = 10_000
"""Bound on the distinct ``(op_type, domain)`` pairs kept (ONNX has about 220 standard operators)."""
MAX_EXTERNAL_NAMES = 16
MAX_ONNX_FIELDS = 2_000_000
"""Bound on the protobuf fields walked (a ResNet-9 export has a few thousand)."""
MAX_SUBGRAPH_DEPTH = 16
"""Nested subgraphs (If, Loop, Scan bodies); protobuf itself stops near 33 (100 message levels)."""
OVERLONG_VARINT = -1
_EXPORT = "python -m gan_core export --onnx ..."

# Field numbers from onnx/onnx.proto (checked against onnx's descriptors in tests/gan_core/test_onnx_header.py).
_MODEL_GRAPH, _MODEL_OPSET_IMPORT, _MODEL_FUNCTIONS = 7, 8, 25
_OPSET_DOMAIN, _OPSET_VERSION = 1, 2
_GRAPH_NODE, _GRAPH_INITIALIZER, _GRAPH_SPARSE_INITIALIZER = 1, 5, 15
_NODE_NAME, _NODE_OP_TYPE, _NODE_ATTRIBUTE, _NODE_DOMAIN = 3, 4, 5, 7
_ATTRIBUTE_TENSORS = frozenset({5, 10})  # t, tensors
_ATTRIBUTE_SPARSE_TENSORS = frozenset({22, 23})  # sparse_tensor, sparse_tensors
_ATTRIBUTE_GRAPHS = frozenset({6, 11})  # g, graphs
_SPARSE_VALUES, _SPARSE_INDICES = 1, 2
_TENSOR_NAME, _TENSOR_EXTERNAL_DATA, _TENSOR_DATA_LOCATION = 8, 13, 14
_TENSOR_EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL
_FUNCTION_NAME, _FUNCTION_NODE, _FUNCTION_DOMAIN = 1, 7, 10


def read_varint(f: BinaryIO) -> int | None:
    """One protobuf varint at the current position; ``None`` at end of file, ``-1`` past 10 bytes."""
    value = 0
    for shift in range(0, 70, 7):
        byte = f.read(1)
        if not byte:
            return None
        value |= (byte[0] & 0x7F) << shift
        if not byte[0] & 0x80:
            return value
    return OVERLONG_VARINT


@dataclasses.dataclass(frozen=True)
class OnnxNode:
    name: str
    op_type: str
    domain: str


@dataclasses.dataclass(frozen=True)
class OnnxFunction:
    name: str
    domain: str
    nodes: tuple[OnnxNode, ...]
    """The first node of each operator in the function and its subgraphs."""


@dataclasses.dataclass(frozen=True)
class OnnxHeader:
    """What a ModelProto declares: ``opsets`` as ``(domain, version)`` in file order; ``nodes``, the
    first node of each ``(op_type, domain)`` in the graph and its subgraphs, in file order;
    ``external_tensors``, the names of the first tensors (anywhere) whose data lives in another
    file; ``functions``, the model-local functions."""

    opsets: tuple[tuple[str, int], ...]
    nodes: tuple[OnnxNode, ...]
    external_tensors: tuple[str, ...]
    functions: tuple[OnnxFunction, ...]


def _malformed(detail: str) -> CheckpointError:
    return CheckpointError(
        FailureCode.ONNX_INVALID,
        f"The ONNX file is malformed: {detail}. Upload the complete file as written by onnx ({_EXPORT}).",
    )


class _Walker:
    """Protobuf fields of nested messages by byte ranges of one open file; seeks past what it skips."""

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.fields = 0
        self.nodes: dict[tuple[str, str], OnnxNode] = {}
        self.operators = 0
        self.external: list[str] = []

    def fields_of(self, start: int, end: int, what: str) -> Iterator[tuple[int, int, int, int]]:
        """``(field, wire type, value or length, start of a length-delimited value)`` of ``[start, end)``."""
        position = start
        while position < end:
            self.fields += 1
            if self.fields > MAX_ONNX_FIELDS:
                raise _malformed(f"it has more than {MAX_ONNX_FIELDS} protobuf fields")
            self.f.seek(position)
            tag = read_varint(self.f)
            if tag is None or tag == OVERLONG_VARINT:
                raise _malformed(f"a field tag of {what} at byte {position} is cut short or invalid")
            field, wire_type = tag >> 3, tag & 7
            if field == 0:
                raise _malformed(f"a field of {what} at byte {position} has the invalid number 0")
            value, value_start = 0, 0
            if wire_type in (0, 2):
                value = read_varint(self.f)
                if value is None or value == OVERLONG_VARINT:
                    raise _malformed(f"field {field} of {what} at byte {position} is cut short or invalid")
                value_start = self.f.tell()
                following = value_start + value if wire_type == 2 else value_start
            elif wire_type in (1, 5):
                following = self.f.tell() + (8 if wire_type == 1 else 4)
            else:
                raise _malformed(f"field {field} of {what} at byte {position} has wire type {wire_type}")
            if following > end:
                raise _malformed(f"field {field} of {what} at byte {position} runs past the end of its message")
            yield field, wire_type, value, value_start
            position = following

    def messages_of(self, start: int, end: int, what: str) -> Iterator[tuple[int, int, int]]:
        """``(field, start, end)`` of each length-delimited field of ``[start, end)`` (nested messages,
        strings, bytes); the other fields are still counted and checked, then passed over."""
        for field, wire, value, at in self.fields_of(start, end, what):
            if wire == 2:
                yield field, at, at + value

    def string(self, start: int, end: int) -> str:
        self.f.seek(start)
        return self.f.read(min(end - start, MAX_STRING_BYTES)).decode("utf-8", errors="replace")

    def opset(self, start: int, end: int) -> tuple[str, int]:
        domain, version = "", 0
        for field, wire, value, at in self.fields_of(start, end, "an opset import"):
            if field == _OPSET_DOMAIN and wire == 2:
                domain = self.string(at, at + value)
            elif field == _OPSET_VERSION and wire == 0:
                version = value - (1 << 64) if value >= 1 << 63 else value
        return domain, version

    def tensor(self, start: int, end: int) -> None:
        name, external = "", False
        for field, wire, value, at in self.fields_of(start, end, "a tensor"):
            if field == _TENSOR_NAME and wire == 2:
                name = self.string(at, at + value)
            elif field == _TENSOR_EXTERNAL_DATA and wire == 2:
                external = True
            elif field == _TENSOR_DATA_LOCATION and wire == 0 and value == _TENSOR_EXTERNAL:
                external = True
        if external and len(self.external) < MAX_EXTERNAL_NAMES:
            self.external.append(name)

    def sparse_tensor(self, start: int, end: int) -> None:
        for field, at, stop in self.messages_of(start, end, "a sparse tensor"):
            if field in (_SPARSE_VALUES, _SPARSE_INDICES):
                self.tensor(at, stop)

    def graph(self, start: int, end: int, depth: int) -> None:
        if depth > MAX_SUBGRAPH_DEPTH:
            raise _malformed(f"its subgraphs nest more than {MAX_SUBGRAPH_DEPTH} deep")
        for field, at, stop in self.messages_of(start, end, "a graph"):
            if field == _GRAPH_NODE:
                self.node(at, stop, depth)
            elif field == _GRAPH_INITIALIZER:
                self.tensor(at, stop)
            elif field == _GRAPH_SPARSE_INITIALIZER:
                self.sparse_tensor(at, stop)

    def node(self, start: int, end: int, depth: int) -> None:
        name = op_type = domain = ""
        attributes: list[tuple[int, int]] = []
        for field, at, stop in self.messages_of(start, end, "a node"):
            if field == _NODE_NAME:
                name = self.string(at, stop)
            elif field == _NODE_OP_TYPE:
                op_type = self.string(at, stop)
            elif field == _NODE_DOMAIN:
                domain = self.string(at, stop)
            elif field == _NODE_ATTRIBUTE:
                attributes.append((at, stop))
        if (op_type, domain) not in self.nodes:
            self.operators += 1
            if self.operators > MAX_DISTINCT_OPERATORS:
                raise _malformed(f"it uses more than {MAX_DISTINCT_OPERATORS} distinct operators")
            self.nodes[op_type, domain] = OnnxNode(name, op_type, domain)
        for attribute_start, attribute_end in attributes:
            for field, at, stop in self.messages_of(attribute_start, attribute_end, "a node attribute"):
                if field in _ATTRIBUTE_TENSORS:
                    self.tensor(at, stop)
                elif field in _ATTRIBUTE_SPARSE_TENSORS:
                    self.sparse_tensor(at, stop)
                elif field in _ATTRIBUTE_GRAPHS:
                    self.graph(at, stop, depth + 1)

    def function(self, start: int, end: int) -> OnnxFunction:
        name = domain = ""
        graph_nodes, self.nodes = self.nodes, {}
        try:
            for field, at, stop in self.messages_of(start, end, "a function"):
                if field == _FUNCTION_NAME:
                    name = self.string(at, stop)
                elif field == _FUNCTION_DOMAIN:
                    domain = self.string(at, stop)
                elif field == _FUNCTION_NODE:
                    self.node(at, stop, 1)
            return OnnxFunction(name, domain, tuple(self.nodes.values()))
        finally:
            self.nodes = graph_nodes


def read_onnx_header(f: BinaryIO, size: int) -> OnnxHeader:
    """Walk an ONNX ModelProto (an open binary file of ``size`` bytes, position restored) and return
    what it declares. Raises ``CheckpointError`` ``onnx_invalid`` when a nested field is cut short or
    malformed, or past :data:`MAX_ONNX_FIELDS` fields or :data:`MAX_SUBGRAPH_DEPTH` nested subgraphs."""
    position = f.tell()
    walker = _Walker(f)
    opsets: list[tuple[str, int]] = []
    functions: list[OnnxFunction] = []
    try:
        for field, at, stop in walker.messages_of(0, size, "the model"):
            if field == _MODEL_OPSET_IMPORT:
                opsets.append(walker.opset(at, stop))
            elif field == _MODEL_GRAPH:
                walker.graph(at, stop, 0)
            elif field == _MODEL_FUNCTIONS:
                functions.append(walker.function(at, stop))
    finally:
        f.seek(position)
    return OnnxHeader(tuple(opsets), tuple(walker.nodes.values()), tuple(walker.external), tuple(functions))


def check_onnx_header(header: OnnxHeader) -> None:
    """Refuse what the platform never runs, with the worker's codes and messages (see the module)."""
    for name in header.external_tensors:
        raise CheckpointError(
            FailureCode.ONNX_EXTERNAL_DATA,
            f"ONNX tensor {name[:80]!r} keeps its data in an external file; only single-file models are "
            f"accepted. Export without external data ({_EXPORT}); models of 2 GiB "
            "or more are too large for the platform.",
        )
    for domain, _ in header.opsets:
        if domain not in STANDARD_ONNX_DOMAINS:
            raise CheckpointError(
                FailureCode.ONNX_CUSTOM_OP,
                f"The ONNX model imports the operator domain {domain[:80]!r}; only standard ONNX operators "
                "are accepted (no custom operators). Re-export using standard operators only.",
            )
    for function in header.functions:
        if function.domain not in STANDARD_ONNX_DOMAINS or any(
            node.domain not in STANDARD_ONNX_DOMAINS for node in function.nodes
        ):
            raise CheckpointError(
                FailureCode.ONNX_CUSTOM_OP,
                f"The ONNX model defines the function {function.name[:80]!r} in domain {function.domain[:80]!r}; "
                f"only standard ONNX operators are accepted. Re-export with functions inlined ({_EXPORT}).",
            )
    for node in header.nodes:
        if node.domain not in STANDARD_ONNX_DOMAINS:
            raise CheckpointError(
                FailureCode.ONNX_CUSTOM_OP,
                f"ONNX node {node.name[:80]!r} uses operator {node.op_type[:80]!r} of domain {node.domain[:80]!r}; "
                "only standard ONNX operators are accepted (no custom operators).",
            )
    versions = {("" if domain == "ai.onnx" else domain): version for domain, version in reversed(header.opsets)}
    if "" not in versions:
        raise CheckpointError(
            FailureCode.ONNX_INVALID,
            "The ONNX model imports no version of the standard operator set (its opset_import has no "
            f"ai.onnx entry), so its operators mean nothing. Re-export it ({_EXPORT} writes opset 17).",
        )
    if not MIN_ONNX_OPSET <= versions[""] <= MAX_ONNX_OPSET:
        raise CheckpointError(
            FailureCode.ONNX_INVALID,
            f"The ONNX model uses ai.onnx opset {versions['']}; the platform runs opsets {MIN_ONNX_OPSET} to "
            f"{MAX_ONNX_OPSET}. Re-export with an opset in that range ({_EXPORT} writes opset 17).",
        )
    local = {(("" if f.domain == "ai.onnx" else f.domain), f.name) for f in header.functions}
    for node in (*header.nodes, *(node for function in header.functions for node in function.nodes)):
        domain = "" if node.domain == "ai.onnx" else node.domain
        if (domain, node.op_type) in local:
            continue
        since = ONNX_OPERATORS[domain].get(node.op_type)
        version = versions.get(domain)
        if since is None or (version is not None and since > version):
            known = "is not a standard ONNX operator" if since is None else f"needs opset {since} or later"
            raise CheckpointError(
                FailureCode.ONNX_INVALID,
                f"ONNX node {node.name[:80]!r} uses operator {node.op_type[:80]!r}, which {known} "
                f"(the model imports {domain or 'ai.onnx'} opset {version}). Re-export using standard operators "
                "of the imported opset.",
            )


def check_onnx_file(f: BinaryIO, size: int) -> OnnxHeader:
    """:func:`read_onnx_header` then :func:`check_onnx_header`; the header when nothing is refused."""
    header = read_onnx_header(f, size)
    check_onnx_header(header)
    return header
