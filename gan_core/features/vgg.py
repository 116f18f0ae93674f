"""VGG-19 feature taps for content and Gram-matrix style distances (Gatys et al.).

The network is torchvision's ``vgg19().features``. A tap named ``convB_L`` is the output of the
ReLU that follows that convolution (block ``B``, layer ``L``), as in Gatys et al.'s Caffe model
where ReLU runs in place on the convolution's output. Inputs are ImageNet-normalised inside
(mean 0.485, 0.456, 0.406; std 0.229, 0.224, 0.225 on [0, 1]); images are not resized.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Unpack

import torch
from torch import nn
from torchvision.models.vgg import cfgs as tv_vgg_configurations
from torchvision.models.vgg import make_layers as tv_vgg_make_layers

from gan_core.devices import exact_inference
from gan_core.features.extractor import (
    FeatureNetwork,
    NetworkSettings,
    Placement,
    WeightsMode,
    load_or_initialise,
    network_settings,
    relus_out_of_place,
)

#: Registry name of the pretrained weights.
WEIGHTS_NAME = "vgg19"

#: Index of each convolution in torchvision's ``vgg19().features``; its tap is index + 1 (the ReLU).
LAYER_INDEX: dict[str, int] = {
    "conv1_1": 0,
    "conv1_2": 2,
    "conv2_1": 5,
    "conv2_2": 7,
    "conv3_1": 10,
    "conv3_2": 12,
    "conv3_3": 14,
    "conv3_4": 16,
    "conv4_1": 19,
    "conv4_2": 21,
    "conv4_3": 23,
    "conv4_4": 25,
    "conv5_1": 28,
    "conv5_2": 30,
    "conv5_3": 32,
    "conv5_4": 34,
}

#: Content layer (Gatys et al.).
CONTENT_LAYER = "conv4_2"
#: Style layers (Gatys et al.).
STYLE_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
#: The taps returned by default: the style layers and the content layer.
DEFAULT_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv4_2", "conv5_1")

#: Bytes per input pixel at the peak of one image's forward pass: the normalised input, conv1_x's
#: 64-channel float32 maps (convolution, ReLU, the tap's copy, the next convolution) and the later,
#: smaller taps; measured at 256 and 512 pixels on the CPU and rounded up.
BYTES_PER_PIXEL = 1600

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def vgg19_features() -> nn.Sequential:
    """An untrained torchvision ``vgg19().features`` (37 modules; ReLUs not in place), built without
    the 120 M-parameter classifier that the features never use."""
    return relus_out_of_place(tv_vgg_make_layers(tv_vgg_configurations["E"], batch_norm=False))


class VGGTaps(FeatureNetwork):
    """VGG-19 activations at named layers.

    ``taps(images)``: uint8 ``(N, 3, H, W)`` RGB -> ``{layer: (N, C, H', W') float32 on the CPU}``
    for every layer in ``layers``, with ``C`` and ``H'`` as the layer gives them (conv1_1: 64 at
    full size; conv2_1: 128 at 1/2; conv3_1: 256 at 1/4; conv4_x: 512 at 1/8; conv5_1: 512 at 1/16).
    """

    def __init__(
        self, features: nn.Sequential, *, layers: Sequence[str] = DEFAULT_LAYERS, **settings: Unpack[NetworkSettings]
    ) -> None:
        _check_layers(layers)
        super().__init__(**settings)
        self.layers = tuple(layers)
        last = max(LAYER_INDEX[layer] for layer in self.layers) + 1
        self._features = features[: last + 1].eval().to(self.device, memory_format=torch.channels_last)
        self._features.requires_grad_(False)
        self._tap_at = {LAYER_INDEX[layer] + 1: layer for layer in self.layers}
        self._mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1)
        self._std = torch.tensor(IMAGENET_STD, device=self.device).view(1, 3, 1, 1)

    def __repr__(self) -> str:
        return f"VGGTaps(layers={self.layers}, calibrated={self.calibrated}, device={str(self.device)!r})"

    def batch_size_for(self, height: int, width: int) -> int:
        """Images per forward pass at ``height`` x ``width``: ``batch_size``, else from the memory budget."""
        return self.images_per_pass(
            bytes_per_image=height * width * BYTES_PER_PIXEL, what=f"VGG-19 at {height}x{width}"
        )

    def iter_taps(self, images: torch.Tensor) -> Iterator[tuple[int, dict[str, torch.Tensor]]]:
        """``(start, taps)`` per forward pass over ``images`` (uint8 ``(N, 3, H, W)``), taps as ``__call__``
        returns them for ``images[start : start + len]``: hold one step's maps at a time."""
        if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError("VGGTaps expects uint8 images of shape (N, 3, H, W); use gan_core.images.to_uint8.")
        if images.shape[1] != 3:
            raise ValueError(f"VGGTaps expects RGB images (N, 3, H, W), got shape {tuple(images.shape)}.")
        count, _, height, width = images.shape
        step = self.batch_size_for(height, width)
        for start in range(0, count, step):
            taps: dict[str, torch.Tensor] = {}
            with exact_inference(self.device):
                x = images[start : start + step].to(self.device).float() / 255
                x = ((x - self._mean) / self._std).contiguous(memory_format=torch.channels_last)
                for index, module in enumerate(self._features):
                    x = module(x)
                    if index in self._tap_at:
                        taps[self._tap_at[index]] = x.to("cpu", torch.float32).contiguous()
                del x
            yield start, taps

    def __call__(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        parts: dict[str, list[torch.Tensor]] = {layer: [] for layer in self.layers}
        for _start, taps in self.iter_taps(images):
            for layer in self.layers:
                parts[layer].append(taps[layer])
        return {layer: torch.cat(parts[layer]) for layer in self.layers}


def vgg19_taps(
    *,
    weights: WeightsMode = WeightsMode.PRETRAINED,
    seed: int = 0,
    layers: Sequence[str] = DEFAULT_LAYERS,
    **placement: Unpack[Placement],
) -> VGGTaps:
    """VGG-19 taps with the verified torchvision ImageNet weights, or a seeded random network
    (``WeightsMode.RANDOM``: ``calibrated=False``, ``weights_sha256=None``). ``budget``: memory for one
    forward pass (``gan_core.memory``); ``batch_size`` overrides it."""
    _check_layers(layers)
    features = vgg19_features()
    weights = WeightsMode(weights)
    sha256 = load_or_initialise(features, weights, WEIGHTS_NAME, seed=seed, prefix="features.")
    return VGGTaps(features, layers=layers, **network_settings(weights, sha256, placement))


def _check_layers(layers: Sequence[str]) -> None:
    unknown = [layer for layer in layers if layer not in LAYER_INDEX]
    if unknown or not layers:
        raise ValueError(f"Unknown VGG-19 layer(s) {unknown}; choose from {', '.join(LAYER_INDEX)}.")
