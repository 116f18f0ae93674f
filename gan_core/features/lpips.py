"""LPIPS v0.1 with the AlexNet trunk (Zhang et al., 2018), computed as the ``lpips`` package does.

``d(x, y) = sum_l mean_hw( w_l . (f_l(x) / |f_l(x)| - f_l(y) / |f_l(y)|)^2 )`` over the five
ReLU outputs ``f_l`` of torchvision's AlexNet ``features`` (after modules 1, 4, 7, 9, 11), with
channel-wise unit normalisation (``eps = 1e-10`` added to the norm) and the learned non-negative
per-channel weights ``w_l`` of the v0.1 linear layers. Inputs are mapped to [-1, 1] and then
through the LPIPS scaling layer (shift -0.030, -0.088, -0.188; scale 0.458, 0.448, 0.450),
exactly as ``lpips.LPIPS(net="alex", version="0.1")(x, y, normalize=True)`` on [0, 1] images.
"""

from __future__ import annotations

from typing import Unpack

import torch
from torch import nn
from torchvision.models import alexnet as tv_alexnet

from gan_core import weights as weights_registry
from gan_core.devices import exact_inference
from gan_core.features.extractor import (
    FeatureNetwork,
    NetworkSettings,
    Placement,
    WeightsMode,
    combined_digest,
    load_or_initialise,
    network_settings,
    relus_out_of_place,
)
from gan_core.features.initialisation import random_generator

#: Registry names of the trunk and the linear layers.
TRUNK_WEIGHTS_NAME = "alexnet"
LINEAR_WEIGHTS_NAME = "lpips-alex-v0.1"

#: Indices in torchvision's ``alexnet().features`` whose outputs are compared (the five ReLUs).
TAP_INDICES = (1, 4, 7, 9, 11)
#: Channels at each tap.
CHANNELS = (64, 192, 384, 256, 256)

SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
NORM_EPS = 1e-10
#: Bytes per pixel of one pair at the peak of a step: both float32 inputs and their scaled copies,
#: the five taps (stride 4 onwards) and their unit-normalised copies, rounded up.
BYTES_PER_PIXEL = 320


def alexnet_features() -> nn.Sequential:
    """An untrained torchvision ``alexnet().features`` up to the last compared ReLU (ReLUs not in place)."""
    return relus_out_of_place(tv_alexnet(weights=None).features[: TAP_INDICES[-1] + 1])


class LPIPS(FeatureNetwork):
    """LPIPS distances of image pairs.

    ``lpips(x, y)``: two uint8 ``(N, 3, H, W)`` RGB batches of the same shape -> ``(N,)`` float64
    distances on the CPU (computed in float32, as the ``lpips`` package does). ``linear`` holds the
    five ``(C_l,)`` per-channel weights.
    """

    def __init__(self, trunk: nn.Sequential, linear: list[torch.Tensor], **settings: Unpack[NetworkSettings]) -> None:
        if [weight.numel() for weight in linear] != list(CHANNELS):
            raise ValueError(f"LPIPS linear layers must have {CHANNELS} weights, got {[w.numel() for w in linear]}.")
        super().__init__(**settings)
        self.name = "lpips-alex-v0.1"
        self._trunk = trunk.eval().to(self.device)
        self._trunk.requires_grad_(False)
        self._linear = [weight.reshape(1, -1, 1, 1).to(self.device, torch.float32) for weight in linear]
        self._shift = torch.tensor(SHIFT, device=self.device).view(1, 3, 1, 1)
        self._scale = torch.tensor(SCALE, device=self.device).view(1, 3, 1, 1)

    def __repr__(self) -> str:
        return f"LPIPS(name={self.name!r}, calibrated={self.calibrated}, device={str(self.device)!r})"

    def _taps(self, images: torch.Tensor) -> list[torch.Tensor]:
        x = images.to(self.device).float() / 255 * 2 - 1
        x = (x - self._shift) / self._scale
        taps = []
        for index, module in enumerate(self._trunk):
            x = module(x)
            if index in TAP_INDICES:
                taps.append(x / (torch.sqrt(torch.sum(x**2, dim=1, keepdim=True)) + NORM_EPS))
        return taps

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        for label, images in (("x", x), ("y", y)):
            if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.dim() != 4:
                raise ValueError(f"LPIPS expects uint8 (N, 3, H, W) images; {label} is not. Use images.to_uint8.")
            if images.shape[1] != 3:
                raise ValueError(f"LPIPS expects RGB images; {label} has shape {tuple(images.shape)}.")
        if x.shape != y.shape:
            raise ValueError(
                f"LPIPS compares pairs of the same size; got {tuple(x.shape)} and {tuple(y.shape)}. "
                "Resize the output to its input's size first."
            )
        count, _, height, width = x.shape
        step = self.images_per_pass(bytes_per_image=height * width * BYTES_PER_PIXEL, what=f"LPIPS at {height}x{width}")
        output = torch.empty(count, dtype=torch.float64)
        with exact_inference(self.device):
            for start in range(0, count, step):
                taps_x = self._taps(x[start : start + step])
                taps_y = self._taps(y[start : start + step])
                total = torch.zeros(taps_x[0].shape[0], device=self.device)
                for weight, tap_x, tap_y in zip(self._linear, taps_x, taps_y, strict=True):
                    total = total + (weight * (tap_x - tap_y) ** 2).sum(dim=1).mean(dim=(1, 2))
                output[start : start + step] = total.to("cpu", torch.float64)
        return output


def lpips_alex(
    *, weights: WeightsMode = WeightsMode.PRETRAINED, seed: int = 0, **placement: Unpack[Placement]
) -> LPIPS:
    """LPIPS (AlexNet, v0.1) with the verified torchvision AlexNet trunk and LPIPS linear layers, or a
    seeded random trunk and random non-negative linear weights (``WeightsMode.RANDOM``:
    ``calibrated=False``, ``weights_sha256=None``). ``weights_sha256`` of a pretrained instance
    combines both files' digests (:func:`gan_core.features.extractor.combined_digest`)."""
    trunk = alexnet_features()
    weights = WeightsMode(weights)
    trunk_sha256 = load_or_initialise(trunk, weights, TRUNK_WEIGHTS_NAME, seed=seed, prefix="features.")
    sha256: str | None = None
    if trunk_sha256 is not None:
        linear_state, linear_sha256 = weights_registry.load_state_dict(LINEAR_WEIGHTS_NAME)
        linear = []
        for layer, channels in enumerate(CHANNELS):
            weight = linear_state.get(f"lin{layer}.model.1.weight")
            if weight is None or weight.numel() != channels:
                entry = weights_registry.REGISTRY[LINEAR_WEIGHTS_NAME]
                raise weights_registry.WeightsError(
                    f"Weights file {entry.filename} ({entry.name}) lacks lin{layer}.model.1.weight with "
                    f"{channels} values. {entry.refetch_hint}"
                )
            linear.append(weight.reshape(-1).float())
        sha256 = combined_digest([trunk_sha256, linear_sha256])
    else:
        generator = random_generator(seed + 1)
        linear = [torch.rand(channels, generator=generator) for channels in CHANNELS]
    return LPIPS(trunk, linear, **network_settings(weights, sha256, placement))
