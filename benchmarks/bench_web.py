"""Benchmark: the web tier at Kaggle size, over HTTP (``make bench-web``).

Seeds N teams x M scored submissions (``bench_standings.seed``: 5 metrics x 2 splits, default
1,000 x 20) into a database of its own (SQLite under var/bench/, or PostgreSQL ``<name>_bench``
when ``DATABASE_URL`` points at one; Redis as the cache when ``REDIS_URL`` is set), builds the
standings, serves the site with the production configuration (``gunicorn.conf.py``) on loopback,
and drives load from a second process, in rounds over every endpoint (medians reported): wrk when it is installed (``apt install wrk``), else a Python
load generator (threads with keep-alive connections; ``--python-load`` forces it). Printed in one
run, for each endpoint: requests/s, p50 and p99 latency, CPU ms per request (the gunicorn workers'
CPU time from /proc over the requests served), SQL queries of a read that does the work (the same
request made in this process through Django's test client, microcache off: an anonymous reader
served from the microcache costs none), bytes of the response body, and requests/s relative to the
trivial endpoint. Before each measurement the workers are left to finish what the previous one
queued (a slow endpoint's backlog would otherwise weigh on the next). The first page is also measured from a second server with the microcache off.
Then the time from a score written to its visibility on the public board through the API, and a
stampede (a new standings version, so every cached page is unreachable, and 16 clients at once).

    .venv/bin/python benchmarks/bench_web.py [--teams 1000] [--submissions 20] [--duration 3] [--clients 32]
                                             [--rounds 3] [--python-load]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
LOAD_TOOL = "python"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


# --- the load generator (run as a second process) ------------------------------------------


def load(url: str, clients: int, duration: float, headers: dict[str, str]) -> dict:
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    latencies: list[float] = []
    sizes: list[int] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop = time.monotonic() + duration

    def client() -> None:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        while time.monotonic() < stop:
            start = time.perf_counter()
            try:
                connection.request("GET", path, headers=headers)
                response = connection.getresponse()
                body = response.read()
                elapsed = time.perf_counter() - start
                with lock:
                    if response.status >= 400:
                        errors.append(str(response.status))
                    latencies.append(elapsed)
                    sizes.append(len(body))
            except (OSError, http.client.HTTPException) as error:
                with lock:
                    errors.append(type(error).__name__)
                connection.close()
                connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    latencies.sort()

    def quantile(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else float("nan")

    return {
        "requests": len(latencies),
        "rps": len(latencies) / wall,
        "p50": quantile(0.50),
        "p99": quantile(0.99),
        "max": latencies[-1] if latencies else float("nan"),
        "bytes": statistics.median(sizes) if sizes else 0,
        "errors": errors[:5],
        "error_count": len(errors),
    }


WRK_SCRIPT = """
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.write(string.format('{"requests": %d, "seconds": %f, "p50": %f, "p99": %f, "max": %f, "errors": %d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e6, latency:percentile(99) / 1e6,
    latency.max / 1e6, errors))
