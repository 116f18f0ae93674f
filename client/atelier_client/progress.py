"""What the client shows while it works: the upload bar and the live submission state, on stderr.

Both redraw one line in place when the stream is a terminal; the upload bar is
silent otherwise (logs of CI jobs stay clean), and the state prints one line
per change.
"""

from __future__ import annotations

import enum
import shutil
import time
from collections.abc import Callable
from typing import Any, TextIO

__all__ = ["DisplayMode", "StateDisplay", "UploadProgress", "bytes_format", "state_describe"]


class DisplayMode(enum.Enum):
    """``AUTO``: redraw in place on a terminal, plain otherwise; ``TERMINAL`` / ``PLAIN`` force one way."""

    AUTO = "auto"
    TERMINAL = "terminal"
    PLAIN = "plain"

    def is_terminal(self, stream: TextIO) -> bool:
        if self is DisplayMode.AUTO:
            isatty = getattr(stream, "isatty", None)
            return bool(isatty and isatty())
        return self is DisplayMode.TERMINAL


def bytes_format(count: float) -> str:
    """``1536`` -> ``'1.5 KiB'``; binary units, one decimal above bytes."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


class UploadProgress:
    """``on_progress(sent, total)`` callback drawing ``name  42% [#####.....]  1.2 MiB / 2.9 MiB  3.4 MiB/s``.

    Redraws at most every ``min_interval`` seconds, and always at 0 % and 100 %;
    draws nothing when the stream is not a terminal (``DisplayMode.AUTO``).
    """

    def __init__(
        self,
        stream: TextIO,
        *,
        label: str,
        mode: DisplayMode = DisplayMode.AUTO,
        clock: Callable[[], float] = time.monotonic,
        min_interval: float = 0.1,
    ) -> None:
        self.stream = stream
        self.label = label
        self.enabled = mode.is_terminal(stream)
        self.clock = clock
        self.min_interval = min_interval
        self.started_at: float | None = None
        self.drawn_at: float | None = None
        self.finished = False
        self.last_line = ""

    def __call__(self, sent: int, total: int) -> None:
        now = self.clock()
        if self.started_at is None:
            self.started_at = now
        if not self.enabled or self.finished:
            return
        done = sent >= total
        if not done and self.drawn_at is not None and now - self.drawn_at < self.min_interval and sent > 0:
            return
        self.drawn_at = now
        self.last_line = self.line(sent, total, now)
        self.stream.write("\r" + self.last_line)
        if done:
            self.stream.write("\n")
            self.finished = True
        self.stream.flush()

    def line(self, sent: int, total: int, now: float) -> str:
        fraction = 1.0 if total <= 0 else min(1.0, sent / total)
        elapsed = max(now - (self.started_at or now), 1e-9)
        rate = f"{bytes_format(sent / elapsed)}/s" if sent else "-"
        figures = f"{fraction * 100:3.0f}% {{bar}} {bytes_format(sent)} / {bytes_format(total)}  {rate}"
        columns = shutil.get_terminal_size((80, 24)).columns
        width = max(10, min(40, columns - len(self.label) - len(figures) - 6))
        filled = int(round(fraction * width))
        bar = "[" + "#" * filled + "." * (width - filled) + "]"
        return f"{self.label}  {figures.format(bar=bar)}"

    def abandon(self) -> None:
        """End the bar's line when the upload stopped before 100 % (an error follows on its own line)."""
        if self.enabled and self.drawn_at is not None and not self.finished:
            self.stream.write("\n")
            self.stream.flush()
        self.finished = True


def state_describe(detail: dict[str, Any]) -> str:
    """A submission's state for a person: ``queued (position 3)``, ``generating 12/40``, ``failed (code): why``."""
    state = str(detail.get("state") or "unknown")
    if state == "queued":
        position = detail.get("queue_position")
        return f"queued (position {position})" if position is not None else "queued"
    progress = detail.get("progress") or {}
    total = progress.get("total") or 0
    if state == "generating" and total:
        return f"generating {progress.get('done') or 0}/{total}"
    if state == "failed":
        failure = detail.get("failure") or {}
        code = failure.get("code") or "failed"
        message = failure.get("message") or "no reason given"
        return f"failed ({code}): {message}"
    return state


class StateDisplay:
    """Shows each new state of a followed submission: redrawn in place on a terminal, one line each otherwise."""

    def __init__(self, stream: TextIO, *, submission_id: int, mode: DisplayMode = DisplayMode.AUTO) -> None:
        self.stream = stream
        self.submission_id = submission_id
        self.terminal = mode.is_terminal(stream)
        self.shown: str | None = None
        self.width = 0
        self.history: list[str] = []

    def update(self, detail: dict[str, Any]) -> None:
        text = f"Submission #{self.submission_id}: {state_describe(detail)}"
        if text == self.shown:
            return
        self.shown = text
        self.history.append(text)
        if self.terminal:
            self.stream.write("\r" + text.ljust(self.width))
            self.width = len(text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.terminal and self.shown is not None:
            self.stream.write("\n")
            self.stream.flush()
