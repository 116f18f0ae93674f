"""Worker "hosts" for tests: processes that share no disk with the web process.

Where the machine allows it (root, ``ip netns``, PostgreSQL and Redis, which a network reaches), a
host is a network namespace of its own joined to this one by a veth pair: inside it 127.0.0.1 is the
host's own loopback, and the database, Redis and the S3 server are reached at this side's address of
the pair, where :class:`Relay` forwards each port to the real server on 127.0.0.1 (nothing listens
on another interface). The host also gets a mount namespace in which the web's ``var/`` folder is
an empty tmpfs, so it cannot read the web's files even by path.

Elsewhere (not root, no ``ip``, SQLite or the filesystem broker) a host is a process with its own
``ATELIER_VAR_DIR``, worker cache and temporary folder; it shares the database (the SQLite file) and
the broker folder, the only disk the two sides have in common then.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit


def netns_unavailable_reason(*, database_vendor: str, redis_url: str) -> str | None:
    """Why hosts cannot be network namespaces here (None when they can)."""
    if os.geteuid() != 0:
        return "not root (ip netns needs CAP_SYS_ADMIN and CAP_NET_ADMIN)"
    for tool in ("ip", "unshare", "mount"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if database_vendor != "postgresql":
        return f"the database is {database_vendor}, a file: a host in another network cannot reach it"
    if not redis_url:
        return "no REDIS_URL: the filesystem broker is a folder, not a network service"
    probe = f"atp-{uuid.uuid4().hex[:8]}"
    result = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if result.returncode != 0:
        return f"ip netns add failed: {result.stderr.strip()}"
    subprocess.run(["ip", "netns", "delete", probe], capture_output=True)
    return None


class Relay:
    """TCP forwarding from ``listen_host:port`` to ``127.0.0.1:port`` for each port, in daemon threads."""

    def __init__(self, listen_host: str, ports: list[int]) -> None:
        self.listen_host = listen_host
        self.sockets: list[socket.socket] = []
        self.connections = 0
        self._stopped = threading.Event()
        for port in ports:
            server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            server.bind((listen_host, port))
            server.listen(64)
            self.sockets.append(server)
            threading.Thread(target=self._accept, args=(server, port), daemon=True, name=f"relay-{port}").start()

    def _accept(self, server: socket.socket, port: int) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", port), timeout=10)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            self.connections += 1
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, target), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                target.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._stopped.set()
        for server in self.sockets:
            with contextlib.suppress(OSError):
                server.close()


def url_via(url: str, host: str) -> str:
    """``url`` with its host replaced by ``host`` (the port, credentials and path kept)."""
    parts = urlsplit(url)
    credentials = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    return urlunsplit((parts.scheme, f"{credentials}{host}:{parts.port}", parts.path, parts.query, parts.fragment))


@dataclass
class Host:
    """One worker host: its folders, and in a network namespace its name and this side's address."""

    name: str
    root: Path
    namespace: str | None = None
    gateway: str | None = None  # this side's address of the veth pair, where the relay listens
    address: str | None = None  # the host's address
    hidden: list[Path] = field(default_factory=list)  # folders the host sees as empty

    @property
    def var_dir(self) -> Path:
        return self.root / "var"

    @property
    def cache_dir(self) -> Path:
        return self.root / "cache"

    @property
    def tmp_dir(self) -> Path:
        return self.root / "tmp"

    def environment(self) -> dict[str, str]:
        return {
            "ATELIER_VAR_DIR": str(self.var_dir),
            "ATELIER_WORKER_CACHE_DIR": str(self.cache_dir),
            "TMPDIR": str(self.tmp_dir),
        }

    def command_prefix(self) -> list[str]:
        """What runs a command on this host: in its namespaces, with the hidden folders covered."""
        if self.namespace is None:
            return []
        mounts = " && ".join(f'mount -t tmpfs -o size=1m,mode=0755 tmpfs "{path}"' for path in self.hidden)
        script = f'{mounts} && exec "$@"' if mounts else 'exec "$@"'
        return ["ip", "netns", "exec", self.namespace, "unshare", "--mount", "--propagation", "private", "--"] + [
            "sh",
            "-c",
            script,
            "sh",
        ]

    def run(self, command: list[str], **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(self.command_prefix() + command, capture_output=True, text=True, timeout=60, **kwargs)


@contextlib.contextmanager
def hosts(
    root: Path, names: list[str], *, isolated: bool, hidden: list[Path], ports: list[int]
) -> Iterator[list[Host]]:
    """Hosts named ``names`` under ``root``: network namespaces joined by veth pairs when ``isolated``
    (the relays forward ``ports``), else plain folders."""
    made: list[Host] = []
    relays: list[Relay] = []
    links: list[str] = []
    try:
        for name in names:
            host = Host(name=name, root=root / name)
            for folder in (host.var_dir, host.cache_dir, host.tmp_dir):
                folder.mkdir(parents=True, exist_ok=True)
            if isolated:
                tag = uuid.uuid4().hex[:8]
                subnet = random.randrange(16384)
                base = f"10.213.{subnet >> 6}.{(subnet & 63) << 2}"
                prefix = base.rsplit(".", 1)[0]
                last = int(base.rsplit(".", 1)[1])
                host.namespace = f"atelier-{name}-{tag}"
                host.gateway, host.address = f"{prefix}.{last + 1}", f"{prefix}.{last + 2}"
                host.hidden = list(hidden)
                outside, inside = f"at{tag}o", f"at{tag}i"
                commands = [
                    ["ip", "netns", "add", host.namespace],
                    ["ip", "link", "add", outside, "type", "veth", "peer", "name", inside],
                    ["ip", "link", "set", inside, "netns", host.namespace],
                    ["ip", "addr", "add", f"{host.gateway}/30", "dev", outside],
                    ["ip", "link", "set", outside, "up"],
                    ["ip", "-n", host.namespace, "addr", "add", f"{host.address}/30", "dev", inside],
                    ["ip", "-n", host.namespace, "link", "set", inside, "up"],
                    ["ip", "-n", host.namespace, "link", "set", "lo", "up"],
                ]
                made.append(host)
                for command in commands:
                    subprocess.run(command, check=True, capture_output=True)
                    if command[1:3] == ["link", "add"]:
                        links.append(outside)
                relays.append(Relay(host.gateway, ports))
            else:
                made.append(host)
        yield made
    finally:
        for relay in relays:
            relay.close()
        for link in links:
            subprocess.run(["ip", "link", "delete", link], capture_output=True)
        for host in made:
            if host.namespace:
                subprocess.run(["ip", "netns", "delete", host.namespace], capture_output=True)
