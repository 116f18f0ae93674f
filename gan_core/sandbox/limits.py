"""The resource limits of a sandboxed run and the ``preexec`` function that applies them.

:class:`SandboxLimits` describes them; :func:`_limits_preexec` joins the run's cgroup and sets the
rlimits in the forked child before ``exec``, so bubblewrap and the model inherit them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import resource
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gan_core.sandbox.cgroups import _Cgroup


#: Address space allowed on top of the memory limit before the child has imported its libraries
#: (the CPU-only fallback when no cgroup can be written; the child then tightens it, see runner_child).
ADDRESS_SPACE_HEADROOM = 6 * 1024**3


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
