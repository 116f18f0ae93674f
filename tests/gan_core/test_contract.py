"""The output contract: every violation code with an actionable message, clamping counted, the probe image."""

from __future__ import annotations

import pytest
import torch

from gan_core.contract import (
    ContractViolation,
    GeneratorContract,
    ValueRange,
    check_input_size,
    check_latency,
    check_output,
    probe_image,
)
from gan_core.failures import FailureCode

CONTRACT = GeneratorContract()
INPUT = torch.zeros(2, 3, 8, 12)


def _violation(output: torch.Tensor, contract: GeneratorContract = CONTRACT) -> ContractViolation:
    with pytest.raises(ContractViolation) as caught:
        check_output(output, input=INPUT, contract=contract)
    return caught.value


def test_a_valid_output_passes_unchanged_with_nothing_clamped() -> None:
    output = torch.linspace(-1, 1, 2 * 3 * 8 * 12).reshape(2, 3, 8, 12)
    checked, clamped = check_output(output, input=INPUT, contract=CONTRACT)
    assert clamped == 0
    assert torch.equal(checked, output)
    assert checked.dtype == torch.float32


def test_four_channels_are_refused_with_a_message_a_participant_can_act_on() -> None:
    error = _violation(torch.zeros(2, 4, 8, 12))
    assert error.code == "wrong_channels"
    assert "Your generator returned 4 channels; it must return 3 (RGB)" in error.message


def test_a_different_height_or_width_is_wrong_size() -> None:
    error = _violation(torch.zeros(2, 3, 8, 16))
    assert error.code == "wrong_size"
    assert "8x16" in error.message and "8x12" in error.message


def test_a_different_batch_is_wrong_batch() -> None:
    error = _violation(torch.zeros(1, 3, 8, 12))
    assert error.code == "wrong_batch"
    assert "1 images for a batch of 2" in error.message


def test_a_three_dimensional_output_is_wrong_rank() -> None:
    error = _violation(torch.zeros(3, 8, 12))
    assert error.code == "wrong_rank"
    assert "3-dimensional" in error.message


def test_an_integer_output_is_wrong_dtype() -> None:
    error = _violation(torch.zeros(2, 3, 8, 12, dtype=torch.uint8))
    assert error.code == "wrong_dtype"
    assert "float32" in error.message


def test_nan_and_infinity_are_refused_and_counted() -> None:
    output = torch.zeros(2, 3, 8, 12)
    output[0, 0, 0, :3] = float("nan")
    output[1, 2, 7, 11] = float("inf")
    output[1, 2, 7, 10] = float("-inf")
    error = _violation(output)
    assert error.code == "non_finite"
    assert "3 NaN and 2 infinite values out of 576" in error.message


def test_values_outside_the_range_are_clamped_and_counted() -> None:
    output = torch.zeros(2, 3, 8, 12)
    output[0, 0, 0, 0] = 1.5
    output[0, 0, 0, 1] = -3.0
    output[1, 1, 1, 1] = 1.0  # on the bound: not counted
    checked, clamped = check_output(output, input=INPUT, contract=CONTRACT)
    assert clamped == 2
    assert float(checked[0, 0, 0, 0]) == 1.0
    assert float(checked[0, 0, 0, 1]) == -1.0
    assert float(checked.abs().max()) == 1.0


def test_clamping_follows_the_zero_one_range() -> None:
    contract = GeneratorContract(value_range=ValueRange.ZERO_ONE)
    output = torch.full((2, 3, 8, 12), 0.5)
    output[0, 0, 0, :4] = -0.5  # four values below 0
    checked, clamped = check_output(output, input=INPUT, contract=contract)
    assert clamped == 4
    assert float(checked.min()) == 0.0


def test_half_precision_outputs_are_accepted_as_float32() -> None:
    checked, clamped = check_output(torch.zeros(2, 3, 8, 12, dtype=torch.float16), input=INPUT, contract=CONTRACT)
    assert checked.dtype == torch.float32
    assert clamped == 0


def test_checks_run_in_a_fixed_order_channels_before_size() -> None:
    assert _violation(torch.zeros(2, 4, 9, 9)).code == "wrong_channels"
    assert _violation(torch.full((2, 3, 9, 9), float("nan"))).code == "wrong_size"


def test_too_slow_is_raised_above_the_phase_limit_only() -> None:
    contract = GeneratorContract(max_seconds_per_image=0.5)
    check_latency(0.5, contract=contract)
    check_latency(99.0, contract=GeneratorContract())
    with pytest.raises(ContractViolation) as caught:
        check_latency(0.75, contract=contract)
    assert caught.value.code == "too_slow"
    assert "0.750 s per image" in caught.value.message and "0.5 s" in caught.value.message


def test_input_sizes_must_be_multiples_of_the_declared_factor() -> None:
    check_input_size(256, 128, contract=GeneratorContract(size_multiple=4))
    with pytest.raises(ContractViolation) as caught:
        check_input_size(254, 128, contract=GeneratorContract(size_multiple=4))
    assert caught.value.code == "wrong_size"


def test_violation_codes_are_stable_failure_codes() -> None:
    error = _violation(torch.zeros(2, 4, 8, 12))
    assert error.code == FailureCode.WRONG_CHANNELS
    assert error.as_dict() == {"code": "wrong_channels", "message": error.message}


@pytest.mark.parametrize("value_range", list(ValueRange))
def test_the_probe_image_is_deterministic_and_spans_the_declared_range(value_range: ValueRange) -> None:
    contract = GeneratorContract(value_range=value_range)
    first = probe_image(contract, size=64)
    second = probe_image(contract, size=64)
    low, high = value_range.bounds
    assert first.shape == (1, 3, 64, 64)
    assert first.dtype == torch.float32
    assert torch.equal(first, second)
    assert float(first.min()) >= low and float(first.max()) <= high
    assert float(first.max() - first.min()) > 0.9 * (high - low)
    # the same picture in both ranges
    other = probe_image(GeneratorContract(value_range=ValueRange.ZERO_ONE), size=64)
    assert torch.allclose(value_range.to_unit(first), other, atol=1e-6)


def test_the_probe_image_has_fixed_values() -> None:
    # the probe is part of what the platform stores (its outputs are compared across runs): pin its content
    probe = probe_image(GeneratorContract(value_range=ValueRange.ZERO_ONE), size=64)
    # red = 0.75 x + checkerboard(period 8) / 4, at the pixel centre x = 7.5 / 64 in the first cell
    assert float(probe[0, 0, 0, 7]) == pytest.approx(0.75 * 7.5 / 64)
    # blue is the distance from the centre, 0 near it and 1 in the corners' direction
    assert float(probe[0, 2, 32, 32]) == pytest.approx((2 * (0.5 / 64) ** 2) ** 0.5 / 0.5**0.5, abs=1e-6)
    assert probe.sum(dim=(0, 2, 3)).tolist() == pytest.approx([2048.0, 2048.0, 2216.0371], rel=1e-6)


def test_probe_sizes_must_fit_the_contract() -> None:
    with pytest.raises(ValueError, match="multiple of 4"):
        probe_image(GeneratorContract(), size=30)
