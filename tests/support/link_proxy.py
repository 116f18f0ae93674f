"""A loopback TCP proxy that plays a bad link: a bandwidth limit on what clients send, and a cut
(every open connection closed) once a given number of bytes went up. Used by the upload tests and
``benchmarks/bench_uploads.py``.

``with LinkProxy(("127.0.0.1", 8000), rate=5e6) as proxy: ... proxy.url ...``; ``proxy.cut_after(n)``
arms a cut after ``n`` more bytes; ``proxy.sent`` counts the bytes that went up. It stops with the
``with`` block (threads are daemons, so it never outlives the process).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

PIECE = 64 * 1024


class LinkProxy:
    def __init__(self, target: tuple[str, int], *, rate: float | None = None) -> None:
        self.target = target
        self.rate = rate
        self.sent = 0
        self.cuts = 0
        self._cut_at: int | None = None
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._stopped = threading.Event()

    def __enter__(self) -> LinkProxy:
        threading.Thread(target=self._accept, daemon=True, name="link-proxy").start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopped.set()
        self._listener.close()
        self._close_all()

    def cut_after(self, count: int) -> None:
        """Close every connection once ``count`` more bytes went up."""
        with self._lock:
            self._cut_at = self.sent + count

    def _close_all(self) -> None:
        with self._lock:
            connections, self._connections = list(self._connections), set()
        for sock in connections:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._connections.update((client, server))
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, destination: socket.socket, upstream: bool) -> None:
        started = time.monotonic()
        moved = 0
        try:
            while True:
                data = source.recv(PIECE if not (upstream and self.rate) else max(1024, int(self.rate / 50)))
                if not data:
                    break
                if upstream:
                    cut = False
                    with self._lock:
                        if self._cut_at is not None and self.sent + len(data) >= self._cut_at:
                            data = data[: max(0, self._cut_at - self.sent)]
                            self._cut_at, cut = None, True
                        self.sent += len(data)
                    if data:
                        destination.sendall(data)
                    if cut:
                        self.cuts += 1
                        self._close_all()
                        return
                    if self.rate:
                        moved += len(data)
                        ahead = moved / self.rate - (time.monotonic() - started)
                        if ahead > 0:
                            time.sleep(ahead)
                else:
                    destination.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, destination):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
