"""Gram-matrix style distance of each output to the style set (Gatys et al.).

For a VGG-19 feature map ``F`` of shape ``(C, H, W)`` at layer ``l``, flattened to ``(C, H W)``, the
Gram matrix is ``G_l = F F^T / (C H W)`` (``(C, C)``, float64). The style set is summarised by its mean
Gram per layer, ``Gbar_l = mean_s G_l(s)``. An output's style distance is

    gram(o) = mean over l in (conv1_1, conv2_1, conv3_1, conv4_1, conv5_1) of || G_l(o) - Gbar_l ||_F^2

(squared Frobenius norm, summed over the ``C x C`` entries). Feature maps are those ``VGGTaps`` returns
(torchvision VGG-19, ImageNet mean/std normalisation). Lower means closer to the style set.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from gan_core.metrics.errors import MetricError

STYLE_LAYERS: tuple[str, ...] = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")


#: float64 values converted at a time when accumulating a Gram matrix (16 MiB).
GRAM_CHUNK_VALUES = 2 * 1024 * 1024


def gram_matrices(feature_maps: torch.Tensor) -> torch.Tensor:
    """``(N, C, H, W)`` feature maps -> ``(N, C, C)`` float64 Gram matrices normalised by ``C H W``.

    Accumulated in float64 over chunks of positions (``GRAM_CHUNK_VALUES`` values at a time), so the
    float64 copy never exceeds one chunk whatever the image size: sum over chunks ``k`` of
    ``F_k F_k^T`` with ``F_k`` the ``(C, P_k)`` slice of one image's flattened map.
    """
    n, c, h, w = feature_maps.shape
    flat = feature_maps.detach().reshape(n, c, h * w)
    positions = max(1, GRAM_CHUNK_VALUES // max(1, c))
    grams = torch.zeros((n, c, c), dtype=torch.float64)
    for image in range(n):
        for start in range(0, h * w, positions):
            chunk = flat[image, :, start : start + positions].to("cpu", torch.float64)
            grams[image].addmm_(chunk, chunk.T)
    return grams / (c * h * w)


class StyleGrams:
    """Streaming mean Gram matrix per layer of a style set; ``(C, C)`` float64 per layer."""

    def __init__(self, layers: tuple[str, ...] = STYLE_LAYERS) -> None:
        self.layers = layers
        self.count = 0
        self.sums: dict[str, torch.Tensor] = {}

    def update(self, taps: Mapping[str, torch.Tensor]) -> StyleGrams:
        """Add one batch of ``VGGTaps`` results (``(N, C, H, W)`` per layer)."""
        for layer in self.layers:
            grams = gram_matrices(taps[layer]).sum(dim=0)
            self.sums[layer] = self.sums[layer] + grams if layer in self.sums else grams
        self.count += next(iter(taps.values())).shape[0]
        return self

    def means(self) -> dict[str, torch.Tensor]:
        """Mean Gram per layer."""
        if self.count == 0:
            raise MetricError("the Gram style distance needs at least one style image")
        return {layer: total / self.count for layer, total in self.sums.items()}

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The mean Grams as numpy arrays (for the reference cache), keyed ``gram_<layer>``."""
        return {f"gram_{layer}": value.numpy() for layer, value in self.means().items()}

    @staticmethod
    def from_arrays(
        arrays: Mapping[str, np.ndarray], layers: tuple[str, ...] = STYLE_LAYERS
    ) -> dict[str, torch.Tensor]:
        """Mean Grams per layer back from ``to_arrays`` output."""
        return {layer: torch.from_numpy(np.asarray(arrays[f"gram_{layer}"], dtype=np.float64)) for layer in layers}


def gram_distances(output_taps: Mapping[str, torch.Tensor], style_means: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Per output, mean over layers of ``||G_l(o) - Gbar_l||_F^2`` -> ``(N,)`` float64."""
    missing = [layer for layer in style_means if layer not in output_taps]
    if missing:
        raise MetricError(f"the VGG taps do not include {', '.join(missing)}; build them with vgg19_taps()")
    total = None
    for layer, mean in style_means.items():
        grams = gram_matrices(output_taps[layer])
        if grams.shape[1:] != mean.shape:
            raise MetricError(f"style Gram at {layer} is {tuple(mean.shape)}, outputs give {tuple(grams.shape[1:])}")
        distance = (grams - mean).pow(2).sum(dim=(1, 2))
        total = distance if total is None else total + distance
    assert total is not None
    return total / len(style_means)
