"""The torch-free, onnx-free ONNX walk (gan_core.onnx_header) that the upload and the worker share:
every ONNX file the worker refuses by what it declares gets the same code and message from both."""

from __future__ import annotations

import io
from collections import defaultdict

import pytest
import torch

from gan_core import onnx_header
from gan_core.checkpoints import CheckpointFormat, export_onnx, inspect_checkpoint
from gan_core.failures import CheckpointError
from gan_core.formats import check_header
from gan_core.onnx_operators import ONNX_OPERATORS
from tests.gan_core.onnx_cases import onnx_worker_refusal, refused_cases
from tests.support.processes import python_run

CASES = refused_cases()


def web_refusal(data: bytes) -> CheckpointError | None:
    try:
        check_header(io.BytesIO(data), len(data))
    except CheckpointError as error:
        return error
    return None


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_upload_and_the_worker_refuse_each_onnx_class_with_the_same_code_and_message(tmp_path, name):
    data, code = CASES[name]
    worker = onnx_worker_refusal(data, tmp_path)
    web = web_refusal(data)
    assert worker is not None and worker.code == code, (name, worker)
    assert web is not None, name
    assert (web.code, web.message) == (worker.code, worker.message)


def test_the_messages_name_what_is_wrong():
    messages = {name: web_refusal(data).message for name, (data, _) in CASES.items()}
    assert "'stolen' keeps its data in an external file" in messages["external_data"]
    assert "'hidden' keeps its data in an external file" in messages["external_data_in_subgraph"]
    assert "operator 'Boom' of domain 'com.evil'" in messages["custom_node"]
    assert "domain 'com.microsoft'" in messages["custom_domain_import"]
    assert "function 'Twice' in domain 'com.evil'" in messages["custom_function"]
    assert "'Frobnicate', which is not a standard ONNX operator" in messages["unknown_operator"]
    assert (
        "'Gelu', which needs opset 20 or later (the model imports ai.onnx opset 17)"
        in messages["operator_newer_than_opset"]
    )
    assert "imports no version of the standard operator set" in messages["missing_opset"]
    assert "opset 40; the platform runs opsets 7 to 26" in messages["too_new_opset"]
    assert "opset 1; the platform runs opsets 7 to 26" in messages["too_old_opset"]
    assert "runs past the end of its message" in messages["nested_field_cut_short"]


def test_a_valid_exported_generator_passes_both(tmp_path):
    module = torch.nn.Sequential(torch.nn.Conv2d(3, 3, 3, padding=1), torch.nn.Tanh())
    path = tmp_path / "model.onnx"
    export_onnx(module, path, sample_size=16)
    assert inspect_checkpoint(path).format is CheckpointFormat.ONNX
    assert check_header(path).format is CheckpointFormat.ONNX
    header = onnx_header.read_onnx_header(io.BytesIO(path.read_bytes()), path.stat().st_size)
    assert ("", 17) in header.opsets
    assert {node.op_type for node in header.nodes} >= {"Conv", "Tanh"}
    assert header.external_tensors == () and header.functions == ()


def test_the_field_numbers_are_onnxs():
    import onnx

    h = onnx_header
    single = [
        (h._MODEL_GRAPH, onnx.ModelProto, "graph"),
        (h._MODEL_OPSET_IMPORT, onnx.ModelProto, "opset_import"),
        (h._MODEL_FUNCTIONS, onnx.ModelProto, "functions"),
        (h._OPSET_DOMAIN, onnx.OperatorSetIdProto, "domain"),
        (h._OPSET_VERSION, onnx.OperatorSetIdProto, "version"),
        (h._GRAPH_NODE, onnx.GraphProto, "node"),
        (h._GRAPH_INITIALIZER, onnx.GraphProto, "initializer"),
        (h._GRAPH_SPARSE_INITIALIZER, onnx.GraphProto, "sparse_initializer"),
        (h._NODE_NAME, onnx.NodeProto, "name"),
        (h._NODE_OP_TYPE, onnx.NodeProto, "op_type"),
        (h._NODE_ATTRIBUTE, onnx.NodeProto, "attribute"),
        (h._NODE_DOMAIN, onnx.NodeProto, "domain"),
        (h._SPARSE_VALUES, onnx.SparseTensorProto, "values"),
        (h._SPARSE_INDICES, onnx.SparseTensorProto, "indices"),
        (h._TENSOR_NAME, onnx.TensorProto, "name"),
        (h._TENSOR_EXTERNAL_DATA, onnx.TensorProto, "external_data"),
        (h._TENSOR_DATA_LOCATION, onnx.TensorProto, "data_location"),
        (h._FUNCTION_NAME, onnx.FunctionProto, "name"),
        (h._FUNCTION_NODE, onnx.FunctionProto, "node"),
        (h._FUNCTION_DOMAIN, onnx.FunctionProto, "domain"),
    ]
    assert [message.DESCRIPTOR.fields_by_name[field].number for _, message, field in single] == [
        ours for ours, _, _ in single
    ]
    attribute = onnx.AttributeProto.DESCRIPTOR.fields_by_name
    assert h._ATTRIBUTE_TENSORS == {attribute["t"].number, attribute["tensors"].number}
    assert h._ATTRIBUTE_SPARSE_TENSORS == {attribute["sparse_tensor"].number, attribute["sparse_tensors"].number}
    assert h._ATTRIBUTE_GRAPHS == {attribute["g"].number, attribute["graphs"].number}
    assert h._TENSOR_EXTERNAL == onnx.TensorProto.EXTERNAL


