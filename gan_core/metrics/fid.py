"""Fréchet Inception Distance, exact in float64.

    FID = |mu_g - mu_r|^2 + Tr(S_g) + Tr(S_r) - 2 Tr((S_g S_r)^(1/2))

with ``S`` the unbiased covariances (divisor ``n - 1``) of the generated (``g``) and reference (``r``)
features. The trace of the matrix square root is computed without ``scipy.linalg.sqrtm``:

- eigen route: ``Tr((S_g S_r)^(1/2)) = sum_i sqrt(lambda_i(F^T S_g F))`` with ``F F^T = S_r`` a factor of
  the reference covariance, cached with the reference set: its Cholesky factor, or when ``S_r`` is
  singular its symmetric root ``R = S_r^(1/2)`` from ``eigh`` (``F^T S_g F = R S_g R``). ``F^T S_g F`` is
  symmetric positive semi-definite with the eigenvalues of ``S_g S_r``, so ``eigvalsh`` applies and
  negative rounding noise is clipped to 0: never NaN, never complex.
- nuclear-norm route, exact when either set has fewer images than dimensions (singular covariance):
  ``Tr((S_g S_r)^(1/2)) = || (X_g - mu_g)(X_r - mu_r)^T ||_* / sqrt((n_g - 1)(n_r - 1))``, the sum of the
  singular values of an ``(n_g, n_r)`` matrix.

Both follow from the non-zero eigenvalues of ``S_g S_r`` being those of the PSD matrices above.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

import numpy as np

from gan_core.metrics.errors import MetricError
from gan_core.stats import FeatureStats, ReferenceFeatures, as_float64_rows, covariance_factor, require_images


class FidRoute(enum.StrEnum):
    """How ``Tr((S_g S_r)^(1/2))`` is computed."""

    AUTO = "auto"  # nuclear norm when features exist and a set has fewer rows than dims, else eigen
    EIGEN = "eigen"
    NUCLEAR = "nuclear"


def sum_sqrt_eigenvalues(symmetric: np.ndarray) -> float:
    """``sum_i sqrt(max(lambda_i, 0))`` of a symmetric ``(K, K)`` float64 matrix (its trace norm when PSD)."""
    eigenvalues = np.linalg.eigvalsh((symmetric + symmetric.T) / 2)
    return float(np.sqrt(np.clip(eigenvalues, 0.0, None)).sum())


def trace_sqrt_product(sigma_generated: np.ndarray, reference_factor: np.ndarray) -> float:
    """``Tr((S_g S_r)^(1/2))`` by the eigen route, given ``F`` with ``F F^T = S_r``; both ``(D, D)`` float64."""
    return sum_sqrt_eigenvalues(reference_factor.T @ (sigma_generated @ reference_factor))


def nuclear_trace(centred_generated: np.ndarray, centred_reference: np.ndarray) -> float:
    """``Tr((S_g S_r)^(1/2))`` from centred rows ``(n_g, D)`` and ``(n_r, D)`` float64 (nuclear-norm route).

    The sum of the singular values of ``X_g X_r^T`` (an ``(n_g, n_r)`` SVD, values only). Taking them from
    the SVD rather than as square roots of the eigenvalues of ``A A^T`` keeps zero singular values at
    rounding level ``1e-16`` instead of ``1e-8``.
    """
    n_g, n_r = centred_generated.shape[0], centred_reference.shape[0]
    cross = centred_generated @ centred_reference.T
    singular_values = np.linalg.svd(cross, compute_uv=False)
    return float(singular_values.sum()) / np.sqrt((n_g - 1) * (n_r - 1))


def frechet_distance(
    mu_generated: np.ndarray,
    sigma_generated: np.ndarray,
    mu_reference: np.ndarray,
    sigma_reference: np.ndarray,
    *,
    sqrt_sigma_reference: np.ndarray | None = None,
) -> float:
    """FID from means ``(D,)`` and unbiased covariances ``(D, D)`` (float64), by the eigen route.

    ``sqrt_sigma_reference``: the cached factor ``F`` of ``S_r`` (``F F^T = S_r``, e.g. ``S_r^(1/2)`` or
    ``covariance_factor(S_r)``); computed here when omitted.
    """
    mu_g, mu_r = np.asarray(mu_generated, np.float64), np.asarray(mu_reference, np.float64)
    s_g, s_r = np.asarray(sigma_generated, np.float64), np.asarray(sigma_reference, np.float64)
    if mu_g.shape != mu_r.shape or s_g.shape != s_r.shape or s_g.shape != (mu_g.size, mu_g.size):
        raise MetricError(
            f"FID needs statistics of the same feature network: got means {mu_g.shape}, {mu_r.shape} and "
            f"covariances {s_g.shape}, {s_r.shape}"
        )
    for name, value in (("generated", (mu_g, s_g)), ("reference", (mu_r, s_r))):
        if not all(np.isfinite(part).all() for part in value):
            raise MetricError(f"the {name} statistics contain NaN or infinite values; compute them again")
    root = covariance_factor(s_r) if sqrt_sigma_reference is None else sqrt_sigma_reference
    diff = mu_g - mu_r
    value = diff @ diff + np.trace(s_g) + np.trace(s_r) - 2.0 * trace_sqrt_product(s_g, root)
    return float(max(value, 0.0))


def _check_dims(generated_dims: int, reference_dims: int) -> None:
    if generated_dims != reference_dims:
        raise MetricError(
            f"generated features are {generated_dims}-d but the reference features are {reference_dims}-d; "
            "score both with the same feature network"
        )


def fid_from_stats(generated: FeatureStats, reference: FeatureStats | ReferenceFeatures) -> float:
    """FID from streamed statistics (eigen route; the reference root is reused when cached)."""
    require_images(generated.count, what="FID of the generated images")
    if isinstance(reference, ReferenceFeatures):
        reference_stats, root = reference.stats, reference.root()
    else:
        reference_stats, root = reference, None
    require_images(reference_stats.count, what="FID of the reference images")
    _check_dims(generated.dims, reference_stats.dims)
    return frechet_distance(
        generated.mean,
        generated.covariance(),
        reference_stats.mean,
        reference_stats.covariance(),
        sqrt_sigma_reference=root,
    )


def fid_from_features(
    generated: np.ndarray,
    reference: np.ndarray | ReferenceFeatures,
    *,
    route: FidRoute = FidRoute.AUTO,
) -> float:
    """FID of ``(n_g, D)`` generated features against ``(n_r, D)`` reference features (or a cached set).

    ``route``: ``AUTO`` takes the nuclear-norm route when ``min(n_g, n_r) < D`` and the eigen route otherwise.
    """
    rows_g = as_float64_rows(generated, what="generated features")
    if isinstance(reference, ReferenceFeatures):
        cached = reference
    else:
        rows_r = as_float64_rows(reference, what="reference features")
        cached = ReferenceFeatures.from_features(rows_r)
    require_images(rows_g.shape[0], what="FID of the generated images")
    require_images(cached.stats.count, what="FID of the reference images")
    _check_dims(rows_g.shape[1], cached.stats.dims)
    dims = rows_g.shape[1]
    if route is FidRoute.AUTO:
        singular = min(rows_g.shape[0], cached.stats.count) < dims
        route = FidRoute.NUCLEAR if singular and cached.features is not None else FidRoute.EIGEN
    stats_g = FeatureStats.from_features(rows_g)
    if route is FidRoute.EIGEN:
        return fid_from_stats(stats_g, cached)
    if cached.features is None:
        raise MetricError("the nuclear-norm FID route needs the reference features, not only their statistics")
    centred_g = rows_g - stats_g.mean
    centred_r = cached.features - cached.stats.mean
    diff = stats_g.mean - cached.stats.mean
    trace_g = float(np.einsum("ij,ij->", centred_g, centred_g)) / (stats_g.count - 1)
    trace_r = float(np.einsum("ij,ij->", centred_r, centred_r)) / (cached.stats.count - 1)
    value = diff @ diff + trace_g + trace_r - 2.0 * nuclear_trace(centred_g, centred_r)
    return float(max(value, 0.0))


def fid_resampler(generated: np.ndarray, reference: ReferenceFeatures) -> Callable[[np.ndarray], float]:
    """A function ``indices -> FID`` of the generated rows ``generated[indices]`` against a fixed reference.

    For bootstrap intervals: the projection ``Y = X_g F`` (``F F^T = S_r``, the cached factor) is computed
    once, after which ``Tr((S_b S_r)^(1/2)) = sum sqrt(eig(Yc_b^T Yc_b or Yc_b Yc_b^T)) / sqrt(n - 1)`` with
    ``Yc_b`` the resampled, centred projection rows. Cost per call: ``O(n^2 D)`` when ``n <= D``, ``O(n D^2)`` otherwise.
    """
    rows = as_float64_rows(generated, what="generated features")
    _check_dims(rows.shape[1], reference.stats.dims)
    projected = rows @ reference.root()
    mu_r = reference.stats.mean
    trace_r = float(np.trace(reference.stats.covariance()))

    def fid_of(indices: np.ndarray) -> float:
        sample, projection = rows[indices], projected[indices]
        n = sample.shape[0]
        mean = sample.mean(axis=0)
        centred = sample - mean
        centred_projection = projection - projection.mean(axis=0)
        if n <= projection.shape[1]:
            gram = centred_projection @ centred_projection.T
        else:
            gram = centred_projection.T @ centred_projection
        trace_g = float(np.einsum("ij,ij->", centred, centred)) / (n - 1)
        diff = mean - mu_r
        value = diff @ diff + trace_g + trace_r - 2.0 * sum_sqrt_eigenvalues(gram) / np.sqrt(n - 1)
        return float(max(value, 0.0))

    return fid_of
