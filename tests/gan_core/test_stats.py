"""Streamed statistics, their files and the reference cache."""

from __future__ import annotations

import numpy as np
import pytest

from gan_core.stats import (
    CacheKey,
    FeatureStats,
    ReferenceCache,
    ReferenceFeatures,
    StatisticsError,
    StatsMetadata,
    covariance_factor,
    load_stats,
    save_stats,
    symmetric_sqrt,
    weights_identity,
)


def _features(n: int = 300, d: int = 24, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # An offset far from zero and correlated columns make naive one-pass sums lose digits.
    return 1e3 + rng.standard_normal((n, d)) @ rng.standard_normal((d, d))


def _metadata(count: int = 10) -> StatsMetadata:
    return StatsMetadata(network="inception-v3-fid-2048", weights_sha256="ab" * 32, mode="clean", count=count)


def test_streamed_batches_equal_numpy_mean_and_unbiased_covariance() -> None:
    # given features streamed in uneven batches
    features = _features()
    stats = FeatureStats.empty(features.shape[1])
    for start, stop in ((0, 1), (1, 40), (40, 41), (41, 300)):
        stats.update(features[start:stop])
    # then they equal numpy's whole-set mean and np.cov(ddof=1) to 1e-12
    assert stats.count == 300
    np.testing.assert_allclose(stats.mean, features.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(stats.covariance(), np.cov(features, rowvar=False, ddof=1), rtol=1e-12, atol=1e-12)


def test_partial_statistics_from_several_workers_merge_in_any_order() -> None:
    features = _features(n=200, seed=1)
    parts = [FeatureStats.from_features(chunk) for chunk in np.array_split(features, 5)]
    forward = parts[0]
    for part in parts[1:]:
        forward = forward.merge(part)
    tree = parts[0].merge(parts[1]).merge(parts[2].merge(parts[3].merge(parts[4])))
    expected = np.cov(features, rowvar=False, ddof=1)
    for merged in (forward, tree):
        assert merged.count == 200
        np.testing.assert_allclose(merged.covariance(), expected, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(merged.mean, features.mean(axis=0), rtol=1e-12)


def test_merging_leaves_both_inputs_unchanged() -> None:
    a, b = FeatureStats.from_features(_features(10, 4, 2)), FeatureStats.from_features(_features(12, 4, 3))
    before = (a.count, a.mean.copy(), b.count, b.mean.copy())
    a.merge(b)
    assert (a.count, b.count) == (before[0], before[2])
    np.testing.assert_array_equal(a.mean, before[1])


def test_a_covariance_of_one_image_is_refused_with_what_to_do() -> None:
    stats = FeatureStats.from_features(np.ones((1, 3)))
    with pytest.raises(StatisticsError, match="at least 2 images, got 1"):
        stats.covariance()


def test_nan_features_are_refused_naming_the_rows() -> None:
    features = _features(5, 3)
    features[2, 1] = np.nan
    with pytest.raises(StatisticsError, match="NaN or infinite values in 1 of 5 rows"):
        FeatureStats.from_features(features)


def test_saved_statistics_load_back_with_their_metadata(tmp_path) -> None:
    features = _features(50, 6)
    stats = FeatureStats.from_features(features)
    path = tmp_path / "stats.npz"
    metadata = StatsMetadata(
        network="inception-v3-fid-2048",
        weights_sha256=None,
        mode="legacy-pytorch",
        count=50,
        content_hash="c" * 64,
        calibrated=False,
    )
    save_stats(path, stats, metadata)
    loaded, loaded_metadata = load_stats(path)
    assert loaded_metadata == metadata
    assert loaded.count == 50
    np.testing.assert_allclose(loaded.covariance(), np.cov(features, rowvar=False), rtol=1e-12)
    # the file is readable by tools that expect pytorch-fid's mu/sigma names, and no temporary file is left
    with np.load(path) as raw:
        np.testing.assert_allclose(raw["mu"], features.mean(axis=0), rtol=1e-12)
    assert [p.name for p in tmp_path.iterdir()] == ["stats.npz"]


def test_a_file_that_is_not_statistics_is_refused_with_the_command_to_make_one(tmp_path) -> None:
    path = tmp_path / "other.npz"
    np.savez(path, something=np.zeros(3))
    with pytest.raises(StatisticsError, match="python -m gan_core stats"):
        load_stats(path)


def test_the_covariance_factor_is_cholesky_when_definite_and_the_symmetric_root_when_singular() -> None:
    definite = np.cov(_features(n=100, d=12), rowvar=False)
    factor = covariance_factor(definite)
    np.testing.assert_allclose(factor @ factor.T, definite, rtol=1e-10)
    assert np.allclose(factor, np.tril(factor))
    singular = np.cov(_features(n=5, d=12), rowvar=False)
    np.testing.assert_array_equal(covariance_factor(singular), symmetric_sqrt(singular))


def test_symmetric_sqrt_of_a_singular_covariance_squares_back_and_has_no_nan() -> None:
    features = _features(n=5, d=12)  # rank 4 covariance
    covariance = np.cov(features, rowvar=False)
    root = symmetric_sqrt(covariance)
    assert np.isfinite(root).all() and not np.iscomplexobj(root)
    np.testing.assert_allclose(root @ root, covariance, atol=1e-8 * np.abs(covariance).max())


def test_the_reference_cache_returns_what_was_stored_under_the_same_key_only(tmp_path) -> None:
    # given a reference set stored in the cache
    features = _features(40, 8)
    cache = ReferenceCache(tmp_path)
    key = CacheKey("hash-1", "inception-v3-fid-2048", weights_identity(None, seed=3), "clean")
    cache.store(key, ReferenceFeatures.from_features(features, _metadata(40)))
    # when loading it back
    hit = cache.load(key)
    # then stats, the covariance root and the features come back; other keys miss
    assert hit is not None and hit.stats.count == 40
    np.testing.assert_allclose(hit.root() @ hit.root().T, np.cov(features, rowvar=False), rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(hit.features, features)
    np.testing.assert_allclose(np.linalg.norm(hit.normalised_features(), axis=1), 1.0, rtol=1e-12)
    assert hit.metadata == _metadata(40)
    assert cache.load(CacheKey("hash-1", "inception-v3-fid-2048", "random-seed-4", "clean")) is None
    assert cache.load(CacheKey("hash-1", "inception-v3-fid-2048", "random-seed-3", "legacy-pytorch")) is None


def test_a_cache_file_holding_another_key_or_garbage_reads_as_a_miss(tmp_path) -> None:
    cache = ReferenceCache(tmp_path)
    key_a = CacheKey("a", "net", "w", "clean")
    key_b = CacheKey("b", "net", "w", "clean")
    path_a = cache.store(key_a, ReferenceFeatures.from_features(_features(10, 3)))
    # a file renamed to another key's name is not trusted
    cache.path(key_b).write_bytes(path_a.read_bytes())
    assert cache.load(key_b) is None
    # a truncated file is a miss, not a crash
    path_a.write_bytes(path_a.read_bytes()[:100])
    assert cache.load(key_a) is None
