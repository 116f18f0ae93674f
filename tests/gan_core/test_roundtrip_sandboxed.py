"""Round trip through the sandbox, for each format and each reference architecture:
export, validate (header inspected here, probe run in the sandbox) and run over images (in the
same sandboxed child, ``RunMode.VALIDATE_THEN_RUN``, one start-up per case); the outputs equal
the eager PyTorch model's within 1e-4 before quantisation, and the PNGs equal the eager output
quantised the same way (off by at most one level)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from gan_core import sandbox
from gan_core.checkpoints import export_onnx, inspect_checkpoint, save_safetensors_checkpoint
from gan_core.contract import GeneratorContract
from gan_core.generators import build_generator
from gan_core.images import load_image, to_uint8
from tests.gan_core.sandbox_support import SMALL_CONFIGS, TEST_LIMITS, ensure_bubblewrap, write_images

pytestmark = pytest.mark.needs_bwrap

CONTRACT = GeneratorContract()


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return write_images(tmp_path_factory.mktemp("content"), 3, height=32, width=32, seed=7)


@pytest.mark.parametrize("checkpoint_format", ["safetensors", "onnx"])
@pytest.mark.parametrize("config", SMALL_CONFIGS, ids=lambda c: c["architecture"])
def test_a_reference_generator_gives_the_eager_outputs_through_the_sandbox(
    tmp_path: Path, images: list[Path], config: dict, checkpoint_format: str
) -> None:
    ensure_bubblewrap()
    # given a random-initialised reference generator, exported in the format
    torch.manual_seed(3)
    module = build_generator(config).eval()
    checkpoint = tmp_path / f"generator.{checkpoint_format}"
    if checkpoint_format == "safetensors":
        save_safetensors_checkpoint(module.state_dict(), checkpoint, config=config)
    else:
        export_onnx(module, checkpoint)
    # when the platform inspects its header, then validates it and runs it over the images in the sandbox
    info = inspect_checkpoint(checkpoint, value_range=CONTRACT.value_range)
    result = sandbox.run_generator(
        checkpoint=checkpoint,
        inputs=images,
        output_dir=tmp_path / "out",
        contract=CONTRACT,
        limits=TEST_LIMITS,
        mode=sandbox.RunMode.VALIDATE_THEN_RUN,
        raw_outputs=sandbox.RawOutputMode.NUMPY,
        info=info,
        probe_size=32,
    )
    # then the raw outputs equal the eager model's within 1e-4, and the PNGs its quantised outputs
    batch = torch.stack([load_image(path) for path in images]).to(torch.float32) / 255.0 * 2.0 - 1.0
    with torch.inference_mode():
        eager = module(batch).clamp(-1.0, 1.0)
    assert result.isolation is sandbox.IsolationMode.BUBBLEWRAP
    assert result.probe_seconds_per_image is not None  # the probe ran and passed the contract first
    assert [p.name for p in result.outputs] == [p.name for p in images]
    raw = torch.from_numpy(np.stack([np.load(path) for path in result.raw_outputs]))
    assert raw.shape == eager.shape
    assert float((raw - eager).abs().max()) <= 1e-4
    expected, _ = to_uint8(eager, value_range=(-1.0, 1.0))
    written = torch.stack([load_image(path) for path in result.outputs])
    assert int((written.to(torch.int16) - expected.to(torch.int16)).abs().max()) <= 1
    assert result.parameter_count == info.parameter_count > 0
    assert (result.images_done, result.images_total) == (3, 3)
