"""Memory budgets for scoring: how many images a step may hold, derived from one figure in MiB.

Every scoring step that holds per-image tensors (a network's activations, an SSIM window, a Gram
product) sizes its batch as ``budget // bytes_per_item`` (at most a ceiling, at least one). When one
item alone does not fit, :class:`MemoryBudgetError` says which step, at which image size, and how much
it would need, so an organizer can raise the budget or lower the phase's image size.

The budget is, in order: an explicit ``MemoryBudget``; ``$ATELIER_SCORING_MEMORY_MB``; a quarter of the
memory available on the device (``gan_core.devices.free_memory_bytes``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from gan_core.devices import MEMORY_SHARE, free_memory_bytes

#: Environment variable holding the scoring memory budget in MiB.
MEMORY_ENVIRONMENT_VARIABLE = "ATELIER_SCORING_MEMORY_MB"
#: The smallest budget accepted (the networks' weights and torch itself are outside it).
MINIMUM_MB = 16
MIB = 1024**2


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
