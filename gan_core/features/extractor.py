"""What every feature network shares: the weights mode, the extractor protocol, the weights' identity,
the device and the images per forward pass."""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Sequence
from typing import Protocol, Required, TypedDict, runtime_checkable

import torch
from torch import nn

from gan_core import weights as weights_registry
from gan_core.devices import select_device
from gan_core.features.initialisation import initialise_randomly
from gan_core.images import PreprocessMode
from gan_core.memory import MemoryBudget


class WeightsMode(enum.StrEnum):
    """Where a network's weights come from.

    ``PRETRAINED`` (the default everywhere) loads the registered, digest-verified files and
    fails with :class:`gan_core.weights.WeightsError` when they are missing. ``RANDOM`` is a
    seeded, deterministic initialisation for tests and an explicitly flagged offline demo; its
    extractors report ``calibrated=False`` and ``weights_sha256=None``, and no score computed
    with them may be shown as comparable.
    """

    PRETRAINED = "pretrained"
    RANDOM = "random"


@runtime_checkable
class FeatureExtractor(Protocol):
    """A network that turns images into one feature vector each.

    Calling it with uint8 RGB images (a sequence of ``(3, H, W)`` tensors, sizes may differ, or
    one ``(N, 3, H, W)`` tensor) returns ``(N, dims)`` float64 on the CPU; it resizes and scales
    the images itself, as its ``mode`` says.
    """

    name: str
    dims: int
    mode: PreprocessMode
    weights_sha256: str | None
    calibrated: bool
    device: torch.device

    def __call__(self, images: Sequence[torch.Tensor] | torch.Tensor) -> torch.Tensor: ...


class Placement(TypedDict, total=False):
    """Where a feature network runs and how many images it takes per forward pass: the keywords every
    network's constructor and factory accepts (``**placement``), as :class:`FeatureNetwork` describes them."""

    device: torch.device | str | None
    batch_size: int | None
    budget: MemoryBudget | float | None


class NetworkSettings(Placement, total=False):
    """What every feature network is built with besides its layers (:class:`FeatureNetwork`)."""

    weights_sha256: Required[str | None]
    calibrated: Required[bool]


def network_settings(weights: WeightsMode, sha256: str | None, placement: Placement) -> NetworkSettings:
    """The settings a factory builds its network with: ``sha256``, the digest of the weights it loaded
    (``None`` for random ones), calibrated when ``weights`` is ``PRETRAINED``, and the caller's placement."""
    return NetworkSettings(
        weights_sha256=sha256, calibrated=WeightsMode(weights) is WeightsMode.PRETRAINED, **placement
    )


class FeatureNetwork:
    """What every feature network holds besides its layers.

    ``weights_sha256``: the digest of its weight file(s), ``None`` for random weights; ``calibrated``:
    whether the weights are the pretrained ones. ``device``: where it runs (a name, or ``None`` for
    :func:`gan_core.devices.select_device`'s choice). ``batch_size``: images per forward pass; ``None``
    picks as many as ``budget`` allows (``gan_core.memory``).
    """

    def __init__(
        self,
        *,
        weights_sha256: str | None,
        calibrated: bool,
        device: torch.device | str | None = None,
        batch_size: int | None = None,
        budget: MemoryBudget | float | None = None,
    ) -> None:
        self.weights_sha256 = weights_sha256
        self.calibrated = calibrated
        self.device = device if isinstance(device, torch.device) else select_device(device)
        self.batch_size = batch_size
        self.budget = budget

    def images_per_pass(self, *, bytes_per_image: int, what: str) -> int:
        """``batch_size``, else as many images of ``bytes_per_image`` working memory as the budget allows
        (``what`` names the pass in the error when not even one fits)."""
        if self.batch_size:
            return self.batch_size
        return MemoryBudget.resolve(self.budget, device=self.device).batch_size(
            bytes_per_item=bytes_per_image, what=what
        )


def relus_out_of_place(features: nn.Sequential) -> nn.Sequential:
    """``features`` with each ReLU writing a new tensor instead of overwriting its input (torchvision
    builds them in place), so that a tapped output stays as the layer gave it."""
    for module in features:
        if isinstance(module, nn.ReLU):
            module.inplace = False
    return features


def check_uint8_images(images: Sequence[torch.Tensor] | torch.Tensor) -> list[torch.Tensor]:
    """Validate uint8 RGB input and return it as a list of ``(3, H, W)`` tensors (views, no copy)."""
    if isinstance(images, torch.Tensor):
        if images.dim() != 4:
            raise ValueError(f"Expected images as (N, 3, H, W) uint8, got a tensor of shape {tuple(images.shape)}.")
        items = list(images.unbind(0))
    else:
        items = list(images)
    for index, image in enumerate(items):
        if not isinstance(image, torch.Tensor) or image.dtype != torch.uint8:
            kind = image.dtype if isinstance(image, torch.Tensor) else type(image).__name__
            raise ValueError(
                f"Image {index} is {kind}, expected uint8 RGB; convert generator outputs with "
                "gan_core.images.to_uint8 first."
            )
        if image.dim() != 3 or image.shape[0] != 3 or image.shape[1] < 1 or image.shape[2] < 1:
            raise ValueError(f"Image {index} has shape {tuple(image.shape)}, expected (3, H, W) RGB.")
    return items


def combined_digest(digests: Sequence[str]) -> str:
    """One SHA-256 identity for a network built from several weight files, in a fixed order."""
    return hashlib.sha256("\n".join(digests).encode("ascii")).hexdigest()


def load_weights_into(network: nn.Module, name: str, *, prefix: str = "") -> str:
    """Load the registered, digest-verified file ``name`` into ``network`` strictly; returns its SHA-256.

    With ``prefix`` (e.g. ``"features."``) only the keys under it are used, with it removed.
    A file that is missing, corrupt or does not fit raises :class:`gan_core.weights.WeightsError`.
    """
    state_dict, digest = weights_registry.load_state_dict(name)
    if prefix:
        state_dict = {key[len(prefix) :]: value for key, value in state_dict.items() if key.startswith(prefix)}
    try:
        network.load_state_dict(state_dict, strict=True)
    except RuntimeError as error:
        entry = weights_registry.REGISTRY[name]
        raise weights_registry.WeightsError(
            f"Weights file {entry.filename} ({name}) does not fit the network ({str(error).splitlines()[0]}). "
            f"{entry.refetch_hint}"
        ) from error
    return digest


def load_or_initialise(
    network: nn.Module, weights: WeightsMode, name: str, *, seed: int, prefix: str = ""
) -> str | None:
    """Give ``network`` its weights as ``weights`` says: ``PRETRAINED``, the registered file ``name``
    (:func:`load_weights_into`; returns its SHA-256); ``RANDOM``, a seeded random initialisation
    (:func:`gan_core.features.initialisation.initialise_randomly`; returns ``None``)."""
    if WeightsMode(weights) is WeightsMode.PRETRAINED:
        return load_weights_into(network, name, prefix=prefix)
    initialise_randomly(network, seed)
    return None
