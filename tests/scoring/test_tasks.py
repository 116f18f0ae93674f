"""How scoring tasks are configured and sent: queue, time limits, acknowledgement, beat, storage settings."""

from __future__ import annotations

import json

import pytest
from django.conf import settings

from scoring.tasks import reconcile, submission_process
from submissions.sending import submission_send, submission_time_limits
from tests.support.processes import python_run, real_settings_environment


def settings_in_a_fresh_process(expression: str, **environment: str) -> object:
    """Evaluate ``expression`` against ``django.conf.settings`` loaded with ``environment`` in a child process."""
    probe = (
        "import json, django; from django.conf import settings; django.setup(); "
        f"print(json.dumps({expression}, default=str))"
    )
    result = python_run(probe, env=real_settings_environment(settings.VAR_DIR, **environment))
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_broker_visibility_timeout_is_at_least_twice_the_hard_time_limit():
    # read the real settings this run uses, then the Redis configuration in a fresh process
    hard = settings.CELERY_TASK_TIME_LIMIT
    assert hard == settings.ATELIER_TASK_HARD_TIME_LIMIT
    assert settings.ATELIER_BROKER_VISIBILITY_TIMEOUT >= 2 * hard
    if settings.REDIS_URL:
        assert settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] >= 2 * hard
    redis = settings_in_a_fresh_process(
        "[settings.CELERY_BROKER_TRANSPORT_OPTIONS, settings.CELERY_TASK_TIME_LIMIT]",
        REDIS_URL="redis://127.0.0.1:6379/8",
    )
    options, redis_hard = redis
    assert options["visibility_timeout"] >= 2 * redis_hard, options


@pytest.mark.django_db
def test_a_submission_is_sent_with_its_phases_time_limits_never_above_the_hard_limit(make_submission, arena):
    submission = make_submission()
    phase = arena["phase"]

    hard, soft = submission_time_limits(submission.pk)

    assert hard == min(
        settings.ATELIER_TASK_HARD_TIME_LIMIT, phase.execution_time_limit + settings.ATELIER_SCORING_OVERHEAD_SECONDS
    )
    assert 0 < soft < hard <= settings.ATELIER_TASK_HARD_TIME_LIMIT
    assert settings.ATELIER_BROKER_VISIBILITY_TIMEOUT >= 2 * hard
    type(phase).objects.filter(pk=phase.pk).update(execution_time_limit=10**6)
    assert submission_time_limits(submission.pk)[0] == settings.ATELIER_TASK_HARD_TIME_LIMIT


@pytest.mark.django_db
def test_submission_process_goes_to_the_configured_gpu_queue_with_its_limits(make_submission, settings, monkeypatch):
    settings.ATELIER_GPU_QUEUE = "gpu-test-queue"
    submission = make_submission()
    captured: dict = {}

    def fake_send(self, name, args=None, **options):
        captured.update(options, name=name, args=args)

    monkeypatch.setattr("celery.Celery.send_task", fake_send)

    submission_send(submission_id=submission.pk)

    assert (captured["name"], captured["args"]) == (submission_process.name, [submission.pk])
    assert captured["queue"] == "gpu-test-queue"
    assert (captured["time_limit"], captured["soft_time_limit"]) == submission_time_limits(submission.pk)


def test_the_gpu_queue_setting_names_the_route_and_the_declared_queue():
    routes, queues = settings_in_a_fresh_process(
        "[settings.CELERY_TASK_ROUTES, [queue.name for queue in settings.CELERY_TASK_QUEUES]]",
        ATELIER_GPU_QUEUE="gpu-a100",
    )
    assert routes["scoring.*"] == {"queue": "gpu-a100"}
    assert routes["scoring.reconcile"] == {"queue": "default"}
    assert queues == ["gpu-a100", "default"]


def test_scoring_tasks_are_acknowledged_late_and_never_delayed():
    assert submission_process.acks_late is True
    assert submission_process.reject_on_worker_lost is True
    assert settings.CELERY_WORKER_PREFETCH_MULTIPLIER == 1
    with pytest.raises(ValueError, match="must not be sent with an ETA or countdown"):
        submission_process.apply_async(args=[1], countdown=30)


def test_the_reconciler_runs_every_minute_on_the_default_queue():
    entries = [entry for entry in settings.CELERY_BEAT_SCHEDULE.values() if entry["task"] == reconcile.name]
    assert len(entries) == 1
    assert entries[0]["schedule"] == 60.0
    assert entries[0]["options"]["queue"] == settings.CELERY_TASK_DEFAULT_QUEUE
    assert settings.CELERY_TASK_ROUTES["scoring.reconcile"] == {"queue": settings.CELERY_TASK_DEFAULT_QUEUE}


def test_a_heartbeat_longer_than_half_the_lease_is_refused_at_start():
    probe = (
        "import django\ntry:\n    django.setup()\nexcept Exception as error:\n    print(type(error).__name__, error)"
    )
    lease = {"ATELIER_LEASE_SECONDS": "30", "ATELIER_HEARTBEAT_SECONDS": "20"}
    result = python_run(probe, env=real_settings_environment(settings.VAR_DIR, **lease))
    assert "ImproperlyConfigured" in result.stdout, result.stdout + result.stderr
    assert "at most half of ATELIER_LEASE_SECONDS=30" in result.stdout


def test_private_storage_goes_to_s3_when_a_bucket_is_configured():
    storage, instance = settings_in_a_fresh_process(
        "[settings.STORAGES['private'], (lambda s: [type(s).__name__, s.bucket_name, s.addressing_style])("
        "__import__('gan_platform.storages').storages.private_storage())]",
        ATELIER_S3_BUCKET="atelier-private",
        ATELIER_S3_ENDPOINT_URL="http://minio:9000",
        ATELIER_S3_ACCESS_KEY_ID="atelier",
        ATELIER_S3_SECRET_ACCESS_KEY="secret-key",
    )
    assert storage["BACKEND"] == "storages.backends.s3.S3Storage"
    options = storage["OPTIONS"]
    assert options["bucket_name"] == "atelier-private"
    assert options["endpoint_url"] == "http://minio:9000"
    assert options["default_acl"] == "private"
    assert options["file_overwrite"] is False
    assert instance == ["S3Storage", "atelier-private", "path"], "django-storages accepts these options"
    local = settings_in_a_fresh_process("settings.STORAGES['private']")
    assert local["BACKEND"] == "django.core.files.storage.FileSystemStorage"
    assert local["OPTIONS"]["base_url"] is None
