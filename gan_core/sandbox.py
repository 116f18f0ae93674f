"""The sandboxed runner: participant generators run only in a locked-down child process.

The calling process (a Celery worker, the ``check`` command) never opens a participant's model.
It inspects the checkpoint header (safe, :func:`gan_core.checkpoints.inspect_checkpoint`), then
starts ``python -m gan_core.runner_child`` inside bubblewrap with:

- namespaces: no network (``--unshare-all``: net, pid, ipc, uts, cgroup, and user where the
  worker is not root), ``--die-with-parent``, ``--new-session``;
- a read-only view of only what it needs: ``/usr`` and the loader's ``/lib*`` links, the
  interpreter, the virtual environment, the ``gan_core`` package (not the repository around it,
  so no ``var/``, no settings), the checkpoint and the content images; ``--tmpfs /tmp`` of bounded
  size, a minimal ``/dev`` and ``/proc``, one writable output folder. The host's ``/run``, ``/tmp``,
  ``/etc`` and home directories are never bound;
- ``--clearenv``: the child sees only ``PATH``, ``HOME=/tmp``, ``PYTHONPATH``, ``LANG`` and
  thread counts (no ``DATABASE_URL``, ``REDIS_URL``, secrets);
- no capabilities and an unprivileged uid (65534): as root, bubblewrap keeps only
  ``CAP_SETUID``/``CAP_SETGID`` and the child drops to uid/gid 65534 (losing both) before it
  opens anything the participant sent; as a normal user, a user namespace maps uid 65534;
- limits set before ``exec`` (so bubblewrap and the model inherit them): memory through a cgroup
  (v2 or v1, whichever this host has and lets us write) or, on CPU only, ``RLIMIT_AS`` (it breaks
  CUDA, which reserves huge address ranges); process count (cgroup ``pids`` and ``RLIMIT_NPROC``);
  ``RLIMIT_CPU``; ``RLIMIT_FSIZE``; ``RLIMIT_NOFILE``; ``RLIMIT_CORE = 0``; a wall-clock kill of the
  whole process group (and every task of the cgroup); a cap on the total size of the outputs.

The child reports JSON lines on a private pipe (``ready``, ``progress``, ``result`` or ``error``
with a code and a participant-safe message) and writes PNGs into the output folder; this
(trusted) side re-validates every output file before returning it.

Where bubblewrap is missing or does not work, ``ATELIER_SANDBOX=required`` refuses every run
with ``sandbox_unavailable``; otherwise safetensors checkpoints (no code path in them) still run
in a plain child process with the same limits, and ONNX models are refused.
"""

# Over 500 lines: the parent side of the sandbox (bubblewrap command, limits, filter, output mount, protocol) kept together so the isolation can be read in one place; the split is issue 13.

from __future__ import annotations

import contextlib
import dataclasses
import enum
import functools
import json
import os
import resource
import select
import shutil
import signal
import site
import socket
import stat
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gan_core import syscall_filter
from gan_core.contract import GeneratorContract
from gan_core.failures import FailureCode, GeneratorFailure

if TYPE_CHECKING:
    from gan_core.checkpoints import CheckpointFormat, CheckpointInfo

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
#: Address space allowed on top of the memory limit before the child has imported its libraries
#: (the CPU-only fallback when no cgroup can be written; the child then tightens it, see runner_child).
ADDRESS_SPACE_HEADROOM = 6 * 1024**3
_LOG_TAIL_BYTES = 8192
_POLL_SECONDS = 0.2
_SIZE_CHECK_SECONDS = 0.5
#: ``f_type`` of a tmpfs (``statfs``): the output mount the child hands over must be one.
_TMPFS_MAGIC = 0x01021994
#: Most entries copied out of the output mount (one PNG, and maybe one ``.npy``, per input).
_MAX_OUTPUT_ENTRIES = 200_000
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
class SandboxLimits:
    """Resource limits of one sandboxed run.

    ``memory_bytes``: resident memory of the whole child (cgroup) or its address space on top of
    the loaded libraries (``RLIMIT_AS`` fallback, CPU only). ``wall_seconds``: the whole run,
    start-up included. ``cpu_seconds``: CPU time (all threads); default ``wall_seconds x threads``
    plus 30 s. ``max_processes``: tasks (processes and threads). ``max_file_bytes``: largest file
    the child may write; ``max_output_bytes``: all outputs together. ``threads``: intra-op threads
    of the model. ``batch_size``: images per forward pass. ``tmpfs_bytes``: size of ``/tmp``.
    ``gpu_memory_fraction``: share of the GPU's memory torch may use (CUDA only).
    """

    memory_bytes: int = 4 * 1024**3
    wall_seconds: float = 900.0
    cpu_seconds: int | None = None
    max_processes: int = 256
    max_open_files: int = 256
    max_file_bytes: int = 64 * 1024**2
    max_output_bytes: int = 2 * 1024**3
    threads: int = 2
    batch_size: int = 8
    tmpfs_bytes: int = 64 * 1024**2
    gpu_memory_fraction: float | None = None

    def __post_init__(self) -> None:
        for name in ("memory_bytes", "max_processes", "max_open_files", "max_file_bytes", "max_output_bytes"):
            if getattr(self, name) <= 0:
                raise ValueError(f"SandboxLimits.{name} must be positive, got {getattr(self, name)}.")
        if self.wall_seconds <= 0:
            raise ValueError(f"SandboxLimits.wall_seconds must be positive, got {self.wall_seconds}.")
        if self.threads < 1 or self.batch_size < 1:
            raise ValueError("SandboxLimits.threads and batch_size must be at least 1.")

    @property
    def effective_cpu_seconds(self) -> int:
        """``cpu_seconds``, or ``wall_seconds x threads + 30`` when not given."""
        if self.cpu_seconds is not None:
            return int(self.cpu_seconds)
        return int(self.wall_seconds * self.threads) + 30


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


# --------------------------------------------------------------------------- isolation discovery


def sandbox_policy() -> SandboxPolicy:
    """The policy from ``ATELIER_SANDBOX`` (``auto`` when unset); an unknown value raises ``ValueError``."""
    value = os.environ.get(SANDBOX_ENVIRONMENT_VARIABLE, "").strip().lower() or SandboxPolicy.AUTO.value
    try:
        return SandboxPolicy(value)
    except ValueError:
        raise ValueError(
            f"{SANDBOX_ENVIRONMENT_VARIABLE}={value!r} is not understood; use 'required' or 'auto'."
        ) from None


