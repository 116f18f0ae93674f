"""VGG-19 taps: layer names, shapes and values against torchvision's own slicing on shared random weights."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
from torchvision.models import vgg19

from gan_core import weights
from gan_core.features import VGGTaps, WeightsMode, vgg19_taps
from gan_core.features.vgg import CONTENT_LAYER, DEFAULT_LAYERS, IMAGENET_MEAN, IMAGENET_STD, LAYER_INDEX, STYLE_LAYERS
from tests.gan_core.weights_support import needs_real_weights

SEED = 11


@pytest.fixture(scope="module")
def taps() -> VGGTaps:
    return vgg19_taps(weights=WeightsMode.RANDOM, seed=SEED, device="cpu")


@pytest.fixture(scope="module")
def torchvision_features() -> torch.nn.Sequential:
    return vgg19(weights=None).features.eval()


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.randint(0, 256, (2, 3, 32, 48), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))


def test_the_layer_names_follow_torchvisions_vgg19_convolutions(torchvision_features: torch.nn.Sequential) -> None:
    features = torchvision_features
    convolutions = [index for index, module in enumerate(features) if isinstance(module, torch.nn.Conv2d)]

    assert list(LAYER_INDEX.values()) == convolutions
    # Every tap is the ReLU right after its convolution
    assert all(isinstance(features[index + 1], torch.nn.ReLU) for index in LAYER_INDEX.values())
    assert CONTENT_LAYER == "conv4_2" and STYLE_LAYERS == ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
    assert set(DEFAULT_LAYERS) == {CONTENT_LAYER, *STYLE_LAYERS}


def test_taps_equal_torchvisions_features_sliced_at_each_layer(
    taps: VGGTaps, images: torch.Tensor, torchvision_features: torch.nn.Sequential
) -> None:
    # Given torchvision's vgg19 with the same random weights and ImageNet normalisation done by hand
    reference = torchvision_features
    reference.load_state_dict(taps._features.state_dict(), strict=False)
    assert set(taps._features.state_dict()) < set(reference.state_dict())
    assert len(taps._features) == LAYER_INDEX["conv5_1"] + 2
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    normalised = (images.float() / 255 - mean) / std

    # When both are evaluated
    output = taps(images)

    # Then each tap is torchvision's features[: index + 2] on the normalised images
    assert tuple(output) == DEFAULT_LAYERS
    expected_shapes = {
        "conv1_1": (2, 64, 32, 48),
        "conv2_1": (2, 128, 16, 24),
        "conv3_1": (2, 256, 8, 12),
        "conv4_1": (2, 512, 4, 6),
        "conv4_2": (2, 512, 4, 6),
        "conv5_1": (2, 512, 2, 3),
    }
    with torch.no_grad():
        for layer, tensor in output.items():
            expected = reference[: LAYER_INDEX[layer] + 2](normalised)
            assert tensor.dtype == torch.float32 and tuple(tensor.shape) == expected_shapes[layer]
            assert float(expected.abs().max()) > 0.1
            assert float((tensor - expected).abs().max()) <= 1e-4 * float(expected.abs().max())
            assert float(tensor.min()) >= 0.0  # post-ReLU


def test_a_chosen_subset_of_layers_is_returned_in_the_order_asked(images: torch.Tensor) -> None:
    subset = vgg19_taps(weights=WeightsMode.RANDOM, seed=SEED, device="cpu", layers=("conv2_1", "conv1_1"))

    output = subset(images)

    assert tuple(output) == ("conv2_1", "conv1_1")
    assert len(subset._features) == LAYER_INDEX["conv2_1"] + 2


def test_random_vgg_is_seeded_and_flagged_uncalibrated(taps: VGGTaps, images: torch.Tensor) -> None:
    again = vgg19_taps(weights=WeightsMode.RANDOM, seed=SEED, device="cpu")
    other = vgg19_taps(weights=WeightsMode.RANDOM, seed=SEED + 1, device="cpu")

    assert torch.equal(taps(images)["conv3_1"], again(images)["conv3_1"])
    assert not torch.equal(taps(images)["conv3_1"], other(images)["conv3_1"])
    assert taps.calibrated is False and taps.weights_sha256 is None
    assert taps.layers == DEFAULT_LAYERS


def test_vgg_refuses_float_input_and_unknown_layers(taps: VGGTaps) -> None:
    with pytest.raises(ValueError, match=r"uint8 images of shape \(N, 3, H, W\)"):
        taps(torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match=r"Unknown VGG-19 layer\(s\) \['relu4_2'\]"):
        vgg19_taps(weights=WeightsMode.RANDOM, layers=("relu4_2",))


def test_a_pretrained_file_that_does_not_fit_vgg19_is_refused_with_how_to_fetch_it_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a digest-verified file registered as vgg19 whose features hold one tensor only
    path = tmp_path / "vgg19-test.pth"
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    entry = weights.WeightsFile(name="vgg19", filename=path.name, url="https://example.invalid/v.pth", sha256=digest)
    monkeypatch.setitem(weights.REGISTRY, "vgg19", entry)
    monkeypatch.setenv("ATELIER_WEIGHTS_DIR", str(tmp_path))

    # when the pretrained taps are built, then the error names the file and the command that replaces it
    with pytest.raises(weights.WeightsError, match=r"vgg19-test\.pth \(vgg19\) does not fit the network") as error:
        vgg19_taps(device="cpu")
    assert str(error.value).endswith(
        "Delete it and run `python -m gan_core weights fetch vgg19` (source: https://example.invalid/v.pth)."
    )


@needs_real_weights("vgg19")
def test_pretrained_taps_equal_torchvisions_vgg19_with_the_real_weights(images: torch.Tensor) -> None:
    state_dict, digest = weights.load_state_dict("vgg19")
    reference = vgg19(weights=None).eval()
    reference.load_state_dict(state_dict)
    normalised = (images.float() / 255 - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(
        IMAGENET_STD
    ).view(1, 3, 1, 1)

    taps = vgg19_taps(device="cpu", layers=(CONTENT_LAYER,))

    assert taps.calibrated is True and taps.weights_sha256 == digest
    with torch.no_grad():
        expected = reference.features[: LAYER_INDEX[CONTENT_LAYER] + 2](normalised)
    assert float((taps(images)[CONTENT_LAYER] - expected).abs().max()) <= 1e-4 * float(expected.abs().max())