end
"""


def run_wrk(url: str, clients: int, duration: float, headers: dict[str, str]) -> dict:
    """wrk (``apt install wrk``): two threads, ``clients`` keep-alive connections."""
    script = ROOT / "var" / "bench" / "wrk-summary.lua"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(WRK_SCRIPT)
    command = [
        "wrk",
        "-t",
        str(min(2, clients)),
        "-c",
        str(clients),
        "-d",
        f"{max(duration, 1):.0f}s",
        "-s",
        str(script),
    ]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    figures = json.loads(next(line for line in output.splitlines() if line.startswith("{")))
    return {
        "requests": figures["requests"],
        "rps": figures["requests"] / figures["seconds"],
        "p50": figures["p50"],
        "p99": figures["p99"],
        "max": figures["max"],
        "errors": [],
        "error_count": figures["errors"],
    }


def run_load(url: str, clients: int, duration: float, headers: dict[str, str]) -> dict:
    """The load generator in a process of its own (so it does not share this one's GIL): wrk when
    it is installed (and ``--python-load`` is not given), else the threads of :func:`load`."""
    if LOAD_TOOL == "wrk":
        return run_wrk(url, clients, duration, headers)
    output = subprocess.run(
        [sys.executable, __file__, "--load", url, "--clients", str(clients), "--duration", str(duration)],
        input=json.dumps(headers),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(output.stdout)


# --- the server ------------------------------------------------------------------------------


def settle(master: int, *, quiet: float = 0.01, limit: float = 10.0) -> None:
    """Wait until the workers are idle: when a load run stops, the requests already read keep them
    busy for a while (a slow endpoint's backlog), and would weigh on the next endpoint measured."""
    deadline = time.monotonic() + limit
    last = worker_cpu(master)
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = worker_cpu(master)
        if now - last <= quiet:
            return
        last = now


def median_figures(runs: list[dict]) -> dict:
    """Each figure's median over ``runs`` (errors summed)."""
    merged = {key: statistics.median(run[key] for run in runs) for key in ("rps", "p50", "p99", "max", "cpu_ms")}
    merged["requests"] = sum(run["requests"] for run in runs)
    merged["error_count"] = sum(run["error_count"] for run in runs)
    merged["errors"] = [error for run in runs for error in run["errors"]][:5]
    return merged


def body_size(port: int, path: str, headers: dict[str, str]) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", path, headers=headers)
    size = len(connection.getresponse().read())
    connection.close()
    return size


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def worker_cpu(master: int) -> float:
    """CPU seconds (user + system) of the gunicorn master's workers so far, those it replaced
    (``max_requests``) included: theirs are the master's ``cutime`` and ``cstime``."""
    ticks = os.sysconf("SC_CLK_TCK")
    fields = Path(f"/proc/{master}/stat").read_text().rsplit(")", 1)[1].split()
    total = (int(fields[13]) + int(fields[14])) / ticks
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master:
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def serve(port: int, **settings: str) -> subprocess.Popen:
    # the production configuration, but for worker recycling (ATELIER_WEB_MAX_REQUESTS): a restart
    # costs a second of CPU and lands on whichever endpoint is measured then, not on its cost
    env = {
        **os.environ,
        "ATELIER_WEB_BIND": f"127.0.0.1:{port}",
        "ATELIER_WEB_ACCESS_LOG": "off",
        "ATELIER_WEB_MAX_REQUESTS": "0",
        **settings,
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "gan_platform.wsgi:application"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit(f"gunicorn did not answer on port {port}: {server.stderr.read().decode()[-2000:]}")


def slow_upload(port: int, token: str, slug: str, size: int, rate: int, stop: threading.Event) -> None:
    """A client uploading ``size`` bytes at ``rate`` bytes/s to the submission endpoint."""
    boundary = "benchboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.onnx"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    connection.putrequest("POST", f"/api/v1/competitions/{slug}/submissions/")
    connection.putheader("Authorization", f"Token {token}")
    connection.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    connection.putheader("Content-Length", str(len(head) + size + len(tail)))
    connection.endheaders()
    connection.send(head)
    chunk = b"\0" * (rate // 10)
    sent = 0
    try:
        while sent < size and not stop.is_set():
            connection.send(chunk[: size - sent])
            sent += len(chunk)
            time.sleep(0.1)
        connection.send(tail)
        connection.getresponse().read()
    except OSError:
        pass
    finally:
        connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--teams", type=int, default=1000)
    parser.add_argument("--submissions", type=int, default=20)
    parser.add_argument("--duration", type=float, default=3.0, help="seconds of load per endpoint and round")
    parser.add_argument(
        "--clients",
        type=int,
        default=32,
        help="keep-alive connections; fewer than about 32 leave it to chance how the kernel hands them to the "
        "workers (one worker can get them all, halving what any endpoint reaches)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds over every endpoint; medians are reported")
    parser.add_argument("--python-load", action="store_true", help="the Python load generator even if wrk is there")
    parser.add_argument("--load", help=argparse.SUPPRESS)
    args = parser.parse_args()
    global LOAD_TOOL
    LOAD_TOOL = "wrk" if shutil.which("wrk") and not args.python_load else "python"
    if args.load:
        print(json.dumps(load(args.load, args.clients, args.duration, json.loads(sys.stdin.read() or "{}"))))
        return

    import bench_standings

    label = bench_standings.configure()  # sets DATABASE_URL to the bench database, migrates
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from rest_framework.authtoken.models import Token

    from submissions.models import Score, Submission
    from submissions.standings import standings_rebuild, standings_submission_changed, standings_touch

    started = time.perf_counter()
    phase, organizer, viewer, team = bench_standings.seed(args.teams, args.submissions)
    standings_rebuild(phase_id=phase.pk)
    if connection.vendor == "postgresql":
        # what a running database has done long since; left to autovacuum, it would run during
        # the first endpoints' measurements and weigh on them alone
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    print(
        f"database: {label}; cache: {'Redis' if os.environ.get('REDIS_URL') else 'per-process memory'}; "
        f"load: {LOAD_TOOL}, {args.clients} connections, {args.duration:.0f} s per endpoint x {args.rounds} rounds (medians)"
    )
    print(f"seeded and ranked {args.teams} x {args.submissions} in {time.perf_counter() - started:.1f} s")
    token = Token.objects.create(user=viewer).key
    slug = phase.competition.slug
    pages = -(-args.teams // 50)
    auth = {"Authorization": f"Token {token}"}
    endpoints = [
        ("trivial endpoint (/healthz)", "/healthz", {}),
        ("leaderboard API, first page", f"/api/v1/competitions/{slug}/leaderboard/", {}),
        ("leaderboard API, deep page", f"/api/v1/competitions/{slug}/leaderboard/?page={pages}", {}),
        ("leaderboard API, my row (token)", f"/api/v1/competitions/{slug}/leaderboard/", auth),
        ("leaderboard HTML page", f"/c/{slug}/leaderboard/", {}),
        ("team's submissions (token)", f"/api/v1/competitions/{slug}/submissions/", auth),
    ]
    queries = {}
    # the queries of a read that does the work (an anonymous reader within a second of another
    # one gets the microcached bytes and costs none: see gan_platform.microcache)
    settings.ATELIER_MICROCACHE_SECONDS = 0
    client = Client(HTTP_HOST="127.0.0.1")
    for name, path, headers in endpoints:
        extra = {"HTTP_AUTHORIZATION": headers["Authorization"]} if headers else {}
        client.get(path, **extra)
        with CaptureQueriesContext(connection) as captured:
            status = client.get(path, **extra).status_code
        assert status == 200, (name, status)
        queries[name] = len(captured.captured_queries)
    connection.close()

    port = free_port()
    server = serve(port)
    base = f"http://127.0.0.1:{port}"
    results = []
    try:
        for _name, path, headers in endpoints:
            run_load(base + path, args.clients, 2.0, headers)  # warm every worker and thread
            settle(server.pid)
        # rounds over every endpoint, the baseline included, so that a burst of other work on the
        # machine weighs on one round of each rather than on one endpoint; medians reported
        rounds: dict[str, list[dict]] = {name: [] for name, _, _ in endpoints}
        for _ in range(args.rounds):
            for name, path, headers in endpoints:
                settle(server.pid)
                before = worker_cpu(server.pid)
                figures = run_load(base + path, args.clients, args.duration, headers)
                settle(server.pid)  # the backlog's CPU is this endpoint's
                figures["cpu_ms"] = (worker_cpu(server.pid) - before) * 1000 / max(figures["requests"], 1)
                rounds[name].append(figures)
        for name, path, headers in endpoints:
            figures = median_figures(rounds[name])
            figures["bytes"] = body_size(port, path, headers)
            results.append((name, figures, queries[name]))
        stop = threading.Event()
        uploader = threading.Thread(
            target=slow_upload, args=(port, token, slug, 50 * 1024 * 1024, 2 * 1024 * 1024, stop), daemon=True
        )
        uploader.start()
        time.sleep(0.5)
        settle(server.pid)
        before = worker_cpu(server.pid)
        figures = run_load(base + endpoints[1][1], args.clients, args.duration, {})
        figures["cpu_ms"] = (worker_cpu(server.pid) - before) * 1000 / max(figures["requests"], 1)
        figures["bytes"] = body_size(port, endpoints[1][1], {})
        results.append(("leaderboard API during a 50 MB upload", figures, queries[endpoints[1][0]]))
        stop.set()
        uploader.join(timeout=10)

        # the same first page from a server without the microcache: every request reads the board
        plain_port = free_port()
        plain = serve(plain_port, ATELIER_MICROCACHE_SECONDS="0")
        try:
            run_load(f"http://127.0.0.1:{plain_port}{endpoints[1][1]}", args.clients, 2.0, {})
            settle(plain.pid)
            before = worker_cpu(plain.pid)
            figures = run_load(f"http://127.0.0.1:{plain_port}{endpoints[1][1]}", args.clients, args.duration, {})
            figures["cpu_ms"] = (worker_cpu(plain.pid) - before) * 1000 / max(figures["requests"], 1)
            figures["bytes"] = body_size(plain_port, endpoints[1][1], {})
            results.append(("leaderboard API, first page, no microcache", figures, queries[endpoints[1][0]]))
        finally:
            plain.terminate()
            plain.wait(timeout=40)

        baseline = results[0][1]
        print(
            f"\n{'endpoint':40} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms':>7} {'SQL':>4} {'bytes':>8} {'vs base':>8} errors"
        )
        for name, figures, count in results:
            print(
                f"{name:40} {figures['rps']:8.1f} {figures['p50'] * 1000:8.1f} {figures['p99'] * 1000:8.1f} "
                f"{figures['cpu_ms']:7.1f} {count:4d} {figures['bytes']:8.0f} {figures['rps'] / baseline['rps']:7.0%} "
                f"{figures['error_count']} {' '.join(figures['errors'])}"
            )
        first = results[1][1]
        print(
            f"\nfirst page: {first['rps'] / baseline['rps']:.0%} of the baseline's requests/s (target >= 50 %), "
            f"p99 {first['p99'] / baseline['p99']:.1f}x the baseline's (target <= 2x); HTML page "
            f"{results[4][1]['rps'] / baseline['rps']:.0%} (target >= 25 %); page bytes {first['bytes']:.0f} (target <= 50 KB)"
        )

        # score to visible: a team's submission gets the best score; poll the public board
        delays = []
        submission_ids = list(Submission.objects.filter(phase=phase).values_list("pk", flat=True)[:20])
        poll = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for trial, submission_id in enumerate(submission_ids):
            best = -1.0 - trial
            Score.objects.filter(submission_id=submission_id, split="public", metric="fid").update(value=best)
            standings_submission_changed(submission_id=submission_id)
            written = time.perf_counter()
            while True:
                poll.request("GET", endpoints[1][1])
                rows = json.loads(poll.getresponse().read())["rows"]
                if rows and rows[0]["submission_id"] == submission_id:
                    break
                if time.perf_counter() - written > 30:
                    raise SystemExit(f"submission {submission_id} not visible after 30 s")
            delays.append(time.perf_counter() - written)
        delays.sort()
        print(
            f"score to visible on the public board ({len(delays)} trials): p50 {delays[len(delays) // 2] * 1000:.1f} ms, "
            f"p99 {delays[-1] * 1000:.1f} ms (target <= 2 s)"
        )
        # stampede: every cached entry unreachable at once, 16 clients
        standings_touch(phase_id=phase.pk)
        connection.close()
        settle(server.pid)
        stampede = run_load(base + endpoints[1][1], 16, args.duration, {})
        print(
            f"stampede (new version, 16 clients, {args.duration:.0f} s): {stampede['requests']} requests, "
            f"{stampede['error_count']} errors, max {stampede['max'] * 1000:.0f} ms, p99 {stampede['p99'] * 1000:.0f} ms "
            "(target: no error, none over 5 s)"
        )
    finally:
        server.terminate()
        try:
            server.wait(timeout=40)  # graceful_timeout: a request still open may take 30 s
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    main()
