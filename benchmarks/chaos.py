"""`make chaos`: rounds of each fault against a real stack on loopback, and a table of what became of each run.

The stack is the script's own: a PostgreSQL cluster (``initdb`` as user ``postgres`` on a free port; with
``--shared-postgres`` a database of its own on ``$DATABASE_URL``'s server instead), a Redis server on a
free port without persistence, a real Celery worker process (prefork, one child), the reconciler called
every 2 s as beat would, and the worker cache on a small tmpfs (mounting one needs root; without it the
full-disk fault is skipped and says so). Private storage is local disk under the run's folder.

Faults, each ``--rounds`` times (default 10), while a submission is generating:

- ``pool-child``: kill -9 of the worker's pool child (the task's process);
- ``worker``: kill -9 of the whole worker (process group), then a new worker;
- ``redis-restart``: the Redis server stopped and started again, empty;
- ``postgres-backends``: every backend of the database terminated (``pg_terminate_backend``: what a
  PostgreSQL restart looks like to its clients);
- ``duplicate``: the message sent three times;
- ``disk-full``: the worker cache's disk filled for 3 s.

Columns: runs; scored once (``scored`` with exactly one set of scores); lost (not finished within
``--timeout``); scored twice (more score rows than one set); wrongly charged (failed and counted against
the quota, though every fault here is the platform's); time to recover (from the fault to ``scored``:
median and maximum).

    .venv/bin/python benchmarks/chaos.py --rounds 2
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

FAULTS = ("pool-child", "worker", "redis-restart", "postgres-backends", "duplicate", "disk-full")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(condition, *, timeout: float, interval: float = 0.2, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"waited {timeout:.0f} s for {what}")


class RedisServer:
    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.folder = folder
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
            + ["--dir", str(self.folder)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_for(self._answers, timeout=20, what="redis-server")

    def _answers(self) -> bool:
        result = subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True, text=True)
        return result.stdout.strip() == "PONG"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=20)

    def restart(self) -> None:
        self.stop()
        self.start()


class PostgresCluster:
    """A cluster of the script's own (``initdb`` as ``postgres``), stopped at the end."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.data = folder / "pg"
        binaries = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        if not binaries:
            raise RuntimeError("no PostgreSQL server binaries under /usr/lib/postgresql")
        self.bin = binaries[-1].parent

    def _as_postgres(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *command], check=True, capture_output=True)

    def start(self) -> str:
        self.data.mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.data, "postgres", "postgres")
            os.chmod(self.data.parent, 0o755)
        self._as_postgres(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres")
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.data / "log"), "-w", "start"
        )
        self._as_postgres(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "chaos")
        return f"postgres://postgres@127.0.0.1:{self.port}/chaos"

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")


class Worker:
    def __init__(self, env: dict[str, str], folder: Path) -> None:
        self.env = env
        self.folder = folder
        self.process: subprocess.Popen | None = None
        self.count = 0

    def start(self) -> None:
        self.count += 1
        log = open(self.folder / f"worker-{self.count}.log", "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "gan_platform", "worker", "--queues", self.env["ATELIER_GPU_QUEUE"]]
            + ["--concurrency", "1", "--prefetch-multiplier", "1", "--pool", "prefork", "--loglevel", "INFO"]
            + ["--hostname", f"chaos-{self.count}@%h", "--without-gossip", "--without-mingle"],
            cwd=REPO,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(
            lambda: " ready." in (self.folder / f"worker-{self.count}.log").read_text(errors="replace"),
            timeout=180,
            what="the worker to start",
        )

    def pool_children(self) -> list[int]:
        assert self.process is not None
        children = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                with contextlib.suppress(OSError), open(f"/proc/{entry}/stat", "rb") as handle:
                    fields = handle.read().rsplit(b")", 1)[1].split()
                    if int(fields[1]) == self.process.pid:
                        children.append(int(entry))
        return children

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


def fill(folder: Path) -> Path:
    filler = folder / f"filler-{uuid.uuid4().hex}"
    with open(filler, "wb") as sink, contextlib.suppress(OSError):
        while True:
            sink.write(b"\0" * (1 << 20))
            sink.flush()
    return filler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="rounds of each fault (default 10)")
    parser.add_argument("--faults", default=",".join(FAULTS), help=f"comma-separated subset of {', '.join(FAULTS)}")
    parser.add_argument("--timeout", type=float, default=300, help="seconds a run may take to recover")
    parser.add_argument("--verbose", action="store_true", help="print the last line of a retried run's detail")
    parser.add_argument("--shared-postgres", action="store_true", help="a database on $DATABASE_URL's server")
    arguments = parser.parse_args(argv)
    faults = [name for name in arguments.faults.split(",") if name]
    unknown = set(faults) - set(FAULTS)
    if unknown:
        parser.error(f"unknown faults {sorted(unknown)}; choose from {', '.join(FAULTS)}")

    folder = Path(tempfile.mkdtemp(prefix="atelier-chaos-"))
    cleanups: list = []
    try:
        return _run(arguments, faults, folder, cleanups)
    finally:
        for cleanup in reversed(cleanups):
            with contextlib.suppress(Exception):
                cleanup()
        shutil.rmtree(folder, ignore_errors=True)


