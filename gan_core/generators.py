"""Reference generator architectures that safetensors checkpoints may declare.

A safetensors checkpoint carries weights only; the code that uses them lives here, so loading
one runs no participant code. Each architecture has a strict hyper-parameter schema: unknown
keys, wrong types and out-of-range values are refused with ``bad_config`` naming the key.

Every generator maps float32 ``(N, 3, H, W)`` images in the declared value range (``"-1,1"``
or ``"0,1"``, see ``gan_core.contract.ValueRange``) to float32 ``(N, 3, H, W)`` in the same
range: the last layer is ``tanh``, rescaled to ``[0, 1]`` when the range is ``"0,1"``. H and W
must be multiples of ``required_size_multiple(config)``.

- ``resnet``: the CycleGAN ResNet generator, layout and state-dict names of
  junyanz/pytorch-CycleGAN-and-pix2pix ``ResnetGenerator`` (reflection pad, conv 7x7, two
  stride-2 downsamplings, ``n_blocks`` ResNet blocks, two transposed-conv upsamplings,
  conv 7x7, tanh; instance norm without affine parameters). ResNet-9 with ``ngf=64`` has
  11,378,179 parameters (the published 11.378 M).
- ``transformer_net``: Johnson et al.'s TransformerNet, layout and state-dict names of
  pytorch/examples ``fast_neural_style`` (1,679,235 parameters with the defaults), output
  passed through the range map instead of being left unbounded.
- ``unet_small``: a small U-Net (double 3x3 convs with instance norm, max-pool down,
  transposed-conv up, skip concatenation).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from gan_core.architectures import (  # noqa: F401 (the configs' home; re-exported for callers of this module)
    CONFIG_KEYS,
    DEFAULT_VALUE_RANGE,
    SCHEMAS,
    VALUE_RANGES,
    HyperParameter,
    normalize_config,
)


@dataclasses.dataclass(frozen=True)
class Architecture:
    """A reference architecture: its name, hyper-parameter schema, builder and spatial size constraint."""

    name: str
    description: str
    schema: Mapping[str, HyperParameter]
    build: Callable[..., nn.Module]  # the generator class; keyword arguments: the hyper-parameters plus value_range
    size_multiple: Callable[[Mapping[str, Any]], int]


class RangeMap(nn.Module):
    """``tanh``, rescaled to the declared value range: ``(N, C, H, W)`` any float -> same shape in ``[-1, 1]`` or ``[0, 1]``.

    Holds no parameters, so the state dict is that of the reference implementation.
    """

    def __init__(self, value_range: str = DEFAULT_VALUE_RANGE) -> None:
        super().__init__()
        self.value_range = value_range

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.tanh(x)
        if self.value_range == "0,1":
            y = (y + 1.0) * 0.5
        return y

    def extra_repr(self) -> str:
        return f"value_range={self.value_range!r}"


# --- CycleGAN ResNet generator (junyanz/pytorch-CycleGAN-and-pix2pix, models/networks.py) ---


def _instance_norm(channels: int) -> nn.Module:
    return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)


class ResnetBlock(nn.Module):
    """``x + conv_block(x)``, ``conv_block`` = pad, conv 3x3, norm, ReLU, [dropout], pad, conv 3x3, norm."""

    def __init__(self, dim: int, *, use_dropout: bool) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, padding=0, bias=True)]
        layers += [_instance_norm(dim), nn.ReLU(True)]
        if use_dropout:
            layers.append(nn.Dropout(0.5))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, padding=0, bias=True), _instance_norm(dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """CycleGAN ResNet generator; ``(N, 3, H, W)`` -> ``(N, 3, H, W)``, H and W multiples of 4.

    State-dict names (``model.1.weight``, ``model.10.conv_block.1.weight``, ...) equal those of
    junyanz's ``ResnetGenerator(3, 3, ngf, norm_layer=instance, use_dropout, n_blocks)``, so its
    ``latest_net_G.pth`` weights convert one to one.
    """

    def __init__(self, *, ngf: int, n_blocks: int, use_dropout: bool, value_range: str = DEFAULT_VALUE_RANGE) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(3, ngf, 7, padding=0, bias=True)]
        layers += [_instance_norm(ngf), nn.ReLU(True)]
        n_downsampling = 2
        for i in range(n_downsampling):
            mult = 2**i
            layers += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1, bias=True)]
            layers += [_instance_norm(ngf * mult * 2), nn.ReLU(True)]
        mult = 2**n_downsampling
        layers += [ResnetBlock(ngf * mult, use_dropout=use_dropout) for _ in range(n_blocks)]
        for i in range(n_downsampling):
            mult = 2 ** (n_downsampling - i)
            out = ngf * mult // 2
            layers += [nn.ConvTranspose2d(ngf * mult, out, 3, stride=2, padding=1, output_padding=1, bias=True)]
            layers += [_instance_norm(out), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, 7, padding=0), RangeMap(value_range)]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


# --- Johnson et al. TransformerNet (pytorch/examples, fast_neural_style/neural_style/transformer_net.py) ---


class ConvLayer(nn.Module):
    """Reflection pad (``kernel_size // 2``) then conv."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int) -> None:
        super().__init__()
        self.reflection_pad = nn.ReflectionPad2d(kernel_size // 2)
        self.conv2d = nn.Conv2d(in_channels, out_channels, kernel_size, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2d(self.reflection_pad(x))


class ResidualBlock(nn.Module):
    """``x + in2(conv2(relu(in1(conv1(x)))))`` with affine instance norms."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = ConvLayer(channels, channels, kernel_size=3, stride=1)
        self.in1 = nn.InstanceNorm2d(channels, affine=True)
        self.conv2 = ConvLayer(channels, channels, kernel_size=3, stride=1)
        self.in2 = nn.InstanceNorm2d(channels, affine=True)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.in1(self.conv1(x)))
        return self.in2(self.conv2(out)) + x


class UpsampleConvLayer(nn.Module):
    """Nearest-neighbour upsampling by ``upsample``, reflection pad, conv."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int, upsample: int) -> None:
        super().__init__()
        self.upsample = upsample
        self.reflection_pad = nn.ReflectionPad2d(kernel_size // 2)
        self.conv2d = nn.Conv2d(in_channels, out_channels, kernel_size, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.interpolate(x, mode="nearest", scale_factor=self.upsample)
        return self.conv2d(self.reflection_pad(x))


class TransformerNet(nn.Module):
    """Johnson et al. (2016) image transformation network; ``(N, 3, H, W)`` -> ``(N, 3, H, W)``, H and W multiples of 4.

    With ``channels=32, n_residual=5`` (the defaults) its state dict equals pytorch/examples'
    ``TransformerNet`` (``conv1.conv2d.weight``, ``in1.weight``, ``res1.conv1.conv2d.weight``, ...;
    drop the ``running_mean``/``running_var`` keys of old saved models) and it has 1,679,235
    parameters. Unlike the example, whose output is unbounded around [0, 255], the output goes
    through ``RangeMap`` into the declared value range.
    """

    def __init__(self, *, channels: int, n_residual: int, value_range: str = DEFAULT_VALUE_RANGE) -> None:
        super().__init__()
        c = channels
        self.conv1 = ConvLayer(3, c, kernel_size=9, stride=1)
        self.in1 = nn.InstanceNorm2d(c, affine=True)
        self.conv2 = ConvLayer(c, 2 * c, kernel_size=3, stride=2)
        self.in2 = nn.InstanceNorm2d(2 * c, affine=True)
        self.conv3 = ConvLayer(2 * c, 4 * c, kernel_size=3, stride=2)
        self.in3 = nn.InstanceNorm2d(4 * c, affine=True)
        self.n_residual = n_residual
        for i in range(1, n_residual + 1):
            self.add_module(f"res{i}", ResidualBlock(4 * c))
        self.deconv1 = UpsampleConvLayer(4 * c, 2 * c, kernel_size=3, stride=1, upsample=2)
        self.in4 = nn.InstanceNorm2d(2 * c, affine=True)
        self.deconv2 = UpsampleConvLayer(2 * c, c, kernel_size=3, stride=1, upsample=2)
        self.in5 = nn.InstanceNorm2d(c, affine=True)
        self.deconv3 = ConvLayer(c, 3, kernel_size=9, stride=1)
        self.relu = nn.ReLU()
        self.range_map = RangeMap(value_range)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.in1(self.conv1(x)))
        y = self.relu(self.in2(self.conv2(y)))
        y = self.relu(self.in3(self.conv3(y)))
        for i in range(1, self.n_residual + 1):
            y = getattr(self, f"res{i}")(y)
        y = self.relu(self.in4(self.deconv1(y)))
        y = self.relu(self.in5(self.deconv2(y)))
        return self.range_map(self.deconv3(y))


# --- A small U-Net ---


class DoubleConv(nn.Sequential):
    """(conv 3x3, instance norm with affine parameters, ReLU) twice."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, padding_mode="reflect"),
            nn.InstanceNorm2d(out_channels, affine=True),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, padding_mode="reflect"),
            nn.InstanceNorm2d(out_channels, affine=True),
            nn.ReLU(inplace=True),
        )


class UNetSmall(nn.Module):
    """A small U-Net; ``(N, 3, H, W)`` -> ``(N, 3, H, W)``, H and W multiples of ``2 ** depth``.

    Level ``i`` has ``base_channels * 2 ** i`` channels; down by 2x2 max-pool, up by a 2x2
    stride-2 transposed conv, skip connections by concatenation, a 1x1 output conv, then the
    range map.
    """

    def __init__(self, *, base_channels: int, depth: int, value_range: str = DEFAULT_VALUE_RANGE) -> None:
        super().__init__()
        widths = [base_channels * 2**i for i in range(depth + 1)]
        self.inc = DoubleConv(3, widths[0])
        self.down = nn.ModuleList(DoubleConv(widths[i], widths[i + 1]) for i in range(depth))
        self.up = nn.ModuleList(
            nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2) for i in reversed(range(depth))
        )
        self.up_conv = nn.ModuleList(DoubleConv(2 * widths[i], widths[i]) for i in reversed(range(depth)))
        self.outc = nn.Conv2d(widths[0], 3, 1)
        self.range_map = RangeMap(value_range)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = [self.inc(x)]
        for block in self.down:
            skips.append(block(nn.functional.max_pool2d(skips[-1], 2)))
        y = skips.pop()
        for up, conv in zip(self.up, self.up_conv, strict=True):
            y = conv(torch.cat([skips.pop(), up(y)], dim=1))
        return self.range_map(self.outc(y))


ARCHITECTURES: dict[str, Architecture] = {
    "resnet": Architecture(
        name="resnet",
        description="CycleGAN ResNet generator (junyanz/pytorch-CycleGAN-and-pix2pix layout)",
        schema=SCHEMAS["resnet"],
        build=ResnetGenerator,
        size_multiple=lambda hyperparameters: 4,
    ),
    "transformer_net": Architecture(
        name="transformer_net",
        description="Johnson et al. TransformerNet (pytorch/examples fast_neural_style layout)",
        schema=SCHEMAS["transformer_net"],
        build=TransformerNet,
        size_multiple=lambda hyperparameters: 4,
    ),
    "unet_small": Architecture(
        name="unet_small",
        description="a small U-Net",
        schema=SCHEMAS["unet_small"],
        build=UNetSmall,
        size_multiple=lambda hyperparameters: 2 ** hyperparameters["depth"],
    ),
}


def build_generator(config: Mapping[str, Any]) -> nn.Module:
    """Build the reference generator a config describes, randomly initialised, in training mode.

    ``config`` as in ``normalize_config``. Build it under ``torch.device("meta")`` to get names
    and shapes without allocating any weights.
    """
    normalized = normalize_config(config)
    architecture = ARCHITECTURES[normalized["architecture"]]
    return architecture.build(**normalized["hyperparameters"], value_range=normalized["value_range"])


def required_size_multiple(config: Mapping[str, Any]) -> int:
    """The factor input height and width must be a multiple of for this config's generator."""
    normalized = normalize_config(config)
    return ARCHITECTURES[normalized["architecture"]].size_multiple(normalized["hyperparameters"])


def expected_state_shapes(config: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    """State-dict names and shapes of the config's generator, computed on the meta device (allocates no weights)."""
    with torch.device("meta"):
        module = build_generator(config)
    return {name: tuple(tensor.shape) for name, tensor in module.state_dict().items()}


def parameter_count(config: Mapping[str, Any]) -> int:
    """Number of trainable parameters of the config's generator, computed on the meta device."""
    with torch.device("meta"):
        module = build_generator(config)
    return sum(math.prod(parameter.shape) for parameter in module.parameters())
