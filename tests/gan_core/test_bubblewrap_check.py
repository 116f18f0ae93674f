"""Whether bubblewrap works is checked once and remembered when it did; a failed check is tried again
after a while, so that a check that failed for a moment (a timeout on a loaded machine) does not
downgrade, or refuse, every later run of a worker."""

from __future__ import annotations

import subprocess

import pytest

from gan_core.sandbox import command


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def check(monkeypatch):
    """A fresh check whose ``subprocess.run`` answers from ``answers`` (True: exit 0, False: exit 1,
    an exception: raised) and counts its calls; ``check.clock`` is its time."""
    clock = Clock()
    monkeypatch.setattr(command.time, "monotonic", clock)
    fresh = command._BubblewrapCheck()
    fresh.answers = []
    fresh.calls = []
    fresh.clock = clock

    def run(argv, **kwargs):
        fresh.calls.append(argv)
        answer = fresh.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return subprocess.CompletedProcess(argv, 0 if answer else 1, b"", b"")

    monkeypatch.setattr(command.subprocess, "run", run)
    return fresh


def test_a_failed_check_is_believed_for_a_while_then_tried_again(check):
    check.answers = [subprocess.TimeoutExpired("bwrap", 20), True]

    assert check("/usr/bin/bwrap", True) is False
    check.clock.now += command.RECHECK_FAILED_SECONDS - 1
    assert check("/usr/bin/bwrap", True) is False
    assert len(check.calls) == 1, "within the pause the failure is remembered"

    check.clock.now += 2
    assert check("/usr/bin/bwrap", True) is True
    assert len(check.calls) == 2
    assert check.calls[1][0] == "/usr/bin/bwrap" and check.calls[1][-1] == "true"


def test_a_working_bubblewrap_is_checked_once(check):
    check.answers = [True]

    assert check("/usr/bin/bwrap", False) is True
    check.clock.now += 10 * command.RECHECK_FAILED_SECONDS
    assert check("/usr/bin/bwrap", False) is True
    assert len(check.calls) == 1


def test_each_executable_and_user_is_checked_on_its_own(check):
    check.answers = [False, True, OSError("no such file")]

    assert check("/usr/bin/bwrap", True) is False
    assert check("/usr/bin/bwrap", False) is True
    assert check("/opt/bwrap", False) is False
    assert [argv[0] for argv in check.calls] == ["/usr/bin/bwrap", "/usr/bin/bwrap", "/opt/bwrap"]


def test_cache_clear_forgets_both_answers(check):
    check.answers = [True, False, True]
    assert check("/usr/bin/bwrap", True) is True
    check.cache_clear()
    assert check("/usr/bin/bwrap", True) is False
    check.cache_clear()
    assert check("/usr/bin/bwrap", True) is True
    assert len(check.calls) == 3
