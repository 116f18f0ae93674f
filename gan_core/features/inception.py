"""The FID Inception-v3: the TF "inception-2015-12-05" graph ported to PyTorch.

Architecturally identical to pytorch-fid's ``InceptionV3`` (``pytorch_fid/inception.py``):
torchvision's Inception-v3 trunk with 1008 classes and the patched blocks (``FIDInceptionA``,
``FIDInceptionC``, ``FIDInceptionE_1`` average-pool with ``count_include_pad=False``;
``FIDInceptionE_2`` max-pools its pool branch). Parameter names match pytorch-fid's weight file,
so ``pt_inception-2015-12-05-6726825d.pth`` loads strictly. Features are the 2048-d global average
pool ("pool3"), or the spatially averaged 64-d (first max-pool), 192-d (second max-pool) and
768-d (``Mixed_6e``) taps, as pytorch-fid computes them for ``--dims``.

For inference, batch norms are folded into their convolutions and the network runs in
channels-last memory layout; both change results only by float32 rounding.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Sequence
from typing import Unpack

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval
from torchvision.models import inception as tv_inception

from gan_core.devices import exact_inference
from gan_core.features.extractor import (
    FeatureNetwork,
    NetworkSettings,
    Placement,
    WeightsMode,
    check_uint8_images,
    load_weights_into,
    network_settings,
)
from gan_core.features.initialisation import calibrate_batch_norms, calibration_images, initialise_randomly
from gan_core.images import PreprocessMode

#: Side of the square input the network sees.
INPUT_SIZE = 299

#: Feature dimensions offered, and the stage of the network that gives each.
DIMS = (64, 192, 768, 2048)

#: Registry name of the pretrained weights.
WEIGHTS_NAME = "inception-v3-fid"

#: Mean pool3 feature of a random network on its calibration images (trained: about 0.3 to 0.5).
RANDOM_POOL3_MEAN = 0.4

# Rough working memory of one 299 x 299 image through the network (float32 activations).
_BYTES_PER_IMAGE = 48 * 1024 * 1024


class FIDInceptionA(tv_inception.InceptionA):
    """InceptionA whose pool branch averages without the zero padding (as TensorFlow does)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch1x1 = self.branch1x1(x)
        branch5x5 = self.branch5x5_2(self.branch5x5_1(x))
        branch3x3dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        branch_pool = self.branch_pool(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False))
        return torch.cat([branch1x1, branch5x5, branch3x3dbl, branch_pool], 1)


