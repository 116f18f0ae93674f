"""A child started with ``dies_with_parent()`` does not outlive the process that started it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.processes import REPO_ROOT, wait_until

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl(PR_SET_PDEATHSIG) is Linux only")

# The child: start a sleeping grandchild with the helper, print its pid, then sleep too.
CHILD = r"""
import subprocess, sys, time
from tests.support.processes import dies_with_parent
grandchild = subprocess.Popen(
    [sys.executable, "-c", "import time; time.sleep(120)"], preexec_fn=dies_with_parent()
)
print(grandchild.pid, flush=True)
time.sleep(120)
"""


def alive(pid: int) -> bool:
    """Whether ``pid`` runs: a zombie (dead, not reaped yet by its new parent) counts as gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in {"Z", "X"}


def test_a_grandchild_started_with_dies_with_parent_is_gone_soon_after_its_parent_is_killed():
    # given a child python that started a grandchild with the helper
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    grandchild_pid = None
    try:
        grandchild_pid = int(child.stdout.readline())
        assert alive(grandchild_pid)
        time.sleep(0.2)
        assert alive(grandchild_pid), "the grandchild should sleep while its parent lives"

        # when the child is killed, with no chance to clean up
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)

        # then the grandchild gets its signal and is gone within a few seconds
        wait_until(lambda: not alive(grandchild_pid), timeout=5, interval=0.05, message="the grandchild to die")
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)
        child.stdout.close()
        if grandchild_pid is not None and alive(grandchild_pid):
            os.kill(grandchild_pid, signal.SIGKILL)
