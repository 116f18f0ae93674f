"""The FID Inception-v3 and its preprocessing, against pytorch-fid and clean-fid on shared random weights."""

from __future__ import annotations

import copy
import hashlib
import importlib
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch
from PIL import Image

from gan_core import weights
from gan_core.features import FeatureExtractor, InceptionExtractor, WeightsMode, inception
from gan_core.features.inception import (
    FIDInceptionV3,
    preprocess,
    random_fid_inception,
    resize_clean,
    resize_legacy_pytorch,
)
from gan_core.features.initialisation import initialise_randomly
from gan_core.images import PreprocessMode
from gan_core.weights import REGISTRY, WeightsError
from tests.gan_core.weights_support import needs_real_weights

pytorch_fid_inception = pytest.importorskip(
    "pytorch_fid.inception", reason="pytorch-fid (a development requirement) is not installed"
)
cleanfid_resize = pytest.importorskip(
    "cleanfid.resize", reason="clean-fid (a development requirement) is not installed"
)

SEED = 7
# The module, not the package's ``inception()`` function of the same name
inception_module = importlib.import_module("gan_core.features.inception")


@pytest.fixture(scope="module")
def random_network() -> FIDInceptionV3:
    return random_fid_inception(SEED)


@pytest.fixture(scope="module")
def reference_network(random_network: FIDInceptionV3) -> torch.nn.Module:
    """pytorch-fid's InceptionV3 (all four taps) built with Atelier's random state dict instead of a download."""
    state_dict = random_network.state_dict()
    with mock.patch.object(pytorch_fid_inception, "load_state_dict_from_url", return_value=state_dict):
        network = pytorch_fid_inception.InceptionV3([0, 1, 2, 3])
    return network.eval()


@pytest.fixture(scope="module")
def sample_images() -> torch.Tensor:
    """Two smooth-plus-noise uint8 images, 48 x 64 (not 299, so both resizers do real work)."""
    generator = torch.Generator().manual_seed(0)
    ramp = torch.linspace(0, 200, 64).view(1, 1, 1, 64) + torch.linspace(0, 50, 48).view(1, 1, 48, 1)
    noise = torch.randint(0, 56, (2, 3, 48, 64), generator=generator)
    return (ramp + noise).clamp(0, 255).to(torch.uint8)


def _to_hwc(image: torch.Tensor) -> np.ndarray:
    return image.permute(1, 2, 0).numpy()


def test_the_network_has_the_fid_inception_parameter_count(random_network: FIDInceptionV3) -> None:
    assert sum(parameter.numel() for parameter in random_network.parameters()) == 23_850_960


def test_the_state_dict_has_exactly_pytorch_fids_keys_and_shapes(
    random_network: FIDInceptionV3, reference_network: torch.nn.Module
) -> None:
    # pytorch-fid loaded the state dict strictly into its own torchvision-based network
    reference = pytorch_fid_inception.fid_inception_v3
    with mock.patch.object(pytorch_fid_inception, "load_state_dict_from_url", return_value=random_network.state_dict()):
        full = reference()
    ours = {key: tuple(value.shape) for key, value in random_network.state_dict().items()}
    theirs = {key: tuple(value.shape) for key, value in full.state_dict().items()}
    assert ours == theirs


@pytest.fixture(scope="module")
def reference_network_float64(reference_network: torch.nn.Module) -> torch.nn.Module:
    return copy.deepcopy(reference_network).double()


@pytest.mark.parametrize(("dims", "block"), [(64, 0), (192, 1), (768, 2), (2048, 3)])
def test_features_equal_pytorch_fids_on_the_same_random_weights(
    random_network: FIDInceptionV3,
    reference_network_float64: torch.nn.Module,
    sample_images: torch.Tensor,
    dims: int,
    block: int,
) -> None:
    # Given pytorch-fid's features (its own resize and scaling on [0, 1] values, as its loader gives),
    # both networks in float64 so that only the architecture, not float32 rounding, can differ
    with torch.no_grad():
        expected = reference_network_float64(sample_images.double() / 255)[block].mean(dim=(2, 3))
    extractor = InceptionExtractor(
        random_network,
        mode=PreprocessMode.LEGACY_PYTORCH,
        dims=dims,
        weights_sha256=None,
        calibrated=False,
        dtype=torch.float64,
    )

    # When Atelier extracts them in legacy-pytorch mode
    features = extractor(sample_images)

    # Then they are the same features (to float64 rounding, far inside the required 1e-4), and of a
    # trained network's scale (order 1)
    assert features.dtype == torch.float64 and features.shape == (len(sample_images), dims)
    assert 0.1 < float(expected.std()) < 20.0
    assert float((features - expected).abs().max()) < 1e-9


