"""The demo competition "Photos to woodcuts", built reproducibly from images shipped in this repository.

Content images are square crops of public-domain and openly licensed photographs in
:data:`SOURCE_FOLDER` (astronaut, coffee, chelsea, rocket, camera, retina, china; their sources
and licences are in its README), resized to :data:`DEMO_IMAGE_SIZE` pixels. The style domain
is made from other crops of the same photographs and of three textures (brick, grass, gravel)
by a deterministic woodcut filter (:func:`woodcut`): greyscale, equalise, edge emphasis,
posterise to three levels, warm ink tint.

Pretrained feature weights cannot be downloaded everywhere, so the demo uses
``feature_weights: random``: every demo score is computed with random-initialised feature
networks, carries ``calibrated: false`` and says so wherever it is shown.

Same Pillow version: same bytes; :func:`demo_bundle_build` returns the bundle's SHA-256.
No torch here: the baselines of ``load_demo`` are built in :func:`baseline_checkpoints`, which
imports gan_core lazily.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import yaml
from PIL import Image, ImageFilter, ImageOps

DEMO_SLUG = "woodcut"
DEMO_IMAGE_SIZE = 64
"""Side of the demo images: small enough that a CPU worker scores a submission in seconds."""
DEMO_SPLIT_SEED = 2026
DEMO_PREVIEWS = 4

SOURCE_FOLDER = Path(__file__).resolve().parent / "demo_images"
"""The source images, ``<name>.png`` (shorter side 256 pixels); README.md there names each one's source and licence."""
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "camera", "china", "retina")
TEXTURES = ("brick", "grass", "gravel")

# Crop boxes as fractions of the shorter side: (left, top, side). Content and style use different boxes.
CONTENT_CROPS = ((0.5, 0.5, 1.0), (0.0, 0.0, 0.6), (1.0, 1.0, 0.6))
STYLE_PHOTO_CROPS = ((1.0, 0.0, 0.55),)
STYLE_TEXTURE_CROPS = ((0.0, 0.0, 0.5), (1.0, 1.0, 0.5))

INK = (46, 28, 20)
OCHRE = (170, 98, 46)
PAPER = (242, 226, 190)

DEMO_RULES = """\
This is the Atelier demo. Upload a generator that turns photographs into woodcut prints.

- Scores are computed with **random-initialised** feature networks (no pretrained weights are
  downloaded in the demo): they are **not calibrated** and compare only with each other.
- Be kind; one account per person.
"""

DEMO_MANIFEST = {
    "version": 1,
    "slug": DEMO_SLUG,
    "title": "Photos to woodcuts (demo)",
    "summary": "Turn small photographs into warm three-tone woodcut prints.",
    "description": (
        "Content images are crops of public-domain and CC-licensed photographs (sources and licences: "
        "competitions/demo_images/README.md in the Atelier repository); the style set is "
        "made from other crops by a deterministic woodcut filter. Scores use random-initialised feature "
        "networks (not calibrated)."
    ),
    "rules": DEMO_RULES,
    "visibility": "public",
    "preprocessing_mode": "clean",
    "input_value_range": "-1,1",
    "image_size": DEMO_IMAGE_SIZE,
    "size_multiple": 4,
    "accepted_formats": ["safetensors", "onnx"],
    "accepted_architectures": [],
    "feature_weights": "random",
    "max_team_size": 3,
    "phases": [
        {
            "slug": "main",
            "name": "Main phase",
            "starts_at": "2025-01-01T00:00:00Z",
            "ends_at": "2035-01-01T00:00:00Z",
            "daily_quota": 10,
            "total_quota": None,
            "max_running": 2,
            "execution_time_limit": 300,
            "upload_size_limit": 50 * 1024 * 1024,
            "final_selection_limit": 2,
            "reveal_private_at_end": True,
            "metrics": [
                {"metric": "fid", "shown": True, "ranking": True, "direction": "lower", "decimals": 2},
                {"metric": "kid", "shown": True, "ranking": False, "direction": "lower", "decimals": 4},
                {"metric": "lpips", "shown": True, "ranking": False, "direction": "lower", "decimals": 3},
                {"metric": "ssim", "shown": True, "ranking": False, "direction": "higher", "decimals": 3},
                {"metric": "gram", "shown": True, "ranking": False, "direction": "lower", "decimals": 3},
            ],
        }
    ],
    "split": {"seed": DEMO_SPLIT_SEED, "public_fraction": 0.5, "previews": DEMO_PREVIEWS},
}


def _source(name: str) -> Image.Image:
    """One source image of :data:`SOURCE_FOLDER` as a Pillow image (RGB or L)."""
    with Image.open(SOURCE_FOLDER / f"{name}.png") as image:
        return image.copy()


def _crop(image: Image.Image, box: tuple[float, float, float], size: int) -> Image.Image:
    """A square crop: ``side`` of the shorter image side, placed at fractions (left, top) of the free room."""
    left_fraction, top_fraction, side_fraction = box
    width, height = image.size
    side = round(min(width, height) * side_fraction)
    left = round((width - side) * left_fraction)
    top = round((height - side) * top_fraction)
    return image.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.LANCZOS)


