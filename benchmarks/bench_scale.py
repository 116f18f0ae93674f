"""Benchmark: does scoring throughput scale with worker processes? (``make bench-scale``)

A backlog of small CPU-bound submissions (a tiny TransformerNet on 32 x 32 images: checkpoint checks,
the sandboxed probe, preview and hidden runs, SSIM, latency and parameters) goes through 1, then 2 real Celery
worker processes (``--concurrency 1``, ``OMP_NUM_THREADS=1``, one sandbox thread each), on the
configured broker. Each round has its own queue and its own fresh backlog, sent at once after every
worker of the round said it was ready; a round lasts from that send to the last submission's
``finished_at``. Printed side by side: submissions per hour of each round, the ratio (target on 2
cores: >= 1.7x), and the checks: none lost (all scored), none scored twice (one attempt each, one
score set each). The load average is printed before and after: run it on a quiet machine.

It runs in a database of its own (SQLite under var/bench/scale/, or PostgreSQL ``<name>_bench_scale``
when ``DATABASE_URL`` points at one) and, without ``REDIS_URL``, the filesystem broker there; a
warm-up submission goes first, so that no round pays for what a running site has already done once.

    .venv/bin/python benchmarks/bench_scale.py [--submissions 8] [--workers 1,2] [--timeout 1800]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

METRICS = ("ssim", "latency", "parameters")
FOLDER = ROOT / "var" / "bench" / "scale"
#: What every worker process gets: one CPU thread for everything it runs.
WORKER_ENVIRONMENT = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "ATELIER_SANDBOX_THREADS": "1",
    "ATELIER_SCORING_BOOTSTRAP_RESAMPLES": "20",
    "ATELIER_SCORING_MEMORY_MB": "512",
}


def configure() -> str:
    """Point this process (and the workers it starts) at the benchmark's own database and folder."""
    shutil.rmtree(FOLDER, ignore_errors=True)
    FOLDER.mkdir(parents=True)
    os.environ["DJANGO_SETTINGS_MODULE"] = "gan_platform.settings"
    os.environ["ATELIER_VAR_DIR"] = str(FOLDER)
    for name, value in WORKER_ENVIRONMENT.items():
        os.environ[name] = value
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("postgres"):
        from benchmarks.scratch_database import postgres_scratch

        os.environ["DATABASE_URL"], bench = postgres_scratch(url, "bench_scale")
        label = f"PostgreSQL ({bench})"
    else:
        os.environ["DATABASE_URL"] = f"sqlite:///{FOLDER / 'db.sqlite3'}"
        label = "SQLite (var/bench/scale/db.sqlite3)"
    label += ", Redis broker" if os.environ.get("REDIS_URL") else ", filesystem broker"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return label


def start_worker(queue: str, index: int) -> tuple[subprocess.Popen, Path]:
    log = FOLDER / f"worker-{queue}-{index}.log"
    environment = {**os.environ, "ATELIER_GPU_QUEUE": queue, "ATELIER_WORKER_CACHE_DIR": str(FOLDER / f"cache-{index}")}
    command = [sys.executable, "-m", "celery", "-A", "gan_platform", "worker", "--queues", queue]
    command += ["--concurrency", "1", "--pool", "prefork", "--loglevel", "INFO", "--without-gossip", "--without-mingle"]
    command += ["--hostname", f"bench-{index}-{uuid.uuid4().hex[:6]}@%h"]
    with open(log, "wb") as handle:
        process = subprocess.Popen(
            command, cwd=ROOT, env=environment, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )
    return process, log


def wait_ready(logs: list[Path], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not all(" ready." in log.read_text(errors="replace") for log in logs):
        if time.monotonic() > deadline:
            raise SystemExit(f"workers not ready after {timeout:.0f} s; see {', '.join(map(str, logs))}")
        time.sleep(0.2)


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def make_backlog(arena: dict, count: int, seed: int) -> list[int]:
    from tests.scoring.conftest import checkpoint_bytes, submission_row

    return [
        submission_row(arena["phase"], arena["team"], arena["user"], checkpoint_bytes(seed=seed + index)).pk
        for index in range(count)
    ]


def run_round(arena: dict, workers: int, count: int, seed: int, timeout: float) -> dict:
    """Score ``count`` submissions with ``workers`` worker processes; return the round's figures."""
    from django.conf import settings
    from django.utils import timezone

    from submissions import sending
    from submissions.models import Score, Submission

    queue = f"bench-scale-{uuid.uuid4().hex[:8]}"
    settings.ATELIER_GPU_QUEUE = queue
    backlog = make_backlog(arena, count, seed)
    started = [start_worker(queue, index) for index in range(workers)]
    processes = [process for process, _ in started]
    try:
        wait_ready([log for _, log in started])
        sent_at = timezone.now()
        Submission.objects.filter(pk__in=backlog).update(enqueued_at=sent_at)
        for submission_id in backlog:
            sending.submission_send(submission_id=submission_id)
        deadline = time.monotonic() + timeout
        while Submission.objects.filter(pk__in=backlog, finished_at__isnull=True).exists():
            if time.monotonic() > deadline or any(process.poll() is not None for process in processes):
                break
            time.sleep(0.5)
    finally:
        stop(processes)
    rows = list(Submission.objects.filter(pk__in=backlog))
    scored = [row for row in rows if row.state == Submission.State.SCORED]
    expected_scores = 2 * len(METRICS)
    score_counts = {row.pk: Score.objects.filter(submission_id=row.pk).count() for row in rows}
    finished = [row.finished_at for row in scored]
    seconds = (max(finished) - sent_at).total_seconds() if len(scored) == count else float("nan")
    return {
        "workers": workers,
        "submissions": count,
        "seconds": seconds,
        "per_hour": count / seconds * 3600 if seconds == seconds else 0.0,
        "lost": count - len(scored),
        "twice": sum(1 for row in rows if row.attempts != 1 or score_counts[row.pk] != expected_scores),
        "hosts": len({row.worker for row in scored}),
        "failures": sorted({f"{row.state}:{row.failure_code}" for row in rows if row.state != Submission.State.SCORED}),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--submissions", type=int, default=8, help="backlog per round (default 8)")
    parser.add_argument("--workers", default="1,2", help="worker processes of each round (default 1,2)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds a round may take (default 1800)")
    args = parser.parse_args()
    rounds = [int(value) for value in args.workers.split(",")]

    load_before = os.getloadavg()
    label = configure()
    from tests.factories import competition_create_for_tests, participant_join, user_create

    competition = competition_create_for_tests(slug="bench-scale", metrics=METRICS, ranking="ssim")
    user = user_create("bench-scale-alice")
    arena = {"phase": competition.phases.get(), "user": user, "team": participant_join(competition, user).team}
    print(f"bench-scale: {label}; {os.cpu_count()} CPUs; load average before {load_before[0]:.2f}")
    print(f"backlog {args.submissions} per round; each worker: 1 process, OMP_NUM_THREADS=1, 1 sandbox thread")

    warm = run_round(arena, 1, 1, seed=10_000, timeout=args.timeout)
    if warm["lost"]:
        print(f"warm-up submission not scored: {warm['failures']}; logs under {FOLDER}")
        return 1
    results = [
        run_round(arena, workers, args.submissions, seed=100 * workers, timeout=args.timeout) for workers in rounds
    ]
    load_after = os.getloadavg()

    print(
        f"\n{'workers':>7} {'seconds':>8} {'subs/hour':>10} {'ratio':>6} {'lost':>5} {'twice':>6} {'workers used':>12}"
    )
    base = results[0]["per_hour"] or float("nan")
    for result in results:
        ratio = result["per_hour"] / base
        print(
            f"{result['workers']:>7} {result['seconds']:>8.1f} {result['per_hour']:>10.1f} {ratio:>5.2f}x "
            f"{result['lost']:>5} {result['twice']:>6} {result['hosts']:>12}"
        )
    print(f"load average after {load_after[0]:.2f} (1 min), {load_after[1]:.2f} (5 min)")
    problems = [result for result in results if result["lost"] or result["twice"]]
    for result in problems:
        print(
            f"round with {result['workers']} workers: {result['lost']} lost, {result['twice']} twice: {result['failures']}"
        )
    if len(results) > 1 and results[0]["per_hour"]:
        print(
            f"ratio {results[-1]['workers']} : {results[0]['workers']} workers = {results[-1]['per_hour'] / base:.2f}x"
        )
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
