"""LPIPS (AlexNet v0.1) against the lpips package with a shared random trunk."""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import pytest
import torch

from gan_core import weights
from gan_core.features import LPIPS, WeightsMode, lpips_alex
from gan_core.features.extractor import combined_digest
from gan_core.features.initialisation import initialise_randomly
from gan_core.features.lpips import CHANNELS, alexnet_features
from gan_core.weights import REGISTRY, WeightsError
from tests.gan_core.weights_support import needs_real_weights

lpips_package = pytest.importorskip("lpips", reason="the lpips package (a development requirement) is not installed")

SEED = 5


def _reference(trunk: torch.nn.Sequential, linear: list[torch.Tensor]) -> torch.nn.Module:
    """lpips.LPIPS(net="alex", version="0.1") with ``trunk``'s weights and the given linear layers."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchvision's deprecated pretrained= argument inside lpips
        model = lpips_package.LPIPS(net="alex", version="0.1", pretrained=True, pnet_rand=True, verbose=False)
    slices = [model.net.slice1, model.net.slice2, model.net.slice3, model.net.slice4, model.net.slice5]
    loaded = 0
    for index, module in enumerate(trunk):
        for block in slices:
            if str(index) in block._modules:
                block._modules[str(index)].load_state_dict(module.state_dict())
                loaded += 1
    assert loaded == len(trunk)
    with torch.no_grad():
        for layer, weight in zip(model.lins, linear, strict=True):
            layer.model[-1].weight.copy_(weight.view(1, -1, 1, 1))
    return model.eval()


@pytest.fixture(scope="module")
def pairs() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (3, 3, 64, 64), dtype=torch.uint8, generator=generator)
    noise = torch.randint(-40, 41, x.shape, generator=generator)
    y = (x.int() + noise).clamp(0, 255).to(torch.uint8)
    y[2] = x[2]  # one identical pair
    return x, y


def _shipped_linear() -> list[torch.Tensor]:
    state_dict, _ = weights.load_state_dict("lpips-alex-v0.1")
    return [state_dict[f"lin{index}.model.1.weight"].flatten() for index in range(5)]


@pytest.mark.parametrize("linear_weights", ["shipped v0.1", "random"])
def test_distances_equal_the_lpips_packages_on_a_shared_random_trunk(
    pairs: tuple[torch.Tensor, torch.Tensor], linear_weights: str
) -> None:
    # Given a random AlexNet trunk and linear layers shared by both implementations
    trunk = initialise_randomly(alexnet_features(), SEED)
    if linear_weights == "random":
        generator = torch.Generator().manual_seed(1)
        linear = [torch.rand(channels, generator=generator) for channels in CHANNELS]
    else:
        linear = _shipped_linear()
    reference = _reference(trunk, linear)
    ours = LPIPS(trunk, linear, weights_sha256=None, calibrated=False, device="cpu")
    x, y = pairs

    # When both measure the same pairs (lpips on [0, 1] with normalize=True)
    with torch.no_grad():
        expected = reference(x.float() / 255, y.float() / 255, normalize=True).flatten().double()
    distances = ours(x, y)

    # Then the distances agree to 1e-5, and the identical pair is at zero
    assert distances.dtype == torch.float64 and distances.shape == (3,)
    assert float(expected[:2].min()) > 1e-3
    assert float((distances - expected).abs().max()) < 1e-5
    assert float(distances[2]) == 0.0


def test_random_lpips_is_seeded_and_flagged_uncalibrated(pairs: tuple[torch.Tensor, torch.Tensor]) -> None:
    x, y = pairs
    first = lpips_alex(weights=WeightsMode.RANDOM, seed=SEED, device="cpu")
    again = lpips_alex(weights=WeightsMode.RANDOM, seed=SEED, device="cpu")

    assert torch.equal(first(x, y), again(x, y))
    assert first.calibrated is False and first.weights_sha256 is None
    assert float(first(x, y)[0]) > 0.0


def test_pretrained_lpips_loads_a_verified_trunk_and_the_shipped_linear_layers(
    pairs: tuple[torch.Tensor, torch.Tensor], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an AlexNet weights file made by the test (torchvision's key names) under the registered name
    trunk = initialise_randomly(alexnet_features(), SEED)
    path = tmp_path / "alexnet-test.pth"
    torch.save({f"features.{key}": value for key, value in trunk.state_dict().items()}, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    monkeypatch.setitem(
        REGISTRY,
        "alexnet",
        weights.WeightsFile(name="alexnet", filename=path.name, url="https://example.invalid/a.pth", sha256=digest),
    )
    monkeypatch.setenv("ATELIER_WEIGHTS_DIR", str(tmp_path))

    model = lpips_alex(device="cpu")

    x, y = pairs
    expected = LPIPS(trunk, _shipped_linear(), weights_sha256=None, calibrated=False, device="cpu")(x, y)
    assert model.calibrated is True
    assert model.weights_sha256 == combined_digest([digest, REGISTRY["lpips-alex-v0.1"].sha256])
    assert torch.equal(model(x, y), expected)


def test_pretrained_lpips_without_the_trunk_file_says_how_to_fetch_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATELIER_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))

    with pytest.raises(WeightsError, match=r"alexnet-owt-7be5be79\.pth .* is missing.*weights fetch alexnet"):
        lpips_alex()


def test_lpips_refuses_pairs_of_different_sizes(pairs: tuple[torch.Tensor, torch.Tensor]) -> None:
    model = lpips_alex(weights=WeightsMode.RANDOM, device="cpu")
    x, _ = pairs

    with pytest.raises(ValueError, match="same size; got"):
        model(x, x[:, :, :32])
    with pytest.raises(ValueError, match="uint8"):
        model(x.float(), x.float())


@needs_real_weights("alexnet")
def test_pretrained_lpips_equals_the_lpips_package_with_the_real_weights(
    pairs: tuple[torch.Tensor, torch.Tensor],
) -> None:
    state_dict, _ = weights.load_state_dict("alexnet")
    trunk = alexnet_features()
    trunk.load_state_dict(
        {key[len("features.") :]: value for key, value in state_dict.items() if key.startswith("features.")}
    )
    reference = _reference(trunk, _shipped_linear())
    x, y = pairs
    with torch.no_grad():
        expected = reference(x.float() / 255, y.float() / 255, normalize=True).flatten().double()

    model = lpips_alex(device="cpu")

    assert model.calibrated is True
    assert float((model(x, y) - expected).abs().max()) < 1e-5
