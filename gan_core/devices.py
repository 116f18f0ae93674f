"""Where the feature networks run: device choice, batch size from free memory, exact inference.

CUDA when present, CPU otherwise; ``ATELIER_DEVICE`` (``cpu``, ``cuda``, ``cuda:1``, ``auto``)
overrides the automatic choice.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch

#: Environment variable that picks the device when no preference is passed.
DEVICE_ENVIRONMENT_VARIABLE = "ATELIER_DEVICE"

#: Share of the free memory that one batch may take (the rest is left for the network,
#: its workspace and other processes).
MEMORY_SHARE = 0.25


class DeviceError(RuntimeError):
    """A requested device that does not exist here; the message says what to use instead."""


def select_device(preference: str | None = None) -> torch.device:
    """The device to run on: ``preference``, else ``$ATELIER_DEVICE``, else CUDA when available, else CPU.

    ``"auto"`` (or an empty value) means the automatic choice. Asking for CUDA on a machine
    without it raises :class:`DeviceError`.
    """
    choice = (preference or os.environ.get(DEVICE_ENVIRONMENT_VARIABLE, "") or "auto").strip().lower()
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(choice)
    except RuntimeError as error:
        raise DeviceError(
            f"Unknown device {choice!r} (from {'the argument' if preference else DEVICE_ENVIRONMENT_VARIABLE}). "
            "Use cpu, cuda, cuda:N or auto."
        ) from error
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"Device {choice!r} was requested but CUDA is not available here. Use cpu or auto.")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(
                f"Device {choice!r} was requested but only {torch.cuda.device_count()} CUDA device(s) exist. "
                "Use cuda:0 ... or auto."
            )
    elif device.type != "cpu":
        raise DeviceError(f"Device {choice!r} is not supported. Use cpu, cuda, cuda:N or auto.")
    return device


def free_memory_bytes(device: torch.device) -> int:
    """Bytes of memory currently available on ``device`` (CUDA: free device memory; CPU: MemAvailable)."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 2 * 1024**3


def choose_batch_size(*, device: torch.device, bytes_per_item: int, ceiling: int = 64) -> int:
    """The largest batch (1 .. ``ceiling``) whose items, at ``bytes_per_item`` each, fit in a
    quarter of the free memory on ``device``."""
    if bytes_per_item <= 0:
        raise ValueError(f"bytes_per_item must be positive, got {bytes_per_item}.")
    if ceiling < 1:
        raise ValueError(f"ceiling must be at least 1, got {ceiling}.")
    fitting = int(free_memory_bytes(device) * MEMORY_SHARE) // bytes_per_item
    return max(1, min(ceiling, fitting))


@contextlib.contextmanager
def exact_inference(device: torch.device) -> Iterator[None]:
    """``torch.inference_mode`` with full float32 precision: on CUDA, TF32 is switched off for
    convolutions and matrix products while inside (and restored after), so scores computed on a
    GPU match the CPU's to float32 rounding."""
    if device.type != "cuda":
        with torch.inference_mode():
            yield
        return
    saved = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        with torch.inference_mode():
            yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved
