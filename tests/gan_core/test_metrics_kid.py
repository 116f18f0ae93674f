"""KID: a hand-computed case, torch-fidelity, clean-fid and torchmetrics on one full-size subset, seeding."""

from __future__ import annotations

import importlib
import itertools

import numpy as np
import pytest
import torch

from gan_core.metrics import MetricError, kid
from gan_core.metrics.kid import kid_resampler, mmd2_unbiased, polynomial_kernel

# the module, not the function of the same name that gan_core.metrics re-exports
kid_module = importlib.import_module("gan_core.metrics.kid")


def _features(n: int, d: int, seed: int, shift: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return shift + rng.standard_normal((n, d))


def test_a_tiny_case_matches_the_formula_written_out_with_loops() -> None:
    x = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    y = np.array([[0.5, 0.5], [2.0, 0.0], [0.0, -1.0]])
    k = lambda a, b: (a @ b / 2 + 1) ** 3  # noqa: E731
    m = 3
    xx = sum(k(x[i], x[j]) for i, j in itertools.permutations(range(m), 2)) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i, j in itertools.permutations(range(m), 2)) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    result = kid(x, y, subsets=1, subset_size=3)
    assert result.mean == pytest.approx(xx + yy - 2 * xy, rel=1e-14)
    assert result.std == 0.0 and result.subset_size == 3


def test_one_full_size_subset_matches_torch_fidelity_clean_fid_and_torchmetrics() -> None:
    from cleanfid.fid import kernel_distance
    from torch_fidelity.metric_kid import kid_features_to_metric
    from torchmetrics.image.kid import maximum_mean_discrepancy, poly_kernel

    # given the same features for every implementation, and one subset holding every row
    generated, style = _features(120, 32, seed=1), _features(120, 32, seed=2, shift=0.1)
    ours = kid(generated, style, subsets=1, subset_size=120).mean
    fidelity = kid_features_to_metric(
        torch.from_numpy(generated), torch.from_numpy(style), kid_subsets=1, kid_subset_size=120, verbose=False
    )["kernel_inception_distance_mean"]
    clean = kernel_distance(generated, style, num_subsets=1, max_subset_size=120)
    g, s = torch.from_numpy(generated), torch.from_numpy(style)
    metrics = float(maximum_mean_discrepancy(poly_kernel(g, g), poly_kernel(g, s), poly_kernel(s, s)))
    # then all agree to 1e-12 relative
    for value in (fidelity, clean, metrics):
        assert ours == pytest.approx(value, rel=1e-12)


def test_subsets_are_seeded_and_the_seed_is_kept() -> None:
    generated, style = _features(60, 8, seed=3), _features(70, 8, seed=4)
    first = kid(generated, style, subsets=20, subset_size=30, seed=7)
    again = kid(generated, style, subsets=20, subset_size=30, seed=7)
    other = kid(generated, style, subsets=20, subset_size=30, seed=8)
    assert first == again and first.seed == 7
    assert first.mean != other.mean
    assert first.std > 0


def test_per_subset_kernels_give_the_same_value_as_whole_set_kernels(monkeypatch) -> None:
    generated, style = _features(40, 8, seed=5), _features(50, 8, seed=6)
    whole = kid(generated, style, subsets=10, subset_size=25, seed=1)
    monkeypatch.setattr(kid_module, "FULL_KERNEL_MAX_ROWS", 10)
    per_subset = kid(generated, style, subsets=10, subset_size=25, seed=1)
    assert per_subset.mean == pytest.approx(whole.mean, rel=1e-12)


def test_the_subset_size_shrinks_to_the_smaller_set() -> None:
    assert kid(_features(15, 4, 0), _features(40, 4, 1), subsets=2).subset_size == 15


def test_one_image_and_nan_features_are_refused() -> None:
    with pytest.raises(MetricError, match="KID needs at least 2 images in each set, got 1 generated"):
        kid(_features(1, 4, 0), _features(10, 4, 1))
    bad = _features(5, 4, 0)
    bad[0, 0] = np.inf
    with pytest.raises(MetricError, match="NaN or infinite"):
        kid(bad, _features(10, 4, 1))


def test_the_resampler_with_every_row_once_is_the_whole_set_estimate() -> None:
    generated, style = _features(30, 6, seed=7), _features(25, 6, seed=8)
    mmd_of, rows = kid_resampler(generated, style)
    expected = mmd2_unbiased(
        polynomial_kernel(generated, generated), polynomial_kernel(generated, style), polynomial_kernel(style, style)
    )
    assert rows == 30
    assert mmd_of(np.arange(30)) == pytest.approx(expected, rel=1e-12)
