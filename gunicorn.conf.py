"""Production configuration of gunicorn, the web server (``gunicorn -c gunicorn.conf.py gan_platform.wsgi:application``).

Every setting can be overridden by an ``ATELIER_WEB_*`` environment variable; the README's
"Sizing the web server" says how to size them, docs/decisions/0009-web-server.md why these
defaults.

Why gthread: a sync worker serves one request at a time, so one slow client (a participant
uploading a 200 MB checkpoint over a slow line, a phone on a bad network reading a large page)
holds a whole worker for as long as it takes, and a handful of them take the site down. A gthread
worker serves ``threads`` requests at once and keeps idle keep-alive connections in its poller
rather than in a thread. Uploads are streamed to disk in 64 KiB chunks by the submissions app's
upload handler (``submissions/uploads.py``), never held in memory, but a slow upload still holds
one thread until its last byte: put a buffering proxy (nginx ``proxy_request_buffering on``, the
default) in front so that gunicorn only ever sees complete requests at loopback speed.
"""

from __future__ import annotations

import os


def _cpu_count() -> int:
    """CPUs this process may run on (the container's or the affinity mask's, not the host's)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _env_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SystemExit(f"{name}={raw!r} is not a whole number.") from None
    if value < minimum:
        raise SystemExit(f"{name}={value} must be at least {minimum}.")
    return value


def _env_str(name: str, default: str) -> str:
    raw = os.environ.get(name)
    return default if raw is None or not raw.strip() else raw.strip()


CPUS = _cpu_count()

# Where to listen. Behind a proxy in docker-compose; the proxy terminates TLS.
bind = [address.strip() for address in _env_str("ATELIER_WEB_BIND", "0.0.0.0:8000").split(",") if address.strip()]

# One process per CPU (at least two, so one being recycled or stuck never leaves none), each with
# `threads` threads: the GIL lets one thread of a process run Python at a time, so CPU-bound pages
# scale with processes, and threads cover the time a request waits (database, cache, a slow client).
worker_class = "gthread"
workers = _env_int("ATELIER_WEB_WORKERS", max(2, CPUS), minimum=1)
threads = _env_int("ATELIER_WEB_THREADS", 4, minimum=1)

# A gthread worker's main loop tells the arbiter it is alive while its threads serve; `timeout`
# kills a worker whose main loop stalled that long (a request holding the GIL in C code, a deadlock),
# not a request that is merely slow.
timeout = _env_int("ATELIER_WEB_TIMEOUT", 60, minimum=1)
# On a reload or stop, requests in flight get this long to finish before their worker is killed.
graceful_timeout = _env_int("ATELIER_WEB_GRACEFUL_TIMEOUT", 30, minimum=1)
# Seconds an idle keep-alive connection stays open: above the proxy's idle timeout is wasteful,
# a little over one page's follow-up requests (CSS, script) is enough.
keepalive = _env_int("ATELIER_WEB_KEEPALIVE", 5)

# Recycle a worker after this many requests (+ up to `jitter`, so workers do not restart together):
# bounds what a slow leak costs. 0 disables. Not much lower: a worker serving microcached boards
# answers about a thousand requests a second, and each restart imports Django again (about a second
# of CPU).
max_requests = _env_int("ATELIER_WEB_MAX_REQUESTS", 20000)
max_requests_jitter = _env_int("ATELIER_WEB_MAX_REQUESTS_JITTER", 2000)

# The heartbeat file of each worker: in memory where there is /dev/shm (a container's overlay
# filesystem can block on it and get healthy workers killed).
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None

# Request limits: a request line or header larger than these is refused before Django sees it.
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190

# Logs on stdout/stderr (the container's log). ATELIER_WEB_ACCESS_LOG=off: no access log
# (the proxy usually keeps one).
_access_log = _env_str("ATELIER_WEB_ACCESS_LOG", "-")
accesslog = None if _access_log.lower() in {"off", "none", "0"} else _access_log
errorlog = "-"
loglevel = _env_str("ATELIER_WEB_LOG_LEVEL", "info")
