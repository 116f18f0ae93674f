"""SSIM: identical images, torchmetrics on the same pairs, and refused inputs."""

from __future__ import annotations

import pytest
import torch

from gan_core.metrics import MetricError, ssim


def _images(n: int, size: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, size, size), generator=generator, dtype=torch.uint8)


def test_identical_images_give_one() -> None:
    images = _images(2, 16, 0)
    torch.testing.assert_close(ssim(images, images, data_range=255.0), torch.ones(2, dtype=torch.float64))


def test_per_pair_values_match_torchmetrics_default_ssim() -> None:
    from torchmetrics.functional.image import structural_similarity_index_measure

    # given uint8 pairs, one of them a noisy copy of the other
    x = _images(3, 24, 1)
    noise = torch.randint(-20, 21, x.shape, generator=torch.Generator().manual_seed(2))
    y = (x.to(torch.int16) + noise).clamp(0, 255).to(torch.uint8)
    ours = ssim(y, x, data_range=255.0)
    expected = structural_similarity_index_measure(
        y.to(torch.float64), x.to(torch.float64), data_range=255.0, reduction="none"
    )
    torch.testing.assert_close(ours, expected, rtol=1e-12, atol=1e-12)
    assert ours.shape == (3,) and bool((ours < 1).all())


def test_the_data_range_changes_the_value_as_it_should() -> None:
    # the same pictures as floats in [0, 1] with data_range 1 give the uint8 value with data_range 255
    x, y = _images(1, 16, 3), _images(1, 16, 4)
    as_unit = ssim(x.double() / 255, y.double() / 255, data_range=1.0)
    torch.testing.assert_close(as_unit, ssim(x, y, data_range=255.0), rtol=1e-10, atol=1e-12)
    assert not torch.allclose(ssim(x, y, data_range=1.0), ssim(x, y, data_range=255.0))


def test_pairs_of_different_sizes_and_tiny_images_are_refused() -> None:
    with pytest.raises(MetricError, match="outputs must keep the size of their input"):
        ssim(_images(1, 16, 0), _images(1, 12, 0), data_range=255.0)
    with pytest.raises(MetricError, match="at least 11x11 pixels"):
        ssim(_images(1, 8, 0), _images(1, 8, 0), data_range=255.0)
    with pytest.raises(MetricError, match="positive data_range"):
        ssim(_images(1, 16, 0), _images(1, 16, 0), data_range=0.0)
