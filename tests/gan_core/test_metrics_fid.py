"""FID: analytic cases, independent implementations on the same features, and edge cases."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.linalg
import torch

from gan_core.metrics import MetricError
from gan_core.metrics.fid import FidRoute, fid_from_features, fid_from_stats, fid_resampler, frechet_distance
from gan_core.stats import FeatureStats, ReferenceFeatures


def _features(n: int, d: int, seed: int, shift: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mixing = rng.standard_normal((d, d)) / np.sqrt(d)
    return shift + rng.standard_normal((n, d)) @ mixing + rng.standard_normal(d)


def _moments(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return features.mean(axis=0), np.cov(features, rowvar=False)


def _reference_fid(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> float:
    """Textbook FID with scipy's sqrtm (no deprecated ``disp``), real part taken."""
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean).real)


def _pytorch_fid(mu1, s1, mu2, s2) -> float:
    from pytorch_fid.fid_score import calculate_frechet_distance

    with warnings.catch_warnings():
        # pytorch-fid passes sqrtm(disp=False), deprecated in scipy 1.17 (removed in 1.18); it still works here.
        warnings.simplefilter("ignore", DeprecationWarning)
        return float(calculate_frechet_distance(mu1, s1, mu2, s2))


def _torch_fidelity_fid(mu1, s1, mu2, s2) -> float:
    from torch_fidelity.metric_fid import fid_statistics_to_metric

    return fid_statistics_to_metric({"mu": mu1, "sigma": s1}, {"mu": mu2, "sigma": s2}, verbose=False)[
        "frechet_inception_distance"
    ]


def _torchmetrics_fid(mu1, s1, mu2, s2) -> float:
    from torchmetrics.image.fid import _compute_fid

    as_tensor = lambda a: torch.from_numpy(np.asarray(a, dtype=np.float64))  # noqa: E731
    return float(_compute_fid(as_tensor(mu1), as_tensor(s1), as_tensor(mu2), as_tensor(s2)))


def test_identical_sets_give_zero_by_every_route() -> None:
    features = _features(80, 16, seed=0)
    assert fid_from_features(features, features, route=FidRoute.EIGEN) == pytest.approx(0.0, abs=1e-9)
    assert fid_from_features(features, features, route=FidRoute.NUCLEAR) == pytest.approx(0.0, abs=1e-9)
    singular = features[:10]
    assert fid_from_features(singular, singular) == pytest.approx(0.0, abs=1e-9)


def test_equal_covariances_give_the_squared_distance_of_the_means() -> None:
    # given the same rows shifted by a constant vector (equal covariances)
    features = _features(60, 12, seed=1)
    offset = np.linspace(-1.0, 2.0, 12)
    # then FID is |offset|^2
    expected = float(offset @ offset)
    assert fid_from_features(features + offset, features) == pytest.approx(expected, rel=1e-10)
    assert fid_from_features(features + offset, features, route=FidRoute.NUCLEAR) == pytest.approx(expected, rel=1e-10)


def test_diagonal_covariances_give_the_closed_form() -> None:
    # FID = |mu1 - mu2|^2 + sum_i (sqrt(a_i) - sqrt(b_i))^2 for diagonal covariances diag(a), diag(b)
    a, b = np.array([1.0, 4.0, 9.0, 0.25]), np.array([4.0, 1.0, 9.0, 0.0])
    mu1, mu2 = np.array([0.0, 1.0, 2.0, 3.0]), np.array([1.0, 1.0, 0.0, 3.0])
    expected = float(np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2))
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-12)
    generated = FeatureStats.from_moments(count=10, mean=mu1, covariance=np.diag(a))
    reference = FeatureStats.from_moments(count=10, mean=mu2, covariance=np.diag(b))
    assert fid_from_stats(generated, reference) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("reference", [_pytorch_fid, _torch_fidelity_fid, _torchmetrics_fid, _reference_fid])
def test_full_rank_fid_matches_independent_implementations_to_1e_9(reference) -> None:
    # given full-rank statistics (more images than dimensions) of two different sets
    generated, style = _features(400, 64, seed=2), _features(300, 64, seed=3, shift=0.3)
    mu_g, s_g = _moments(generated)
    mu_r, s_r = _moments(style)
    # then Atelier's eigen route and the reference agree to 1e-9 relative
    expected = reference(mu_g, s_g, mu_r, s_r)
    assert fid_from_features(generated, style) == pytest.approx(expected, rel=1e-9)
    assert frechet_distance(mu_g, s_g, mu_r, s_r) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("reference", [_reference_fid, _torch_fidelity_fid, _torchmetrics_fid])
