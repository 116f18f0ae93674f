"""The generator output contract, checked by trusted code on every output.

Input: float32 ``(N, 3, H, W)`` RGB in the competition's declared value range, H and W
multiples of ``GeneratorContract.size_multiple``. Output: same N, 3 channels, same H and W,
finite, in the declared range. Values outside the range are clamped and counted (a mild
overshoot is common after ``tanh``-free heads); NaN and infinity are refused.
"""

from __future__ import annotations

import dataclasses
import enum
import math

import torch

from gan_core.failures import FailureCode, GeneratorFailure


class ValueRange(enum.StrEnum):
    """The pixel value range a competition declares for generator inputs and outputs."""

    MINUS_ONE_ONE = "-1,1"
    ZERO_ONE = "0,1"

    @property
    def bounds(self) -> tuple[float, float]:
        """``(low, high)``, e.g. ``(-1.0, 1.0)``."""
        low, high = self.value.split(",")
        return float(low), float(high)

    def from_unit(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``[0, 1]`` values into this range."""
        low, high = self.bounds
        return x * (high - low) + low

    def to_unit(self, x: torch.Tensor) -> torch.Tensor:
        """Map values of this range onto ``[0, 1]``."""
        low, high = self.bounds
        return (x - low) / (high - low)


@dataclasses.dataclass(frozen=True)
class GeneratorContract:
    """What a phase demands of a generator: value range, spatial size factor, optional time limit per image."""

    value_range: ValueRange = ValueRange.MINUS_ONE_ONE
    size_multiple: int = 4
    max_seconds_per_image: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "value_range", ValueRange(self.value_range))
        if self.size_multiple < 1:
            raise ValueError(f"size_multiple must be a positive integer, got {self.size_multiple}")


class ContractViolation(GeneratorFailure):
    """A generator output broke the contract; ``code`` is one of the contract's ``FailureCode`` values."""


def _shape_text(shape: torch.Size | tuple[int, ...]) -> str:
    return "x".join(str(int(d)) for d in shape)


def check_output(output: torch.Tensor, *, input: torch.Tensor, contract: GeneratorContract) -> tuple[torch.Tensor, int]:
    """Check one generator output against its input and the contract.

    ``input``: the ``(N, 3, H, W)`` batch given to the generator. ``output``: what it returned,
    expected ``(N, 3, H, W)`` floating point. Returns ``(output as float32 clamped to the
    declared range, number of values that were outside it)``. Raises ``ContractViolation``
    with ``wrong_dtype``, ``wrong_rank``, ``wrong_batch``, ``wrong_channels``, ``wrong_size`` or
    ``non_finite``, in that order of checking.
    """
    low, high = contract.value_range.bounds
    if not isinstance(output, torch.Tensor) or not output.dtype.is_floating_point:
        got = output.dtype if isinstance(output, torch.Tensor) else type(output).__name__
        raise ContractViolation(
            FailureCode.WRONG_DTYPE,
            f"Your generator returned {got}; it must return a float32 image tensor (N, 3, H, W) "
            f"with values in [{low:g}, {high:g}].",
        )
    expected = (input.shape[0], 3, input.shape[2], input.shape[3])
    if output.ndim != 4:
        raise ContractViolation(
            FailureCode.WRONG_RANK,
            f"Your generator returned a {output.ndim}-dimensional tensor of shape {_shape_text(output.shape)}; "
            f"it must return 4 dimensions (N, 3, H, W), here {_shape_text(expected)}.",
        )
    if output.shape[0] != input.shape[0]:
        raise ContractViolation(
            FailureCode.WRONG_BATCH,
            f"Your generator returned {output.shape[0]} images for a batch of {input.shape[0]}; "
            "it must return one output per input image, in the same order.",
        )
    if output.shape[1] != 3:
        raise ContractViolation(
            FailureCode.WRONG_CHANNELS,
            f"Your generator returned {output.shape[1]} channels; it must return 3 (RGB), "
            f"shape (N, 3, H, W) = {_shape_text(expected)}. Drop any alpha channel and convert grayscale to RGB.",
        )
    if tuple(output.shape[2:]) != tuple(input.shape[2:]):
        raise ContractViolation(
            FailureCode.WRONG_SIZE,
            f"Your generator returned images of {output.shape[2]}x{output.shape[3]} (H x W) for inputs of "
            f"{input.shape[2]}x{input.shape[3]}; outputs must have the same height and width as inputs. "
            "Check the padding of your convolutions and the output_padding of transposed convolutions.",
        )
    output = output.detach().to(torch.float32)
    finite = torch.isfinite(output)
    if not bool(finite.all()):
        nan_count = int(torch.isnan(output).sum())
        inf_count = int(output.numel() - int(finite.sum()) - nan_count)
        raise ContractViolation(
            FailureCode.NON_FINITE,
            f"Your generator returned {nan_count} NaN and {inf_count} infinite values out of {output.numel()}; "
            "outputs must be finite. Look for divisions by zero, log of non-positive values or overflowing "
            "float16 arithmetic, and export in float32.",
        )
    outside = int(((output < low) | (output > high)).sum())
    return output.clamp(low, high), outside


def check_input_size(height: int, width: int, *, contract: GeneratorContract) -> None:
    """Raise ``ContractViolation(wrong_size)`` unless H and W are positive multiples of ``contract.size_multiple``."""
    m = contract.size_multiple
    if height <= 0 or width <= 0 or height % m or width % m:
        raise ContractViolation(
            FailureCode.WRONG_SIZE,
            f"Input images of {height}x{width} (H x W) are not multiples of {m}, which this phase requires.",
        )


def check_latency(seconds_per_image: float, *, contract: GeneratorContract) -> None:
    """Raise ``ContractViolation(too_slow)`` when the median time per image exceeds the phase's limit."""
    limit = contract.max_seconds_per_image
    if limit is not None and not seconds_per_image <= limit:
        raise ContractViolation(
            FailureCode.TOO_SLOW,
            f"Your generator took {seconds_per_image:.3f} s per image; this phase allows at most {limit:g} s. "
            "Use fewer or narrower layers, or a smaller architecture configuration.",
        )


def probe_image(contract: GeneratorContract, *, size: int = 64) -> torch.Tensor:
    """A deterministic probe image: ``(1, 3, size, size)`` float32 in the contract's value range.

    Computed analytically (no random generator, so identical on every machine and torch
    version): horizontal, vertical and radial ramps with a checkerboard of period 8 and a sine
    pattern, covering the whole range. ``size`` must be a positive multiple of
    ``contract.size_multiple``.
    """
    if size <= 0 or size % contract.size_multiple:
        raise ValueError(f"probe size must be a positive multiple of {contract.size_multiple}, got {size}")
    coords = (torch.arange(size, dtype=torch.float64) + 0.5) / size
    y, x = torch.meshgrid(coords, coords, indexing="ij")
    checker = ((torch.floor(x * size / 8) + torch.floor(y * size / 8)) % 2) * 0.25
    red = 0.75 * x + checker
    green = 0.75 * y + 0.25 * (0.5 + 0.5 * torch.sin(2 * math.pi * 3 * (x + y)))
    blue = torch.sqrt((x - 0.5) ** 2 + (y - 0.5) ** 2) / math.sqrt(0.5)
    unit = torch.stack([red, green, blue]).clamp(0.0, 1.0).unsqueeze(0)
    return contract.value_range.from_unit(unit).to(torch.float32)
