"""Per-run cgroups (v2, or v1 ``memory`` and ``pids``): memory and task limits, peak memory, OOM kills."""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import os
import signal
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

from gan_core.sandbox.limits import SandboxLimits


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
    if not _make_cgroup(
        directory,
        required={"memory.max": str(limits.memory_bytes)},
        optional={"memory.swap.max": "0", "pids.max": str(limits.max_processes)},
    ):
        return None
    return _Cgroup(version=2, memory_dir=directory, pids_dir=directory)


def _create_cgroup_v1(name: str, own: Mapping[str, str], limits: SandboxLimits) -> _Cgroup | None:
    memory_parent = _CGROUP_ROOT / "memory" / own.get("memory", "/").lstrip("/")
    if not (memory_parent / "memory.limit_in_bytes").exists():
        return None
    memory_dir = memory_parent / name
    memory = str(limits.memory_bytes)
    if not _make_cgroup(
        memory_dir, required={"memory.limit_in_bytes": memory}, optional={"memory.memsw.limit_in_bytes": memory}
    ):
        return None
    pids_dir = _CGROUP_ROOT / "pids" / own.get("pids", "/").lstrip("/") / name
    pids_made = _make_cgroup(pids_dir, required={"pids.max": str(limits.max_processes)})
    return _Cgroup(version=1, memory_dir=memory_dir, pids_dir=pids_dir if pids_made else None)


def _make_cgroup(directory: Path, *, required: Mapping[str, str], optional: Mapping[str, str] | None = None) -> bool:
    """Create the cgroup ``directory`` and write its control files: each of ``required`` (else the
    directory is removed again and the answer is False), then each of ``optional`` where the
    kernel offers it (swap accounting, for one, is often off)."""
    try:
        directory.mkdir()
        for control, value in required.items():
            (directory / control).write_text(value)
    except OSError:
        with contextlib.suppress(OSError):
            directory.rmdir()
        return False
    for control, value in (optional or {}).items():
        with contextlib.suppress(OSError):
            (directory / control).write_text(value)
    return True


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
