"""Seeded random initialisation for the feature networks (tests and the flagged offline demo).

Deterministic for a seed on any machine with the same torch version: every tensor is drawn from
one explicit ``torch.Generator``, never from the global random state. He-normal convolutions, and
(:func:`calibrate_batch_norms`) batch norms scaled to their inputs, keep activations at order one
through deep networks, so random features are neither vanishing nor exploding and comparisons
made with them mean something.
"""

from __future__ import annotations

import math

import torch
from torch import nn


@torch.no_grad()
def initialise_randomly(module: nn.Module, seed: int) -> nn.Module:
    """Overwrite every parameter and batch-norm statistic of ``module`` in place from ``seed``; returns it."""
    generator = torch.Generator().manual_seed(int(seed))
    for child in module.modules():
        if isinstance(child, nn.Conv2d | nn.Linear):
            fan_in = child.weight[0].numel()
            child.weight.copy_(torch.randn(child.weight.shape, generator=generator) * math.sqrt(2.0 / fan_in))
            if child.bias is not None:
                child.bias.copy_(torch.randn(child.bias.shape, generator=generator) * 0.01)
        elif isinstance(child, nn.BatchNorm2d):
            shape = child.num_features
            child.weight.copy_(0.5 + torch.rand(shape, generator=generator))
            child.bias.copy_(torch.randn(shape, generator=generator) * 0.1)
            assert child.running_mean is not None and child.running_var is not None
            child.running_mean.copy_(torch.randn(shape, generator=generator) * 0.1)
            child.running_var.copy_(0.5 + torch.rand(shape, generator=generator))
    return module


def calibration_images(seed: int, *, size: int, scales: tuple[int, ...] = (4, 16, 64, 0)) -> torch.Tensor:
    """Seeded random images, ``(len(scales), 3, size, size)`` float32 in [-1, 1].

    Each mixes uniform noise drawn at one of ``scales`` (0: full resolution) and bilinearly
    enlarged, with a random horizontal gradient and offset per channel, so coarse and fine detail,
    brightness and colour casts are all represented.
    """
    generator = torch.Generator().manual_seed(int(seed) + 1)
    images = []
    for scale in scales:
        side = scale or size
        noise = torch.rand((1, 3, side, side), generator=generator) * 2 - 1
        noise = nn.functional.interpolate(noise, size=(size, size), mode="bilinear", align_corners=False)
        ramp = torch.linspace(-1, 1, size).view(1, 1, 1, size) * (torch.rand((1, 3, 1, 1), generator=generator) - 0.5)
        offset = 0.4 * torch.rand((1, 3, 1, 1), generator=generator) - 0.2
        images.append((0.6 * noise + ramp + offset).clamp(-1, 1))
    return torch.cat(images)


@torch.no_grad()
def calibrate_batch_norms(module: nn.Module, images: torch.Tensor) -> nn.Module:
    """Scale every batch norm to its input on ``images`` (e.g. :func:`calibration_images`), so
    activations keep a trained network's order of magnitude through any depth; returns ``module``
    in eval mode.

    In one eval-mode pass, each batch norm's ``running_var`` is set, just before it runs, to the
    mean square of its input about its (random, small) ``running_mean``. The input is divided by
    its root mean square rather than centred on its mean: centring positive (post-ReLU) signals
    whose mean dwarfs their spread would cancel most of their digits and make the random network
    needlessly sensitive to float32 rounding.
    """

    def set_scale(norm: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        assert isinstance(norm, nn.BatchNorm2d) and norm.running_mean is not None and norm.running_var is not None
        centred = inputs[0] - norm.running_mean.view(1, -1, 1, 1)
        norm.running_var.copy_((centred.pow(2).mean(dim=(0, 2, 3)) - norm.eps).clamp_min(norm.eps))

    handles = [
        child.register_forward_pre_hook(set_scale) for child in module.modules() if isinstance(child, nn.BatchNorm2d)
    ]
    module.eval()
    try:
        module(images)
    finally:
        for handle in handles:
            handle.remove()
    return module


def random_generator(seed: int) -> torch.Generator:
    """A CPU generator for extra seeded draws (e.g. the LPIPS linear layers)."""
    return torch.Generator().manual_seed(int(seed))
