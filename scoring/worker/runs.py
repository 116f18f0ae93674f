"""The two sandboxed runs of a submission, kept apart so that no hidden input reaches a participant.

A participant sees the outputs of the public preview images, the efficiency figures (latency per
image, parameter count), the live progress and the failure message of their submission. None of
these may depend on a hidden content image, even when the generator is hostile: an ONNX graph can
mix images across the batch axis (output ``i`` = input ``i + 1``, a batch mean, a mosaic), and a
compromised child process could choose any message, any progress figure or any timing it reports.
So, by construction:

- The *preview run* (:func:`preview_run`) is a sandboxed child that receives the preview images
  only (each bound into the sandbox as a file of its own), one image per batch. Its outputs are the
  only generated images a participant ever sees. Its failure message is shown as the child wrote
  it: the child saw nothing hidden.
- The *hidden run* (:func:`hidden_run`) receives every content image; its outputs never leave the
  trusted side, they are only scored. Its failure message is replaced by a fixed text per failure
  code written here (:func:`hidden_failure`); the child's own message goes to the organizer-only
  detail. Its progress is counted by the parent (progress events times the batch size), never taken
  from the numbers the child sends.
- Efficiency figures are measured by the trusted parent: the latency per image is the median gap
  between the preview run's progress events on the parent's clock (one image per event), never the
  figure the child reports; the parameter count comes from the checkpoint's header, inspected here.

Scores are the one participant-visible figure that must depend on hidden data; what they can leak
and what bounds it is written in docs/ARCHITECTURE.md ("What a participant can learn").
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from gan_core.checkpoints import CheckpointInfo
from gan_core.contract import GeneratorContract
from gan_core.failures import FailureCode, GeneratorFailure
from gan_core.sandbox import RunResult, SandboxLimits, ValidationReport, run_generator

#: What each failure code means, in words written by the platform (never by the child).
_HIDDEN_FAILURE_WHAT: dict[str, str] = {
    FailureCode.OUT_OF_MEMORY: "it used more memory than the phase allows",
    FailureCode.TIMEOUT: "it did not finish within the phase's time limit",
    FailureCode.OUTPUT_TOO_LARGE: "it wrote more output than the platform accepts",
    FailureCode.CRASHED: "it crashed",
    FailureCode.WRONG_RANK: "an output had the wrong number of dimensions",
    FailureCode.WRONG_DTYPE: "an output had the wrong data type",
    FailureCode.WRONG_CHANNELS: "an output did not have 3 channels",
    FailureCode.WRONG_SIZE: "an output's height or width differed from its input's",
    FailureCode.WRONG_BATCH: "it returned a different number of images than it was given",
    FailureCode.NON_FINITE: "an output held NaN or infinite values",
    FailureCode.TOO_SLOW: "it was slower per image than the phase allows",
}


@dataclasses.dataclass(frozen=True)
class Efficiency:
    """Participant-visible efficiency figures, measured by trusted code on inputs that are not hidden.

    ``seconds_per_image``: median wall time per image of the preview run on the parent's clock (or
    of the validation probe when the competition has no preview image). ``parameter_count``: from
    the checkpoint header.
    """

    seconds_per_image: float
    parameter_count: int


class ParentClock:
    """Progress callback of a sandboxed run that records, on the parent's monotonic clock, when each
    of the child's progress events arrived; ``then`` is called after each event (a lease check)."""

    def __init__(self, then: Callable[[], None] | None = None) -> None:
        self.arrivals: list[float] = []
        self._then = then

    def __call__(self, done: int, total: int) -> None:  # the child's numbers are deliberately unused
        self.arrivals.append(time.monotonic())
        if self._then is not None:
            self._then()

    def seconds_per_event(self) -> float | None:
        """Median gap between consecutive events (the first event is the child's start signal)."""
        gaps = [later - earlier for earlier, later in zip(self.arrivals, self.arrivals[1:], strict=False)]
        return statistics.median(gaps) if gaps else None


class ParentCount:
    """Progress callback of the hidden run: the figure passed on to ``report(done, total)`` counts the
    child's progress events times the batch size (capped below ``total`` until the run has ended), so
    the child chooses at most *when* progress moves, never the figures a participant sees."""

    def __init__(self, *, total: int, batch_size: int, report: Callable[[int, int], None]) -> None:
        self.total = total
        self.batch_size = batch_size
        self.events = 0
        self._report = report

    def __call__(self, done: int, total: int) -> None:  # the child's numbers are deliberately unused
        self.events += 1
        batches = self.events - 1  # the first event says the run started
        self._report(min(batches * self.batch_size, max(self.total - 1, 0)), self.total)


