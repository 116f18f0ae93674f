"""Checkpoint formats: round trips through both formats for every reference architecture, and the refusals."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import onnx
import pytest
import torch

from gan_core.checkpoints import (
    CheckpointError,
    CheckpointFormat,
    CheckpointInfo,
    check_state_shapes,
    detect_format,
    export_onnx,
    inspect_checkpoint,
    load_generator,
    save_safetensors_checkpoint,
)
from gan_core.generators import build_generator
from tests.gan_core import hostile
from tests.gan_core.sandbox_support import SMALL_CONFIGS

CPU = torch.device("cpu")


def _trained_like(config: dict) -> torch.nn.Module:
    """A small generator with non-trivial weights (affine norms not at their ones/zeros initialisation)."""
    torch.manual_seed(1)
    module = build_generator(config).eval()
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.05)
    return module


def _images() -> torch.Tensor:
    torch.manual_seed(2)
    return torch.rand(2, 3, 16, 24) * 2 - 1


@pytest.mark.parametrize("config", SMALL_CONFIGS, ids=lambda c: c["architecture"])
def test_safetensors_round_trip_equals_the_eager_module(tmp_path: Path, config: dict) -> None:
    # given a generator written by the exporter's writer
    module = _trained_like(config)
    path = tmp_path / "model.safetensors"
    save_safetensors_checkpoint(module.state_dict(), path, config=config)
    # when it is inspected and loaded as the platform does
    info = inspect_checkpoint(path)
    generator = load_generator(path, info, device=CPU)
    output = generator(_images())
    # then the header told the truth and the outputs equal the eager module's
    assert info.format is CheckpointFormat.SAFETENSORS
    assert info.architecture == config["architecture"]
    assert info.config["hyperparameters"].items() >= config["hyperparameters"].items()
    assert info.parameter_count == sum(p.numel() for p in module.parameters())
    assert info.size == path.stat().st_size
    assert info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    with torch.no_grad():
        expected = module(_images())
    assert output.shape == (2, 3, 16, 24)
    assert float((output - expected).abs().max()) <= 1e-4


@pytest.mark.parametrize("config", SMALL_CONFIGS, ids=lambda c: c["architecture"])
def test_onnx_round_trip_equals_the_eager_module(tmp_path: Path, config: dict) -> None:
    # given the same architectures exported to ONNX with dynamic axes (from a 32x32 sample)
    module = _trained_like(config)
    path = tmp_path / "model.onnx"
    export_onnx(module, path, sample_size=32)
    # when inspected and run by onnxruntime on another batch size and another, non-square size
    info = inspect_checkpoint(path)
    generator = load_generator(path, info, device=CPU, threads=1)
    output = generator(_images())
    # then it is accepted as ONNX and agrees with the eager module
    assert info.format is CheckpointFormat.ONNX
    assert info.architecture is None
    assert info.config == {"value_range": "-1,1"}
    assert 0 < info.parameter_count <= sum(p.numel() for p in module.parameters())
    with torch.no_grad():
        expected = module(_images())
    assert output.shape == (2, 3, 16, 24)
    assert output.dtype == torch.float32
    assert float((output - expected).abs().max()) <= 1e-4


def test_half_precision_safetensors_load_into_a_float32_generator(tmp_path: Path) -> None:
    config = SMALL_CONFIGS[1]
    module = _trained_like(config)
    path = tmp_path / "half.safetensors"
    save_safetensors_checkpoint(module.state_dict(), path, config=config, dtype="float16")
    info = inspect_checkpoint(path)
    output = load_generator(path, info, device=CPU)(_images())
    with torch.no_grad():
        expected = module(_images())
    assert output.dtype == torch.float32
    assert info.size < sum(p.numel() for p in module.parameters()) * 4
    assert float((output - expected).abs().max()) < 2e-2


def test_the_config_travels_in_the_safetensors_metadata(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    config = {**SMALL_CONFIGS[0], "value_range": "0,1"}
    save_safetensors_checkpoint(_trained_like(config).state_dict(), path, config=config)
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as opened:
        written = json.loads(opened.metadata()["atelier"])
    assert written == {
        "architecture": "resnet",
        "hyperparameters": {"n_blocks": 6, "ngf": 4, "use_dropout": False},
        "value_range": "0,1",
    }


def test_a_sidecar_config_is_accepted_for_plain_safetensors(tmp_path: Path) -> None:
    # given weights saved with safetensors alone (no Atelier metadata)
    from safetensors.torch import save_file

    config = SMALL_CONFIGS[2]
    module = _trained_like(config)
    path = tmp_path / "plain.safetensors"
    save_file(module.state_dict(), str(path))
    # then inspection needs the config, and accepts it given next to the file
    with pytest.raises(CheckpointError) as caught:
        inspect_checkpoint(path)
    assert caught.value.code == "bad_config"
    info = inspect_checkpoint(path, config=config)
    assert info.architecture == "unet_small"


def test_a_checkpoint_declaring_another_value_range_than_the_phase_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    config = {**SMALL_CONFIGS[1], "value_range": "0,1"}
    save_safetensors_checkpoint(_trained_like(config).state_dict(), path, config=config)
    with pytest.raises(CheckpointError) as caught:
        inspect_checkpoint(path, value_range="-1,1")
    assert caught.value.code == "bad_config"
    assert "--value-range -1,1" in caught.value.message
    assert inspect_checkpoint(path, value_range="0,1").config["value_range"] == "0,1"


def test_the_phase_limits_formats_architectures_and_size(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    save_safetensors_checkpoint(_trained_like(SMALL_CONFIGS[0]).state_dict(), path, config=SMALL_CONFIGS[0])
    refusals = {}
    for name, kwargs in {
        "format": {"allowed_formats": frozenset({CheckpointFormat.ONNX})},
        "architecture": {"allowed_architectures": frozenset({"transformer_net"})},
        "size": {"max_bytes": 1000},
    }.items():
        with pytest.raises(CheckpointError) as caught:
            inspect_checkpoint(path, **kwargs)
        refusals[name] = (caught.value.code, caught.value.reason)
    assert refusals == {
        "format": ("unsupported_format", "not_allowed"),
        "architecture": ("unknown_architecture", None),
        "size": ("too_large", None),
    }


def test_a_file_changed_after_inspection_is_not_loaded(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    config = SMALL_CONFIGS[2]
    save_safetensors_checkpoint(_trained_like(config).state_dict(), path, config=config)
    info = inspect_checkpoint(path)
    # when the file is swapped for other weights of the same layout
    save_safetensors_checkpoint(build_generator(config).state_dict(), path, config=config)
    with pytest.raises(CheckpointError) as caught:
        load_generator(path, info, device=CPU)
    assert "changed after it was inspected" in caught.value.message


def test_a_forged_info_cannot_make_the_loader_skip_inspection(tmp_path: Path) -> None:
    path = tmp_path / "payload.pt"
    path.write_bytes(hostile.pickle_payload(tmp_path / "marker", protocol=2))
    forged = CheckpointInfo(CheckpointFormat.SAFETENSORS, "0" * 64, path.stat().st_size, "resnet", {}, 0)
    with pytest.raises(CheckpointError):
        load_generator(path, forged, device=CPU)
    assert not (tmp_path / "marker").exists()


def test_data_parallel_prefixes_get_a_hint(tmp_path: Path) -> None:
    config = SMALL_CONFIGS[2]
    state = {f"module.{name}": tensor for name, tensor in build_generator(config).state_dict().items()}
    with pytest.raises(CheckpointError) as caught:
        check_state_shapes({name: tuple(t.shape) for name, t in state.items()}, config)
    assert caught.value.code == "missing_tensor"
    assert "start with 'module.'" in caught.value.message


def test_shape_mismatch_names_the_tensor_and_both_shapes() -> None:
    config = SMALL_CONFIGS[0]
    shapes = {name: tuple(t.shape) for name, t in build_generator(config).state_dict().items()}
    shapes["model.1.weight"] = (16, 3, 7, 7)
    with pytest.raises(CheckpointError) as caught:
        check_state_shapes(shapes, config)
    assert caught.value.code == "shape_mismatch"
    assert "'model.1.weight' is [16, 3, 7, 7], expected [4, 3, 7, 7]" in caught.value.message


def test_an_onnx_model_declaring_zero_one_is_refused_by_a_minus_one_one_phase(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    export_onnx(_trained_like({**SMALL_CONFIGS[2], "value_range": "0,1"}), path, value_range="0,1", sample_size=16)
    assert inspect_checkpoint(path).config == {"value_range": "0,1"}
    with pytest.raises(CheckpointError) as caught:
        inspect_checkpoint(path, value_range="-1,1")
    assert caught.value.code == "bad_config"


def test_an_onnx_output_with_a_fixed_wrong_channel_count_is_refused_before_running(tmp_path: Path) -> None:
    model = onnx.ModelProto()
    model.ParseFromString(hostile.onnx_bytes())
    model.graph.output[0].type.tensor_type.shape.dim[1].dim_value = 4
    path = tmp_path / "rgba.onnx"
    path.write_bytes(model.SerializeToString())
    with pytest.raises(CheckpointError) as caught:
        inspect_checkpoint(path)
    assert caught.value.code == "wrong_channels"


def test_exported_onnx_files_carry_no_function_and_only_standard_domains(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    export_onnx(_trained_like(SMALL_CONFIGS[0]), path, sample_size=16)
    model = onnx.load(str(path), load_external_data=False)
    assert len(model.functions) == 0
    assert {opset.domain for opset in model.opset_import} <= {"", "ai.onnx"}
    assert detect_format(path) is CheckpointFormat.ONNX


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (torch.cuda.is_available() is False here)")
def test_safetensors_generators_run_on_cuda_and_return_cuda_tensors(tmp_path: Path) -> None:
    config = SMALL_CONFIGS[0]
    module = _trained_like(config)
    path = tmp_path / "model.safetensors"
    save_safetensors_checkpoint(module.state_dict(), path, config=config)
    generator = load_generator(path, inspect_checkpoint(path), device=torch.device("cuda"))
    output = generator(_images().cuda())
    with torch.no_grad():
        expected = module(_images())
    assert output.device.type == "cuda"
    assert float((output.cpu() - expected).abs().max()) <= 1e-3
