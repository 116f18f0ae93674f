"""Bootstrap intervals: contain the point estimate, reproducible with the seed, sensible widths."""

from __future__ import annotations

import numpy as np
import pytest

from gan_core.metrics import MetricError
from gan_core.metrics.bootstrap import IntervalMethod, bootstrap_interval, mean_interval, resample_indices
from gan_core.metrics.fid import fid_from_features, fid_resampler
from gan_core.stats import ReferenceFeatures


def test_a_mean_interval_contains_the_mean_and_is_reproducible_with_the_seed() -> None:
    values = np.random.default_rng(0).exponential(size=200)
    first = mean_interval(values, resamples=200, seed=5)
    assert first.low < values.mean() < first.high
    assert mean_interval(values, resamples=200, seed=5) == first
    assert mean_interval(values, resamples=200, seed=6) != first
    assert first.method == "percentile" and first.resamples == 200 and first.seed == 5
    # the width is about that of the normal approximation, 2 * 1.96 * sd / sqrt(n)
    expected_width = 2 * 1.96 * values.std(ddof=1) / np.sqrt(values.size)
    assert (first.high - first.low) == pytest.approx(expected_width, rel=0.3)


def test_an_fid_interval_contains_the_point_estimate_and_is_reproducible() -> None:
    # given generated and reference features
    rng = np.random.default_rng(1)
    generated, style = rng.standard_normal((60, 16)), rng.standard_normal((80, 16)) + 0.3
    reference = ReferenceFeatures.from_features(style)
    point = fid_from_features(generated, reference)
    fid_of = fid_resampler(generated, reference)
    # when bootstrapping the generated rows
    interval = bootstrap_interval(fid_of, 60, point=point, resamples=50, seed=3)
    # then the re-centred percentile interval holds the point and a second run is identical
    assert interval.low < point < interval.high
    assert bootstrap_interval(fid_of, 60, point=point, resamples=50, seed=3) == interval
    assert interval.method == IntervalMethod.RECENTRED_PERCENTILE.value
    # and the plain percentile interval is shifted upwards by resampling's duplicates
    plain = bootstrap_interval(fid_of, 60, point=point, resamples=50, seed=3, method=IntervalMethod.PERCENTILE)
    assert plain.low > interval.low


def test_resample_indices_are_seeded_and_in_range() -> None:
    indices = resample_indices(10, resamples=4, seed=0)
    assert indices.shape == (4, 10) and indices.min() >= 0 and indices.max() < 10
    np.testing.assert_array_equal(indices, resample_indices(10, resamples=4, seed=0))


def test_one_image_and_nan_values_are_refused() -> None:
    with pytest.raises(MetricError, match="at least 2 images, got 1"):
        mean_interval(np.array([1.0]))
    with pytest.raises(MetricError, match="NaN or infinity"):
        mean_interval(np.array([1.0, np.nan, 2.0]))
