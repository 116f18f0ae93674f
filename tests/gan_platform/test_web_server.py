"""gunicorn.conf.py: its values and their ATELIER_WEB_* overrides, and a real gunicorn serving with it."""

from __future__ import annotations

import http.client
import os
import runpy
import subprocess
import sys
import time

import pytest

from tests.support.processes import REPO_ROOT, dies_with_parent, free_port

CONFIG = REPO_ROOT / "gunicorn.conf.py"
WEB_VARIABLES = [name for name in os.environ if name.startswith("ATELIER_WEB_")]


def load_config(monkeypatch, **env: str) -> dict:
    for name in WEB_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(CONFIG))


def test_the_defaults_use_threads_and_one_worker_per_cpu(monkeypatch):
    config = load_config(monkeypatch)
    assert config["worker_class"] == "gthread"
    assert config["workers"] == max(2, len(os.sched_getaffinity(0)))
    assert config["threads"] == 4
    assert config["timeout"] == 60 and config["graceful_timeout"] == 30 and config["keepalive"] == 5
    assert config["max_requests"] == 20000 and config["max_requests_jitter"] == 2000
    assert config["bind"] == ["0.0.0.0:8000"]
    assert config["accesslog"] == "-"


def test_every_value_is_overridden_by_its_environment_variable(monkeypatch):
    config = load_config(
        monkeypatch,
        ATELIER_WEB_BIND="127.0.0.1:9001,unix:/tmp/atelier.sock",
        ATELIER_WEB_WORKERS="7",
        ATELIER_WEB_THREADS="9",
        ATELIER_WEB_TIMEOUT="45",
        ATELIER_WEB_GRACEFUL_TIMEOUT="11",
        ATELIER_WEB_KEEPALIVE="3",
        ATELIER_WEB_MAX_REQUESTS="500",
        ATELIER_WEB_MAX_REQUESTS_JITTER="50",
        ATELIER_WEB_ACCESS_LOG="off",
        ATELIER_WEB_LOG_LEVEL="warning",
    )
    assert config["bind"] == ["127.0.0.1:9001", "unix:/tmp/atelier.sock"]
    assert (config["workers"], config["threads"], config["timeout"]) == (7, 9, 45)
    assert (config["graceful_timeout"], config["keepalive"]) == (11, 3)
    assert (config["max_requests"], config["max_requests_jitter"]) == (500, 50)
    assert config["accesslog"] is None and config["loglevel"] == "warning"


@pytest.mark.parametrize(("name", "value"), [("ATELIER_WEB_WORKERS", "many"), ("ATELIER_WEB_THREADS", "0")])
def test_a_wrong_value_stops_with_its_name(monkeypatch, name, value):
    with pytest.raises(SystemExit, match=name):
        load_config(monkeypatch, **{name: value})


@pytest.mark.slow
def test_gunicorn_serves_the_site_with_this_configuration(tmp_path):
    # given gunicorn started with the checked-in configuration on a free loopback port
    port = free_port()
    env = {name: value for name, value in os.environ.items() if not name.startswith("ATELIER_WEB_")}
    env.update(
        DJANGO_SETTINGS_MODULE="gan_platform.settings",  # the production settings, not the test run's
        ATELIER_WEB_BIND=f"127.0.0.1:{port}",
        ATELIER_WEB_WORKERS="2",
        ATELIER_WEB_THREADS="2",
        ATELIER_VAR_DIR=str(tmp_path),
    )
    log = (tmp_path / "gunicorn.log").open("wb")
    gunicorn = [sys.executable, "-m", "gunicorn", "-c", str(CONFIG), "gan_platform.wsgi:application"]
    process = subprocess.Popen(
        gunicorn, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=dies_with_parent()
    )
    try:
        # when the liveness page is requested
        deadline = time.monotonic() + 30
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", "/healthz")
                response = connection.getresponse()
                break
            except OSError:
                assert process.poll() is None, (tmp_path / "gunicorn.log").read_text()
                assert time.monotonic() < deadline, "gunicorn did not answer within 30 s"
                time.sleep(0.2)
        # then it answers, and the log shows the gthread workers
        assert response.status == 200 and response.read() == b"ok\n"
        connection.close()
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
    text = (tmp_path / "gunicorn.log").read_text()
    assert "Using worker: gthread" in text
    assert text.count("Booting worker with pid") >= 2