def expected_operators() -> dict[str, dict[str, int]]:
    import onnx.defs

    table: dict[str, dict[str, int]] = defaultdict(dict)
    for schema in onnx.defs.get_all_schemas_with_history():
        if schema.domain in ONNX_OPERATORS:
            known = table[schema.domain].get(schema.name, schema.since_version)
            table[schema.domain][schema.name] = min(known, schema.since_version)
    return dict(table)


def test_the_operator_table_is_the_installed_onnxs():
    assert ONNX_OPERATORS == expected_operators()


def test_the_newest_opset_accepted_is_the_newest_onnxruntime_runs():
    import onnxruntime

    from tests.gan_core.onnx_cases import _model

    def runs(version: int) -> bool:
        try:
            onnxruntime.InferenceSession(_model(opsets=(("", version),)).SerializeToString())
        except Exception:  # onnxruntime's own exception types
            return False
        return True

    assert runs(onnx_header.MAX_ONNX_OPSET) and runs(17)
    assert not runs(onnx_header.MAX_ONNX_OPSET + 1)


def test_the_module_imports_neither_onnx_nor_torch():
    probe = (
        "import sys, json, gan_core.formats, gan_core.onnx_header; "
        "print(json.dumps(sorted(n for n in sys.modules if n.split('.')[0] in "
        "{'torch', 'onnx', 'onnxruntime', 'numpy', 'google'})))"
    )
    result = python_run(probe)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def _many_operators() -> bytes:
    from onnx import helper

    from tests.gan_core.onnx_cases import _model

    count = onnx_header.MAX_DISTINCT_OPERATORS + 1
    nodes = [helper.make_node(f"Op{i}", [f"t{i}"], [f"t{i + 1}"]) for i in range(count)]
    nodes[0].input[0], nodes[-1].output[0] = "input", "output"
    return _model(nodes).SerializeToString()


def _deep_subgraphs() -> bytes:
    from onnx import TensorProto, helper

    from tests.gan_core.onnx_cases import _model

    def graph(nodes, name):
        return helper.make_graph(nodes, name, [], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])

    leaf = graph([helper.make_node("Identity", ["x"], ["y"])], "leaf")
    branch = leaf
    for depth in range(onnx_header.MAX_SUBGRAPH_DEPTH + 1):  # each level one If nesting the last
        branch = graph([helper.make_node("If", ["c"], ["y"], then_branch=branch, else_branch=leaf)], f"level{depth}")
    model = _model()
    model.graph.node.append(helper.make_node("If", ["c"], ["z"], then_branch=branch, else_branch=leaf))
    return model.SerializeToString()


@pytest.mark.parametrize(
    ("build", "expected"),
    [(_many_operators, "more than 10000 distinct operators"), (_deep_subgraphs, "nest more than 16 deep")],
    ids=["distinct-operators", "subgraph-depth"],
)
def test_the_walk_is_bounded_and_both_sides_say_so(tmp_path, build, expected):
    data = build()
    web, worker = web_refusal(data), onnx_worker_refusal(data, tmp_path)
    assert web is not None and worker is not None
    assert (web.code, web.message) == (worker.code, worker.message)
    assert web.code == "onnx_invalid" and expected in web.message