def test_singular_covariances_give_a_finite_real_fid_matching_the_reference_to_1e_5(reference) -> None:
    # given fewer images than dimensions in both sets (rank-deficient covariances)
    generated, style = _features(20, 64, seed=4), _features(30, 64, seed=5, shift=0.2)
    mu_g, s_g = _moments(generated)
    mu_r, s_r = _moments(style)
    expected = reference(mu_g, s_g, mu_r, s_r)
    # when computing FID by the nuclear-norm route (auto) and by the eigen route from statistics
    nuclear = fid_from_features(generated, style)
    eigen = frechet_distance(mu_g, s_g, mu_r, s_r)
    # then both are finite real numbers close to the reference
    for value in (nuclear, eigen):
        assert isinstance(value, float) and np.isfinite(value)
        assert value == pytest.approx(expected, rel=1e-5)


def test_the_nuclear_route_is_used_and_exact_when_only_the_reference_is_singular() -> None:
    generated, style = _features(200, 32, seed=6), _features(12, 32, seed=7)
    exact = fid_from_features(generated, style, route=FidRoute.NUCLEAR)
    assert fid_from_features(generated, style) == exact
    assert fid_from_features(generated, style, route=FidRoute.EIGEN) == pytest.approx(exact, rel=1e-6)


def test_one_image_is_refused_with_a_message_saying_what_to_do() -> None:
    with pytest.raises(MetricError, match="FID of the generated images needs at least 2 images, got 1"):
        fid_from_features(_features(1, 8, seed=0), _features(10, 8, seed=1))
    with pytest.raises(MetricError, match="reference images needs at least 2 images, got 1"):
        fid_from_features(_features(10, 8, seed=0), _features(1, 8, seed=1))


def test_nan_features_are_refused() -> None:
    generated = _features(10, 8, seed=0)
    generated[3, 3] = np.nan
    with pytest.raises(MetricError, match="generated features contain NaN or infinite values in 1 of 10 rows"):
        fid_from_features(generated, _features(10, 8, seed=1))


def test_features_of_different_networks_are_refused() -> None:
    with pytest.raises(MetricError, match="16-d but the reference features are 8-d"):
        fid_from_features(_features(10, 16, seed=0), _features(10, 8, seed=1))


def test_the_resampler_with_every_row_once_reproduces_the_point_estimate() -> None:
    for n in (20, 100):  # below and above the dimension
        generated, style = _features(n, 48, seed=8), _features(60, 48, seed=9, shift=0.5)
        reference = ReferenceFeatures.from_features(style)
        fid_of = fid_resampler(generated, reference)
        point = fid_from_features(generated, reference, route=FidRoute.EIGEN)
        # (a singular generated covariance, n < D, leaves rounding noise of 1e-8 in the eigen route)
        tolerance = 1e-6 if n < 48 else 1e-9
        assert fid_of(np.arange(n)) == pytest.approx(point, rel=tolerance)
        assert fid_of(np.arange(n)[::-1]) == pytest.approx(point, rel=tolerance)


class _FeaturesAsImages(torch.nn.Module):
    """torchmetrics' FID takes a feature network; this one passes (N, D) features through unchanged."""

    def __init__(self, dims: int) -> None:
        super().__init__()
        self.dims = dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x if x.dim() == 2 else x.reshape(x.shape[0], -1)[:, : self.dims].double()  # its probe image


@pytest.mark.parametrize(("n_generated", "n_style", "tolerance"), [(300, 250, 1e-9), (25, 40, 1e-5)])
def test_statistics_and_fid_match_torch_fidelity_and_torchmetrics_pipelines(n_generated, n_style, tolerance) -> None:
    from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric
    from torchmetrics.image.fid import FrechetInceptionDistance

    # given the same features for all three libraries (full rank, then singular)
    generated, style = _features(n_generated, 48, seed=10), _features(n_style, 48, seed=11, shift=0.25)
    ours = fid_from_features(generated, style)
    # torch-fidelity: its own statistics, its own distance
    stats_g = fid_features_to_statistics(torch.from_numpy(generated))
    stats_r = fid_features_to_statistics(torch.from_numpy(style))
    ours_g = FeatureStats.from_features(generated)
    np.testing.assert_allclose(ours_g.covariance(), stats_g["sigma"], rtol=1e-12, atol=1e-13)
    fidelity = fid_statistics_to_metric(stats_g, stats_r, verbose=False)["frechet_inception_distance"]
    # torchmetrics: streamed float64 sums in its metric object, updated in two batches
    metric = FrechetInceptionDistance(feature=_FeaturesAsImages(48))
    for rows in np.array_split(generated, 2):
        metric.update(torch.from_numpy(rows), real=False)
    metric.update(torch.from_numpy(style), real=True)
    metrics_value = float(metric.compute())
    assert ours == pytest.approx(fidelity, rel=tolerance)
    assert ours == pytest.approx(metrics_value, rel=tolerance)
