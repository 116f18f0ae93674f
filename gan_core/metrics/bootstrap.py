"""Seeded bootstrap confidence intervals.

Resamples are drawn with replacement from the ``n`` generated outputs (rows of features, and the
matching per-image values), with ``numpy.random.default_rng(seed)``; the same seed and ``n`` give
the same resamples for every metric, so intervals of metrics that share outputs are drawn jointly.
The reference (style) set stays fixed: intervals describe the sampling variability of a submission's
outputs, which is what separates two submissions scored against the same reference.

Interval methods:

- ``PERCENTILE``: the ``(1 - c)/2`` and ``(1 + c)/2`` quantiles of the resampled values. Used for
  means of per-image values (LPIPS, SSIM, content and Gram distances), whose bootstrap is unbiased.
- ``RECENTRED_PERCENTILE``: the same quantiles shifted by ``point - median(resampled)``. Used for FID,
  KID, MiFID and ArtFID: a resample repeats about 37% of its rows, which lowers the effective sample size
  and shifts these biased estimators upwards, so plain percentiles can miss the point estimate altogether.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gan_core.metrics.errors import MetricError


class IntervalMethod(enum.StrEnum):
    PERCENTILE = "percentile"
    RECENTRED_PERCENTILE = "recentred-percentile"


@dataclass(frozen=True)
class Interval:
    low: float
    high: float
    confidence: float
    resamples: int
    seed: int
    method: str

    def to_dict(self) -> dict[str, float | int | str]:
        return {
            "low": self.low,
            "high": self.high,
            "confidence": self.confidence,
            "resamples": self.resamples,
            "seed": self.seed,
            "method": self.method,
        }


def resample_indices(n: int, *, resamples: int, seed: int) -> np.ndarray:
    """``(resamples, n)`` int64 row indices drawn with replacement from ``range(n)``."""
    if n < 2:
        raise MetricError(f"a bootstrap interval needs at least 2 images, got {n}")
    if resamples < 1:
        raise MetricError(f"a bootstrap interval needs at least 1 resample, got {resamples}")
    return np.random.default_rng(seed).integers(0, n, size=(resamples, n))


def interval_from_samples(
    samples: np.ndarray,
    *,
    point: float,
    confidence: float,
    seed: int,
    method: IntervalMethod,
) -> Interval:
    """The interval of the resampled values ``samples`` ``(R,)`` around ``point``."""
    if not 0 < confidence < 1:
        raise MetricError(f"confidence must lie between 0 and 1, got {confidence}")
    finite = samples[np.isfinite(samples)]
    if finite.size == 0:
        raise MetricError("every bootstrap resample gave a non-finite value; the metric cannot be bootstrapped")
    low, high = np.quantile(finite, [(1 - confidence) / 2, (1 + confidence) / 2])
    if method is IntervalMethod.RECENTRED_PERCENTILE:
        shift = point - float(np.median(finite))
        low, high = low + shift, high + shift
    return Interval(float(low), float(high), confidence, int(samples.size), seed, method.value)


def bootstrap_interval(
    statistic: Callable[[np.ndarray], float],
    n: int,
    *,
    point: float,
    resamples: int = 100,
    confidence: float = 0.95,
    seed: int = 0,
    method: IntervalMethod = IntervalMethod.RECENTRED_PERCENTILE,
) -> Interval:
    """Interval of ``statistic(indices)`` over ``resamples`` seeded resamples of ``n`` rows."""
    indices = resample_indices(n, resamples=resamples, seed=seed)
    samples = np.array([statistic(row) for row in indices], dtype=np.float64)
    return interval_from_samples(samples, point=point, confidence=confidence, seed=seed, method=method)


def mean_interval(
    values: np.ndarray,
    *,
    resamples: int = 100,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Percentile interval of the mean of per-image ``values`` ``(n,)`` float64 (NaN entries refused)."""
    values = np.asarray(values, dtype=np.float64)
    if not np.isfinite(values).all():
        raise MetricError("per-image values contain NaN or infinity; check the images that produced them")
    indices = resample_indices(values.size, resamples=resamples, seed=seed)
    samples = values[indices].mean(axis=1)
    return interval_from_samples(
        samples, point=float(values.mean()), confidence=confidence, seed=seed, method=IntervalMethod.PERCENTILE
    )