@dataclasses.dataclass(frozen=True)
class SandboxedGenerator:
    """The participant's generator as both runs start it: its ``checkpoint`` (``info``: the header
    inspected by the validation), the ``contract`` its outputs are checked against, the sandbox's
    ``limits`` and the ``device``."""

    checkpoint: Path
    contract: GeneratorContract
    limits: SandboxLimits
    device: str
    info: CheckpointInfo | None

    def run(
        self,
        *,
        inputs: Sequence[Path],
        output_dir: Path,
        on_progress: Callable[[int, int], None],
        batch_size: int | None = None,
    ) -> RunResult:
        """One sandboxed run of the generator on ``inputs`` (``batch_size``: the limits' by default)."""
        return run_generator(
            checkpoint=self.checkpoint,
            inputs=list(inputs),
            output_dir=output_dir,
            contract=self.contract,
            limits=self.limits,
            device=self.device,
            batch_size=batch_size,
            info=self.info,
            on_progress=on_progress,
        )


def preview_run(
    *,
    generator: SandboxedGenerator,
    preview_paths: Sequence[Path],
    output_dir: Path,
    check: Callable[[], None] | None = None,
) -> tuple[RunResult, ParentClock]:
    """Run the generator on the public preview images alone, one image per forward pass, in a sandbox
    of its own. Raises ``GeneratorFailure`` with the child's message (it saw nothing hidden)."""
    clock = ParentClock(then=check)
    run = generator.run(inputs=preview_paths, output_dir=output_dir, batch_size=1, on_progress=clock)
    return run, clock


def hidden_run(
    *,
    generator: SandboxedGenerator,
    content_paths: Sequence[Path],
    output_dir: Path,
    report_progress: Callable[[int, int], None],
) -> RunResult:
    """Run the generator on every content image; its outputs are only ever scored. A failure is
    re-raised as :func:`hidden_failure` (a fixed message per code, the child's text kept for organizers)."""
    limits = generator.limits
    counter = ParentCount(total=len(content_paths), batch_size=limits.batch_size, report=report_progress)
    try:
        run = generator.run(inputs=content_paths, output_dir=output_dir, on_progress=counter)
    except GeneratorFailure as failure:
        if failure.code in (FailureCode.SANDBOX_UNAVAILABLE, FailureCode.PLATFORM_NO_SPACE):
            raise  # the platform's, retried; its message is the platform's own
        raise hidden_failure(failure, limits=limits) from failure
    report_progress(len(content_paths), len(content_paths))  # every output was checked by trusted code
    return run


class HiddenRunFailure(GeneratorFailure):
    """A failure of the hidden run: ``message`` is the platform's fixed text for ``code``; ``log_tail``
    (organizer-only) keeps what the child said and wrote."""

    def __init__(self, code: str, message: str, *, log_tail: str) -> None:
        super().__init__(code, message)
        self.log_tail = log_tail


def hidden_failure(failure: GeneratorFailure, *, limits: SandboxLimits) -> HiddenRunFailure:
    """The participant-safe form of a failure of the hidden run.

    Only the code survives, and only if it is one a run can end with (anything else becomes
    ``crashed``): at most a few bits per submission, like a score. The message names the phase's
    limits, which are public, and nothing the child chose.
    """
    code = failure.code if failure.code in _HIDDEN_FAILURE_WHAT else FailureCode.CRASHED.value
    what = _HIDDEN_FAILURE_WHAT[code]
    message = (
        f"Your generator passed on the public preview images but failed on the hidden content images: {what} "
        f"(code {code}; limits: {limits.memory_bytes / 1024**3:g} GiB of memory, {limits.wall_seconds:g} s). "
        "Details of a failure on hidden images are never shown, since they could reveal hidden data. Check your "
        "generator locally on images of the competition's size with `python -m gan_core check`."
    )
    detail = f"child's message: [{failure.code}] {failure.message}\n{getattr(failure, 'log_tail', '') or ''}"
    return HiddenRunFailure(code, message, log_tail=detail)


def efficiency_measured(
    *, preview: ParentClock | None, validation: ValidationReport, info: CheckpointInfo | None
) -> Efficiency:
    """Latency from the preview run's parent-side clock; without preview images, from the validation
    probe's parent-measured time after the model was ready (its three passes of a synthetic image)."""
    seconds = preview.seconds_per_event() if preview is not None else None
    if seconds is None:
        probe = validation.run
        seconds = max(probe.wall_seconds - probe.startup_seconds, 0.0) / 3 if probe is not None else 0.0
    parameters = info.parameter_count if info is not None else 0
    return Efficiency(seconds_per_image=float(seconds), parameter_count=int(parameters))
