"""Hosts that share no disk: two real worker processes, each a host of its own (a network namespace
joined by a veth pair, with the web's ``var/`` hidden from it, where the machine allows it; see
tests/support/hosts.py), sharing only the database, the broker and an S3 bucket. One host is killed
(SIGKILL to its process group) while it runs a submission; the other scores it, exactly once."""

from __future__ import annotations

import contextlib
import os
import signal
import uuid
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from scoring.services import reconcile
from submissions import sending
from submissions.models import Score, Submission
from tests.scoring.conftest import SCORED_METRICS, checkpoint_bytes
from tests.scoring.helpers import WORKER_ENVIRONMENT, score_keys, wait_until_running
from tests.support import processes
from tests.support.hosts import hosts, netns_unavailable_reason, url_via
from tests.support.object_storage import s3_environment
from tests.support.processes import celery_worker, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

EXPECTED_SCORES = sorted((split, metric) for split in ("public", "private") for metric in SCORED_METRICS)
#: Short leases, so the killed host's claim expires within seconds.
HOST_ENVIRONMENT = {**WORKER_ENVIRONMENT, "ATELIER_LEASE_SECONDS": "6", "ATELIER_HEARTBEAT_SECONDS": "2"}


def host_environment(host, *, queue: str, bucket: dict, isolated: bool) -> dict[str, str]:
    """What a host is given: its own folders, and the addresses of the three shared services."""
    database, redis, endpoint = processes.test_database_url(), settings.REDIS_URL, bucket["endpoint"]
    if isolated:
        database, endpoint = url_via(database, host.gateway), url_via(endpoint, host.gateway)
        redis = url_via(redis, host.gateway)
    environment = {
        **HOST_ENVIRONMENT,
        **host.environment(),
        **s3_environment(endpoint, bucket["name"], bucket["prefix"]),
        "ATELIER_GPU_QUEUE": queue,
        "DATABASE_URL": database,
    }
    if redis:
        environment["REDIS_URL"] = redis
    else:  # the filesystem broker: the one folder the hosts share with the web side
        environment["ATELIER_BROKER_DIR"] = str(settings.CELERY_BROKER_DIR)
    return environment


def test_a_host_killed_mid_run_leaves_its_submission_to_the_other_host_which_scores_it_once(
    private_bucket, arena, make_submission, monkeypatch, tmp_path
):
    queue = f"test-gpu-{uuid.uuid4().hex[:10]}"
    monkeypatch.setattr(settings, "ATELIER_GPU_QUEUE", queue)
    reason = netns_unavailable_reason(database_vendor=connection.vendor, redis_url=settings.REDIS_URL)
    isolated = reason is None
    if not isolated:
        print(f"hosts are separate processes with separate folders, not network namespaces: {reason}")
    web_var = settings.VAR_DIR
    sentinel = web_var / f"web-only-{uuid.uuid4().hex[:8]}"
    sentinel.write_text("the web's var/")
    ports = [urlsplit(private_bucket["endpoint"]).port, int(connection.settings_dict.get("PORT") or 5432)]
    if settings.REDIS_URL:
        ports.append(urlsplit(settings.REDIS_URL).port or 6379)
    submission = make_submission(checkpoint_bytes(seed=21))

    try:
        with hosts(tmp_path / "hosts", ["a", "b"], isolated=isolated, hidden=[web_var], ports=ports) as (a, b):
            # given two hosts, each with its own folders (and, isolated, its own network and no view of var/)
            if isolated:
                seen = a.run(["python3", "-c", f"import os; print(sorted(os.listdir({str(web_var)!r})))"])
                assert seen.returncode == 0 and seen.stdout.strip() == "[]", (seen.stdout, seen.stderr)
                assert sentinel.name in os.listdir(web_var)
                loopback = b.run(["python3", "-c", "import socket; socket.create_connection(('127.0.0.1', 5432), 2)"])
                assert loopback.returncode != 0, "a host's 127.0.0.1 must be its own, not the web machine's"
            workers = {}
            with contextlib.ExitStack() as stack:
                for host in (a, b):
                    workers[host.name] = stack.enter_context(
                        celery_worker(
                            queues=[queue],
                            command_prefix=host.command_prefix(),
                            hostname=f"host-{host.name}-{uuid.uuid4().hex[:6]}@%h",
                            **host_environment(host, queue=queue, bucket=private_bucket, isolated=isolated),
                        )
                    )
                # when the submission is sent and one host starts generating it
                Submission.objects.filter(pk=submission.pk).update(enqueued_at=timezone.now())
                sending.submission_send(submission_id=submission.pk)
                running = wait_until_running(submission.pk, timeout=300, waiting_for="a host to start generating")
                first = next(name for name, worker in workers.items() if running.worker.startswith(f"host-{name}-"))
                other = "b" if first == "a" else "a"
                # and that host dies: SIGKILL to its whole process group (worker, pool child, sandbox)
                os.killpg(workers[first]["process"].pid, signal.SIGKILL)
                workers[first]["process"].wait(timeout=30)

                # then a reconciler (as beat runs it) takes the expired lease back, and the other host scores it
                def scored() -> Submission | None:
                    reconcile()
                    current = Submission.objects.get(pk=submission.pk)
                    return current if current.is_finished else None

                done = wait_until(scored, timeout=300, interval=1.0, message="the other host to finish it")
                assert workers[other]["process"].poll() is None, "the surviving host is still running"

            assert (done.state, done.failure_code) == (Submission.State.SCORED, ""), done.failure_detail[-2000:]
            assert done.attempts == 2, "one attempt on each host"
            assert running.worker.startswith(f"host-{first}-") and done.worker.startswith(f"host-{other}-")
            assert score_keys(submission.pk) == EXPECTED_SCORES
            assert Score.objects.filter(submission_id=submission.pk).count() == len(EXPECTED_SCORES)
            assert reconcile().as_dict() == {"resent": [], "taken_back": [], "failed": []}
            # and each host worked from its own cache, fetched from the bucket; the web's cache has no copy
            survivor = b if other == "b" else a
            assert (survivor.cache_dir / "checkpoints" / submission.sha256).is_file()
            assert not (settings.ATELIER_WORKER_CACHE_DIR / "checkpoints" / submission.sha256).exists()
            assert not list((settings.ATELIER_WORKER_CACHE_DIR / "work").glob(f"{submission.pk}-*"))
    finally:
        sentinel.unlink(missing_ok=True)
