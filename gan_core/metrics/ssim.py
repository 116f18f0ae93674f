"""Structural similarity (SSIM), per image pair, with an explicit data range.

Wang et al. (2004) with torchmetrics' defaults: Gaussian window 11 x 11, sigma 1.5, ``k1 = 0.01``,
``k2 = 0.03``, ``C1 = (k1 L)^2``, ``C2 = (k2 L)^2`` with ``L = data_range``; images reflect-padded by 5
pixels so the SSIM map has the input's size; local variances clipped at 0; the per-image value is the
mean of the map over channels and pixels:

    SSIM(x, y) = mean[ (2 mu_x mu_y + C1)(2 s_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(s_x^2 + s_y^2 + C2)) ]

Computed in float64. 1 means identical; lower is less similar (can reach -1).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gan_core.metrics.errors import MetricError

WINDOW = 11
SIGMA = 1.5
K1 = 0.01
K2 = 0.03


def gaussian_window(size: int = WINDOW, sigma: float = SIGMA) -> torch.Tensor:
    """Normalised 1-d Gaussian ``(size,)`` float64, centred (torchmetrics' ``_gaussian``)."""
    offsets = torch.arange((1 - size) / 2, (1 + size) / 2, 1.0, dtype=torch.float64)
    weights = torch.exp(-((offsets / sigma) ** 2) / 2)
    return weights / weights.sum()


def ssim(x: torch.Tensor, y: torch.Tensor, *, data_range: float) -> torch.Tensor:
    """Per-pair SSIM of ``(N, C, H, W)`` images in ``[0, data_range]`` (any real or uint8 dtype) -> ``(N,)`` float64.

    ``data_range``: the span of the pixel values, e.g. 255.0 for uint8 images or 1.0 for floats in [0, 1].
    Images must be the same size and at least 11 x 11.
    """
    if x.shape != y.shape or x.ndim != 4:
        raise MetricError(
            f"SSIM needs two (N, C, H, W) batches of the same shape, got {tuple(x.shape)} and {tuple(y.shape)}; "
            "outputs must keep the size of their input"
        )
    if min(x.shape[-2:]) < WINDOW:
        raise MetricError(f"SSIM needs images of at least {WINDOW}x{WINDOW} pixels, got {tuple(x.shape[-2:])}")
    if not data_range > 0:
        raise MetricError(f"SSIM needs a positive data_range, got {data_range}")
    x = x.to(torch.float64)
    y = y.to(torch.float64)
    channels = x.shape[1]
    pad = WINDOW // 2
    window = gaussian_window()
    kernel = torch.outer(window, window).expand(channels, 1, WINDOW, WINDOW).contiguous()
    x = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    y = F.pad(y, (pad, pad, pad, pad), mode="reflect")
    stacked = torch.cat((x, y, x * x, y * y, x * y))
    mu_x, mu_y, xx, yy, xy = F.conv2d(stacked, kernel, groups=channels).split(x.shape[0])
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    var_x = torch.clamp(xx - mu_x**2, min=0.0)
    var_y = torch.clamp(yy - mu_y**2, min=0.0)
    cov = xy - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return ssim_map.flatten(1).mean(dim=1)