def find_bubblewrap() -> str | None:
    """Path of a bubblewrap that actually works here (checked once per executable), else ``None``."""
    candidate = os.environ.get(BWRAP_ENVIRONMENT_VARIABLE) or shutil.which("bwrap")
    if not candidate:
        return None
    return candidate if _bubblewrap_works(candidate, os.geteuid() == 0) else None


@functools.lru_cache(maxsize=8)
def _bubblewrap_works(executable: str, as_root: bool) -> bool:
    command = [executable, *_namespace_arguments(as_root), "--ro-bind", "/", "/", "--proc", "/proc", "true"]
    try:
        completed = subprocess.run(command, capture_output=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return completed.returncode == 0


def isolation_mode() -> IsolationMode:
    """``bubblewrap`` when it works here and the system-call filter can be compiled (libseccomp),
    else ``process``, or ``SandboxError(sandbox_unavailable)`` when ``ATELIER_SANDBOX=required``."""
    if find_bubblewrap() is not None and syscall_filter.available():
        return IsolationMode.BUBBLEWRAP
    if sandbox_policy() is SandboxPolicy.REQUIRED:
        raise SandboxError(
            FailureCode.SANDBOX_UNAVAILABLE,
            "The platform could not start its sandbox, so your submission was not run (this does not count "
            f"against your quota). Operators: bubblewrap (or libseccomp, for its system-call filter) is missing or "
            "not working on this worker; "
            f"run `{_INSTALL_HINT}` (and allow user namespaces) or unset {SANDBOX_ENVIRONMENT_VARIABLE}=required.",
        )
    return IsolationMode.PROCESS


# --------------------------------------------------------------------------- cgroups


@dataclasses.dataclass
class _Cgroup:
    """A per-run cgroup (v2 directory, or one directory per v1 controller)."""

    version: int
    memory_dir: Path | None
    pids_dir: Path | None

    @property
    def directories(self) -> list[Path]:
        return [path for path in dict.fromkeys([self.memory_dir, self.pids_dir]) if path is not None]

    def procs_files(self) -> list[str]:
        return [str(path / "cgroup.procs") for path in self.directories]

    def peak_memory(self) -> int:
        if self.memory_dir is None:
            return 0
        name = "memory.peak" if self.version == 2 else "memory.max_usage_in_bytes"
        with contextlib.suppress(OSError, ValueError):
            return int((self.memory_dir / name).read_text().split()[0])
        return 0

    def oom_killed(self) -> bool:
        if self.memory_dir is None:
            return False
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        with contextlib.suppress(OSError, ValueError):
            for line in (self.memory_dir / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill" and int(value) > 0:
                    return True
        return False

    def kill_all(self) -> None:
        for directory in self.directories:
            kill_file = directory / "cgroup.kill"
            if kill_file.exists():
                with contextlib.suppress(OSError):
                    kill_file.write_text("1")
            with contextlib.suppress(OSError, ValueError):
                for pid in (directory / "cgroup.procs").read_text().split():
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(int(pid), signal.SIGKILL)

    def remove(self) -> None:
        for directory in self.directories:
            for _ in range(200):  # up to 10 s for the last tasks to exit; stale ones are removed later
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    self.kill_all()
                    time.sleep(0.05)


_CGROUP_ROOT = Path("/sys/fs/cgroup")
_CGROUP_PREFIX = "atelier-sandbox-"
_STALE_CGROUP_SECONDS = 60.0


def _own_cgroup_paths() -> dict[str, str]:
    """Controller name (or ``""`` for v2) to this process's cgroup path, from ``/proc/self/cgroup``."""
    paths: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _hierarchy, controllers, path = line.split(":", 2)
            for controller in controllers.split(",") if controllers else [""]:
                paths[controller] = path
    return paths


def _create_cgroup(limits: SandboxLimits) -> _Cgroup | None:
    """Create a cgroup below this process's own (v2 when the unified hierarchy has the memory
    controller, else v1 ``memory`` and ``pids``), set its limits, or return ``None`` when this host
    does not let us (no cgroupfs, read-only, controller not delegated)."""
    name = f"{_CGROUP_PREFIX}{uuid.uuid4().hex[:12]}"
    own = _own_cgroup_paths()
    if (_CGROUP_ROOT / "cgroup.controllers").exists():
        _remove_stale_cgroups([_CGROUP_ROOT / own.get("", "/").lstrip("/")])
        return _create_cgroup_v2(name, own.get("", "/"), limits)
    _remove_stale_cgroups(
        [_CGROUP_ROOT / controller / own.get(controller, "/").lstrip("/") for controller in ("memory", "pids")]
    )
    return _create_cgroup_v1(name, own, limits)


def _remove_stale_cgroups(parents: Sequence[Path]) -> None:
    """Remove run cgroups left behind by a parent that was killed before it could clean up: only
    empty ones (the kernel refuses to remove a cgroup with tasks) older than a minute (so one that
    another run has just created and not yet joined is left alone)."""
    now = time.time()
    for parent in parents:
        with contextlib.suppress(OSError):
            for entry in os.scandir(parent):
                if not entry.name.startswith(_CGROUP_PREFIX) or not entry.is_dir(follow_symlinks=False):
                    continue
                with contextlib.suppress(OSError, ValueError):
                    if (
                        now - entry.stat().st_mtime > _STALE_CGROUP_SECONDS
                        and not Path(entry.path, "cgroup.procs").read_text().strip()
                    ):
                        os.rmdir(entry.path)


def _create_cgroup_v2(name: str, own_path: str, limits: SandboxLimits) -> _Cgroup | None:
    parent = _CGROUP_ROOT / own_path.lstrip("/")
    with contextlib.suppress(OSError):
        if "memory" not in (parent / "cgroup.controllers").read_text().split():
            return None
        enabled = (parent / "cgroup.subtree_control").read_text().split()
        wanted = [c for c in ("memory", "pids") if c not in enabled]
        if wanted:
            (parent / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in wanted))
    directory = parent / name
    try:
        directory.mkdir()
        (directory / "memory.max").write_text(str(limits.memory_bytes))
        with contextlib.suppress(OSError):
            (directory / "memory.swap.max").write_text("0")
        with contextlib.suppress(OSError):
            (directory / "pids.max").write_text(str(limits.max_processes))
    except OSError:
        with contextlib.suppress(OSError):
            directory.rmdir()
        return None
    return _Cgroup(version=2, memory_dir=directory, pids_dir=directory)


def _create_cgroup_v1(name: str, own: Mapping[str, str], limits: SandboxLimits) -> _Cgroup | None:
    memory_parent = _CGROUP_ROOT / "memory" / own.get("memory", "/").lstrip("/")
    if not (memory_parent / "memory.limit_in_bytes").exists():
        return None
    memory_dir = memory_parent / name
    try:
        memory_dir.mkdir()
        (memory_dir / "memory.limit_in_bytes").write_text(str(limits.memory_bytes))
        with contextlib.suppress(OSError):
            (memory_dir / "memory.memsw.limit_in_bytes").write_text(str(limits.memory_bytes))
    except OSError:
        with contextlib.suppress(OSError):
            memory_dir.rmdir()
        return None
    pids_dir: Path | None = _CGROUP_ROOT / "pids" / own.get("pids", "/").lstrip("/") / name
    try:
        assert pids_dir is not None
        pids_dir.mkdir()
        (pids_dir / "pids.max").write_text(str(limits.max_processes))
    except OSError:
        with contextlib.suppress(OSError):
            pids_dir.rmdir()  # type: ignore[union-attr]
        pids_dir = None
    return _Cgroup(version=1, memory_dir=memory_dir, pids_dir=pids_dir)


class MemoryEnforcement(enum.StrEnum):
    """How a run's memory limit is enforced on this host: a cgroup (v2 or v1) that kills the run
    at the limit, or ``RLIMIT_AS`` (CPU only; the child tightens it to its mapped libraries plus the
    limit, so allocations past it fail), or not at all (CUDA without a writable cgroup)."""

    CGROUP_V2 = "cgroup-v2"
    CGROUP_V1 = "cgroup-v1"
    ADDRESS_SPACE = "address-space"
    NONE = "none"


def memory_enforcement(device: str = "cpu") -> MemoryEnforcement:
    """What would enforce the memory limit of a run on ``device`` here (creates and removes a probe cgroup)."""
    cgroup = _create_cgroup(SandboxLimits())
    if cgroup is not None:
        cgroup.remove()
        return MemoryEnforcement.CGROUP_V2 if cgroup.version == 2 else MemoryEnforcement.CGROUP_V1
    return MemoryEnforcement.NONE if device.startswith("cuda") else MemoryEnforcement.ADDRESS_SPACE


# --------------------------------------------------------------------------- the command


def _namespace_arguments(as_root: bool) -> list[str]:
    """Namespaces and privileges: as root, no user namespace (so the child can drop to a real
    unprivileged uid, keeping only CAP_SETUID/CAP_SETGID for that and CAP_SETPCAP to empty its
    bounding set first, see :func:`gan_core.runner_child.harden`); otherwise a user namespace."""
    common = ["--die-with-parent", "--new-session", "--cap-drop", "ALL"]
    if as_root:
        return [
            "--unshare-pid",
            "--unshare-net",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
            *common,
            "--cap-add",
            "CAP_SETUID",
            "--cap-add",
            "CAP_SETGID",
            "--cap-add",
            "CAP_SETPCAP",
        ]
    return ["--unshare-all", *common, "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_GID)]


def python_paths() -> list[Path]:
    """Folders the interpreter needs, read-only: its prefixes and site-packages (nested ones dropped).

    The repository that holds ``gan_core`` is not among them: only the package itself is bound.
    """
    candidates = {
        Path(sys.prefix),
        Path(sys.base_prefix),
        Path(sys.exec_prefix),
        Path(sys.base_exec_prefix),
        Path(os.path.realpath(sys.executable)).parent.parent,
    }
    with contextlib.suppress(AttributeError):
        candidates.update(Path(p) for p in site.getsitepackages())
    existing = sorted({path.resolve() for path in candidates if path.is_dir()} | {Path(sys.prefix).absolute()})
    return _outermost(existing)


def _outermost(paths: Sequence[Path]) -> list[Path]:
    kept: list[Path] = []
    for path in sorted(set(paths), key=lambda p: len(p.parts)):
        if path == Path("/"):
            continue
        if not any(path == other or other in path.parents for other in kept):
            kept.append(path)
    return sorted(kept)


def code_root() -> Path:
    """The folder that contains the ``gan_core`` package (put on ``PYTHONPATH`` in the sandbox)."""
    return Path(__file__).resolve().parent.parent


def _system_arguments() -> list[str]:
    """``/usr`` read-only, the top-level loader links mirrored, and the few ``/etc`` files the
    dynamic loader reads (never the whole ``/etc``: it holds shadow and secrets)."""
    arguments = ["--ro-bind", "/usr", "/usr", "--perms", "0755", "--dir", "/etc"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        host = Path("/") / name
        if host.is_symlink():
            arguments += ["--symlink", os.readlink(host), str(host)]
        elif host.is_dir():
            arguments += ["--ro-bind", str(host), str(host)]
    for name in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives"):
        if os.path.exists(name):
            arguments += ["--ro-bind", name, name]
    return arguments


def _gpu_arguments() -> list[str]:
    arguments: list[str] = []
    for device in sorted(Path("/dev").glob("nvidia*")):
        arguments += ["--dev-bind", str(device), str(device)]
    if Path("/sys").is_dir():
        arguments += ["--ro-bind", "/sys", "/sys"]
    return arguments


def _directories_for(targets: Sequence[str]) -> list[str]:
    """``--perms 0755 --dir`` for every ancestor of the mount points (bubblewrap makes them 0700,
    which the unprivileged uid could not traverse)."""
    ancestors: list[str] = []
    for target in targets:
        for parent in reversed(Path(target).parents):
            text = str(parent)
            if text != "/" and text not in ancestors:
                ancestors.append(text)
    arguments: list[str] = []
    for directory in ancestors:
        arguments += ["--perms", "0755", "--dir", directory]
    return arguments


def sandbox_command(
    *,
    bwrap: str,
    argv: Sequence[str],
    read_only: Sequence[tuple[Path, str]],
    device: str,
    limits: SandboxLimits,
    extra_code_paths: Sequence[Path] = (),
    seccomp_fd: int | None = None,
) -> list[str]:
    """The full bubblewrap command line that runs ``argv`` (a command inside the sandbox).

    ``read_only``: ``(host path, sandbox path)`` pairs bound read-only (job files, checkpoint,
    inputs). The one writable folder besides ``/tmp`` is ``/out``, a tmpfs of
    ``limits.max_output_bytes``: the kernel refuses (``ENOSPC``) any write past the cap on all
    outputs together; the child hands a descriptor of it to the parent, which copies the outputs
    out when the run has ended (see :func:`run_in_sandbox`). ``extra_code_paths``: further
    read-only folders bound at their own path (tests use it for a test-only child module).
    ``seccomp_fd``: a descriptor holding the compiled system-call filter
    (:func:`gan_core.syscall_filter.filter_descriptor`), which bubblewrap installs before ``exec``.
    """
    as_root = os.geteuid() == 0
    code_paths = [*python_paths(), Path(__file__).resolve().parent, *[p.resolve() for p in extra_code_paths]]
    targets = [str(p) for p in code_paths] + [target for _host, target in read_only] + [OUTPUT_MOUNT]
    command = [bwrap, *_namespace_arguments(as_root), "--clearenv"]
    if seccomp_fd is not None:
        command += ["--seccomp", str(seccomp_fd)]
    command += _system_arguments()
    command += ["--proc", "/proc", "--dev", "/dev"]
    command += ["--size", str(limits.tmpfs_bytes), "--perms", "1777", "--tmpfs", "/tmp"]
    if device.startswith("cuda"):
        command += _gpu_arguments()
    command += _directories_for(targets)
    for path in code_paths:
        command += ["--ro-bind", str(path), str(path)]
    for host, target in read_only:
        command += ["--ro-bind", str(host), target]
    command += ["--size", str(limits.max_output_bytes), "--perms", "1777", "--tmpfs", OUTPUT_MOUNT]
    command += ["--chdir", "/tmp"]
    for key, value in _child_environment(limits, device).items():
        command += ["--setenv", key, value]
    command += ["--", *argv]
    return command


def _child_environment(limits: SandboxLimits, device: str) -> dict[str, str]:
    environment = {
        "PATH": "/usr/bin:/bin",
        "HOME": "/tmp",
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(code_root()),
        "PYTHONDONTWRITEBYTECODE": "1",
        "OMP_NUM_THREADS": str(limits.threads),
        "MKL_NUM_THREADS": str(limits.threads),
        "OPENBLAS_NUM_THREADS": str(limits.threads),
    }
    if device.startswith("cuda") and "CUDA_VISIBLE_DEVICES" in os.environ:
        environment["CUDA_VISIBLE_DEVICES"] = os.environ["CUDA_VISIBLE_DEVICES"]
    return environment


def _python_argv(module: str, arguments: Sequence[str]) -> list[str]:
    # -P: no script or working folder on sys.path; -s: no user site-packages; -B: no .pyc writes.
    return [sys.executable, "-P", "-s", "-B", "-m", module, *arguments]


def tasks_owned_by(uid: int) -> int:
    """Tasks (processes and threads) whose real uid is ``uid`` on this host, from ``/proc``."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            owner = threads = None
            with open(f"/proc/{entry.name}/status", encoding="ascii", errors="replace") as handle:
                for line in handle:
                    if line.startswith("Uid:"):
                        owner = int(line.split()[1])
                    elif line.startswith("Threads:"):
                        threads = int(line.split()[1])
            if owner == uid and threads:
                total += threads
    return total


def _limits_preexec(
    limits: SandboxLimits, device: str, cgroup: _Cgroup | None, *, task_owner: int | None
) -> Callable[[], None]:
    """The function run in the forked child before ``exec``: join the cgroup, set rlimits.

    ``RLIMIT_NPROC`` counts every task of the child's real uid on the host (``task_owner``: the
    uid the model will run as), so it is set to the tasks that uid already has plus
    ``limits.max_processes``; the cgroup's ``pids.max``, where there is one, is exact.
    """
    procs_files = cgroup.procs_files() if cgroup is not None else []
    use_address_space = cgroup is None and not device.startswith("cuda")
    address_space = limits.memory_bytes + ADDRESS_SPACE_HEADROOM
    cpu = limits.effective_cpu_seconds
    processes = limits.max_processes + (tasks_owned_by(task_owner) if task_owner not in (None, 0) else 0)

    def apply() -> None:
        for procs in procs_files:
            with open(procs, "w") as handle:
                handle.write(str(os.getpid()))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.max_file_bytes, limits.max_file_bytes))
        resource.setrlimit(resource.RLIMIT_NOFILE, (limits.max_open_files, limits.max_open_files))
        resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))
        if use_address_space:
            resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))

    return apply


# --------------------------------------------------------------------------- running a child


def run_in_sandbox(
    *,
    module: str,
    arguments: Sequence[str],
    read_only: Sequence[tuple[Path, str]],
    output_dir: Path,
    limits: SandboxLimits,
    device: str = "cpu",
    isolation: IsolationMode = IsolationMode.BUBBLEWRAP,
    extra_code_paths: Sequence[Path] = (),
    on_event: Callable[[dict[str, Any]], None] | None = None,
) -> ChildOutcome:
    """Run ``python -m module arguments...`` isolated and limited; collect its protocol events.

    The child finds its protocol pipe's file descriptor in ``--protocol-fd`` (appended to
    ``arguments``) and writes one JSON object per line. ``output_dir`` must exist and is the
    only writable folder. Returns when the child has exited; the whole process group and every
    task of the run's cgroup are killed on the wall-clock limit, on an output folder above
    ``limits.max_output_bytes``, or when this call is interrupted.
    """
    bwrap = find_bubblewrap() if isolation is IsolationMode.BUBBLEWRAP else None
    if isolation is IsolationMode.BUBBLEWRAP and bwrap is None:
        raise SandboxError(
            FailureCode.SANDBOX_UNAVAILABLE,
            f"The platform's sandbox is not available on this worker; your submission was not run. "
            f"Operators: run `{_INSTALL_HINT}`.",
        )
    as_root = os.geteuid() == 0
    seccomp_fd: int | None = None
    if isolation is IsolationMode.BUBBLEWRAP:
        try:
            seccomp_fd = syscall_filter.filter_descriptor()
        except syscall_filter.SyscallFilterUnavailable as error:
            raise SandboxError(
                FailureCode.SANDBOX_UNAVAILABLE,
                "The platform's sandbox is not available on this worker; your submission was not run. "
                f"Operators: {error}",
            ) from None
    parent_socket, child_socket = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    write_fd = child_socket.fileno()
    passed_fds = (write_fd,) if seccomp_fd is None else (write_fd, seccomp_fd)
    child_arguments = [*arguments, "--protocol-fd", str(write_fd)]
    child_arguments += ["--harden", "sandboxed" if isolation is IsolationMode.BUBBLEWRAP else "process"]
    if isolation is IsolationMode.BUBBLEWRAP:
        child_arguments += ["--output-mount", OUTPUT_MOUNT]
    if isolation is IsolationMode.BUBBLEWRAP and as_root:
        child_arguments += ["--drop-to", f"{SANDBOX_UID}:{SANDBOX_GID}"]
    argv = _python_argv(module, child_arguments)
    if isolation is IsolationMode.BUBBLEWRAP:
        assert bwrap is not None
        command = sandbox_command(
            seccomp_fd=seccomp_fd,
            bwrap=bwrap,
            argv=argv,
            read_only=read_only,
            device=device,
            limits=limits,
            extra_code_paths=extra_code_paths,
        )
        environment: dict[str, str] = {}
        cwd = "/"
    else:
        command = argv
        environment = _child_environment(limits, device)
        cwd = str(output_dir)
    cgroup = _create_cgroup(limits)
    if isolation is IsolationMode.BUBBLEWRAP:
        task_owner: int | None = SANDBOX_UID if as_root else os.getuid()
    else:
        task_owner = os.getuid()
    log = tempfile.TemporaryFile()
    started = time.monotonic()
    events: list[dict[str, Any]] = []
    stopped_for: str | None = None
    startup = 0.0
    try:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            pass_fds=passed_fds,
            env=environment,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=_limits_preexec(limits, device, cgroup, task_owner=task_owner),  # limits before exec
            close_fds=True,
        )
    except BaseException:
        parent_socket.close()
        child_socket.close()
        log.close()
        if cgroup is not None:
            cgroup.remove()
        raise
    finally:
        if seccomp_fd is not None:
            os.close(seccomp_fd)
    child_socket.close()
    buffer = b""
    next_size_check = started
    mounted_output = isolation is IsolationMode.BUBBLEWRAP
    output_fd: int | None = None
    first_chunk = True
    try:
        with parent_socket as pipe:
            open_pipe = True
            while True:
                now = time.monotonic()
                if now - started > limits.wall_seconds:
                    stopped_for = FailureCode.TIMEOUT.value
                    break
                if not mounted_output and now >= next_size_check:  # the plain-child fallback only
                    next_size_check = now + _SIZE_CHECK_SECONDS
                    if _folder_bytes(output_dir) > limits.max_output_bytes:
                        stopped_for = FailureCode.OUTPUT_TOO_LARGE.value
                        break
                if open_pipe:
                    ready, _, _ = select.select([pipe], [], [], _POLL_SECONDS)
                    if ready:
                        chunk, descriptors = _receive(pipe)
                        for descriptor in descriptors:
                            # only the first message may carry one: the child's trusted start-up
                            # hands over its output mount before any participant code runs
                            if (
                                first_chunk
                                and output_fd is None
                                and mounted_output
                                and _is_output_mount(descriptor, limits)
                            ):
                                output_fd = descriptor
                            else:
                                os.close(descriptor)
                        first_chunk = False
                        if not chunk:
                            open_pipe = False
                        else:
                            buffer += chunk
                            if len(buffer) > 16 * 1024**2:
                                stopped_for = FailureCode.CRASHED.value
                                break
                            *lines, buffer = buffer.split(b"\n")
                            for line in lines:
                                event = _parse_event(line)
                                if event is None:
                                    continue
                                kind = event.get("event")
                                if kind == "ready" and not startup:
                                    startup = time.monotonic() - started
                                if kind in ("ready", "result", "error") and len(events) < 16:
                                    events.append(event)
                                if on_event is not None:
                                    on_event(event)
                elif process.poll() is not None:
                    break
                else:
                    time.sleep(_POLL_SECONDS)
                if not open_pipe and process.poll() is not None:
                    break
    finally:
        _kill_group(process, cgroup)
        returncode = process.wait()
        wall = time.monotonic() - started
        peak = cgroup.peak_memory() if cgroup is not None else 0
        oom = cgroup.oom_killed() if cgroup is not None else False
        if cgroup is not None:
            cgroup.remove()
        output_full = False
        if output_fd is not None:
            try:
                output_full = _output_mount_full(output_fd)
                if not _copy_outputs(output_fd, output_dir):
                    output_full = True
            finally:
                os.close(output_fd)
        log.seek(0, os.SEEK_END)
        size = log.tell()
        log.seek(max(0, size - _LOG_TAIL_BYTES))
        log_tail = log.read().decode("utf-8", "replace")
        log.close()
    result = next((e for e in events if e.get("event") == "result"), None)
    error = next((e for e in events if e.get("event") == "error"), None)
    if stopped_for is None and result is None and _folder_bytes(output_dir) > limits.max_output_bytes:
        stopped_for = FailureCode.OUTPUT_TOO_LARGE.value
    if stopped_for is None and output_full:  # the kernel refused writes past the cap (ENOSPC)
        stopped_for = FailureCode.OUTPUT_TOO_LARGE.value
    return ChildOutcome(
        result=result,
        error=error,
        returncode=returncode,
        stopped_for=stopped_for,
        startup_seconds=startup,
        wall_seconds=wall,
        peak_memory_bytes=peak,
        oom_killed=oom,
        log_tail=log_tail,
        isolation=isolation,
        largest_file_bytes=_largest_file(output_dir),
    )


def _parse_event(line: bytes) -> dict[str, Any] | None:
    with contextlib.suppress(ValueError, UnicodeDecodeError):
        event = json.loads(line.decode("utf-8"))
        if isinstance(event, dict):
            return event
    return None


def _kill_group(process: subprocess.Popen[bytes], cgroup: _Cgroup | None) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    if cgroup is not None:
        cgroup.kill_all()


def _folder_bytes(folder: Path) -> int:
    total = 0
    with contextlib.suppress(OSError):
        with os.scandir(folder) as entries:
            for entry in entries:
                with contextlib.suppress(OSError):
                    total += entry.stat(follow_symlinks=False).st_blocks * 512
    return total


def _largest_file(folder: Path) -> int:
    largest = 0
    with contextlib.suppress(OSError):
        with os.scandir(folder) as entries:
            for entry in entries:
                with contextlib.suppress(OSError):
                    largest = max(largest, entry.stat(follow_symlinks=False).st_size)
    return largest


def _receive(connection: socket.socket) -> tuple[bytes, list[int]]:
    """One read of the protocol socket: its bytes and any descriptors that came with them (close-on-exec)."""
    space = socket.CMSG_SPACE(4 * 4)  # up to four C ints (descriptors) per read
    data, ancillary, _flags, _address = connection.recvmsg(65536, space, socket.MSG_CMSG_CLOEXEC)
    descriptors: list[int] = []
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            usable = len(payload) - len(payload) % 4
            descriptors += [int.from_bytes(payload[i : i + 4], sys.byteorder) for i in range(0, usable, 4)]
    return data, descriptors


def _is_output_mount(descriptor: int, limits: SandboxLimits) -> bool:
    """Whether ``descriptor`` is a directory on a tmpfs no larger than the output cap (the child's ``/out``)."""
    import ctypes

    try:
        if not stat.S_ISDIR(os.fstat(descriptor).st_mode):
            return False
    except OSError:
        return False
    buffer = ctypes.create_string_buffer(120)  # struct statfs; f_type is its first word
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.fstatfs(descriptor, buffer) != 0:
        return False
    f_type = int.from_bytes(buffer.raw[:8], sys.byteorder)
    size = os.fstatvfs(descriptor)
    return f_type == _TMPFS_MAGIC and size.f_blocks * size.f_frsize <= limits.max_output_bytes + size.f_frsize


def _output_mount_full(descriptor: int) -> bool:
    """Whether the output mount has under two pages left: the kernel has refused a write there."""
    size = os.fstatvfs(descriptor)
    return size.f_bavail < 2


def _copy_outputs(descriptor: int, output_dir: Path) -> bool:
    """Copy every regular file of the output mount (``descriptor``) into ``output_dir``, never
    following a link; other entries become empty folders (so re-validation discards the run).
    Returns ``False`` when the mount held more than ``_MAX_OUTPUT_ENTRIES`` entries (not all copied)."""
    count = 0
    for entry in os.scandir(descriptor):
        count += 1
        if count > _MAX_OUTPUT_ENTRIES:
            return False
        name = entry.name
        target = output_dir / name
        info = os.stat(name, dir_fd=descriptor, follow_symlinks=False)
        if not stat.S_ISREG(info.st_mode):
            target.mkdir()
            continue
        source = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=descriptor)
        try:
            if not stat.S_ISREG(os.fstat(source).st_mode):
                target.mkdir()
                continue
            copy = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
            try:
                while True:
                    block = os.read(source, 1 << 20)
                    if not block:
                        break
                    view = memoryview(block)
                    while view:
                        view = view[os.write(copy, view) :]
            finally:
                os.close(copy)
        finally:
            os.close(source)
    return True


# --------------------------------------------------------------------------- generator runs


def run_generator(
    *,
    checkpoint: Path,
    inputs: Sequence[Path] | Path,
    output_dir: Path,
    contract: GeneratorContract,
    limits: SandboxLimits,
    device: str = "cpu",
    batch_size: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    mode: RunMode = RunMode.FULL,
    raw_outputs: RawOutputMode = RawOutputMode.NONE,
    info: CheckpointInfo | None = None,
    allowed_formats: frozenset[CheckpointFormat] | None = None,
    allowed_architectures: frozenset[str] | None = None,
    probe_size: int = 64,
) -> RunResult:
    """Run a participant's generator in the sandbox and return its validated outputs and figures.

    ``checkpoint``: a safetensors or ONNX file (inspected here, header only, unless ``info`` is
    given). ``inputs``: a folder of content images or a list of image files, decoded to float32
    ``(N, 3, H, W)`` in ``contract.value_range``; H and W must be multiples of
    ``contract.size_multiple``. ``output_dir``: created if missing, must be empty; receives
    ``<input stem>.png`` (uint8 RGB, same H x W as the input). ``batch_size`` defaults to
    ``limits.batch_size``; images of different sizes never share a batch. ``on_progress(done,
    total)`` is called as batches complete. ``mode=RunMode.PROBE`` ignores ``inputs`` and runs the
    contract's probe image (``probe_size`` square) only; ``RunMode.VALIDATE_THEN_RUN`` runs the
    probe first and then the inputs, in the same child.

    Raises :class:`SandboxError` (or the ``CheckpointError`` from inspecting the header) with a
    stable code and a participant-safe message.
    """
    from gan_core.checkpoints import CheckpointFormat, inspect_checkpoint

    if info is None:
        info = inspect_checkpoint(
            checkpoint,
            allowed_formats=allowed_formats if allowed_formats is not None else frozenset(CheckpointFormat),
            allowed_architectures=allowed_architectures,
            value_range=contract.value_range,
        )
    isolation = isolation_mode()
    if isolation is IsolationMode.PROCESS and info.format is not CheckpointFormat.SAFETENSORS:
        raise SandboxError(
            FailureCode.SANDBOX_UNAVAILABLE,
            "This worker cannot run ONNX models safely right now (its sandbox, bubblewrap, is missing), so your "
            "submission was not run; this does not count against your quota. Safetensors checkpoints of the "
            f"reference architectures still run. Operators: run `{_INSTALL_HINT}`.",
        )
    input_paths = [] if mode is RunMode.PROBE else _input_list(inputs)
    names = _output_names(input_paths)
    sizes = [_image_size(path) for path in input_paths]
    for (height, width), path in zip(sizes, input_paths, strict=True):
        if height % contract.size_multiple or width % contract.size_multiple:
            raise ValueError(
                f"{path}: {height}x{width} (H x W) is not a multiple of {contract.size_multiple} as the contract "
                "requires; resize or crop the content images before running generators on them."
            )
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    if any(output_dir.iterdir()):
        raise ValueError(f"{output_dir} is not empty; give each run a new, empty output folder.")
    with _job_folder() as job_dir:
        read_only, job = _job_files(
            job_dir=job_dir,
            output_dir=output_dir,
            checkpoint=Path(checkpoint),
            info=info,
            input_paths=input_paths,
            names=names,
            contract=contract,
            limits=limits,
            device=device,
            batch_size=batch_size or limits.batch_size,
            mode=mode,
            raw_outputs=raw_outputs,
            probe_size=probe_size,
            isolation=isolation,
        )

        def forward_progress(event: dict[str, Any]) -> None:
            if on_progress is not None and event.get("event") == "progress":
                on_progress(int(event.get("done", 0)), int(event.get("total", 0)))

        outcome = run_in_sandbox(
            module=RUNNER_MODULE,
            arguments=["--job", job],
            read_only=read_only,
            output_dir=output_dir,
            limits=limits,
            device=device,
            isolation=isolation,
            on_event=forward_progress,
        )
    result = outcome_result(outcome, limits=limits)
    outputs, raws = _validated_outputs(
        output_dir, names=names, sizes=sizes, raw_outputs=raw_outputs, limits=limits, log_tail=outcome.log_tail
    )
    peak = max(outcome.peak_memory_bytes, int(result.get("peak_rss_bytes", 0)))
    resolution = result.get("resolution") or [probe_size, probe_size]
    return RunResult(
        outputs=tuple(outputs),
        raw_outputs=tuple(raws),
        parameter_count=info.parameter_count,  # from the header, inspected by trusted code
        seconds_per_image=float(result.get("seconds_per_image", 0.0)),
        resolution=(int(resolution[0]), int(resolution[1])),
        peak_memory_bytes=peak,
        peak_gpu_memory_bytes=int(result.get("peak_gpu_bytes", 0)),
        clamped_values=int(result.get("clamped_values", 0)),
        images_done=int(result.get("images_done", 0)),
        images_total=int(result.get("images_total", 0)),
        isolation=outcome.isolation,
        device=device,
        startup_seconds=outcome.startup_seconds,
        wall_seconds=outcome.wall_seconds,
        log_tail=outcome.log_tail,
        probe_seconds_per_image=result.get("probe_seconds_per_image"),
    )


def outcome_result(outcome: ChildOutcome, *, limits: SandboxLimits) -> dict[str, Any]:
    """The child's ``result`` event, or the :class:`SandboxError` that explains why there is none.

    Order: an error the child reported (its code and message: checkpoint, contract, memory);
    then the parent's own stop (wall clock, output size); then how the child died (OOM kill,
    ``SIGXCPU``, ``SIGXFSZ``, any other signal or exit code: ``crashed``).
    """
    gib = limits.memory_bytes / 1024**3
    if outcome.error is not None:
        code = str(outcome.error.get("code") or FailureCode.CRASHED.value)
        try:
            FailureCode(code)
        except ValueError:
            code = FailureCode.CRASHED.value
        message = str(outcome.error.get("message") or "Your generator failed.")
        raise SandboxError(code, message, log_tail=outcome.log_tail)
    if outcome.stopped_for == FailureCode.TIMEOUT.value:
        raise SandboxError(
            FailureCode.TIMEOUT,
            f"Your generator did not finish within the time limit of {limits.wall_seconds:g} s and was stopped. "
            "Make it faster (fewer or narrower layers) or check that it does not loop forever.",
            log_tail=outcome.log_tail,
        )
    if outcome.stopped_for == FailureCode.OUTPUT_TOO_LARGE.value:
        raise SandboxError(
            FailureCode.OUTPUT_TOO_LARGE,
            f"The run wrote more than {limits.max_output_bytes / 1024**2:g} MiB of outputs and was stopped. "
            "A generator must return one image per input, of the input's size.",
            log_tail=outcome.log_tail,
        )
    if outcome.result is not None and outcome.returncode == 0:
        return outcome.result
    returncode = outcome.returncode or 0
    signal_number = -returncode if returncode < 0 else (returncode - 128 if returncode > 128 else 0)
    near_limit = outcome.peak_memory_bytes >= 0.95 * limits.memory_bytes
    if outcome.oom_killed or (signal_number == signal.SIGKILL and near_limit):
        raise SandboxError(
            FailureCode.OUT_OF_MEMORY,
            f"Your generator used more than the memory limit of {gib:g} GiB and was stopped. Reduce its memory "
            "use (fewer or narrower layers, no huge intermediate tensors) and upload again.",
            log_tail=outcome.log_tail,
        )
    if signal_number == signal.SIGXCPU:
        raise SandboxError(
            FailureCode.TIMEOUT,
            f"Your generator used more than its CPU time limit ({limits.effective_cpu_seconds} s) and was stopped. "
            "Make it faster or check that it does not loop forever.",
            log_tail=outcome.log_tail,
        )
    if signal_number == signal.SIGXFSZ or outcome.largest_file_bytes >= limits.max_file_bytes:
        raise SandboxError(
            FailureCode.OUTPUT_TOO_LARGE,
            f"The run tried to write a file larger than {limits.max_file_bytes / 1024**2:g} MiB and was stopped.",
            log_tail=outcome.log_tail,
        )
    raise SandboxError(
        FailureCode.CRASHED,
        "Your generator crashed while running"
        + (f" (signal {signal.Signals(signal_number).name})" if _is_signal(signal_number) else "")
        + ". Run `python -m gan_core check YOUR_FILE` locally to reproduce it; if it passes there, contact the "
        "organisers.",
        log_tail=outcome.log_tail,
    )


def _is_signal(number: int) -> bool:
    try:
        signal.Signals(number)
    except ValueError:
        return False
    return number > 0


@contextlib.contextmanager
def _job_folder() -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="atelier-job-"))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _job_files(
    *,
    job_dir: Path,
    output_dir: Path,
    checkpoint: Path,
    info: CheckpointInfo,
    input_paths: Sequence[Path],
    names: Sequence[str],
    contract: GeneratorContract,
    limits: SandboxLimits,
    device: str,
    batch_size: int,
    mode: RunMode,
    raw_outputs: RawOutputMode,
    probe_size: int,
    isolation: IsolationMode,
) -> tuple[list[tuple[Path, str]], str]:
    """Write ``job.json`` (and readable copies where the unprivileged uid could not read a file);
    return the read-only binds and the job file's path as the child sees it."""
    dropping = isolation is IsolationMode.BUBBLEWRAP and os.geteuid() == 0
    os.chmod(job_dir, 0o755)
    inside = isolation is IsolationMode.BUBBLEWRAP

    def readable(path: Path, copy_name: str) -> Path:
        if dropping and not _world_readable(path):
            copy = job_dir / copy_name
            shutil.copyfile(path, copy)
            os.chmod(copy, 0o644)
            return copy
        return path.resolve()

    checkpoint_host = readable(checkpoint, "checkpoint")
    read_only: list[tuple[Path, str]] = [(checkpoint_host, f"{JOB_MOUNT}/checkpoint")]
    input_entries = []
    for index, (path, name) in enumerate(zip(input_paths, names, strict=True)):
        host = readable(path, f"input-{index:06d}{path.suffix}")
        target = f"{INPUT_MOUNT}/{index:06d}{path.suffix.lower()}"
        read_only.append((host, target))
        input_entries.append({"path": target if inside else str(host), "name": name})
    job = {
        "checkpoint": f"{JOB_MOUNT}/checkpoint" if inside else str(checkpoint_host),
        "format": info.format.value,
        "config": info.config,
        "parameter_count": info.parameter_count,
        "inputs": input_entries,
        "output_dir": OUTPUT_MOUNT if inside else str(output_dir.resolve()),
        "value_range": contract.value_range.value,
        "size_multiple": contract.size_multiple,
        "max_seconds_per_image": contract.max_seconds_per_image,
        "device": device,
        "batch_size": batch_size,
        "threads": limits.threads,
        "memory_bytes": limits.memory_bytes,
        "address_space_mode": "tighten" if not device.startswith("cuda") else "none",
        "gpu_memory_fraction": limits.gpu_memory_fraction,
        "mode": mode.value,
        "raw_outputs": raw_outputs.value,
        "probe_size": probe_size,
    }
    job_file = job_dir / "job.json"
    job_file.write_text(json.dumps(job))
    os.chmod(job_file, 0o644)
    read_only.append((job_file, f"{JOB_MOUNT}/job.json"))
    if not inside:
        return read_only, str(job_file)
    return read_only, f"{JOB_MOUNT}/job.json"