class FIDInceptionC(tv_inception.InceptionC):
    """InceptionC whose pool branch averages without the zero padding."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch1x1 = self.branch1x1(x)
        branch7x7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        branch7x7dbl = self.branch7x7dbl_1(x)
        branch7x7dbl = self.branch7x7dbl_3(self.branch7x7dbl_2(branch7x7dbl))
        branch7x7dbl = self.branch7x7dbl_5(self.branch7x7dbl_4(branch7x7dbl))
        branch_pool = self.branch_pool(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False))
        return torch.cat([branch1x1, branch7x7, branch7x7dbl, branch_pool], 1)


class FIDInceptionE1(tv_inception.InceptionE):
    """The first InceptionE (``Mixed_7b``): pool branch averages without the zero padding."""

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch1x1 = self.branch1x1(x)
        branch3x3 = self.branch3x3_1(x)
        branch3x3 = torch.cat([self.branch3x3_2a(branch3x3), self.branch3x3_2b(branch3x3)], 1)
        branch3x3dbl = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        branch3x3dbl = torch.cat([self.branch3x3dbl_3a(branch3x3dbl), self.branch3x3dbl_3b(branch3x3dbl)], 1)
        branch_pool = self.branch_pool(self._pool(x))
        return torch.cat([branch1x1, branch3x3, branch3x3dbl, branch_pool], 1)


class FIDInceptionE2(FIDInceptionE1):
    """The second InceptionE (``Mixed_7c``): the TF graph max-pools its pool branch."""

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(x, kernel_size=3, stride=1, padding=1)


class FIDInceptionV3(nn.Module):
    """The FID Inception-v3 network (parameter names as torchvision's ``Inception3``, 1008 classes).

    ``forward(x, dims=2048)`` takes ``(N, 3, 299, 299)`` float32 in [-1, 1] and returns
    ``(N, dims)`` float32: the spatial average of the requested stage. The ``fc`` layer is kept
    so the weight file loads strictly; features never pass through it.
    """

    def __init__(self) -> None:
        super().__init__()
        conv = tv_inception.BasicConv2d
        self.Conv2d_1a_3x3 = conv(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = conv(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = conv(32, 64, kernel_size=3, padding=1)
        self.Conv2d_3b_1x1 = conv(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = conv(80, 192, kernel_size=3)
        self.Mixed_5b = FIDInceptionA(192, pool_features=32)
        self.Mixed_5c = FIDInceptionA(256, pool_features=64)
        self.Mixed_5d = FIDInceptionA(288, pool_features=64)
        self.Mixed_6a = tv_inception.InceptionB(288)
        self.Mixed_6b = FIDInceptionC(768, channels_7x7=128)
        self.Mixed_6c = FIDInceptionC(768, channels_7x7=160)
        self.Mixed_6d = FIDInceptionC(768, channels_7x7=160)
        self.Mixed_6e = FIDInceptionC(768, channels_7x7=192)
        self.Mixed_7a = tv_inception.InceptionD(768)
        self.Mixed_7b = FIDInceptionE1(1280)
        self.Mixed_7c = FIDInceptionE2(2048)
        self.fc = nn.Linear(2048, 1008)

    def forward(self, x: torch.Tensor, dims: int = 2048) -> torch.Tensor:
        if dims not in DIMS:
            raise ValueError(f"dims must be one of {DIMS}, got {dims}.")
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        if dims == 64:
            return x.mean(dim=(2, 3))
        x = F.max_pool2d(self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x)), kernel_size=3, stride=2)
        if dims == 192:
            return x.mean(dim=(2, 3))
        for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a):
            x = block(x)
        for block in (self.Mixed_6b, self.Mixed_6c, self.Mixed_6d, self.Mixed_6e):
            x = block(x)
        if dims == 768:
            return x.mean(dim=(2, 3))
        x = self.Mixed_7c(self.Mixed_7b(self.Mixed_7a(x)))
        return x.mean(dim=(2, 3))


def random_fid_inception(seed: int) -> FIDInceptionV3:
    """A seeded random FID Inception (eval mode), for tests and the flagged offline demo only.

    He-normal weights; batch norms scaled to their inputs' root mean square in one pass over seeded
    random images (:func:`~gan_core.features.initialisation.calibrate_batch_norms` on
    :func:`~gan_core.features.initialisation.calibration_images`); then the last batch norms of
    ``Mixed_7c``'s branches are scaled (exact, since ReLU is positively homogeneous) so that pool3
    features average :data:`RANDOM_POOL3_MEAN` on those images, the scale of the trained network's.
    The state for a seed is computed once per process.
    """
    network = FIDInceptionV3()
    network.load_state_dict(_random_state_dict(int(seed)))
    return network.eval()


@functools.lru_cache(maxsize=2)
def _random_state_dict(seed: int) -> dict[str, torch.Tensor]:
    network = initialise_randomly(FIDInceptionV3(), seed)
    images = calibration_images(seed, size=INPUT_SIZE)
    calibrate_batch_norms(network, images)
    with torch.no_grad():
        scale = RANDOM_POOL3_MEAN / float(network(images).mean())
        block = network.Mixed_7c
        for branch in (
            block.branch1x1,
            block.branch3x3_2a,
            block.branch3x3_2b,
            block.branch3x3dbl_3a,
            block.branch3x3dbl_3b,
            block.branch_pool,
        ):
            branch.bn.weight.mul_(scale)
            branch.bn.bias.mul_(scale)
    return {key: value.clone() for key, value in network.state_dict().items()}


def fold_batch_norms(network: nn.Module, dtype: torch.dtype = torch.float32) -> nn.Module:
    """A copy of ``network`` in ``dtype`` (eval mode) with every ``BasicConv2d``'s batch norm folded
    into its convolution: same function up to rounding in ``dtype``, fewer passes over memory."""
    folded = copy.deepcopy(network).to(dtype).eval()
    for module in folded.modules():
        if isinstance(module, tv_inception.BasicConv2d) and isinstance(module.bn, nn.BatchNorm2d):
            module.conv = fuse_conv_bn_eval(module.conv, module.bn)
            module.bn = nn.Identity()  # type: ignore[assignment]
    return folded


def resize_clean(image: torch.Tensor) -> torch.Tensor:
    """clean-fid's ``mode="clean"`` resize of one image.

    ``(3, H, W)`` uint8 -> ``(3, 299, 299)`` float32 in [0, 255]: each channel as a float32 PIL
    image (mode ``F``), bicubic resize, clipped to [0, 255], not re-quantised.
    """
    array = image.permute(1, 2, 0).cpu().numpy()
    channels = []
    for channel in range(3):
        plane = Image.fromarray(array[:, :, channel].astype(np.float32))
        resized = plane.resize((INPUT_SIZE, INPUT_SIZE), resample=Image.Resampling.BICUBIC)
        channels.append(np.asarray(resized, dtype=np.float32).clip(0, 255))
    return torch.from_numpy(np.stack(channels, axis=0))


def resize_legacy_pytorch(images: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """pytorch-fid's resize: ``(N, 3, H, W)`` uint8 -> ``(N, 3, 299, 299)`` ``dtype`` in [0, 1]
    (``x / 255`` then ``F.interpolate(bilinear, align_corners=False)``, no antialiasing)."""
    unit = images.to(dtype) / 255
    return F.interpolate(unit, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)


def preprocess(
    images: Sequence[torch.Tensor] | torch.Tensor, mode: PreprocessMode, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """uint8 RGB images -> the network's input, ``(N, 3, 299, 299)`` ``dtype`` in [-1, 1], per ``mode``.

    The clean resize is always float32 (PIL mode ``F``), as clean-fid's; the legacy interpolation
    runs in ``dtype``, as pytorch-fid's does on its input's dtype."""
    items = check_uint8_images(images)
    mode = PreprocessMode(mode)
    if mode is PreprocessMode.CLEAN:
        batch = torch.stack([resize_clean(image) for image in items]).to(dtype)
        return (batch - 128) / 128
    output = torch.empty((len(items), 3, INPUT_SIZE, INPUT_SIZE), dtype=dtype)
    by_size: dict[tuple[int, int], list[int]] = {}
    for index, image in enumerate(items):
        by_size.setdefault((int(image.shape[1]), int(image.shape[2])), []).append(index)
    for indices in by_size.values():
        resized = resize_legacy_pytorch(torch.stack([items[index].cpu() for index in indices]), dtype)
        output[indices] = 2 * resized - 1
    return output


class InceptionExtractor(FeatureNetwork):
    """FID Inception features: uint8 RGB images -> ``(N, dims)`` float64 on the CPU.

    Implements :class:`gan_core.features.FeatureExtractor`. ``batch_size`` of ``None`` picks one
    from free memory on ``device``. ``dtype`` is the precision (float32, as every FID implementation
    runs; float64 for verification).
    """

    def __init__(
        self,
        network: FIDInceptionV3,
        *,
        mode: PreprocessMode = PreprocessMode.CLEAN,
        dims: int = 2048,
        dtype: torch.dtype = torch.float32,
        **settings: Unpack[NetworkSettings],
    ) -> None:
        if dims not in DIMS:
            raise ValueError(f"Inception features come in {', '.join(map(str, DIMS))} dimensions, not {dims}.")
        self.mode = PreprocessMode(mode)
        self.dims = dims
        self.name = f"inception-v3-fid-{dims}"
        super().__init__(**settings)
        self.dtype = dtype
        self._network = fold_batch_norms(network, dtype).to(self.device, memory_format=torch.channels_last)
        self._network.requires_grad_(False)

    def __repr__(self) -> str:
        return (
            f"InceptionExtractor(name={self.name!r}, mode={self.mode.value!r}, calibrated={self.calibrated}, "
            f"device={str(self.device)!r})"
        )

    def __call__(self, images: Sequence[torch.Tensor] | torch.Tensor) -> torch.Tensor:
        items = check_uint8_images(images)
        output = torch.empty((len(items), self.dims), dtype=torch.float64)
        step = self.images_per_pass(bytes_per_image=_BYTES_PER_IMAGE, what="the Inception network (299x299 inputs)")
        with exact_inference(self.device):
            for start in range(0, len(items), step):
                batch = preprocess(items[start : start + step], self.mode, self.dtype)
                batch = batch.to(self.device, memory_format=torch.channels_last)
                output[start : start + step] = self._network(batch, dims=self.dims).to("cpu", torch.float64)
        return output


def inception(
    *,
    mode: PreprocessMode = PreprocessMode.CLEAN,
    dims: int = 2048,
    weights: WeightsMode = WeightsMode.PRETRAINED,
    seed: int = 0,
    **placement: Unpack[Placement],
) -> InceptionExtractor:
    """The FID Inception feature extractor.

    ``weights=WeightsMode.PRETRAINED`` loads the verified ``inception-v3-fid`` file (raising
    :class:`gan_core.weights.WeightsError` when it is missing or corrupt); ``WeightsMode.RANDOM``
    builds a seeded random network that reports ``calibrated=False`` and ``weights_sha256=None``.
    """
    weights = WeightsMode(weights)
    if weights is WeightsMode.PRETRAINED:
        network = FIDInceptionV3()
        sha256: str | None = load_weights_into(network, WEIGHTS_NAME)
    else:
        network = random_fid_inception(seed)
        sha256 = None
    return InceptionExtractor(network.eval(), mode=mode, dims=dims, **network_settings(weights, sha256, placement))
