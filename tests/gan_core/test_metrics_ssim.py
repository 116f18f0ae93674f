"""SSIM: identical images, torchmetrics and a float64 reference on the same pairs, refused inputs, and
memory that the budget bounds whatever the number of pairs."""

from __future__ import annotations

import pytest
import torch

from gan_core.memory import MemoryBudgetError
from gan_core.metrics import MetricError, ssim
from gan_core.metrics.ssim import SsimPrecision, gaussian_window
from tests.gan_core.memory_probe import peak_growth_mib


def _images(n: int, size: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, size, size), generator=generator, dtype=torch.uint8)


def _noisy_copy(x: torch.Tensor, seed: int, amplitude: int = 20) -> torch.Tensor:
    noise = torch.randint(-amplitude, amplitude + 1, x.shape, generator=torch.Generator().manual_seed(seed))
    return (x.to(torch.int16) + noise).clamp(0, 255).to(torch.uint8)


def _reference_ssim(x: torch.Tensor, y: torch.Tensor, data_range: float) -> torch.Tensor:
    """The textbook computation in float64: a full 11 x 11 window by grouped convolution, all at once."""
    import torch.nn.functional as F

    x, y = x.double(), y.double()
    channels = x.shape[1]
    window = gaussian_window()
    kernel = torch.outer(window, window).expand(channels, 1, 11, 11).contiguous()
    x, y = (F.pad(t, (5, 5, 5, 5), mode="reflect") for t in (x, y))
    mu_x, mu_y, xx, yy, xy = (F.conv2d(t, kernel, groups=channels) for t in (x, y, x * x, y * y, x * y))
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    var_x, var_y = (xx - mu_x**2).clamp(min=0), (yy - mu_y**2).clamp(min=0)
    cov = xy - mu_x * mu_y
    value = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return value.flatten(1).mean(dim=1)


def test_identical_images_give_one() -> None:
    images = _images(2, 16, 0)
    torch.testing.assert_close(ssim(images, images, data_range=255.0), torch.ones(2, dtype=torch.float64))


def test_per_pair_values_match_torchmetrics_default_ssim() -> None:
    from torchmetrics.functional.image import structural_similarity_index_measure

    # given uint8 pairs, one of them a noisy copy of the other
    x = _images(3, 24, 1)
    y = _noisy_copy(x, 2)
    expected = structural_similarity_index_measure(
        y.to(torch.float64), x.to(torch.float64), data_range=255.0, reduction="none"
    )
    # the float64 precision agrees to rounding; the default float32 windows to 1e-6
    reference = ssim(y, x, data_range=255.0, precision=SsimPrecision.FLOAT64)
    torch.testing.assert_close(reference, expected, rtol=1e-12, atol=1e-12)
    ours = ssim(y, x, data_range=255.0)
    torch.testing.assert_close(ours, expected, rtol=0, atol=1e-6)
    assert ours.dtype == torch.float64 and ours.shape == (3,) and bool((ours < 1).all())


@pytest.mark.parametrize(("height", "width", "amplitude"), [(64, 96, 20), (40, 40, 2), (33, 57, 120)])
def test_float32_windows_agree_with_a_float64_reference_to_1e_6(height: int, width: int, amplitude: int) -> None:
    # given photographs-like pairs: a smooth field (flat regions are where float32 variances lose digits)
    generator = torch.Generator().manual_seed(height)
    coarse = torch.randint(0, 256, (2, 3, 4, 4), generator=generator).double()
    smooth = torch.nn.functional.interpolate(coarse, size=(height, width), mode="bicubic").clamp(0, 255).round()
    x = smooth.to(torch.uint8)
    y = _noisy_copy(x, 7, amplitude)
    expected = _reference_ssim(x, y, 255.0)
    torch.testing.assert_close(ssim(x, y, data_range=255.0), expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(
        ssim(x, y, data_range=255.0, precision=SsimPrecision.FLOAT64), expected, rtol=1e-12, atol=1e-12
    )


def test_a_tiny_budget_gives_the_same_values_one_plane_at_a_time() -> None:
    x = _images(3, 32, 5)
    y = _noisy_copy(x, 6)
    whole = ssim(x, y, data_range=255.0, budget=1024)
    torch.testing.assert_close(ssim(x, y, data_range=255.0, budget=16), whole, rtol=0, atol=1e-12)


def test_the_data_range_changes_the_value_as_it_should() -> None:
    # the same pictures as floats in [0, 1] with data_range 1 give the uint8 value with data_range 255
    x, y = _images(1, 16, 3), _images(1, 16, 4)
    as_unit = ssim(x.double() / 255, y.double() / 255, data_range=1.0)
    torch.testing.assert_close(as_unit, ssim(x, y, data_range=255.0), rtol=1e-6, atol=1e-7)
    assert not torch.allclose(ssim(x, y, data_range=1.0), ssim(x, y, data_range=255.0))


def test_pairs_of_different_sizes_and_tiny_images_are_refused() -> None:
    with pytest.raises(MetricError, match="outputs must keep the size of their input"):
        ssim(_images(1, 16, 0), _images(1, 12, 0), data_range=255.0)
    with pytest.raises(MetricError, match="at least 11x11 pixels"):
        ssim(_images(1, 8, 0), _images(1, 8, 0), data_range=255.0)
    with pytest.raises(MetricError, match="positive data_range"):
        ssim(_images(1, 16, 0), _images(1, 16, 0), data_range=0.0)


def test_an_image_that_does_not_fit_the_budget_at_one_plane_is_refused_with_the_size_it_needs() -> None:
    images = torch.zeros((1, 3, 1024, 1024), dtype=torch.uint8)
    with pytest.raises(MemoryBudgetError, match=r"SSIM at 1024x1024 needs about \d+ MiB .* budget of 16 MiB"):
        ssim(images, images, data_range=255.0, budget=16)


def test_peak_memory_does_not_grow_with_the_number_of_pairs() -> None:
    # given 240 x 320 pairs (the audit's size: 385 MB per pair before) and a 64 MiB budget
    setup = """
    from gan_core.metrics.ssim import ssim
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (24, 3, 240, 320), generator=g, dtype=torch.uint8)
    y = torch.randint(0, 256, (24, 3, 240, 320), generator=g, dtype=torch.uint8)
    ssim(x[:1], y[:1], data_range=255.0, budget=64)
    """
    # when 1 and then 24 pairs are scored, each in a fresh process
    one = peak_growth_mib(setup, "ssim(x[:1], y[:1], data_range=255.0, budget=64)")
    many = peak_growth_mib(setup, "ssim(x, y, data_range=255.0, budget=64)")
    # then 24 pairs raise the peak by no more than the budget over what one pair did
    assert many["growth_mib"] - one["growth_mib"] < 64, (one, many)
    assert many["peak_mib"] < one["peak_mib"] + 80, (one, many)
