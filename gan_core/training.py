"""A small style-transfer trainer for newcomers: ``python -m gan_core train-demo``.

Johnson et al.'s fast style transfer: a TransformerNet (``gan_core.generators``) is trained so
that its outputs keep the content of the content images (VGG-19 ``conv4_2`` features, mean
squared error) and take the style of the style image(s) (Gram matrices at ``conv1_1`` ...
``conv5_1``, normalised by ``C x H x W``, mean squared error), Gatys et al.'s layers. The loss
network is A1's VGG-19 (``gan_core.features.vgg``) with ImageNet normalisation; it needs the
pretrained torchvision weights (``python -m gan_core weights fetch vgg19``). Where they cannot be
had, ``WeightsMode.RANDOM`` (the CLI's ``--offline-random-vgg``) trains against a seeded random
VGG: the file is a valid, submittable checkpoint, but the result is NOT a real style transfer.

Training is bounded by wall-clock minutes (and optionally steps), on CPU by default, then the
file is written as safetensors with its config in ``__metadata__["atelier"]`` and validated with
the platform's own checks (:func:`gan_core.sandbox.validate_checkpoint`).
"""

from __future__ import annotations

import dataclasses
import enum
import math
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional

from gan_core.contract import GeneratorContract, ValueRange
from gan_core.features.extractor import WeightsMode, load_or_initialise

#: The style layers and the content layer (Gatys et al.).
STYLE_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
CONTENT_LAYER = "conv4_2"


class DemoKind(enum.StrEnum):
    """What a generated demo image looks like: ``style`` (bold colour waves and stripes) or
    ``content`` (smooth gradients with simple shapes)."""

    STYLE = "style"
    CONTENT = "content"


@dataclasses.dataclass(frozen=True)
class TrainingSettings:
    """How ``train_demo`` trains.

    ``size``: square training crops (a multiple of 4). ``minutes``: wall-clock budget of the
    optimisation; ``max_steps``: optional cap on steps. ``channels`` and ``n_residual``: the
    TransformerNet's hyper-parameters (small by default, so a CPU step is quick). ``vgg_weights``:
    ``WeightsMode.RANDOM`` only for the explicitly flagged offline demo (not a real style transfer).
    ``content_weight`` and ``style_weight`` as in pytorch/examples fast_neural_style.
    """

    size: int = 128
    minutes: float = 5.0
    max_steps: int | None = None
    batch_size: int = 2
    learning_rate: float = 1e-3
    content_weight: float = 1e5
    style_weight: float = 1e10
    channels: int = 16
    n_residual: int = 3
    seed: int = 0
    vgg_weights: WeightsMode = WeightsMode.PRETRAINED
    threads: int | None = None

    def __post_init__(self) -> None:
        if self.size < 16 or self.size % 4:
            raise ValueError(f"size must be a multiple of 4 and at least 16, got {self.size}.")
        if self.minutes <= 0:
            raise ValueError(f"minutes must be positive, got {self.minutes}.")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be at least 1, got {self.max_steps}.")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}.")

    @property
    def config(self) -> dict:
        """The generator config written into the checkpoint."""
        return {
            "architecture": "transformer_net",
            "hyperparameters": {"channels": self.channels, "n_residual": self.n_residual},
            "value_range": ValueRange.MINUS_ONE_ONE.value,
        }


@dataclasses.dataclass(frozen=True)
class TrainingReport:
    """What ``train_demo`` did: the file written, steps and training seconds (validation excluded),
    the loss at the first and last step, whether the loss network was calibrated (pretrained), and the platform's validation."""

    checkpoint: Path
    steps: int
    seconds: float
    first_loss: float
    last_loss: float
    calibrated: bool
    config: dict
    validation: object  # gan_core.sandbox.ValidationReport


# --------------------------------------------------------------------------- images


