"""Helpers shared by the sandbox tests: bubblewrap availability, small checkpoints, hostile ONNX graphs.

Hostile models need code to misbehave and safetensors has none, so they are ONNX graphs built
here (nothing binary is committed): a ``Tile`` far past the memory limit, a ``Loop`` that never
ends, ``0 / 0``, an output much larger than the input.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gan_core import sandbox
from gan_core.checkpoints import export_onnx, save_safetensors_checkpoint
from gan_core.generators import build_generator

#: A reference generator small enough to start and run in a test in a second or two.
TINY_CONFIG = {"architecture": "transformer_net", "hyperparameters": {"channels": 4, "n_residual": 1}}
#: One small config per reference architecture: each builds and runs in well under a second.
SMALL_CONFIGS = [
    {"architecture": "resnet", "hyperparameters": {"n_blocks": 6, "ngf": 4}},
    {"architecture": "transformer_net", "hyperparameters": {"channels": 4, "n_residual": 2}},
    {"architecture": "unet_small", "hyperparameters": {"base_channels": 4, "depth": 2}},
]
#: Limits for tests: 1.5 GiB (torch and onnxruntime take about 0.8 GiB), one thread.
TEST_LIMITS = sandbox.SandboxLimits(memory_bytes=1536 * 1024**2, wall_seconds=120, threads=1, batch_size=2)
#: The ``tests`` package folder, bound read-only so ``tests.gan_core.hostile_child`` runs inside the sandbox.
TESTS_PACKAGE = Path(__file__).resolve().parents[1]


def ensure_bubblewrap() -> str:
    """The working bubblewrap, installed the way ``.ci/run`` does (``apt-get install -y bubblewrap``
    when root and missing); skips the test, naming the package, when it cannot be had."""
    if shutil.which("bwrap") is None and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "bubblewrap"], capture_output=True, check=False, timeout=300)
        sandbox._bubblewrap_works.cache_clear()
    found = sandbox.find_bubblewrap()
    if found is None:
        pytest.skip("needs a working bubblewrap (Debian package bubblewrap: apt-get install bubblewrap)")
    return found


def run_hostile_child(
    tmp_path: Path, *arguments: str, limits: sandbox.SandboxLimits = TEST_LIMITS, read_only=()
) -> sandbox.ChildOutcome:
    """Run ``tests.gan_core.hostile_child`` with ``arguments`` in the sandbox, writing into ``tmp_path / "out"``."""
    output = tmp_path / "out"
    output.mkdir(parents=True, exist_ok=True)
    return sandbox.run_in_sandbox(
        module="tests.gan_core.hostile_child",
        arguments=list(arguments),
        read_only=list(read_only),
        output_dir=output,
        limits=limits,
        extra_code_paths=[TESTS_PACKAGE],
    )


def write_tiny_safetensors(path: Path, *, config: dict | None = None, seed: int = 0) -> torch.nn.Module:
    """Write a random-initialised reference generator as safetensors; returns the eager module (eval mode)."""
    torch.manual_seed(seed)
    module = build_generator(config or TINY_CONFIG).eval()
    save_safetensors_checkpoint(module.state_dict(), path, config=config or TINY_CONFIG)
    return module


def write_tiny_onnx(path: Path, *, config: dict | None = None, seed: int = 0) -> torch.nn.Module:
    """Write a random-initialised reference generator as ONNX; returns the eager module (eval mode)."""
    torch.manual_seed(seed)
    module = build_generator(config or TINY_CONFIG).eval()
    export_onnx(module, path)
    return module


def write_images(folder: Path, count: int, *, height: int = 32, width: int = 32, seed: int = 0) -> list[Path]:
    """``count`` deterministic RGB PNGs named ``image_000.png`` ... in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for index in range(count):
        path = folder / f"image_{index:03d}.png"
        Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


# --------------------------------------------------------------------------- hostile ONNX graphs


def _onnx_model(nodes: list, initializers: list) -> bytes:
    import onnx
    from onnx import TensorProto, helper

    dims = ["batch", 3, "height", "width"]
    graph = helper.make_graph(
        nodes,
        "hostile",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, dims)],
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def onnx_returning_nan() -> bytes:
    """``(x - x) / (x - x)``: every output value is NaN."""
    from onnx import helper

    return _onnx_model(
        [helper.make_node("Sub", ["input", "input"], ["z"]), helper.make_node("Div", ["z", "z"], ["output"])], []
    )


def onnx_allocating(repeat: int = 256) -> bytes:
    """Tiles the input ``repeat x repeat`` times (a 64x64 probe becomes 3 x 16384 x 16384 floats, 3 GiB)
    and reduces it to a number added times zero: the output is the input, the peak is huge. The tile
    depends on the input, so onnxruntime cannot fold it away at load time."""
    from onnx import helper, numpy_helper

    repeats = numpy_helper.from_array(np.array([1, 1, repeat, repeat], dtype=np.int64), "repeats")
    zero = numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero")
    nodes = [
        helper.make_node("Tile", ["input", "repeats"], ["big"]),
        helper.make_node("ReduceMean", ["big"], ["mean"], keepdims=0),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
        helper.make_node("Add", ["input", "nothing"], ["output"]),
    ]
    return _onnx_model(nodes, [repeats, zero])


def onnx_never_finishing() -> bytes:
    """A ``Loop`` of 2**62 iterations adding one to a scalar, then the input plus zero times it."""
    from onnx import TensorProto, helper, numpy_helper

    constants = [
        numpy_helper.from_array(np.array(2**62, dtype=np.int64), "trip_count"),
        numpy_helper.from_array(np.array(True), "keep_going"),
        numpy_helper.from_array(np.array(0.0, dtype=np.float32), "start"),
        numpy_helper.from_array(np.array(1.0, dtype=np.float32), "one"),
        numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero"),
    ]
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]), helper.make_node("Add", ["v_in", "one"], ["v_out"])],
        "body",
        [
            helper.make_tensor_value_info("iteration", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v_in", TensorProto.FLOAT, []),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v_out", TensorProto.FLOAT, []),
        ],
    )
    nodes = [
        helper.make_node("Loop", ["trip_count", "keep_going", "start"], ["counted"], body=body),
        helper.make_node("Mul", ["counted", "zero"], ["nothing"]),
        helper.make_node("Add", ["input", "nothing"], ["output"]),
    ]
    return _onnx_model(nodes, constants)


def onnx_returning_huge_output(repeat: int = 16) -> bytes:
    """Returns the input tiled ``repeat x repeat`` times: 16 times the height and width."""
    from onnx import helper, numpy_helper

    repeats = numpy_helper.from_array(np.array([1, 1, repeat, repeat], dtype=np.int64), "repeats")
    return _onnx_model([helper.make_node("Tile", ["input", "repeats"], ["output"])], [repeats])
