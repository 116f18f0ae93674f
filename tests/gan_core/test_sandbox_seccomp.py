"""The sandbox's kernel surface: every capability set empty, and the seccomp filter denying, call
by call, what a generator never needs, while a real generator still runs.

The calls are made with ``syscall(2)`` by the test-only child ``tests.gan_core.hostile_child``
started through :func:`gan_core.sandbox.run_in_sandbox` (the worker's own bubblewrap command).
Many denied calls also fail without a filter for lack of privilege, so the filter is also built
with a second errno (``ENOTRECOVERABLE``, which no call here returns on its own): every denied call
must then answer that errno, which only the filter can have produced.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

import pytest

from gan_core import sandbox, syscall_filter
from gan_core.contract import GeneratorContract
from tests.gan_core.sandbox_support import (
    TEST_LIMITS,
    ensure_bubblewrap,
    run_hostile_child,
    write_images,
    write_tiny_onnx,
)

pytestmark = pytest.mark.needs_bwrap

CLONE_NEWUSER = syscall_filter.CLONE_NAMESPACE_FLAGS["CLONE_NEWUSER"]
SIGCHLD = 17
#: Arguments that make a call do something observable, where zeros would not (others get zeros).
SPECIAL_ARGUMENTS = {
    "unshare": [CLONE_NEWUSER],
    "clone": [CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0],
    "personality": [0x0040000],  # ADDR_NO_RANDOMIZE
    "ptrace": [16, 1, 0, 0],  # PTRACE_ATTACH to pid 1 (zeros would be PTRACE_TRACEME, which stops the probe)
    "ioctl": [0, syscall_filter.DENIED_IOCTLS["TIOCSTI"], 0],
}


@pytest.fixture(scope="module", autouse=True)
def bwrap() -> str:
    ensure_bubblewrap()
    if not syscall_filter.available():
        pytest.skip("needs libseccomp2 and pyseccomp (requirements.txt)")
    return "bwrap"


def native_calls() -> list[dict[str, Any]]:
    """Each denied call this architecture has, with its number and arguments."""
    import pyseccomp

    arch = pyseccomp.system_arch()
    names = [*syscall_filter.denied_names(), "clone", "clone3", "personality", "ioctl"]
    calls = []
    for name in names:
        number = pyseccomp.resolve_syscall(arch, name)
        if number >= 0:
            calls.append({"name": name, "number": number, "args": SPECIAL_ARGUMENTS.get(name, [0] * 6)})
    return calls


def run_probe(tmp_path: Path, *arguments: str) -> dict[str, Any]:
    outcome = run_hostile_child(tmp_path, *arguments)
    assert outcome.result is not None and outcome.returncode == 0, outcome.log_tail
    return outcome.result


@pytest.mark.parametrize("denied_errno", [errno.EPERM, errno.ENOTRECOVERABLE], ids=["EPERM", "control-ENOTRECOVERABLE"])
def test_each_denied_call_fails_with_the_filter_errno_inside_the_sandbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, denied_errno: int
) -> None:
    # given the sandbox's filter answering denied calls with denied_errno
    monkeypatch.setattr(syscall_filter, "DENIED_ERRNO", denied_errno)
    calls = native_calls()
    assert len(calls) >= 50
    # when the sandboxed child makes every one of them
    result = run_probe(tmp_path, "syscalls", "--calls", json.dumps(calls))
    denied = result["denied"]
    # then each failed with that errno (clone3 with ENOSYS, so the C library falls back to clone)
    expected_name = errno.errorcode[denied_errno]
    wrong = {
        name: answer for name, answer in denied.items() if answer != ("ENOSYS" if name == "clone3" else expected_name)
    }
    assert wrong == {}
    assert set(denied) == {call["name"] for call in calls}
    # and what a generator needs still works: fork (clone without CLONE_NEW*), threads, files
    assert result["allowed"] == {"fork": "exit 7", "threads": "4", "write": "5"}


def test_unshare_of_a_user_namespace_fails_and_nothing_changed(tmp_path: Path) -> None:
    calls = [
        {"name": "unshare", "number": _number("unshare"), "args": [CLONE_NEWUSER]},
        {"name": "clone", "number": _number("clone"), "args": [CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0]},
    ]
    result = run_probe(tmp_path, "syscalls", "--calls", json.dumps(calls))
    assert result["denied"] == {"unshare": "EPERM", "clone": "EPERM"}


def test_every_capability_set_is_empty_with_no_new_privileges_and_a_filter(tmp_path: Path) -> None:
    status = run_probe(tmp_path, "identity")["status"]
    for name in ("CapBnd", "CapInh", "CapAmb", "CapEff", "CapPrm"):
        assert status[name] == ["0000000000000000"], (name, status)
    assert status["NoNewPrivs"] == ["1"]
    assert status["Seccomp"] == ["2"]  # filter mode


def test_the_bubblewrap_command_hands_over_the_compiled_filter(tmp_path: Path) -> None:
    descriptor = syscall_filter.filter_descriptor()
    try:
        command = sandbox.sandbox_command(
            bwrap="bwrap",
            argv=["true"],
            read_only=[],
            device="cpu",
            limits=TEST_LIMITS,
            seccomp_fd=descriptor,
        )
        program = os.pread(descriptor, 1 << 20, 0)
    finally:
        os.close(descriptor)
    assert command[command.index("--seccomp") + 1] == str(descriptor)
    assert program == syscall_filter.compiled_filter() and len(program) % 8 == 0 and program


def test_without_libseccomp_the_sandbox_refuses_to_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def unavailable(denied_errno: int | None = None) -> bytes:
        raise syscall_filter.SyscallFilterUnavailable("libseccomp is missing")

    monkeypatch.setattr(syscall_filter, "compiled_filter", unavailable)
    with pytest.raises(sandbox.SandboxError) as refused:
        run_hostile_child(tmp_path, "identity")
    assert refused.value.code == "sandbox_unavailable"
    assert "libseccomp" in refused.value.message
    # and the worker's choice of isolation no longer picks bubblewrap, so ONNX is refused
    monkeypatch.setattr(syscall_filter, "available", lambda: False)
    model = tmp_path / "model.onnx"
    write_tiny_onnx(model)
    with pytest.raises(sandbox.SandboxError) as onnx_refused:
        sandbox.run_generator(
            checkpoint=model,
            inputs=write_images(tmp_path / "inputs", 1),
            output_dir=tmp_path / "onnx-out",
            contract=GeneratorContract(),
            limits=TEST_LIMITS,
        )
    assert onnx_refused.value.code == "sandbox_unavailable"


def test_a_real_onnx_generator_still_runs_under_the_filter(tmp_path: Path) -> None:
    model = tmp_path / "model.onnx"
    write_tiny_onnx(model)
    inputs = write_images(tmp_path / "inputs", 3)
    run = sandbox.run_generator(
        checkpoint=model, inputs=inputs, output_dir=tmp_path / "out", contract=GeneratorContract(), limits=TEST_LIMITS
    )
    assert run.isolation is sandbox.IsolationMode.BUBBLEWRAP
    assert [path.name for path in run.outputs] == [path.name for path in inputs]


def _number(name: str) -> int:
    import pyseccomp

    return int(pyseccomp.resolve_syscall(pyseccomp.system_arch(), name))


def test_the_parent_accepts_only_a_tmpfs_folder_within_the_cap_as_the_output_mount(tmp_path: Path) -> None:
    # a folder of the repository's file system, a regular file: refused
    folder = os.open(sandbox.code_root(), os.O_RDONLY | os.O_DIRECTORY)
    regular = os.open(__file__, os.O_RDONLY)
    try:
        if os.statvfs(sandbox.code_root()).f_blocks and not _on_tmpfs(sandbox.code_root()):
            assert sandbox._is_output_mount(folder, TEST_LIMITS) is False
        assert sandbox._is_output_mount(regular, TEST_LIMITS) is False
    finally:
        os.close(folder)
        os.close(regular)
    # the real hand-over is exercised by every sandboxed run: its outputs come back through it
    result = run_probe(tmp_path, "fill-output", "--bytes", str(2 * 1024**2))
    assert (result["wrote"], result["stopped"]) == (2 * 1024**2, None)
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["fill-00000.bin", "fill-00001.bin"]


def _on_tmpfs(path: Path) -> bool:
    best = ""
    kind = ""
    for line in Path("/proc/self/mounts").read_text().splitlines():
        _device, mount_point, fs_type, *_ = line.split()
        if str(path).startswith(mount_point) and len(mount_point) > len(best):
            best, kind = mount_point, fs_type
    return kind == "tmpfs"
