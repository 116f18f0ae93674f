"""A test-only child that misbehaves on purpose: ``python -m tests.gan_core.hostile_child BEHAVIOUR ...``.

Started by the tests through :func:`gan_core.sandbox.run_in_sandbox`, i.e. the same bubblewrap
command, limits and protocol as the generator runner, so what is tested is the isolation
itself. Behaviours ONNX graphs cannot express (network, file reads, identity, process count)
live here; it reports what it could do in its ``result`` event.
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from gan_core.runner_child import ProtocolChannel, drop_privileges


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
            if key in ("Uid", "Gid", "CapEff", "CapPrm", "NoNewPrivs"):
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
        "behaviour", choices=["identity", "network", "read", "write-huge", "allocate", "sleep", "threads"]
    )
    parser.add_argument("--ports", type=int, nargs="*", default=[])
    parser.add_argument("--paths", nargs="*", default=[])
    parser.add_argument("--bytes", type=int, default=0)
    parser.add_argument("--protocol-fd", type=int, required=True)
    parser.add_argument("--drop-to", default=None)
    arguments = parser.parse_args(argv)
    channel = ProtocolChannel.from_fd(arguments.protocol_fd)
    if arguments.drop_to:
        uid, _, gid = arguments.drop_to.partition(":")
        drop_privileges(int(uid), int(gid))
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
    elif behaviour == "threads":
        channel.send("result", started=_spawn_threads(arguments.bytes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
