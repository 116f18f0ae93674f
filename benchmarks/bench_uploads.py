"""Benchmark: resumable uploads over a slow, broken link against the production web server
(``make bench-uploads``; issue 11, decision 0012).

Serves the site with ``gunicorn.conf.py`` on loopback (database as ``bench_standings`` sets it up,
with a small seeded leaderboard), puts a bandwidth-limiting loopback proxy in front
(``tests.support.link_proxy``, default 5 MB/s) and, in one run, prints:

1. one upload of ``--size`` MB (default 1024) through the proxy with the ``atelier`` client's
   session code, cut at 50 % (the run gives up, as a client whose link stayed down would) and
   continued with ``--resume``'s path: bytes that went up against the file's size (target: at most
   55 % more), wall time, the web processes' RSS growth (master and workers, sampled every 0.2 s;
   target < 50 MB), the time the server took to verify and accept the complete file;
2. the leaderboard API's p99 with 4 readers (``bench_web``'s load generator, a second process),
   without uploads and during 4 concurrent uploads, each through its own 5 MB/s link, in
   alternating rounds, medians (target: within 1.5x); with the web workers' CPU seconds.

    .venv/bin/python benchmarks/bench_uploads.py [--size 1024] [--rate 5] [--duration 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "client"))

MB = 1_000_000


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        out.append((value & 0x7F) | (0x80 if value > 0x7F else 0))
        value >>= 7
        if not value:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def checkpoint_write(path: Path, size: int) -> int:
    """A file of about ``size`` bytes that passes the upload's checks as ONNX: a ModelProto (IR 8, opset
    ai.onnx 17) whose graph holds one uint8 initializer of sparse zeros and no node (the upload's walk
    finds a standard opset, no operator, no external data; a worker would refuse it for its inputs)."""
    opset = _field(8, b"\x0a\x00" + b"\x10" + _varint(17))  # domain "", version 17
    count = max(size - 64, 1)
    tensor_head = b"\x08" + _varint(count) + b"\x10\x02" + b"\x42\x01w"  # dims [count], UINT8, name "w"
    tensor_length = len(tensor_head) + len(_varint(9 << 3 | 2)) + len(_varint(count)) + count
    graph_length = len(_varint(5 << 3 | 2)) + len(_varint(tensor_length)) + tensor_length
    with path.open("wb") as f:
        f.write(b"\x08\x08" + opset)  # ir_version = 8, opset_import
        f.write(_varint(7 << 3 | 2) + _varint(graph_length))  # graph
        f.write(_varint(5 << 3 | 2) + _varint(tensor_length) + tensor_head)  # its initializer
        f.write(_varint(9 << 3 | 2) + _varint(count))  # raw_data: count zero bytes
        f.truncate(f.tell() + count)
    return path.stat().st_size


def web_rss(master: int) -> int:
    """Resident bytes of the gunicorn master and its workers."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if entry.name == str(master) or fields.get("PPid", "").strip() == str(master):
            total += int(fields.get("VmRSS", "0 kB").split()[0]) * 1024
    return total


class RssSampler(threading.Thread):
    def __init__(self, master: int) -> None:
        super().__init__(daemon=True)
        self.master = master
        self.peak = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            self.peak = max(self.peak, web_rss(self.master))
            time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1024, help="MB of the big upload (default 1024)")
    parser.add_argument("--rate", type=float, default=5.0, help="MB/s of each link (default 5)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of leaderboard load per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the leaderboard measurement (medians)")
    parser.add_argument("--concurrent-size", type=int, default=0, help="MB of each concurrent upload (default: enough)")
    args = parser.parse_args()
    rate = args.rate * MB

    import bench_standings
    import bench_web

    label = bench_standings.configure()
    from django.db import connection
    from rest_framework.authtoken.models import Token

    from competitions.models import Participation, Team
    from submissions.standings import standings_rebuild

    phase, _organizer, _viewer, _team = bench_standings.seed(200, 5)
    standings_rebuild(phase_id=phase.pk)
    competition = phase.competition
    competition.accepted_formats = ["safetensors", "onnx"]
    competition.save(update_fields=["accepted_formats"])
    phase.upload_size_limit = 4 * 1024 * MB
    phase.daily_quota = phase.max_running = 1000
    phase.save(update_fields=["upload_size_limit", "daily_quota", "max_running"])
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    uploader = get_user_model().objects.create(username="bench-uploader")
    team = Team.objects.create(competition=competition, name="Uploaders", created_by=uploader, join_code="uploaders01")
    Participation.objects.create(competition=competition, user=uploader, team=team, accepted_rules_at=timezone.now())
    token = Token.objects.create(user=uploader).key
    connection.close()

    work = Path(tempfile.mkdtemp(prefix="bench-uploads-"))
    os.environ["XDG_STATE_HOME"] = str(work / "state")
    from atelier_client import uploads as client_uploads
    from atelier_client.api import AtelierApi
    from tests.support.link_proxy import LinkProxy

    port = bench_web.free_port()
    server = bench_web.serve(port, ATELIER_VAR_DIR=str(work / "var"))
    board = f"http://127.0.0.1:{port}/api/v1/competitions/{competition.slug}/leaderboard/"
    try:
        bench_web.run_load(board, 4, 2.0, {})  # warm every worker
        print(f"database: {label}; web: gunicorn.conf.py ({os.cpu_count()} CPUs), links {args.rate:g} MB/s each")

        # 1. the big upload, cut at 50 % and resumed
        big = work / "big.onnx"
        size = checkpoint_write(big, args.size * MB)
        sampler = RssSampler(server.pid)
        rss_before = web_rss(server.pid)
        sampler.start()
        started = time.monotonic()
        with LinkProxy(("127.0.0.1", port), rate=rate) as link:
            api = AtelierApi(link.url, token=token)
            link.cut_after(size // 2)
            client_uploads.RETRY_PATIENCE_S = 0.0
            try:
                client_uploads.upload_resumable(api, competition.slug, big)
                raise SystemExit("the cut did not stop the upload")
            except client_uploads.UploadInterruptedError as stopped:
                saved = stopped.saved
            cut_at = link.sent
            client_uploads.RETRY_PATIENCE_S = 600.0
            last_byte = {}

            def on_progress(sent: int, total: int) -> None:
                if sent >= total and "at" not in last_byte:
                    last_byte["at"] = time.monotonic()

            detail = client_uploads.upload_resumable(api, competition.slug, big, resume=saved, on_progress=on_progress)
            sent = link.sent
        finished = time.monotonic()
        sampler.stopped.set()
        sampler.join()
        growth = sampler.peak - rss_before
        print(f"\nupload of {size / MB:.0f} MB, cut at {cut_at / size:.0%} and resumed ({detail['state']}):")
        print(f"  bytes sent           {sent / MB:10.1f} MB   {sent / size - 1:+.1%} over the file (target <= +55 %)")
        print(f"  wall time            {finished - started:10.1f} s    ({size / MB / (finished - started):.2f} MB/s)")
        print(f"  web RSS growth       {growth / MB:10.1f} MB   (before {rss_before / MB:.0f} MB; target < 50 MB)")
        print(f"  verify and accept    {finished - last_byte.get('at', finished):10.1f} s    (SHA-256, checks, store)")

        # 2. the leaderboard with and without 4 concurrent uploads
        each = args.concurrent_size * MB or int(rate * (args.duration + 5))
        files = []
        for index in range(4):
            path = work / f"concurrent-{index}.onnx"
            checkpoint_write(path, each)
            files.append(path)
        errors: list[str] = []

        def upload(path: Path, link: LinkProxy) -> None:
            try:
                client_uploads.upload_resumable(AtelierApi(link.url, token=token), competition.slug, path)
            except Exception as error:  # reported below
                errors.append(f"{path.name}: {error}")

        def measured() -> dict:
            before = bench_web.worker_cpu(server.pid)
            figures = bench_web.run_load(board, 4, args.duration, {})
            figures["web_cpu"] = bench_web.worker_cpu(server.pid) - before
            figures["cpu_ms"] = figures["web_cpu"] * 1000 / max(figures["requests"], 1)
            return figures

        # rounds of (without, during): a burst of other work on the machine weighs on both; medians reported
        rounds: dict[str, list[dict]] = {"without uploads": [], "during 4 uploads": []}
        for _ in range(args.rounds):
            rounds["without uploads"].append(measured())
            proxies = [LinkProxy(("127.0.0.1", port), rate=rate).__enter__() for _ in files]
            threads = [
                threading.Thread(target=upload, args=pair, daemon=True) for pair in zip(files, proxies, strict=True)
            ]
            for thread in threads:
                thread.start()
            while min(link.sent for link in proxies) < 2 * MB and not errors:  # all four sending
                time.sleep(0.1)
            rounds["during 4 uploads"].append(measured())
            for thread in threads:
                thread.join()
            for link in proxies:
                link.__exit__(None, None, None)
        figures = {name: bench_web.median_figures(runs) for name, runs in rounds.items()}
        for name, runs in rounds.items():
            figures[name]["web_cpu"] = statistics.median(run["web_cpu"] for run in runs)
        quiet, busy = figures["without uploads"], figures["during 4 uploads"]
        print(f"\nleaderboard API, 4 readers, {args.duration:.0f} s x {args.rounds} rounds (medians):")
        print(f"  {'':28} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'web CPU s':>10}")
        for name, row in figures.items():
            print(
                f"  {name:28} {row['rps']:8.1f} {row['p50'] * 1000:8.1f} {row['p99'] * 1000:8.1f} {row['web_cpu']:10.1f}"
            )
        print(
            f"  p99 during / without: {busy['p99'] / quiet['p99']:.2f}x (target <= 1.5x); {args.rounds} rounds, each with 4 "
            f"uploads of {each / MB:.0f} MB at {args.rate:g} MB/s each; errors: {errors or 'none'}"
        )
    finally:
        server.terminate()
        try:
            server.wait(timeout=40)
        except Exception:
            server.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
