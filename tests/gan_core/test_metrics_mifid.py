"""MiFID: Kaggle's scoring re-implemented as the reference, planted copies, and torchmetrics' other direction."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gan_core.metrics import MetricError
from gan_core.metrics.fid import fid_from_features
from gan_core.metrics.mifid import memorisation_distances, mifid_from_parts, normalise_rows


def _reference_mifid(generated: np.ndarray, train: np.ndarray, fid_value: float, eps: float = 0.1) -> float:
    """Kaggle's GAN-competition scorer: per generated image, min over train of 1 - |cos|; mean; threshold."""

    def normalize_rows(x: np.ndarray) -> np.ndarray:
        return np.nan_to_num(x / np.linalg.norm(x, ord=2, axis=1, keepdims=True))

    g = normalize_rows(generated[np.sum(generated, axis=1) != 0])
    t = normalize_rows(train[np.sum(train, axis=1) != 0])
    d = 1.0 - np.abs(np.matmul(g, t.T))
    mean_min_d = np.mean(np.min(d, axis=1))
    distance = mean_min_d if mean_min_d < eps else 1
    return fid_value / (distance + 1e-15)


def _features(n: int, d: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, d)) + 0.5


def _atelier_mifid(generated: np.ndarray, style: np.ndarray) -> float:
    fid = fid_from_features(generated, style)
    return mifid_from_parts(fid, memorisation_distances(generated, normalise_rows(style))).value


def test_outputs_far_from_the_style_images_leave_fid_unchanged() -> None:
    generated, style = _features(30, 16, 1), _features(40, 16, 2)
    fid = fid_from_features(generated, style)
    result = mifid_from_parts(fid, memorisation_distances(generated, normalise_rows(style)))
    assert result.distance >= 0.1 and result.thresholded_distance == 1.0
    assert result.value == pytest.approx(fid, rel=1e-12)
    assert result.value == pytest.approx(_reference_mifid(generated, style, fid), rel=1e-12)


def test_planted_copies_are_penalised_as_kaggle_scores_them_and_torchmetrics_disagrees() -> None:
    from torchmetrics.image.mifid import _compute_cosine_distance

    # given a large style set and outputs of which most are near-copies of a few style images
    rng = np.random.default_rng(3)
    style = _features(200, 16, 4)
    copies = style[:10].repeat(4, axis=0) * 1.01 + 1e-3 * rng.standard_normal((40, 16))
    generated = np.vstack([copies, _features(5, 16, 5)])
    fid = fid_from_features(generated, style)
    # when scoring MiFID
    ours = mifid_from_parts(fid, memorisation_distances(generated, normalise_rows(style)))
    # then it matches Kaggle's scorer and is penalised (d < eps)
    assert ours.value == pytest.approx(_reference_mifid(generated, style, fid), rel=1e-12)
    assert ours.distance < 0.1 and ours.value > 5 * fid
    # and torchmetrics' direction (for each real image, its nearest fake) sees no memorisation at all
    torchmetrics_d = float(_compute_cosine_distance(torch.from_numpy(style), torch.from_numpy(generated), 0.1))
    kaggle_direction = float(_compute_cosine_distance(torch.from_numpy(generated), torch.from_numpy(style), 0.1))
    assert kaggle_direction == pytest.approx(ours.thresholded_distance, rel=1e-12)
    assert torchmetrics_d == 1.0


def test_per_image_distances_are_zero_for_exact_copies_and_sign_flips() -> None:
    style = _features(5, 8, 6)
    generated = np.vstack([style[1], -2.0 * style[3]])
    distances = memorisation_distances(generated, normalise_rows(style))
    np.testing.assert_allclose(distances, 0.0, atol=1e-12)


def test_rows_summing_to_zero_are_left_out_as_kaggle_does() -> None:
    style = _features(20, 6, 7)
    generated = np.vstack([_features(9, 6, 8), np.zeros((1, 6))])
    distances = memorisation_distances(generated, normalise_rows(style))
    assert np.isnan(distances[-1]) and np.isfinite(distances[:-1]).all()
    fid = 3.0
    assert mifid_from_parts(fid, distances).value == pytest.approx(_reference_mifid(generated, style, fid), rel=1e-12)


def test_features_of_another_network_are_refused() -> None:
    with pytest.raises(MetricError, match="8-d but the style features are 6-d"):
        memorisation_distances(_features(3, 8, 0), normalise_rows(_features(3, 6, 1)))
