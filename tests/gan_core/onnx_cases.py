"""ONNX files the worker refuses, built with the onnx package, for the tests that hold the upload's
torch-free check (gan_core.onnx_header) and the worker's to the same answer."""

from __future__ import annotations

from pathlib import Path

from gan_core.checkpoints import inspect_checkpoint
from gan_core.failures import CheckpointError


def onnx_worker_refusal(data: bytes, folder: Path) -> CheckpointError | None:
    """The worker's answer (``inspect_checkpoint``) to ``data`` saved as ``folder/model.onnx``: its
    refusal, or None where it takes the file."""
    path = folder / "model.onnx"
    path.write_bytes(data)
    try:
        inspect_checkpoint(path)
    except CheckpointError as error:
        return error
    return None


def _model(nodes=None, opsets=(("", 17),), **graph_kwargs):
    from onnx import TensorProto, helper

    image = ["N", 3, "H", "W"]
    graph = helper.make_graph(
        nodes if nodes is not None else [helper.make_node("Identity", ["input"], ["output"], name="copy")],
        "g",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, image)],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, image)],
        **graph_kwargs,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets], ir_version=8)


def valid_bytes(weight_bytes: int = 0) -> bytes:
    """A valid model, ``input * w`` with a ``weight_bytes``-byte float32 initializer ``w`` (raw data)."""
    from onnx import TensorProto, helper

    if not weight_bytes:
        return _model().SerializeToString()
    count = weight_bytes // 4
    weight = helper.make_tensor("w", TensorProto.FLOAT, [count, 1, 1, 1], b"\x00" * (4 * count), raw=True)
    nodes = [
        helper.make_node("ReduceSum", ["w"], ["s"], name="sum", keepdims=1),
        helper.make_node("Mul", ["input", "s"], ["output"], name="scale"),
    ]
    return _model(nodes, initializer=[weight]).SerializeToString()


def refused_cases() -> dict[str, tuple[bytes, str]]:
    """``{name: (file bytes, the worker's failure code)}``, one per class of refusal."""
    from onnx import TensorProto, helper

    external = _model()
    tensor = helper.make_tensor("stolen", TensorProto.FLOAT, [4], [0.0] * 4)
    tensor.ClearField("float_data")
    tensor.data_location = TensorProto.EXTERNAL
    tensor.external_data.add(key="location", value="../../etc/passwd")
    external.graph.initializer.append(tensor)

    in_subgraph = _model()  # external data hidden in an If branch's Constant
    branch_tensor = helper.make_tensor("hidden", TensorProto.FLOAT, [1], [0.0])
    branch_tensor.ClearField("float_data")
    branch_tensor.data_location = TensorProto.EXTERNAL
    branch = helper.make_graph(
        [helper.make_node("Constant", [], ["c"], value=branch_tensor)],
        "branch",
        [],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, [1])],
    )
    in_subgraph.graph.node.append(
        helper.make_node("If", ["cond"], ["unused"], name="if", then_branch=branch, else_branch=branch)
    )

    custom_node = _model([helper.make_node("Boom", ["input"], ["output"], name="boom", domain="com.evil")])
    custom_import = _model(opsets=(("", 17), ("com.microsoft", 1)))
    function = helper.make_function(
        "com.evil", "Twice", ["x"], ["y"], [helper.make_node("Identity", ["x"], ["y"])], [helper.make_opsetid("", 17)]
    )
    custom_function = _model([helper.make_node("Twice", ["input"], ["output"], domain="")])
    custom_function.functions.append(function)
    unknown = _model([helper.make_node("Frobnicate", ["input"], ["output"], name="frob")])
    too_recent_op = _model([helper.make_node("Gelu", ["input"], ["output"], name="gelu")])  # opset 20
    valid = valid_bytes()
    return {
        "external_data": (external.SerializeToString(), "onnx_external_data"),
        "external_data_in_subgraph": (in_subgraph.SerializeToString(), "onnx_external_data"),
        "custom_node": (custom_node.SerializeToString(), "onnx_custom_op"),
        "custom_domain_import": (custom_import.SerializeToString(), "onnx_custom_op"),
        "custom_function": (custom_function.SerializeToString(), "onnx_custom_op"),
        "unknown_operator": (unknown.SerializeToString(), "onnx_invalid"),
        "operator_newer_than_opset": (too_recent_op.SerializeToString(), "onnx_invalid"),
        "missing_opset": (_model(opsets=()).SerializeToString(), "onnx_invalid"),
        "only_ml_opset": (_model(opsets=(("ai.onnx.ml", 3),)).SerializeToString(), "onnx_invalid"),
        "too_new_opset": (_model(opsets=(("", 40),)).SerializeToString(), "onnx_invalid"),
        "too_old_opset": (_model(opsets=(("", 1),)).SerializeToString(), "onnx_invalid"),
        "truncated": (valid[:-5], "truncated"),
        "nested_field_cut_short": (_cut_inside_graph(valid), "onnx_invalid"),
    }


def _cut_inside_graph(data: bytes) -> bytes:
    """The model with its graph's first node claiming more bytes than the graph holds."""
    import onnx

    model = onnx.ModelProto()
    model.ParseFromString(data)
    graph = model.graph.SerializeToString()
    assert graph[0] == 0x0A  # field 1 (node), length-delimited
    broken_graph = b"\x0a" + bytes([0x7F]) + graph[2:]  # a node length past the graph's end
    model.ClearField("graph")
    head = model.SerializeToString()
    return head + b"\x3a" + _varint(len(broken_graph)) + broken_graph


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)