def demo_images(kind: DemoKind, *, count: int = 4, size: int = 128, seed: int = 0) -> list[torch.Tensor]:
    """``count`` deterministic demo images: uint8 ``(3, size, size)`` RGB, computed analytically
    from ``seed`` (identical on every machine), for when the user gives no images."""
    coords = (torch.arange(size, dtype=torch.float64) + 0.5) / size
    y, x = torch.meshgrid(coords, coords, indexing="ij")
    images = []
    for index in range(count):
        phase = 0.37 * (seed + 1) * (index + 1)
        if DemoKind(kind) is DemoKind.STYLE:
            red = 0.5 + 0.5 * torch.sin(2 * math.pi * (6 * x + 2 * torch.sin(2 * math.pi * y + phase)))
            green = 0.5 + 0.5 * torch.sin(2 * math.pi * (5 * y + 3 * x * x) + phase)
            blue = ((torch.floor(8 * (x + y) + phase) % 2) * 0.8 + 0.1).to(torch.float64)
        else:
            cx, cy = 0.3 + 0.4 * ((index * 0.61 + seed * 0.13) % 1), 0.3 + 0.4 * ((index * 0.37 + seed * 0.29) % 1)
            disc = (((x - cx) ** 2 + (y - cy) ** 2) < 0.04).to(torch.float64)
            square = ((abs(x - 1 + cx) < 0.12) & (abs(y - 1 + cy) < 0.12)).to(torch.float64)
            red = 0.2 + 0.5 * x + 0.3 * disc
            green = 0.3 + 0.4 * y - 0.2 * disc + 0.4 * square
            blue = 0.6 - 0.3 * x * y + 0.3 * square
        unit = torch.stack([red, green, blue]).clamp(0.0, 1.0)
        images.append(torch.floor(unit * 255.0 + 0.5).to(torch.uint8))
    return images


def _load_folder_or_file(source: Path) -> list[torch.Tensor]:
    from gan_core.images import list_images, load_image

    source = Path(source)
    paths = list_images(source) if source.is_dir() else [source]
    return [load_image(path) for path in paths]


def _square(image: torch.Tensor, size: int, generator: torch.Generator | None) -> torch.Tensor:
    """uint8 ``(3, H, W)`` -> float32 ``(3, size, size)`` in [0, 1]: shorter side resized to ``size``
    (antialiased bilinear), then a crop (random with ``generator``, else centred)."""
    _, height, width = image.shape
    scale = size / min(height, width)
    new_h, new_w = max(size, round(height * scale)), max(size, round(width * scale))
    resized = functional.interpolate(
        image[None].float() / 255.0, size=(new_h, new_w), mode="bilinear", antialias=True, align_corners=False
    )[0]
    if generator is None:
        top, left = (new_h - size) // 2, (new_w - size) // 2
    else:
        top = int(torch.randint(0, new_h - size + 1, (1,), generator=generator))
        left = int(torch.randint(0, new_w - size + 1, (1,), generator=generator))
    return resized[:, top : top + size, left : left + size].clamp(0.0, 1.0)


