"""Memorization-informed FID, as scored in Kaggle's GAN competitions.

For each generated image ``g``, its memorisation distance is the minimum over the style (training)
images ``s`` of ``1 - |cos(f(g), f(s))|`` (Inception features). Then

    d     = mean over generated images of those minima
    d_thr = d if d < eps else 1            (eps = 0.1)
    MiFID = FID / (d_thr + 1e-15)

so a submission whose outputs sit, on average, closer than ``eps`` to style images has its FID
multiplied by ``1 / d``. The direction matters: torchmetrics takes, for each *real* image, its nearest
*generated* one, which disagrees with Kaggle's when only some outputs are copies.
Like Kaggle's scorer, feature rows whose components sum to exactly 0 are left out of the cosine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gan_core.metrics.errors import MetricError
from gan_core.stats import as_float64_rows

COSINE_EPS = 0.1
FID_EPSILON = 1e-15


@dataclass(frozen=True)
class MifidResult:
    """MiFID with its parts: the FID, the mean memorisation distance ``d`` and the thresholded ``d_thr``."""

    value: float
    fid: float
    distance: float
    thresholded_distance: float


def normalise_rows(features: np.ndarray) -> np.ndarray:
    """``(N, D)`` float64 rows scaled to unit L2 norm, leaving out rows whose sum is exactly 0 (as Kaggle)."""
    rows = as_float64_rows(features)
    rows = rows[rows.sum(axis=1) != 0]
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def memorisation_distances(
    generated: np.ndarray, style_normalised: np.ndarray, *, block_rows: int = 1024
) -> np.ndarray:
    """Per generated image, ``min_s (1 - |cos(g, s)|)`` -> ``(n_g,)`` float64 in ``[0, 1]``.

    ``generated``: ``(n_g, D)`` raw features; ``style_normalised``: ``(n_s, D)`` unit rows (``normalise_rows``).
    Generated rows summing to 0 get NaN (they are left out of the mean, as Kaggle's scorer drops them).
    """
    rows = as_float64_rows(generated, what="generated features")
    if style_normalised.shape[0] == 0:
        raise MetricError("MiFID needs at least one style image with non-zero features")
    if rows.shape[1] != style_normalised.shape[1]:
        raise MetricError(
            f"generated features are {rows.shape[1]}-d but the style features are {style_normalised.shape[1]}-d; "
            "score both with the same feature network"
        )
    distances = np.full(rows.shape[0], np.nan)
    keep = np.flatnonzero(rows.sum(axis=1) != 0)
    for start in range(0, keep.size, block_rows):
        block = keep[start : start + block_rows]
        unit = rows[block] / np.linalg.norm(rows[block], axis=1, keepdims=True)
        distances[block] = (1.0 - np.abs(unit @ style_normalised.T)).min(axis=1)
    return distances


def mifid_from_parts(fid: float, distances: np.ndarray, *, eps: float = COSINE_EPS) -> MifidResult:
    """MiFID from an FID value and per-image memorisation distances ``(n_g,)`` (NaN entries are left out)."""
    valid = distances[np.isfinite(distances)]
    if valid.size == 0:
        raise MetricError("MiFID needs at least one generated image with non-zero features")
    d = float(valid.mean())
    d_thr = d if d < eps else 1.0
    return MifidResult(fid / (d_thr + FID_EPSILON), fid, d, d_thr)