def _world_readable(path: Path) -> bool:
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return bool(mode & stat.S_IROTH)


def _input_list(inputs: Sequence[Path] | Path) -> list[Path]:
    if isinstance(inputs, (str, Path)):
        from gan_core.images import list_images

        return list_images(Path(inputs))
    paths = [Path(p) for p in inputs]
    if not paths:
        raise ValueError("No input images were given; pass a folder of images or a non-empty list of files.")
    return paths


def _output_names(paths: Sequence[Path]) -> list[str]:
    names = [f"{path.stem}.png" for path in paths]
    seen: set[str] = set()
    for name, path in zip(names, paths, strict=True):
        if name in seen:
            raise ValueError(f"{path}: another input has the same name stem, so their outputs would collide.")
        if name.startswith(".") or "/" in name:
            raise ValueError(f"{path}: its name cannot be used for an output file; rename it.")
        seen.add(name)
    return names


def _image_size(path: Path) -> tuple[int, int]:
    """``(H, W)`` of an image from its header, after EXIF orientation."""
    from PIL import Image

    with Image.open(path) as image:
        width, height = image.size
        orientation = image.getexif().get(0x0112, 1)
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return height, width


def _validated_outputs(
    output_dir: Path,
    *,
    names: Sequence[str],
    sizes: Sequence[tuple[int, int]],
    raw_outputs: RawOutputMode,
    limits: SandboxLimits,
    log_tail: str,
) -> tuple[list[Path], list[Path]]:
    """Trusted re-validation: exactly the expected regular files, total size under the cap, each PNG
    decodable as 8-bit RGB of its input's size (and each ``.npy`` float32 ``(3, H, W)``)."""
    import numpy as np
    from PIL import Image

    expected = set(names)
    if raw_outputs is RawOutputMode.NUMPY:
        expected |= {name[: -len(".png")] + ".npy" for name in names}
    present = {}
    total = 0
    for entry in os.scandir(output_dir):
        info = entry.stat(follow_symlinks=False)
        if not stat.S_ISREG(info.st_mode) or entry.name not in expected:
            raise SandboxError(
                FailureCode.CRASHED,
                "The run left unexpected files in its output folder; its outputs were discarded.",
                log_tail=log_tail,
            )
        present[entry.name] = info.st_size
        total += info.st_size
    if total > limits.max_output_bytes:
        raise SandboxError(
            FailureCode.OUTPUT_TOO_LARGE,
            f"The outputs take {total / 1024**2:.1f} MiB, above the limit of {limits.max_output_bytes / 1024**2:g} MiB.",
            log_tail=log_tail,
        )
    missing = sorted(expected - set(present))
    if missing:
        raise SandboxError(
            FailureCode.CRASHED,
            f"The run ended without writing {len(missing)} of its outputs; it was discarded.",
            log_tail=log_tail,
        )
    outputs: list[Path] = []
    raws: list[Path] = []
    for name, (height, width) in zip(names, sizes, strict=True):
        path = output_dir / name
        try:
            with Image.open(path) as image:
                image.load()
                ok = image.format == "PNG" and image.mode == "RGB" and image.size == (width, height)
        except Exception:  # any decoder failure: not a valid output
            ok = False
        if not ok:
            raise SandboxError(
                FailureCode.CRASHED,
                f"An output image was not an 8-bit RGB PNG of {height}x{width}; the run was discarded.",
                log_tail=log_tail,
            )
        outputs.append(path)
        if raw_outputs is RawOutputMode.NUMPY:
            raw = output_dir / (name[: -len(".png")] + ".npy")
            array = np.load(raw, allow_pickle=False, mmap_mode="r")
            if array.dtype != np.float32 or array.shape != (3, height, width):
                raise SandboxError(FailureCode.CRASHED, "A raw output had the wrong shape or dtype.", log_tail=log_tail)
            raws.append(raw)
    return outputs, raws