def test_float32_features_equal_pytorch_fids_and_are_as_accurate(
    random_network: FIDInceptionV3,
    reference_network: torch.nn.Module,
    reference_network_float64: torch.nn.Module,
    sample_images: torch.Tensor,
) -> None:
    # Given pytorch-fid in float32, as everyone runs it, and the float64 truth
    with torch.no_grad():
        expected = reference_network(sample_images.float() / 255)[3].flatten(1).double()
        truth = reference_network_float64(sample_images.double() / 255)[3].flatten(1)

    # When Atelier runs its float32 network (batch norms folded, channels-last)
    features = inception(mode=PreprocessMode.LEGACY_PYTORCH, weights=WeightsMode.RANDOM, seed=SEED)(sample_images)

    # Then they agree within 1e-4, and Atelier's rounding error is no larger than pytorch-fid's own
    assert float((features - expected).abs().max()) < 1e-4
    assert float((features - truth).abs().max()) <= 1.5 * float((expected - truth).abs().max()) + 1e-6


def test_clean_mode_features_equal_pytorch_fids_network_on_clean_fids_resized_images(
    random_network: FIDInceptionV3, reference_network_float64: torch.nn.Module, sample_images: torch.Tensor
) -> None:
    # Given clean-fid's mode="clean" pipeline: its PIL resizer, then (x - 128) / 128 into the network
    resizer = cleanfid_resize.build_resizer("clean")
    resized = torch.stack([torch.from_numpy(resizer(_to_hwc(image)).transpose(2, 0, 1)) for image in sample_images])
    reference = copy.deepcopy(reference_network_float64)
    reference.resize_input, reference.normalize_input = False, False
    with torch.no_grad():
        expected = reference((resized.double() - 128) / 128)[3].flatten(1)

    extractor = InceptionExtractor(
        random_network, mode=PreprocessMode.CLEAN, weights_sha256=None, calibrated=False, dtype=torch.float64
    )
    features = extractor(sample_images)

    assert float(expected.std()) > 0.1
    assert float((features - expected).abs().max()) < 1e-9


def test_clean_resize_equals_clean_fids_resizer_exactly(sample_images: torch.Tensor) -> None:
    resizer = cleanfid_resize.make_resizer("PIL", False, "bicubic", (299, 299))
    odd = torch.randint(0, 256, (3, 31, 17), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))

    for image in [*sample_images, odd]:
        expected = torch.from_numpy(resizer(_to_hwc(image)).transpose(2, 0, 1).copy())
        resized = resize_clean(image)
        assert resized.dtype == torch.float32 and resized.shape == (3, 299, 299)
        assert float((resized - expected).abs().max()) == 0.0
        # Bicubic overshoots; the clip to [0, 255] is applied and values are not re-quantised
        assert float(resized.min()) >= 0.0 and float(resized.max()) <= 255.0
    assert not torch.equal(resize_clean(odd), resize_clean(odd).round())


def test_legacy_resize_equals_pytorch_fids_interpolation_on_its_loader_output(
    sample_images: torch.Tensor, tmp_path: Path
) -> None:
    # Given the images as PNG files read the way pytorch-fid's ImagePathDataset reads them
    import torchvision.transforms as transforms

    loaded = []
    for index, image in enumerate(sample_images):
        path = tmp_path / f"{index}.png"
        Image.fromarray(_to_hwc(image)).save(path)
        loaded.append(transforms.ToTensor()(Image.open(path).convert("RGB")))
    expected = torch.nn.functional.interpolate(
        torch.stack(loaded), size=(299, 299), mode="bilinear", align_corners=False
    )

    resized = resize_legacy_pytorch(sample_images)

    assert float((resized - expected).abs().max()) == 0.0


def test_legacy_resize_agrees_with_clean_fids_legacy_pytorch_resizer_on_0_255_values(
    sample_images: torch.Tensor,
) -> None:
    resizer = cleanfid_resize.build_resizer("legacy_pytorch")
    expected = torch.stack([torch.from_numpy(resizer(_to_hwc(image)).transpose(2, 0, 1)) for image in sample_images])

    resized = resize_legacy_pytorch(sample_images) * 255

    # clean-fid interpolates on [0, 255] and we on [0, 1]: equal up to float32 rounding
    assert float((resized - expected).abs().max()) < 1e-4


def test_preprocess_scales_each_mode_to_the_networks_range(sample_images: torch.Tensor) -> None:
    clean = preprocess(sample_images, PreprocessMode.CLEAN)
    legacy = preprocess(sample_images, PreprocessMode.LEGACY_PYTORCH)

    assert clean.shape == legacy.shape == (2, 3, 299, 299)
    assert torch.allclose(clean, (torch.stack([resize_clean(image) for image in sample_images]) - 128) / 128)
    assert torch.allclose(legacy, 2 * resize_legacy_pytorch(sample_images) - 1)
    # The two modes are different functions of the same images
    assert float((clean - legacy).abs().max()) > 0.01


def test_images_of_different_sizes_are_processed_one_by_one_in_order(random_network: FIDInceptionV3) -> None:
    generator = torch.Generator().manual_seed(3)
    small = torch.randint(0, 256, (3, 40, 30), dtype=torch.uint8, generator=generator)
    large = torch.randint(0, 256, (3, 80, 90), dtype=torch.uint8, generator=generator)
    extractor = InceptionExtractor(
        random_network, mode=PreprocessMode.LEGACY_PYTORCH, dims=64, weights_sha256=None, calibrated=False
    )

    together = extractor([small, large, small])

    assert torch.allclose(together[0], extractor([small])[0], atol=1e-6)
    assert torch.allclose(together[1], extractor([large])[0], atol=1e-6)
    assert torch.equal(together[0], together[2])


def test_random_weights_are_seeded_deterministic_and_flagged_uncalibrated() -> None:
    first = initialise_randomly(FIDInceptionV3(), 5).state_dict()
    torch.manual_seed(123)  # the global random state plays no part
    again = initialise_randomly(FIDInceptionV3(), 5).state_dict()
    other = initialise_randomly(FIDInceptionV3(), 6).state_dict()

    assert all(torch.equal(first[key], again[key]) for key in first)
    assert not torch.equal(first["Mixed_7c.branch_pool.conv.weight"], other["Mixed_7c.branch_pool.conv.weight"])
    # The calibrated random network is deterministic too (recomputed, not taken from the cache)
    cached = random_fid_inception(SEED).state_dict()
    inception_module._random_state_dict.cache_clear()
    recomputed = random_fid_inception(SEED).state_dict()
    assert all(torch.equal(cached[key], recomputed[key]) for key in cached)
    extractor = inception(weights=WeightsMode.RANDOM, seed=SEED, dims=768, mode=PreprocessMode.LEGACY_PYTORCH)
    assert isinstance(extractor, FeatureExtractor)
    assert (extractor.name, extractor.dims, extractor.mode) == ("inception-v3-fid-768", 768, "legacy-pytorch")
    assert extractor.calibrated is False and extractor.weights_sha256 is None
    assert extractor.device == torch.device("cpu") or extractor.device.type == "cuda"


def test_pretrained_is_the_default_and_fails_clearly_without_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATELIER_WEIGHTS_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))

    with pytest.raises(WeightsError, match=r"pt_inception-2015-12-05-6726825d\.pth .* is missing.*weights fetch"):
        inception()


def test_a_verified_weights_file_loads_into_a_calibrated_extractor(
    random_network: FIDInceptionV3, sample_images: torch.Tensor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a weights file made by the test and registered under the Inception's name
    path = tmp_path / "pt_inception-test.pth"
    torch.save(random_network.state_dict(), path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    monkeypatch.setitem(
        REGISTRY,
        "inception-v3-fid",
        weights.WeightsFile(
            name="inception-v3-fid", filename=path.name, url="https://example.invalid/x.pth", sha256=digest
        ),
    )
    monkeypatch.setenv("ATELIER_WEIGHTS_DIR", str(tmp_path))

    extractor = inception(dims=192)

    assert extractor.calibrated is True
    assert extractor.weights_sha256 == digest
    expected = inception(dims=192, weights=WeightsMode.RANDOM, seed=SEED)(sample_images)
    assert torch.equal(extractor(sample_images), expected)


def test_bad_input_is_refused_with_what_to_do(random_network: FIDInceptionV3) -> None:
    extractor = InceptionExtractor(random_network, dims=64, weights_sha256=None, calibrated=False)

    with pytest.raises(ValueError, match="expected uint8 RGB; convert generator outputs with gan_core.images.to_uint8"):
        extractor(torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match=r"shape \(1, 8, 8\), expected \(3, H, W\)"):
        extractor([torch.zeros(1, 8, 8, dtype=torch.uint8)])
    with pytest.raises(ValueError, match="64, 192, 768, 2048 dimensions, not 1000"):
        InceptionExtractor(random_network, dims=1000, weights_sha256=None, calibrated=False)


@needs_real_weights("inception-v3-fid")
def test_pretrained_features_equal_pytorch_fids_with_the_real_weights(sample_images: torch.Tensor) -> None:
    state_dict, digest = weights.load_state_dict("inception-v3-fid")
    with mock.patch.object(pytorch_fid_inception, "load_state_dict_from_url", return_value=state_dict):
        reference = pytorch_fid_inception.InceptionV3([3]).eval()
    with torch.no_grad():
        expected32 = reference(sample_images.float() / 255)[0].flatten(1).double()
        expected64 = copy.deepcopy(reference).double()(sample_images.double() / 255)[0].flatten(1)

    extractor = inception(mode=PreprocessMode.LEGACY_PYTORCH)
    exact = InceptionExtractor(
        extractor_network_from(state_dict),
        mode=PreprocessMode.LEGACY_PYTORCH,
        weights_sha256=digest,
        calibrated=True,
        dtype=torch.float64,
    )

    assert extractor.calibrated is True and extractor.weights_sha256 == digest
    assert float((exact(sample_images) - expected64).abs().max()) < 1e-9
    features = extractor(sample_images)
    assert float((features - expected32).abs().max()) < 1e-4
    assert float((features - expected64).abs().max()) <= 1.5 * float((expected32 - expected64).abs().max()) + 1e-6


def extractor_network_from(state_dict: dict[str, torch.Tensor]) -> FIDInceptionV3:
    network = FIDInceptionV3()
    network.load_state_dict(state_dict)
    return network.eval()
