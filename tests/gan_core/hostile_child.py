"""A test-only child that misbehaves on purpose: ``python -m tests.gan_core.hostile_child BEHAVIOUR ...``.

Started by the tests through :func:`gan_core.sandbox.run_in_sandbox`, i.e. the same bubblewrap
command, limits and protocol as the generator runner, so what is tested is the isolation
itself. Behaviours ONNX graphs cannot express (network, file reads, identity, process count)
live here; it reports what it could do in its ``result`` event.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import resource
import socket
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from gan_core.runner_child import ProtocolChannel, add_hardening_arguments, harden_from_arguments


def _connect(port: int) -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as connection:
        connection.settimeout(2)
        try:
            connection.connect(("127.0.0.1", port))
        except OSError as error:
            return f"refused: {type(error).__name__} errno={error.errno}"
        return "connected"


def _read(path: str) -> str:
    try:
        if os.path.isdir(path):
            return f"listed: {sorted(os.listdir(path))[:5]}"
        with open(path, "rb") as handle:
            handle.read(16)
        return "read"
    except OSError as error:
        return f"denied: {type(error).__name__}"


def _identity() -> dict[str, Any]:
    status = {}
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            key, _, value = line.partition(":")
            if key in ("Uid", "Gid", "CapEff", "CapPrm", "CapInh", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp"):
                status[key] = value.split()
    try:
        os.setuid(0)
        regained = True
    except PermissionError:
        regained = False
    limits = {
        name: list(resource.getrlimit(getattr(resource, f"RLIMIT_{name}")))
        for name in ("CORE", "CPU", "FSIZE", "NOFILE", "NPROC", "AS")
    }
    return {
        "status": status,
        "rlimits": limits,
        "cwd": os.getcwd(),
        "environment": sorted(os.environ),
        "pids_visible": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
        "root_entries": sorted(os.listdir("/")),
        "regained_root": regained,
    }


def _syscalls(calls: list[dict[str, Any]]) -> dict[str, Any]:
    """Call each ``{"name", "number", "args"}`` with ``syscall(2)``; answer ``"ok"`` or the errno's name.

    A call that unexpectedly creates a process (``clone``) ends that process at once."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    answers: dict[str, Any] = {}
    for call in calls:
        ctypes.set_errno(0)
        result = libc.syscall(ctypes.c_long(call["number"]), *(ctypes.c_long(a) for a in call["args"]))
        code = ctypes.get_errno()
        if call["name"] == "clone" and result == 0:
            os._exit(0)
        if call["name"] == "clone" and result > 0:
            os.waitpid(result, 0)
        answers[call["name"]] = "ok" if result >= 0 else errno_name(code)
    return answers


def errno_name(code: int) -> str:
    import errno

    return errno.errorcode.get(code, str(code))


def _allowed_calls() -> dict[str, str]:
    """What a generator needs still works under the filter: fork, threads, files, personality queries."""
    answers = {}
    pid = os.fork()
    if pid == 0:
        os._exit(7)
    answers["fork"] = f"exit {os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])}"
    answers["threads"] = str(_spawn_threads(4))
    with open("/tmp/probe.txt", "w") as handle:
        answers["write"] = str(handle.write("probe"))
    return answers


def _spawn_threads(limit: int) -> int:
    started = 0
    stop = threading.Event()
    try:
        for _ in range(limit):
            threading.Thread(target=stop.wait, daemon=True).start()
            started += 1
    except RuntimeError:
        pass
    stop.set()
    return started


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "behaviour",
        choices=[
            "identity",
            "network",
            "read",
            "write-huge",
            "fill-output",
            "allocate",
            "sleep",
            "threads",
            "syscalls",
        ],
    )
    parser.add_argument("--calls", default="[]", help="JSON list of {name, number, args} for 'syscalls'")
    parser.add_argument("--ports", type=int, nargs="*", default=[])
    parser.add_argument("--paths", nargs="*", default=[])
    parser.add_argument("--bytes", type=int, default=0)
    parser.add_argument("--protocol-fd", type=int, required=True)
    add_hardening_arguments(parser)
    arguments = parser.parse_args(argv)
    channel = ProtocolChannel.from_fd(arguments.protocol_fd)
    harden_from_arguments(arguments)
    channel.send("ready")
    behaviour = arguments.behaviour
    if behaviour == "identity":
        channel.send("result", **_identity())
    elif behaviour == "network":
        channel.send("result", ports={str(port): _connect(port) for port in arguments.ports})
    elif behaviour == "read":
        channel.send("result", paths={path: _read(path) for path in arguments.paths})
    elif behaviour == "write-huge":
        block = b"\0" * (1 << 20)
        with open("/out/huge.bin", "wb") as handle:
            for _ in range(arguments.bytes >> 20):
                handle.write(block)
                handle.flush()
        channel.send("result", wrote=arguments.bytes)
    elif behaviour == "allocate":
        chunks = []
        for _ in range(arguments.bytes >> 24):
            chunks.append(b"\x01" * (1 << 24))  # filled, so every page is touched
        channel.send("result", allocated=sum(len(c) for c in chunks))
    elif behaviour == "sleep":
        while True:
            time.sleep(1)
    elif behaviour == "syscalls":
        channel.send("result", denied=_syscalls(json.loads(arguments.calls)), allowed=_allowed_calls())
    elif behaviour == "fill-output":
        written = 0
        block = b"\1" * (1 << 20)
        for index in range(arguments.bytes >> 20):
            try:
                with open(f"/out/fill-{index:05d}.bin", "wb") as handle:
                    handle.write(block)
            except OSError as error:
                channel.send("result", wrote=written, stopped=errno_name(error.errno or 0))
                break
            written += len(block)
        else:
            channel.send("result", wrote=written, stopped=None)
    elif behaviour == "threads":
        channel.send("result", started=_spawn_threads(arguments.bytes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
