"""Real processes for tests: Celery workers on the configured broker, free ports.

A worker started here uses the database the test run uses (the test database,
not the development one) and listens on a queue of its own, so a demo worker
running on the same machine never takes a test's messages. Long-lived children
get ``preexec_fn=dies_with_parent()``: on Linux they get SIGTERM when the pytest
that started them dies, even by SIGKILL, instead of living on.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from django.db import connection

REPO_ROOT = Path(__file__).resolve().parents[2]


PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def dies_with_parent(signal_number: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A ``preexec_fn`` for ``subprocess.Popen``: the child gets ``signal_number`` when its parent dies.

    Linux only (``prctl(PR_SET_PDEATHSIG)``); elsewhere None, which Popen takes as no preexec_fn.
    The signal comes when the thread that started the child ends, so start children from the
    main thread. A parent that died before the child set it up is caught by comparing the pids.
    """
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)  # loaded here: the child only calls it
    parent_pid = os.getpid()

    def set_parent_death_signal() -> None:
        if libc.prctl(PR_SET_PDEATHSIG, int(signal_number), 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        if os.getppid() != parent_pid:
            os.kill(os.getpid(), signal_number)

    return set_parent_death_signal


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_database_url() -> str:
    """A DATABASE_URL that points a child process at the database this test run uses."""
    settings_dict = connection.settings_dict
    name = settings_dict["NAME"]
    if connection.vendor == "sqlite":
        return f"sqlite:///{Path(name).resolve()}"
    if connection.vendor == "postgresql":
        user = settings_dict.get("USER") or ""
        password = settings_dict.get("PASSWORD") or ""
        credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
        host = settings_dict.get("HOST") or "127.0.0.1"
        port = settings_dict.get("PORT") or 5432
        return f"postgres://{credentials}{host}:{port}/{name}"
    raise NotImplementedError(f"no child-process URL for database vendor {connection.vendor!r}")


def child_environment(**overrides: str) -> dict[str, str]:
    env = dict(os.environ)
    env["DATABASE_URL"] = test_database_url()
    env.setdefault("OMP_NUM_THREADS", "1")
    env.update(overrides)
    return env


def python_run(code: str, *, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """``python -c code`` in a fresh interpreter (this one's executable) in the repository root, its
    output captured as text. ``env``: the child's whole environment (None: this process's)."""
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def real_settings_environment(var_dir: Path | str, **environment: str) -> dict[str, str]:
    """The whole environment of a child that loads the real settings (``gan_platform.settings``, not the
    tests'), with nothing of this process's but ``environment`` and the ``var/`` folder ``var_dir``."""
    return {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "gan_platform.settings",
        "ATELIER_VAR_DIR": str(var_dir),
        **environment,
    }


@contextlib.contextmanager
def celery_worker(
    *,
    queues: list[str] | None = None,
    extra_args: list[str] | None = None,
    command_prefix: list[str] | None = None,
    hostname: str | None = None,
    **env: str,
) -> Iterator[dict]:
    """Start ``celery worker`` as a real child process; yield its queue names, process and hostname.

    ``command_prefix`` runs it through another command (a network namespace: tests/support/hosts.py).

    Stops it with SIGTERM (then SIGKILL) on exit. The worker's log goes to a
    file whose path is in the yielded dict, and is printed when the block fails.
    """
    queue_names = queues or [f"test-{uuid.uuid4().hex[:12]}"]
    log_path = REPO_ROOT / "var" / f"test-worker-{uuid.uuid4().hex[:8]}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    hostname = hostname or f"test-{uuid.uuid4().hex[:8]}@%h"
    command = [
        *(command_prefix or []),
        sys.executable,
        "-m",
        "celery",
        "-A",
        "gan_platform",
        "worker",
        "--queues",
        ",".join(queue_names),
        "--concurrency",
        "1",
        "--pool",
        "prefork",
        "--loglevel",
        "INFO",
        "--hostname",
        hostname,
        "--without-gossip",
        "--without-mingle",
        *(extra_args or []),
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=child_environment(**env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=dies_with_parent(),
        )
    info = {"queues": queue_names, "process": process, "log_path": log_path, "hostname": hostname}
    try:
        yield info
    except BaseException:
        print(f"--- worker log {log_path} ---\n{log_path.read_text(errors='replace')[-5000:]}")
        raise
    finally:
        stop_process_group(process)
        log_path.unlink(missing_ok=True)


def stop_process_group(process: subprocess.Popen, *, timeout: float = 20.0) -> int:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=timeout)
    return process.returncode


def wait_until(predicate, *, timeout: float, interval: float = 0.2, message: str = "condition"):
    """Poll ``predicate`` until it returns a truthy value; fail with ``message`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {message}")
        time.sleep(interval)
