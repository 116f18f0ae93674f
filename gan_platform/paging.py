"""One page of a list, for the pages and the API: its items, its number, its size and the total.

What a page past the last answers is the caller's to decide (the discussion refuses it, the list
of one's submissions answers it empty): :class:`Page` only holds one and counts the pages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


def page_count(*, total: int, size: int) -> int:
    """How many pages of ``size`` items ``total`` items fill: at least one, even when empty."""
    return max(1, -(-total // size))


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list: its items, its number (from 1), its size, and how many items in all."""

    items: list[T]
    number: int
    size: int
    total: int

    @property
    def pages(self) -> int:
        return page_count(total=self.total, size=self.size)

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages
