"""`make demo`'s server script serves the site with a worker running, and Ctrl-C stops both."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request

import pytest

from tests.support.processes import REPO_ROOT, dies_with_parent, free_port, stop_process_group, wait_until

pytestmark = pytest.mark.slow


def fetch(url: str) -> tuple[int, str] | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except OSError:
        return None


def test_the_demo_serves_the_front_page_and_admin_login_and_stops_on_ctrl_c(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    port = free_port()
    env.update(ATELIER_VAR_DIR=str(tmp_path), ATELIER_DEMO_PORT=str(port), OMP_NUM_THREADS="1")
    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"], cwd=REPO_ROOT, env=env, capture_output=True, timeout=300
    )
    assert migrate.returncode == 0, migrate.stderr

    log_path = tmp_path / "demo.log"
    with open(log_path, "wb") as log:
        demo = subprocess.Popen(
            ["scripts/run-demo"],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=dies_with_parent(),  # its TERM trap then stops the server and the worker
        )
    try:
        front = wait_until(lambda: fetch(f"http://127.0.0.1:{port}/"), timeout=120, message="the front page")
        assert front[0] == 200 and "<h1>Competitions</h1>" in front[1]
        login = fetch(f"http://127.0.0.1:{port}/admin/login/")
        assert login is not None and login[0] == 200 and 'name="password"' in login[1]
        wait_until(lambda: " ready." in log_path.read_text(errors="replace"), timeout=120, message="the worker")

        # when the user presses Ctrl-C (SIGINT to the foreground process group)
        os.killpg(demo.pid, signal.SIGINT)
        assert demo.wait(timeout=60) == 0, "Ctrl-C is the normal way out of the demo"
    except BaseException:
        print(log_path.read_text(errors="replace")[-5000:])
        raise
    finally:
        stop_process_group(demo)

    # then the server and the worker are both gone
    assert fetch(f"http://127.0.0.1:{port}/") is None
    leftovers = subprocess.run(["pgrep", "-f", f"runserver --noreload 127.0.0.1:{port}"], capture_output=True)
    assert leftovers.stdout == b"", "the web server survived Ctrl-C"
    assert "Atelier demo stopped." in log_path.read_text(errors="replace")


@pytest.mark.django_db
def test_load_demo_creates_an_organizer_who_can_log_in_and_is_idempotent(client, settings):
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    settings.DEBUG = True  # the demo runs in development mode; the test runner turns DEBUG off

    call_command("load_demo")
    call_command("load_demo")

    users = get_user_model().objects.filter(username="admin")
    assert users.count() == 1 and users.get().is_superuser
    assert client.login(username="admin", password="atelier-demo")
    assert client.get("/admin/").status_code == 200


def test_load_demo_refuses_to_run_in_production(settings):
    from django.core.management import CommandError, call_command

    settings.DEBUG = False
    with pytest.raises(CommandError, match="runs only with DJANGO_DEBUG=1"):
        call_command("load_demo")