def validate_checkpoint(
    checkpoint: Path,
    *,
    contract: GeneratorContract,
    limits: SandboxLimits,
    device: str = "cpu",
    allowed_formats: frozenset[CheckpointFormat] | None = None,
    allowed_architectures: frozenset[str] | None = None,
    max_bytes: int | None = None,
    config: Mapping[str, Any] | None = None,
    probe_size: int = 64,
) -> ValidationReport:
    """The platform's validation: inspect the header here (safe, allocates nothing large), then run
    the contract's probe image in the sandbox. ``config``: a sidecar generator config for
    safetensors (replaces the one in the file's metadata). Never raises for a bad checkpoint: returns
    ``ValidationReport(ok=False, code=..., message=...)``."""
    from gan_core.checkpoints import CheckpointFormat, inspect_checkpoint

    try:
        info = inspect_checkpoint(
            checkpoint,
            allowed_formats=allowed_formats if allowed_formats is not None else frozenset(CheckpointFormat),
            allowed_architectures=allowed_architectures,
            max_bytes=max_bytes,
            config=config,
            value_range=contract.value_range,
        )
    except GeneratorFailure as failure:
        return ValidationReport(ok=False, code=failure.code, message=failure.message)
    with tempfile.TemporaryDirectory(prefix="atelier-probe-") as scratch:
        try:
            run = run_generator(
                checkpoint=checkpoint,
                inputs=[],
                output_dir=Path(scratch) / "out",
                contract=contract,
                limits=limits,
                device=device,
                mode=RunMode.PROBE,
                info=info,
                probe_size=probe_size,
            )
        except GeneratorFailure as failure:
            return ValidationReport(ok=False, code=failure.code, message=failure.message, info=info)
    return ValidationReport(ok=True, info=info, run=run)
