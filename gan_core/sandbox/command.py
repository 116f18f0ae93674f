"""Isolation discovery and the bubblewrap command line.

Whether bubblewrap works here (and the policy when it does not), then the namespaces, the read-only
binds, the tmpfs mounts and the cleared environment of the command that starts the child.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import site
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from gan_core import syscall_filter
from gan_core.failures import FailureCode
from gan_core.sandbox.limits import SandboxLimits
from gan_core.sandbox.records import (
    _INSTALL_HINT,
    BWRAP_ENVIRONMENT_VARIABLE,
    OUTPUT_MOUNT,
    SANDBOX_ENVIRONMENT_VARIABLE,
    SANDBOX_GID,
    SANDBOX_UID,
    IsolationMode,
    SandboxError,
    SandboxPolicy,
)

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


#: How long a failed check is believed before bubblewrap is tried again. A check can fail for a moment
#: (its 20 s timeout on a loaded machine): remembered for the life of a worker, it would run every later
#: generator without bubblewrap (``auto``) or refuse them all (``required``).
RECHECK_FAILED_SECONDS = 60.0


class _BubblewrapCheck:
    """Whether a bubblewrap executable works here: a success is remembered for good, a failure for
    :data:`RECHECK_FAILED_SECONDS` only."""

    def __init__(self) -> None:
        self._works: set[tuple[str, bool]] = set()
        self._failed_at: dict[tuple[str, bool], float] = {}

    def __call__(self, executable: str, as_root: bool) -> bool:
        key = (executable, as_root)
        if key in self._works:
            return True
        failed_at = self._failed_at.get(key)
        if failed_at is not None and time.monotonic() - failed_at < RECHECK_FAILED_SECONDS:
            return False
        command = [executable, *_namespace_arguments(as_root), "--ro-bind", "/", "/", "--proc", "/proc", "true"]
        try:
            works = subprocess.run(command, capture_output=True, timeout=20, check=False).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            works = False
        if works:
            self._works.add(key)
            self._failed_at.pop(key, None)
        else:
            self._failed_at[key] = time.monotonic()
        return works

    def cache_clear(self) -> None:
        self._works.clear()
        self._failed_at.clear()


_bubblewrap_works = _BubblewrapCheck()


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
    return Path(__file__).resolve().parent.parent.parent


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
    code_paths = [*python_paths(), Path(__file__).resolve().parent.parent, *[p.resolve() for p in extra_code_paths]]
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
