"""Running one child: start it isolated and limited, read its protocol events, stop and clean up."""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from gan_core import syscall_filter
from gan_core.failures import FailureCode
from gan_core.sandbox.cgroups import _Cgroup, _create_cgroup
from gan_core.sandbox.command import _child_environment, _python_argv, find_bubblewrap, sandbox_command
from gan_core.sandbox.limits import SandboxLimits, _limits_preexec
from gan_core.sandbox.outputs import _copy_outputs, _is_output_mount, _output_mount_full
from gan_core.sandbox.records import (
    _INSTALL_HINT,
    OUTPUT_MOUNT,
    SANDBOX_GID,
    SANDBOX_UID,
    ChildOutcome,
    IsolationMode,
    SandboxError,
)

_LOG_TAIL_BYTES = 8192
_POLL_SECONDS = 0.2
_SIZE_CHECK_SECONDS = 0.5


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
    if stopped_for is None and result is None and _folder_bytes(output_dir) >= limits.max_output_bytes:
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


def _file_stats(folder: Path) -> list[os.stat_result]:
    """The ``lstat`` of each entry of ``folder`` (not recursive); entries that vanish or cannot be read are left out."""
    stats = []
    with contextlib.suppress(OSError):
        with os.scandir(folder) as entries:
            for entry in entries:
                with contextlib.suppress(OSError):
                    stats.append(entry.stat(follow_symlinks=False))
    return stats


def _folder_bytes(folder: Path) -> int:
    """Bytes the entries of ``folder`` take on disk (allocated blocks, so sparse files count what they hold)."""
    return sum(stat.st_blocks * 512 for stat in _file_stats(folder))


def _largest_file(folder: Path) -> int:
    """The apparent size of the largest entry of ``folder``; 0 when it is empty or unreadable."""
    return max((stat.st_size for stat in _file_stats(folder)), default=0)


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
