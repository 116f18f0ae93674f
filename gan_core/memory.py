"""Memory budgets for scoring: how many images a step may hold, derived from one figure in MiB.

Every scoring step that holds per-image tensors (a network's activations, an SSIM window, a Gram
product) sizes its batch as ``budget // bytes_per_item`` (at most a ceiling, at least one). When one
item alone does not fit, :class:`MemoryBudgetError` says which step, at which image size, and how much
it would need, so an organizer can raise the budget or lower the phase's image size.

The budget is, in order: an explicit ``MemoryBudget``; ``$ATELIER_SCORING_MEMORY_MB``; a quarter of the
memory available on the device (``gan_core.devices.free_memory_bytes``).

Resolving a budget also pins glibc's mmap threshold (:func:`pin_mmap_threshold`, once per process).
Without it, glibc raises the threshold each time a large block is freed (up to 32 MiB), so later
batches of tensors come from the heap, whose fragments are not returned to the system: the process's
peak memory then crept up with the number of images scored (+36 MiB from 32 to 96 SSIM pairs at
96 x 96 here, the growth the audit saw from 20 to 40 and 80 to 240 images). With the threshold
pinned at 1 MiB every large tensor is its own mapping, given back when freed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
from dataclasses import dataclass

import torch

from gan_core.devices import MEMORY_SHARE, free_memory_bytes

#: Environment variable holding the scoring memory budget in MiB.
MEMORY_ENVIRONMENT_VARIABLE = "ATELIER_SCORING_MEMORY_MB"
#: The smallest budget accepted (the networks' weights and torch itself are outside it).
MINIMUM_MB = 16
MIB = 1024**2
#: glibc's ``mallopt`` parameter number of ``M_MMAP_THRESHOLD``.
_M_MMAP_THRESHOLD = -3
#: Allocations from this size up are mapped on their own (and unmapped when freed).
MMAP_THRESHOLD_BYTES = 1 * MIB


@functools.cache
def pin_mmap_threshold() -> bool:
    """Fix glibc's mmap threshold at ``MMAP_THRESHOLD_BYTES`` for this process (see the module's
    docstring); True when set, False where the C library is not glibc (nothing to do there)."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))


class MemoryBudgetError(ValueError):
    """A step whose single item does not fit the budget; the message says how much it needs."""


@dataclass(frozen=True)
class MemoryBudget:
    """Bytes that one scoring step's per-item tensors may take (weights and torch's own use excluded)."""

    bytes: int

    def __post_init__(self) -> None:
        if self.bytes < MINIMUM_MB * MIB:
            raise MemoryBudgetError(
                f"a scoring memory budget of {self.bytes / MIB:.0f} MiB is too small; give at least {MINIMUM_MB} MiB"
            )

    @classmethod
    def megabytes(cls, value: float) -> MemoryBudget:
        return cls(int(float(value) * MIB))

    @classmethod
    def resolve(cls, budget: MemoryBudget | float | None = None, *, device: torch.device | None = None) -> MemoryBudget:
        """``budget`` (a ``MemoryBudget`` or MiB), else ``$ATELIER_SCORING_MEMORY_MB``, else a quarter of free memory."""
        pin_mmap_threshold()
        if isinstance(budget, MemoryBudget):
            return budget
        if budget is not None:
            return cls.megabytes(budget)
        text = os.environ.get(MEMORY_ENVIRONMENT_VARIABLE, "").strip()
        if text:
            try:
                value = float(text)
            except ValueError:
                raise MemoryBudgetError(
                    f"{MEMORY_ENVIRONMENT_VARIABLE}={text!r} is not a number; give the scoring budget in MiB, e.g. 4096"
                ) from None
            return cls.megabytes(value)
        return cls(max(MINIMUM_MB * MIB, int(free_memory_bytes(device or torch.device("cpu")) * MEMORY_SHARE)))

    @property
    def mib(self) -> float:
        return self.bytes / MIB

    def batch_size(self, *, bytes_per_item: int, what: str, ceiling: int = 64) -> int:
        """Items per step (1 .. ``ceiling``) at ``bytes_per_item`` each; refuses when one item does not fit.

        ``what`` names the step for the message, e.g. ``"SSIM at 1024x1024"``.
        """
        if bytes_per_item <= 0:
            raise ValueError(f"bytes_per_item must be positive, got {bytes_per_item}")
        fitting = self.bytes // bytes_per_item
        if fitting < 1:
            raise MemoryBudgetError(
                f"{what} needs about {bytes_per_item / MIB:,.0f} MiB for one image, more than the scoring memory "
                f"budget of {self.mib:,.0f} MiB ({MEMORY_ENVIRONMENT_VARIABLE}); raise the budget or use smaller "
                "content images in this phase"
            )
        return max(1, min(int(ceiling), int(fitting)))