def _run(arguments, faults: list[str], folder: Path, cleanups: list) -> int:
    redis_server = RedisServer(folder)
    redis_server.start()
    cleanups.append(redis_server.stop)
    if arguments.shared_postgres:
        base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres").rsplit("/", 1)[0]
        name = f"atelier_chaos_{uuid.uuid4().hex[:8]}"
        subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", name], check=True)
        cleanups.append(lambda: subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--force", name]))
        database_url = f"{base}/{name}"
        postgres_kind = f"a database on {base}"
    else:
        cluster = PostgresCluster(folder)
        cleanups.append(cluster.stop)
        database_url = cluster.start()
        postgres_kind = f"its own cluster on port {cluster.port}"
    cache = folder / "cache"
    cache.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96m", "tmpfs", str(cache)], capture_output=True)
    if mounted.returncode == 0:
        cleanups.append(lambda: subprocess.run(["umount", "-l", str(cache)], check=False))
    elif "disk-full" in faults:
        print(
            f"disk-full skipped: mounting a tmpfs for the worker cache needs root ({mounted.stderr.decode().strip()})"
        )
        faults.remove("disk-full")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("ATELIER_", "DATABASE_URL", "REDIS_URL"))},
        "DATABASE_URL": database_url,
        "REDIS_URL": f"redis://127.0.0.1:{redis_server.port}/0",
        "ATELIER_VAR_DIR": str(folder / "var"),
        "ATELIER_WORKER_CACHE_DIR": str(cache),
        "ATELIER_WORKER_CACHE_MIN_FREE_MB": "4",
        "ATELIER_GPU_QUEUE": "chaos-gpu",
        "ATELIER_LEASE_SECONDS": "8",
        "ATELIER_HEARTBEAT_SECONDS": "2",
        "ATELIER_RECONCILE_GRACE_SECONDS": "30",
        "ATELIER_SANDBOX_THREADS": "1",
        "ATELIER_SCORING_BOOTSTRAP_RESAMPLES": "20",
        "OMP_NUM_THREADS": "1",
        "DJANGO_SETTINGS_MODULE": "gan_platform.settings",
    }
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from scoring.services import reconcile
    from submissions import sending
    from submissions.models import Score, Submission
    from tests.factories import competition_create_for_tests, participant_join, user_create
    from tests.scoring.conftest import checkpoint_bytes, submission_row

    call_command("migrate", verbosity=0)
    metrics = ("fid", "ssim", "latency", "parameters")
    competition = competition_create_for_tests(slug="chaos", metrics=metrics, ranking="fid")
    user = user_create("chaos-participant")
    team = participant_join(competition, user).team
    phase = competition.phases.get()
    expected_scores = 2 * len(metrics)
    checkpoint = checkpoint_bytes(seed=1)

    worker = Worker(env, folder)
    worker.start()
    cleanups.append(worker.stop)
    results: dict[str, list[dict]] = {fault: [] for fault in faults}
    print(
        f"chaos: {arguments.rounds} rounds of {', '.join(faults)}; PostgreSQL: {postgres_kind}; "
        f"Redis on port {redis_server.port}; worker cache on a 96 MiB tmpfs",
        flush=True,
    )
    for fault in faults:
        for round_number in range(arguments.rounds):
            submission = submission_row(phase, team, user, checkpoint)
            Submission.objects.filter(pk=submission.pk).update(enqueued_at=timezone.now())
            sending.submission_send(submission_id=submission.pk)
            if fault == "duplicate":
                sending.submission_send(submission_id=submission.pk)
                sending.submission_send(submission_id=submission.pk)
            with contextlib.suppress(TimeoutError):
                wait_for(
                    lambda submission=submission: Submission.objects.filter(
                        pk=submission.pk, state__in=[Submission.State.GENERATING, Submission.State.SCORING]
                    ).exists(),
                    timeout=arguments.timeout,
                    interval=0.05,
                    what="generating",
                )
            started = time.monotonic()
            if fault == "pool-child":
                for pid in worker.pool_children():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
            elif fault == "worker":
                worker.kill()
                worker.start()
            elif fault == "redis-restart":
                redis_server.restart()
            elif fault == "postgres-backends":
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
            elif fault == "disk-full":
                filler = fill(cache)
                threading.Timer(3.0, lambda filler=filler: filler.unlink(missing_ok=True)).start()
            finished_at = None
            deadline = started + arguments.timeout
            next_reconcile = 0.0
            while time.monotonic() < deadline:
                if time.monotonic() >= next_reconcile:
                    next_reconcile = time.monotonic() + 2
                    try:
                        reconcile()
                    except Exception as error:  # Redis restarting: beat would try again too
                        print(f"  reconcile: {error!r}", flush=True)
                        connection.close()
                if worker.process is not None and worker.process.poll() is not None:
                    worker.start()  # a worker that died by itself is restarted, as a supervisor would
                state = Submission.objects.filter(pk=submission.pk).values_list("state", flat=True).get()
                if state in (Submission.State.SCORED, Submission.State.FAILED):
                    finished_at = time.monotonic()
                    break
                time.sleep(0.25)
            time.sleep(1.0)  # a late duplicate would write now
            row = Submission.objects.get(pk=submission.pk)
            scores = Score.objects.filter(submission=row).count()
            outcome = {
                "scored_once": row.state == Submission.State.SCORED and scores == expected_scores,
                "lost": finished_at is None,
                "scored_twice": scores > expected_scores,
                "wrongly_charged": row.state == Submission.State.FAILED and row.counts_against_quota,
                "recover": (finished_at - started) if finished_at is not None else None,
                "attempts": row.attempts,
                "state": row.state,
                "code": row.failure_code,
            }
            results[fault].append(outcome)
            if arguments.verbose and row.failure_detail:
                print("    " + row.failure_detail.strip().splitlines()[-1][:300], flush=True)
            print(
                f"  {fault} round {round_number + 1}: {row.state} after {row.attempts} attempt(s)"
                f"{' [' + row.failure_code + ']' if row.failure_code else ''}"
                f", {outcome['recover'] or float('nan'):.1f} s",
                flush=True,
            )

    print()
    header = (
        f"{'fault':<18} {'runs':>5} {'scored once':>12} {'lost':>5} {'scored twice':>13} "
        f"{'wrongly charged':>16} {'recover median':>15} {'recover max':>12}"
    )
    print(header)
    print("-" * len(header))
    for fault, rows in results.items():
        times = [row["recover"] for row in rows if row["recover"] is not None]
        median = f"{statistics.median(times):.1f} s" if times else "-"
        worst = f"{max(times):.1f} s" if times else "-"
        print(
            f"{fault:<18} {len(rows):>5} {sum(r['scored_once'] for r in rows):>12} {sum(r['lost'] for r in rows):>5} "
            f"{sum(r['scored_twice'] for r in rows):>13} {sum(r['wrongly_charged'] for r in rows):>16} "
            f"{median:>15} {worst:>12}"
        )
    bad = sum(not row["scored_once"] or row["wrongly_charged"] for rows in results.values() for row in rows)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
