"""docker-compose.yml is well formed and complete (no Docker engine runs here to try it)."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.support.processes import REPO_ROOT


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())


def test_the_stack_has_every_service(compose):
    assert {"postgres", "redis", "web", "worker", "beat"} <= set(compose["services"])


def test_redis_keeps_its_queue_on_disk(compose):
    command = " ".join(compose["services"]["redis"]["command"])
    assert "--appendonly yes" in command


def test_web_runs_gunicorn_and_the_worker_consumes_the_gpu_queue_one_task_at_a_time(compose):
    services = compose["services"]
    assert services["web"]["command"][0] == "gunicorn"
    assert "gan_platform.wsgi:application" in services["web"]["command"]
    worker = services["worker"]["command"]
    assert worker[:4] == ["celery", "-A", "gan_platform", "worker"]
    assert worker[worker.index("--queues") + 1] == "gpu"
    assert worker[worker.index("--concurrency") + 1] == "1"
    assert worker[worker.index("--prefetch-multiplier") + 1] == "1"
    assert services["beat"]["command"][:4] == ["celery", "-A", "gan_platform", "beat"]


def test_the_worker_reserves_a_gpu(compose):
    devices = compose["services"]["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]


def test_application_services_share_one_image_and_one_environment(compose):
    services = compose["services"]
    app_services = ["web", "worker", "beat"]
    images = {services[name]["image"] for name in app_services}
    builds = {services[name]["build"] for name in app_services}
    assert images == {"atelier:latest"} and builds == {"."}
    environments = [services[name]["environment"] for name in app_services]
    assert all(env == environments[0] for env in environments)
    env = environments[0]
    assert env["DATABASE_URL"].startswith("postgres://") and "@postgres:5432/" in env["DATABASE_URL"]
    assert env["REDIS_URL"] == "redis://redis:6379/0"
    assert env["DJANGO_DEBUG"] == "0"
    assert re.fullmatch(r"\$\{DJANGO_SECRET_KEY:\?.+\}", env["DJANGO_SECRET_KEY"]), "the secret must be required"
    assert (REPO_ROOT / services["web"]["build"] / "Dockerfile").is_file()


def test_every_variable_the_stack_sets_is_documented_in_the_readme(compose):
    readme = (REPO_ROOT / "README.md").read_text()
    for name in compose["services"]["web"]["environment"]:
        assert f"`{name}`" in readme, f"{name} is set by docker-compose.yml but missing from the README's table"
