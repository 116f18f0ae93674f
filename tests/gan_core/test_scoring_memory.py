"""Peak memory of each metric's scoring path does not grow with the number of images.

Each case scores the same images twice in fresh processes (``memory_probe``): once a few full
batches, once three times as many, through ``output_features`` (decode, network, metric) with a
fixed memory budget and seeded random networks. The peak resident memory of the larger run may
exceed the smaller's by a few MiB (allocator noise), not by a batch's worth per extra batch.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tests.gan_core.memory_probe import peak_growth_mib

#: metric -> (image side, images in the small run, images in the large run); the small run already
#: holds a full step of that metric's network or window at the 128 MiB budget.
CASES = {
    "ssim": (96, 32, 96),
    "lpips": (96, 32, 96),
    "content": (64, 32, 96),
    "gram": (64, 32, 96),
    "inception": (48, 8, 24),
}
ALLOWED_GROWTH_MIB = 16


def _write(folder, count: int, size: int, seed: int) -> None:
    folder.mkdir()
    rng = np.random.default_rng(seed)
    for index in range(count):
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(folder / f"{index:04d}.png")


SETUP = """
from pathlib import Path
from gan_core.features import WeightsMode, inception, lpips_alex, vgg19_taps
from gan_core.images import list_images
from gan_core.scoring import output_features, style_grams
metric, root, count = {metric!r}, Path({root!r}), {count}
outputs, inputs = list_images(root / "outputs")[:count], list_images(root / "content")[:count]
kwargs = dict(budget=128, per_image=[] if metric == "inception" else [metric])
random = dict(weights=WeightsMode.RANDOM, seed=0, device="cpu", budget=128)
if metric == "inception":
    kwargs["inception_extractor"] = inception(dims=64, **random)
if metric in ("ssim", "lpips", "content"):
    kwargs["content_paths"] = inputs
if metric == "lpips":
    kwargs["lpips"] = lpips_alex(**random)
if metric in ("content", "gram"):
    kwargs["vgg"] = vgg19_taps(**random)
if metric == "gram":
    kwargs["style_means"] = style_grams(inputs[:2], kwargs["vgg"], seed=0, cache=None)[0]
warm = {{key: value[:2] if key == "content_paths" else value for key, value in kwargs.items()}}
output_features(outputs[:2], **warm)
"""


@pytest.mark.parametrize("metric", list(CASES))
def test_peak_memory_does_not_grow_with_the_number_of_outputs(tmp_path, metric: str) -> None:
    size, small, large = CASES[metric]
    _write(tmp_path / "outputs", large, size, seed=1)
    _write(tmp_path / "content", large, size, seed=2)
    call = "features = output_features(outputs, **kwargs)\nassert len(features.names) == count"
    runs = {
        count: peak_growth_mib(SETUP.format(metric=metric, root=str(tmp_path), count=count), call)
        for count in (small, large)
    }
    assert runs[large]["peak_mib"] - runs[small]["peak_mib"] < ALLOWED_GROWTH_MIB, runs
