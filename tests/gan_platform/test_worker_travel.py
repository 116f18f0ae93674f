"""A task really travels: a real worker process on the configured broker writes to the database."""

from __future__ import annotations

import uuid

import pytest
from django.conf import settings

from scoring.models import WorkerPing
from scoring.tasks import worker_ping
from tests.support.processes import REPO_ROOT, celery_worker, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_a_task_sent_through_the_broker_is_executed_by_a_worker_process():
    token = uuid.uuid4().hex
    broker = "redis" if settings.REDIS_URL else "filesystem"

    with celery_worker() as worker:
        # when the task is sent the way the platform sends it: through the broker
        worker_ping.apply_async(args=[token], queue=worker["queues"][0])

        # then a separate worker process received it and wrote its effect
        ping = wait_until(
            lambda: WorkerPing.objects.filter(token=token).first(),
            timeout=90,
            message=f"the worker to record ping {token} via the {broker} broker",
        )

    assert ping.hostname.startswith("test-"), ping.hostname
    assert not (REPO_ROOT / "control").exists(), "the broker must keep its files under ATELIER_VAR_DIR"
    assert worker["process"].pid != __import__("os").getpid()
    assert WorkerPing.objects.filter(token=token).count() == 1
