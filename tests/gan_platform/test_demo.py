"""`make demo`'s server script serves the site with a worker running, and Ctrl-C or TERM stops every
process of it (the server, the worker, its pool children and beat) within 10 s."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
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


def demo_processes(var_dir) -> dict[int, str]:
    """Live (not zombie) processes started for the demo of ``var_dir``: pid -> command line. They carry
    ``ATELIER_VAR_DIR=var_dir`` in their environment, whatever process group or session they are in."""
    marker = f"ATELIER_VAR_DIR={var_dir}".encode()
    found: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as handle:
                if marker not in handle.read().split(b"\0"):
                    continue
            with open(f"/proc/{entry}/stat", "rb") as handle:
                state = handle.read().rsplit(b")", 1)[1].split()[0]
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                command = handle.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if state != b"Z":
            found[int(entry)] = command
    return found


def as_from_a_terminal():
    """A ``preexec_fn``: the demo starts with Ctrl-C and QUIT at their defaults, as a terminal's shell
    starts it, even when this suite was started in the background (a non-interactive shell starts a
    background command with INT and QUIT ignored, and bash cannot trap a signal ignored at its entry);
    and it gets TERM when this process dies (its TERM trap then stops the server and the worker)."""
    death_signal = dies_with_parent()

    def prepare() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGQUIT, signal.SIG_DFL)
        if death_signal is not None:
            death_signal()

    return prepare


@pytest.mark.parametrize("how", ["ctrl-c", "term-with-a-wedged-worker"])
def test_the_demo_serves_the_front_page_and_admin_login_and_stops_every_process_within_10_s(tmp_path, how):
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
            preexec_fn=as_from_a_terminal(),
        )
    try:
        front = wait_until(lambda: fetch(f"http://127.0.0.1:{port}/"), timeout=120, message="the front page")
        assert front[0] == 200 and "<h1>Competitions</h1>" in front[1]
        login = fetch(f"http://127.0.0.1:{port}/admin/login/")
        assert login is not None and login[0] == 200 and 'name="password"' in login[1]
        wait_until(lambda: " ready." in log_path.read_text(errors="replace"), timeout=120, message="the worker")
        running = demo_processes(tmp_path)
        workers = [pid for pid, command in running.items() if "celery" in command]
        assert len(workers) >= 2, f"the worker and its pool children: {running}"

        if how == "ctrl-c":
            # when the user presses Ctrl-C (SIGINT to the terminal's foreground process group)
            os.killpg(demo.pid, signal.SIGINT)
        else:
            # when the worker's pool is wedged (a warm shutdown would wait for it forever) and the demo gets TERM
            main = min(workers)
            for pid in workers:
                if pid != main:
                    os.kill(pid, signal.SIGSTOP)
            demo.send_signal(signal.SIGTERM)
        started = time.monotonic()
        assert demo.wait(timeout=60) == 0, "Ctrl-C and TERM are the normal way out of the demo"
        wait_until(lambda: not demo_processes(tmp_path), timeout=15, interval=0.1, message="every demo process to end")
        elapsed = time.monotonic() - started
    except BaseException:
        print(log_path.read_text(errors="replace")[-5000:])
        raise
    finally:
        stop_process_group(demo)
        for pid in demo_processes(tmp_path):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    # then the server, the worker and its pool children are all gone, within 10 s
    assert elapsed < 10, f"the demo took {elapsed:.1f} s to stop"
    assert fetch(f"http://127.0.0.1:{port}/") is None
    assert demo_processes(tmp_path) == {}
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
