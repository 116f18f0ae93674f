"""The sandbox's names and records: settings, modes, the error, and what a run returns.

The environment variables, the uid the model runs as and the mount points inside the sandbox; the
run, output, isolation and policy modes; :class:`SandboxError`; the :class:`RunResult`,
:class:`ValidationReport` and :class:`ChildOutcome` records.
"""

from __future__ import annotations

import dataclasses
import enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gan_core.failures import FailureCode, GeneratorFailure

if TYPE_CHECKING:
    from gan_core.checkpoints import CheckpointInfo


#: Environment variable: ``required`` refuses to run anything without bubblewrap; ``auto`` (default)
#: falls back to a plain child process for safetensors only.
SANDBOX_ENVIRONMENT_VARIABLE = "ATELIER_SANDBOX"
#: Environment variable naming the bubblewrap executable (default: ``bwrap`` on ``PATH``).
BWRAP_ENVIRONMENT_VARIABLE = "ATELIER_BWRAP"
#: The unprivileged uid and gid the model runs as (``nobody``/``nogroup`` on Debian).
SANDBOX_UID = 65534
SANDBOX_GID = 65534
#: Inside the sandbox: where the job description, the checkpoint, the inputs and the outputs are.
JOB_MOUNT = "/job"
INPUT_MOUNT = "/inputs"
OUTPUT_MOUNT = "/out"
#: The module every generator run starts inside the sandbox.
RUNNER_MODULE = "gan_core.runner_child"
_INSTALL_HINT = "apt-get install bubblewrap libseccomp2 && pip install pyseccomp"


class RunMode(enum.StrEnum):
    """What a sandboxed run does: ``probe`` runs the contract's probe image only (validation);
    ``full`` runs every input image and writes one PNG per input; ``validate-then-run`` does the
    probe and then the full run in the same child (one start-up for both, as a worker's
    validate-and-generate does)."""

    PROBE = "probe"
    FULL = "full"
    VALIDATE_THEN_RUN = "validate-then-run"


class RawOutputMode(enum.StrEnum):
    """``none``: outputs are PNGs only. ``numpy``: also the clamped float32 ``(3, H, W)`` outputs
    as ``.npy`` files before quantisation (tests compare them with the eager model)."""

    NONE = "none"
    NUMPY = "numpy"


class IsolationMode(enum.StrEnum):
    """How the child is isolated: ``bubblewrap`` namespaces plus limits, or ``process``: a plain
    child process with limits only (safetensors only; never ONNX)."""

    BUBBLEWRAP = "bubblewrap"
    PROCESS = "process"


class SandboxPolicy(enum.StrEnum):
    """``ATELIER_SANDBOX``: ``required`` refuses to run without bubblewrap; ``auto`` falls back."""

    AUTO = "auto"
    REQUIRED = "required"


class SandboxError(GeneratorFailure):
    """A sandboxed run failed: its own codes (``out_of_memory``, ``timeout``, ``output_too_large``,
    ``crashed``, ``sandbox_unavailable``) or a checkpoint/contract code forwarded from the child,
    always with a participant-safe message. ``log_tail`` holds the child's last stderr bytes for
    operators (never show it to participants: it may name host paths)."""

    def __init__(self, code: FailureCode | str, message: str, *, log_tail: str = "") -> None:
        super().__init__(code, message)
        self.log_tail = log_tail


@dataclasses.dataclass(frozen=True)
class RunResult:
    """What a successful sandboxed run returns.

    ``outputs``: one uint8 RGB PNG per input, named ``<input stem>.png``, in input order (empty in
    probe mode). ``raw_outputs``: matching ``.npy`` float32 ``(3, H, W)`` files in the declared range
    (only with ``RawOutputMode.NUMPY``). ``seconds_per_image``: median forward time per image at the
    run's resolution (``resolution`` = ``(H, W)`` of the first batch). ``peak_memory_bytes``: peak
    resident memory of the child (cgroup peak where one was used, else the child's ``ru_maxrss``);
    ``peak_gpu_memory_bytes``: torch's peak CUDA allocation (0 on CPU). ``clamped_values``: output
    values outside the range, clamped. ``startup_seconds``: from start to model loaded.
    ``probe_seconds_per_image``: the probe's median time when the run validated first (probe or
    validate-then-run modes), else ``None``.
    """

    outputs: tuple[Path, ...]
    raw_outputs: tuple[Path, ...]
    parameter_count: int
    seconds_per_image: float
    resolution: tuple[int, int]
    peak_memory_bytes: int
    peak_gpu_memory_bytes: int
    clamped_values: int
    images_done: int
    images_total: int
    isolation: IsolationMode
    device: str
    startup_seconds: float
    wall_seconds: float
    log_tail: str = ""
    probe_seconds_per_image: float | None = None


@dataclasses.dataclass(frozen=True)
class ValidationReport:
    """The answer of :func:`validate_checkpoint`: ``ok`` with the header ``info`` and the probe
    ``run``, or not ``ok`` with a stable ``code`` and a participant-safe ``message``."""

    ok: bool
    code: str | None = None
    message: str | None = None
    info: CheckpointInfo | None = None
    run: RunResult | None = None


@dataclasses.dataclass(frozen=True)
class ChildOutcome:
    """The raw end of one sandboxed child: its ``result`` event (or ``None``), the error event (or
    ``None``), how it exited, and timings. :func:`run_in_sandbox` returns it; callers turn it into a
    :class:`RunResult` or a :class:`SandboxError`."""

    result: dict[str, Any] | None
    error: dict[str, Any] | None
    returncode: int | None
    stopped_for: str | None
    startup_seconds: float
    wall_seconds: float
    peak_memory_bytes: int
    oom_killed: bool
    log_tail: str
    isolation: IsolationMode
    largest_file_bytes: int = 0