def woodcut(image: Image.Image, size: int) -> Image.Image:
    """The demo's style: any image -> ``size`` x ``size`` RGB in three warm tones (ink, ochre, paper).

    At twice the final size: greyscale, histogram equalisation, edges darkened (edge emphasis),
    a 3x3 median to merge specks, posterised at the 35th and 70th percentiles, tinted, then
    halved with nearest-neighbour sampling so only the three tones remain.
    """
    grey = ImageOps.equalize(image.convert("L").resize((2 * size, 2 * size), Image.Resampling.LANCZOS))
    edges = np.asarray(grey.filter(ImageFilter.FIND_EDGES), np.float64)
    carved = np.clip(np.asarray(grey, np.float64) - 0.6 * edges, 0, 255).astype(np.uint8)
    carved = np.asarray(Image.fromarray(carved).filter(ImageFilter.MedianFilter(3)))
    levels = np.digitize(carved, np.percentile(carved, [35, 70]))
    palette = np.array([INK, OCHRE, PAPER], dtype=np.uint8)
    tinted = Image.fromarray(palette[levels], mode="RGB")
    return tinted.resize((size, size), Image.Resampling.NEAREST)


def demo_images(size: int = DEMO_IMAGE_SIZE) -> Iterator[tuple[str, Image.Image]]:
    """``(bundle path, image)`` of every demo image, in a fixed order: ``content/*.png`` then ``style/*.png``."""
    photos = {name: _source(name) for name in PHOTOS}
    for name in PHOTOS:
        for index, box in enumerate(CONTENT_CROPS):
            yield f"content/{name}-{index}.png", _crop(photos[name], box, size).convert("RGB")
    for name in PHOTOS:
        for index, box in enumerate(STYLE_PHOTO_CROPS):
            yield f"style/woodcut-{name}-{index}.png", woodcut(_crop(photos[name], box, 2 * size), size)
    for name in TEXTURES:
        texture = _source(name)
        for index, box in enumerate(STYLE_TEXTURE_CROPS):
            yield f"style/woodcut-{name}-{index}.png", woodcut(_crop(texture, box, 2 * size), size)


def _entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info


def demo_bundle_build(destination: Path | BinaryIO) -> str:
    """Write the demo bundle (zip) to ``destination``; returns its SHA-256 hex digest.

    Fixed member order, times and modes: the same Pillow version gives the same bytes.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(_entry("competition.yaml"), yaml.safe_dump(DEMO_MANIFEST, sort_keys=False, width=100))
        for name, image in demo_images():
            png = io.BytesIO()
            image.save(png, format="PNG")
            archive.writestr(_entry(name), png.getvalue())
    data = buffer.getvalue()
    if isinstance(destination, str | Path):
        Path(destination).write_bytes(data)
    else:
        destination.write(data)
    return hashlib.sha256(data).hexdigest()


# --- Baselines (load_demo) ---------------------------------------------------------------------

BASELINES = (
    {
        "name": "identity-like-unet.safetensors",
        "description": "Identity-like U-Net (per-channel standardised input through tanh); an anchor.",
        "config": {"architecture": "unet_small", "hyperparameters": {"base_channels": 6, "depth": 1}},
        "seed": 0,
        "identity_like": True,
    },
    {
        "name": "random-transformer-net-seed-1.safetensors",
        "description": "TransformerNet with random weights (seed 1); what an untrained generator scores.",
        "config": {"architecture": "transformer_net", "hyperparameters": {"channels": 8, "n_residual": 2}},
        "seed": 1,
        "identity_like": False,
    },
    {
        "name": "random-resnet-seed-2.safetensors",
        "description": "CycleGAN ResNet-6 with random weights (seed 2, ngf 8).",
        "config": {"architecture": "resnet", "hyperparameters": {"n_blocks": 6, "ngf": 8}},
        "seed": 2,
        "identity_like": False,
    },
)


def _identity_like(module: Any) -> None:
    """Set a ``unet_small`` (base_channels 6, depth 1) to ``tanh(0.8 * standardised input)``.

    Channels ``2k`` and ``2k+1`` carry ``+x_k`` and ``-x_k`` so that ReLU after instance norm
    loses nothing (``relu(a) - relu(-a) = a``); the deeper level and the up-convolution are zero.
    """
    import torch

    with torch.no_grad():
        for parameter in module.parameters():
            parameter.zero_()
        for norm in [m for m in module.modules() if isinstance(m, torch.nn.InstanceNorm2d)]:
            norm.weight.fill_(1.0)

        def signed_copy(conv, *, from_pairs: bool) -> None:
            for k in range(3):
                for sign, out in ((1.0, 2 * k), (-1.0, 2 * k + 1)):
                    if from_pairs:
                        conv.weight[out, 2 * k, 1, 1] = sign
                        conv.weight[out, 2 * k + 1, 1, 1] = -sign
                    else:
                        conv.weight[out, k, 1, 1] = sign

        signed_copy(module.inc[0], from_pairs=False)
        signed_copy(module.inc[3], from_pairs=True)
        signed_copy(module.up_conv[0][0], from_pairs=True)  # reads the skip (first 6 channels); up-conv is zero
        signed_copy(module.up_conv[0][3], from_pairs=True)
        for k in range(3):
            module.outc.weight[k, 2 * k, 0, 0] = 0.8
            module.outc.weight[k, 2 * k + 1, 0, 0] = -0.8


def baseline_checkpoints(folder: Path) -> list[tuple[Path, str]]:
    """Write the demo baselines as safetensors checkpoints into ``folder``; ``[(path, description)]``.

    Imports torch and gan_core (management commands and tests only).
    """
    import torch

    from gan_core.checkpoints import save_safetensors_checkpoint
    from gan_core.generators import build_generator

    written = []
    for baseline in BASELINES:
        torch.manual_seed(baseline["seed"])
        module = build_generator(baseline["config"])
        if baseline["identity_like"]:
            _identity_like(module)
        path = Path(folder) / baseline["name"]
        save_safetensors_checkpoint(module.state_dict(), path, config=baseline["config"])
        written.append((path, baseline["description"]))
    return written
