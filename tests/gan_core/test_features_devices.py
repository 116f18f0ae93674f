"""Where the feature networks run: device choice, batch size from free memory, exact inference."""

from __future__ import annotations

import pytest
import torch

from gan_core import devices
from gan_core.devices import DeviceError, choose_batch_size, select_device


def test_the_automatic_choice_is_cuda_when_available_else_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ATELIER_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else "cpu"

    assert select_device().type == expected
    assert select_device("auto").type == expected


def test_atelier_device_overrides_the_automatic_choice_and_an_argument_overrides_both(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ATELIER_DEVICE", "cpu")
    assert select_device() == torch.device("cpu")

    monkeypatch.setenv("ATELIER_DEVICE", "no-such-device")
    assert select_device("cpu") == torch.device("cpu")
    with pytest.raises(DeviceError, match="Unknown device 'no-such-device' \\(from ATELIER_DEVICE\\)"):
        select_device()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_asking_for_cuda_without_it_says_what_to_use_instead() -> None:
    with pytest.raises(DeviceError, match="CUDA is not available here. Use cpu or auto."):
        select_device("cuda")


def test_the_batch_size_fits_a_quarter_of_free_memory_within_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu = torch.device("cpu")
    monkeypatch.setattr(devices, "free_memory_bytes", lambda device: 4000)

    assert choose_batch_size(device=cpu, bytes_per_item=100) == 10
    assert choose_batch_size(device=cpu, bytes_per_item=10, ceiling=64) == 64
    assert choose_batch_size(device=cpu, bytes_per_item=10**9) == 1
    with pytest.raises(ValueError, match="bytes_per_item must be positive"):
        choose_batch_size(device=cpu, bytes_per_item=0)


def test_free_memory_on_this_machine_is_a_positive_number_of_bytes() -> None:
    assert devices.free_memory_bytes(torch.device("cpu")) > 1024**2


def test_exact_inference_runs_without_autograd() -> None:
    weight = torch.ones(2, requires_grad=True)

    with devices.exact_inference(torch.device("cpu")):
        product = weight * 2
        assert torch.is_inference_mode_enabled()

    assert not product.requires_grad
    assert not torch.is_inference_mode_enabled()
