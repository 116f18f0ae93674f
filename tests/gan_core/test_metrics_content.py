"""Content (VGG conv4_2) and Gram style distances: analytic cases and A1's VGG-19 with random weights."""

from __future__ import annotations

import pytest
import torch

from gan_core.metrics import MetricError
from gan_core.metrics.content import content_distance
from gan_core.metrics.style import STYLE_LAYERS, StyleGrams, gram_distances, gram_matrices


def _images(n: int, size: int, seed: int) -> torch.Tensor:
    return torch.randint(0, 256, (n, 3, size, size), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def test_content_distance_is_the_mean_squared_difference_of_the_conv4_2_maps() -> None:
    a = {"conv4_2": torch.zeros(2, 4, 3, 3)}
    b = {"conv4_2": torch.zeros(2, 4, 3, 3)}
    b["conv4_2"][0] = 2.0  # every entry of pair 0 differs by 2
    b["conv4_2"][1, 0, 0, 0] = 6.0  # one of 36 entries of pair 1 differs by 6
    torch.testing.assert_close(content_distance(a, b), torch.tensor([4.0, 1.0], dtype=torch.float64))


def test_content_distance_refuses_maps_of_different_sizes() -> None:
    with pytest.raises(MetricError, match="same size as their inputs"):
        content_distance({"conv4_2": torch.zeros(1, 4, 3, 3)}, {"conv4_2": torch.zeros(1, 4, 2, 2)})


def test_gram_matrices_are_normalised_by_channels_times_positions() -> None:
    maps = torch.ones(1, 2, 3, 4)  # every entry 1: F F^T = 12 everywhere, / (2 * 3 * 4) = 0.5
    torch.testing.assert_close(gram_matrices(maps), torch.full((1, 2, 2), 0.5, dtype=torch.float64))


def test_gram_distance_is_the_mean_over_layers_of_the_squared_frobenius_distance_to_the_style_mean() -> None:
    style = StyleGrams(layers=("a", "b"))
    style.update({"a": torch.ones(2, 1, 2, 2), "b": torch.zeros(2, 1, 2, 2)})
    means = style.means()  # a: [[1.0]], b: [[0.0]]
    outputs = {"a": torch.full((1, 1, 2, 2), 2.0), "b": torch.full((1, 1, 2, 2), 1.0)}  # grams 4 and 1
    # ((4 - 1)^2 + (1 - 0)^2) / 2 = 5
    torch.testing.assert_close(gram_distances(outputs, means), torch.tensor([5.0], dtype=torch.float64))


def _independent_vgg_taps(images: torch.Tensor, seed: int) -> dict[str, torch.Tensor]:
    """torchvision's VGG-19 with the same seeded weights, run layer by layer here (ReLU outputs as taps)."""
    from gan_core.features.initialisation import initialise_randomly
    from gan_core.features.vgg import LAYER_INDEX, vgg19_features

    features = initialise_randomly(vgg19_features(), seed).eval()
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    x = (images.float() / 255 - mean) / std
    wanted = {LAYER_INDEX[name] + 1: name for name in (*STYLE_LAYERS, "conv4_2")}
    taps = {}
    with torch.no_grad():
        for index, module in enumerate(features[: max(wanted) + 1]):
            x = module(x)
            if index in wanted:
                taps[wanted[index]] = x.clone()
    return taps


def test_content_and_gram_distances_through_the_random_vgg_match_an_independent_computation() -> None:
    from gan_core.features import WeightsMode, vgg19_taps

    # given A1's VGG-19 taps with seeded random weights and tiny images
    vgg = vgg19_taps(weights=WeightsMode.RANDOM, seed=5, device="cpu")
    outputs, inputs, style = _images(2, 32, 1), _images(2, 32, 2), _images(3, 32, 3)
    # when computing the distances from its taps
    grams = StyleGrams().update(vgg(style)).means()
    ours_gram = gram_distances(vgg(outputs), grams)
    ours_content = content_distance(vgg(outputs), vgg(inputs))
    # then they equal the formulas evaluated on an independent forward pass with the same weights
    out_taps, in_taps, style_taps = (_independent_vgg_taps(x, 5) for x in (outputs, inputs, style))
    expected_content = (out_taps["conv4_2"].double() - in_taps["conv4_2"].double()).pow(2).mean(dim=(1, 2, 3))

    def gram(maps: torch.Tensor) -> torch.Tensor:
        n, c, h, w = maps.shape
        return torch.einsum("nchw,ndhw->ncd", maps.double(), maps.double()) / (c * h * w)

    total = torch.zeros(2, dtype=torch.float64)
    for layer in STYLE_LAYERS:
        total += (gram(out_taps[layer]) - gram(style_taps[layer]).mean(dim=0)).pow(2).sum(dim=(1, 2))
    torch.testing.assert_close(ours_content, expected_content, rtol=1e-4, atol=1e-8)
    torch.testing.assert_close(ours_gram, total / len(STYLE_LAYERS), rtol=1e-4, atol=1e-12)
    # and an image compared with itself has content distance 0
    assert float(content_distance(vgg(outputs), vgg(outputs)).abs().max()) == 0.0
    assert bool((ours_content > 0).all())


def test_gram_matrices_accumulated_over_chunks_of_positions_equal_the_one_product(monkeypatch) -> None:
    import gan_core.metrics.style as style

    maps = torch.rand(2, 3, 7, 5, generator=torch.Generator().manual_seed(0))
    flat = maps.double().reshape(2, 3, 35)
    expected = flat @ flat.transpose(1, 2) / (3 * 35)
    monkeypatch.setattr(style, "GRAM_CHUNK_VALUES", 12)  # 4 positions per chunk: 9 chunks per image
    torch.testing.assert_close(style.gram_matrices(maps), expected, rtol=1e-13, atol=1e-15)
