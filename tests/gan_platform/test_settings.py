"""Settings resolve from the environment both ways, and production fails closed."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys

import pytest

from tests.support.processes import REPO_ROOT

PROBE = r"""
import json, django
from django.conf import settings
django.setup()
from gan_platform.celery import app
db = settings.DATABASES["default"]
print(json.dumps({
    "engine": db["ENGINE"], "name": str(db["NAME"]), "host": db.get("HOST"),
    "conn_max_age": db.get("CONN_MAX_AGE"), "conn_health_checks": db.get("CONN_HEALTH_CHECKS"),
    "test_name": db.get("TEST", {}).get("NAME"),
    "cache": settings.CACHES["default"]["BACKEND"], "cache_location": settings.CACHES["default"].get("LOCATION"),
    "broker": app.conf.broker_url, "transport_options": app.conf.broker_transport_options,
    "serializer": app.conf.task_serializer, "accept": list(app.conf.accept_content),
    "result_backend": app.conf.result_backend, "ignore_result": app.conf.task_ignore_result,
    "acks_late": app.conf.task_acks_late, "reject_on_worker_lost": app.conf.task_reject_on_worker_lost,
    "prefetch": app.conf.worker_prefetch_multiplier, "queues": sorted(q.name for q in app.conf.task_queues),
    "default_queue": app.conf.task_default_queue, "time_limit": app.conf.task_time_limit,
    "debug": settings.DEBUG, "private_root": str(settings.PRIVATE_ROOT), "media_root": str(settings.MEDIA_ROOT),
}))
"""

CONFIG_VARIABLES = (
    "DATABASE_URL",
    "REDIS_URL",
    "DJANGO_DEBUG",
    "DJANGO_SECRET_KEY",
    "DJANGO_ALLOWED_HOSTS",
    "ATELIER_TASK_HARD_TIME_LIMIT",
    "ATELIER_BROKER_VISIBILITY_TIMEOUT",
    "DJANGO_ALLOW_ASYNC_UNSAFE",  # the browser tests set it for their own process
)


def run_python(code: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in CONFIG_VARIABLES}
    clean["DJANGO_SETTINGS_MODULE"] = "gan_platform.settings"
    clean.update(env)
    return subprocess.run(
        [sys.executable, *(["-c", code] if code else []), *args],
        cwd=REPO_ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


def resolved(env: dict[str, str]) -> dict:
    result = run_python(PROBE, env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_embedded_defaults_use_sqlite_the_filesystem_broker_and_local_memory(tmp_path):
    # given nothing configured but a var folder
    config = resolved({"ATELIER_VAR_DIR": str(tmp_path)})

    assert config["engine"] == "django.db.backends.sqlite3"
    assert config["name"] == str(tmp_path / "db.sqlite3")
    assert config["test_name"] == str(tmp_path / "test-db.sqlite3"), "tests must use a file a worker can open"
    assert config["broker"] == "filesystem://"
    assert config["transport_options"]["data_folder_in"] == str(tmp_path / "broker" / "queue")
    assert config["cache"] == "django.core.cache.backends.locmem.LocMemCache"
    assert config["private_root"] == str(tmp_path / "private")
    assert config["media_root"] == str(tmp_path / "media")
    assert (tmp_path / "broker" / "queue").is_dir(), "the filesystem broker needs its folder"
    assert config["debug"] is True


def test_database_and_redis_urls_switch_to_postgresql_and_redis(tmp_path):
    config = resolved(
        {
            "ATELIER_VAR_DIR": str(tmp_path),
            "DATABASE_URL": "postgres://atelier:secret@db.internal:5433/atelier",
            "REDIS_URL": "redis://cache.internal:6379/2",
        }
    )

    assert config["engine"] == "django.db.backends.postgresql"
    assert (config["name"], config["host"]) == ("atelier", "db.internal")
    assert config["conn_max_age"] == 600
    assert config["conn_health_checks"] is True
    assert config["broker"] == "redis://cache.internal:6379/2"
    assert config["cache"] == "django.core.cache.backends.redis.RedisCache"
    assert config["cache_location"] == "redis://cache.internal:6379/3", "cache and broker use separate databases"


def test_celery_is_configured_for_at_least_once_delivery_without_a_result_backend(tmp_path):
    config = resolved({"ATELIER_VAR_DIR": str(tmp_path), "REDIS_URL": "redis://127.0.0.1:6379/0"})

    assert config["serializer"] == "json"
    assert config["accept"] == ["json"]
    assert config["result_backend"] is None
    assert config["ignore_result"] is True
    assert config["acks_late"] is True
    assert config["reject_on_worker_lost"] is True
    assert config["prefetch"] == 1
    assert config["queues"] == ["default", "gpu"]
    assert config["default_queue"] == "default"
    # Redis re-delivers unacknowledged messages after the visibility timeout,
    # running or not: it must exceed twice the hard time limit.
    assert config["transport_options"]["visibility_timeout"] >= 2 * config["time_limit"]


def test_a_visibility_timeout_below_twice_the_hard_limit_is_refused(tmp_path):
    result = run_python(
        PROBE,
        {
            "ATELIER_VAR_DIR": str(tmp_path),
            "ATELIER_TASK_HARD_TIME_LIMIT": "3600",
            "ATELIER_BROKER_VISIBILITY_TIMEOUT": "3600",
        },
    )

    assert result.returncode != 0
    assert "ATELIER_BROKER_VISIBILITY_TIMEOUT=3600 must be at least twice" in result.stderr


def test_production_without_a_secret_key_refuses_to_start(tmp_path):
    result = run_python(PROBE, {"ATELIER_VAR_DIR": str(tmp_path), "DJANGO_DEBUG": "0"})

    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set and DJANGO_DEBUG is off" in result.stderr


def test_a_malformed_boolean_names_the_variable(tmp_path):
    result = run_python(PROBE, {"ATELIER_VAR_DIR": str(tmp_path), "DJANGO_DEBUG": "maybe"})

    assert result.returncode != 0
    assert "DJANGO_DEBUG='maybe' is not a boolean" in result.stderr


@pytest.mark.slow
def test_check_deploy_is_clean_with_production_settings(tmp_path):
    env = {
        "ATELIER_VAR_DIR": str(tmp_path),
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "atelier.example.org",
        "DATABASE_URL": "postgres://atelier:secret@127.0.0.1:5432/atelier",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
    }
    result = run_python("", env, "manage.py", "check", "--deploy", "--fail-level", "WARNING")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