# --------------------------------------------------------------------------- losses


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Gram matrices of ``(N, C, H, W)`` features: ``(N, C, C)``, ``F F^T / (C H W)`` (Gatys et al.)."""
    count, channels, height, width = features.shape
    flat = features.reshape(count, channels, height * width)
    return flat @ flat.transpose(1, 2) / (channels * height * width)


class LossNetwork(nn.Module):
    """VGG-19 features up to ``conv5_1`` (frozen): float32 ``(N, 3, H, W)`` in [0, 1] ->
    ``{layer: (N, C, H', W')}`` for the style layers and the content layer, differentiable."""

    def __init__(self, weights: WeightsMode, *, seed: int = 0) -> None:
        super().__init__()
        from gan_core.features import vgg

        features = vgg.vgg19_features()
        self.calibrated = WeightsMode(weights) is WeightsMode.PRETRAINED
        load_or_initialise(features, weights, vgg.WEIGHTS_NAME, seed=seed, prefix="features.")
        layers = (*STYLE_LAYERS, CONTENT_LAYER)
        last = max(vgg.LAYER_INDEX[layer] for layer in layers) + 1
        self.features = features[: last + 1].eval().requires_grad_(False)
        self.taps = {vgg.LAYER_INDEX[layer] + 1: layer for layer in layers}
        self.register_buffer("mean", torch.tensor(vgg.IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(vgg.IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        x = (images - self.mean) / self.std
        taps = {}
        for index, module in enumerate(self.features):
            x = module(x)
            if index in self.taps:
                taps[self.taps[index]] = x
        return taps


# --------------------------------------------------------------------------- training


def train_demo(
    *,
    output: Path,
    style: Path | None = None,
    content: Path | None = None,
    settings: TrainingSettings = TrainingSettings(),
    on_step: Callable[[int, float, float], None] | None = None,
    validate: Callable[[Path], object] | None = None,
) -> TrainingReport:
    """Train a TransformerNet on ``content`` (a folder or one image) towards the style of ``style``
    (an image or a folder), write it to ``output`` as safetensors, and validate it.

    Without ``style``/``content``, deterministic demo images are generated (:func:`demo_images`).
    ``on_step(step, loss, elapsed_seconds)`` is called after every optimisation step.
    ``validate(path)`` defaults to the platform's :func:`gan_core.sandbox.validate_checkpoint`.
    Raises ``gan_core.weights.WeightsError`` when the pretrained VGG-19 is needed and missing.
    """
    from gan_core.checkpoints import save_safetensors_checkpoint
    from gan_core.generators import build_generator

    if settings.threads is not None:
        torch.set_num_threads(settings.threads)
    torch.manual_seed(settings.seed)
    crops = torch.Generator().manual_seed(settings.seed)
    style_images = _load_folder_or_file(style) if style is not None else demo_images(DemoKind.STYLE, count=1)
    content_images = (
        _load_folder_or_file(content)
        if content is not None
        else demo_images(DemoKind.CONTENT, count=4, size=settings.size, seed=settings.seed)
    )
    loss_network = LossNetwork(settings.vgg_weights, seed=settings.seed)
    with torch.no_grad():
        style_batch = torch.stack([_square(image, settings.size, None) for image in style_images])
        style_grams = {layer: gram_matrix(f).mean(0, keepdim=True) for layer, f in loss_network(style_batch).items()}
    generator = build_generator(settings.config).train()
    optimiser = torch.optim.Adam(generator.parameters(), lr=settings.learning_rate)
    started = time.monotonic()
    budget = settings.minutes * 60.0
    step = 0
    first_loss = last_loss = math.nan
    while True:
        picks = torch.randint(0, len(content_images), (settings.batch_size,), generator=crops)
        batch = torch.stack([_square(content_images[int(i)], settings.size, crops) for i in picks])
        output_images = generator(batch * 2.0 - 1.0)
        output_features = loss_network((output_images + 1.0) / 2.0)
        with torch.no_grad():
            content_target = loss_network(batch)[CONTENT_LAYER]
        content_loss = functional.mse_loss(output_features[CONTENT_LAYER], content_target)
        style_loss = sum(
            functional.mse_loss(gram_matrix(output_features[layer]), style_grams[layer].expand(batch.shape[0], -1, -1))
            for layer in STYLE_LAYERS
        )
        loss = settings.content_weight * content_loss + settings.style_weight * style_loss
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        step += 1
        last_loss = float(loss.detach())
        if step == 1:
            first_loss = last_loss
        elapsed = time.monotonic() - started
        if on_step is not None:
            on_step(step, last_loss, elapsed)
        if elapsed >= budget or (settings.max_steps is not None and step >= settings.max_steps):
            break
    training_seconds = time.monotonic() - started
    generator.eval()
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    save_safetensors_checkpoint(generator.state_dict(), output, config=settings.config)
    if validate is None:
        validate = _platform_validation
    report = validate(output)
    return TrainingReport(
        checkpoint=output,
        steps=step,
        seconds=training_seconds,
        first_loss=first_loss,
        last_loss=last_loss,
        calibrated=loss_network.calibrated,
        config=settings.config,
        validation=report,
    )


def _platform_validation(path: Path) -> object:
    from gan_core.sandbox import SandboxLimits, validate_checkpoint

    return validate_checkpoint(path, contract=GeneratorContract(), limits=SandboxLimits(wall_seconds=300))
