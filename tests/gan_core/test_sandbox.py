"""The sandboxed runner's mechanics: the bubblewrap command, identity and limits, the protocol,
outputs and their re-validation, and the policy where bubblewrap is missing."""

from __future__ import annotations

import dataclasses
import os
import signal
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gan_core import sandbox
from gan_core.contract import GeneratorContract
from gan_core.failures import FailureCode
from gan_core.generators import parameter_count
from tests.gan_core.sandbox_support import (
    TEST_LIMITS,
    TINY_CONFIG,
    ensure_bubblewrap,
    onnx_returning_nan,
    run_hostile_child,
    write_images,
    write_tiny_onnx,
    write_tiny_safetensors,
)

CONTRACT = GeneratorContract()
ALLOWED_ENVIRONMENT = {
    "PATH",
    "HOME",
    "LANG",
    "PYTHONPATH",
    "PYTHONDONTWRITEBYTECODE",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "PWD",  # set by the shell-less exec of bubblewrap's --chdir
}


@pytest.fixture
def secrets_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://atelier:secret@127.0.0.1:5432/atelier")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("DJANGO_SECRET_KEY", "not-for-participants")


def _identity(tmp_path: Path, limits: sandbox.SandboxLimits = TEST_LIMITS) -> dict:
    outcome = run_hostile_child(tmp_path, "identity", limits=limits)
    assert outcome.result is not None, outcome.log_tail
    return outcome.result


# --------------------------------------------------------------------------- the command


@pytest.mark.needs_bwrap
def test_the_bubblewrap_command_drops_network_environment_and_host_folders(
    tmp_path: Path, secrets_in_environment: None
) -> None:
    bwrap = ensure_bubblewrap()
    command = sandbox.sandbox_command(
        bwrap=bwrap,
        argv=["python", "-m", "gan_core.runner_child"],
        read_only=[(tmp_path / "model.safetensors", "/job/checkpoint")],
        device="cpu",
        limits=TEST_LIMITS,
    )
    text = " ".join(command)
    for flag in ("--die-with-parent", "--new-session", "--clearenv", "--cap-drop ALL"):
        assert flag in text
    assert "--unshare-net" in command or "--unshare-all" in command
    # nothing of the host is writable: /tmp and the output are private tmpfs of bounded size
    binds = [(command[i], command[i + 1], command[i + 2]) for i, a in enumerate(command) if a.endswith("bind")]
    assert [(source, target) for kind, source, target in binds if kind == "--bind"] == []
    tmpfs = {command[i + 1]: command[i - 4 : i] for i, a in enumerate(command) if a == "--tmpfs"}
    assert set(tmpfs) == {"/tmp", sandbox.OUTPUT_MOUNT}
    assert tmpfs["/tmp"][:2] == ["--size", str(TEST_LIMITS.tmpfs_bytes)]
    assert tmpfs[sandbox.OUTPUT_MOUNT][:2] == ["--size", str(TEST_LIMITS.max_output_bytes)]
    # never the host's /run, /tmp, /etc, home, or the repository around gan_core
    sources = {source for _kind, source, _target in binds}
    for forbidden in ("/run", "/tmp", "/etc", "/var", str(Path.home()), str(sandbox.code_root()), "/"):
        assert forbidden not in sources
    assert str(sandbox.code_root() / "gan_core") in sources
    # only the whitelisted variables are set, and no secret reaches the command line
    names = {command[i + 1] for i, a in enumerate(command) if a == "--setenv"}
    assert names <= ALLOWED_ENVIRONMENT
    assert "secret" not in text and "6379" not in text


@pytest.mark.needs_bwrap
def test_the_child_runs_unprivileged_alone_with_a_clean_environment_and_its_limits(
    tmp_path: Path, secrets_in_environment: None
) -> None:
    ensure_bubblewrap()
    identity = _identity(tmp_path)
    status = identity["status"]
    assert status["Uid"] == [str(sandbox.SANDBOX_UID)] * 4
    assert status["Gid"] == [str(sandbox.SANDBOX_GID)] * 4
    assert status["CapEff"] == ["0000000000000000"] and status["CapPrm"] == ["0000000000000000"]
    assert status["NoNewPrivs"] == ["1"]
    assert identity["regained_root"] is False
    # its own PID namespace: only bubblewrap's init and itself
    assert max(identity["pids_visible"]) < 10
    assert set(identity["environment"]) <= ALLOWED_ENVIRONMENT
    assert "DATABASE_URL" not in identity["environment"]
    assert "run" not in identity["root_entries"] and "home" not in identity["root_entries"]
    rlimits = identity["rlimits"]
    assert rlimits["CORE"] == [0, 0]
    assert rlimits["CPU"][0] == TEST_LIMITS.effective_cpu_seconds
    assert rlimits["FSIZE"] == [TEST_LIMITS.max_file_bytes] * 2
    assert rlimits["NOFILE"] == [TEST_LIMITS.max_open_files] * 2
    # RLIMIT_NPROC counts all tasks of the uid on the host: the limit is what it has plus max_processes
    assert rlimits["NPROC"][0] == rlimits["NPROC"][1] >= TEST_LIMITS.max_processes


@pytest.mark.needs_bwrap
def test_the_child_cannot_start_more_tasks_than_the_process_limit(tmp_path: Path) -> None:
    ensure_bubblewrap()
    limits = dataclasses.replace(TEST_LIMITS, max_processes=32)
    outcome = run_hostile_child(tmp_path, "threads", "--bytes", "500", limits=limits)
    assert outcome.result is not None, outcome.log_tail
    assert 0 < outcome.result["started"] < 32


# --------------------------------------------------------------------------- generator runs


@pytest.mark.needs_bwrap
def test_run_generator_writes_one_png_per_input_named_like_it_and_reports_progress_and_figures(tmp_path: Path) -> None:
    ensure_bubblewrap()
    # given a tiny generator and three images, the last of another size
    checkpoint = tmp_path / "tiny.safetensors"
    write_tiny_safetensors(checkpoint)
    inputs = write_images(tmp_path / "in", 2) + write_images(tmp_path / "in2", 1, height=32, width=48)
    wide = inputs[2].rename(tmp_path / "in2" / "wide.jpg.png")
    inputs[2] = wide
    progress: list[tuple[int, int]] = []
    # when it runs in the sandbox with batches of two
    result = sandbox.run_generator(
        checkpoint=checkpoint,
        inputs=inputs,
        output_dir=tmp_path / "out",
        contract=CONTRACT,
        limits=TEST_LIMITS,
        batch_size=2,
        on_progress=lambda done, total: progress.append((done, total)),
    )
    # then outputs are named like the inputs, are RGB PNGs of the input's size, and figures are filled in
    assert [p.name for p in result.outputs] == ["image_000.png", "image_001.png", "wide.jpg.png"]
    sizes = []
    for path in result.outputs:
        with Image.open(path) as image:
            assert (image.format, image.mode) == ("PNG", "RGB")
            sizes.append(image.size)
    assert sizes == [(32, 32), (32, 32), (48, 32)]
    assert progress[0] == (0, 3) and progress[-1] == (3, 3)
    assert [done for done, _ in progress] == sorted(done for done, _ in progress)
    assert result.parameter_count == parameter_count(TINY_CONFIG)
    assert (result.images_done, result.images_total) == (3, 3)
    assert result.resolution == (32, 32)
    assert result.seconds_per_image > 0
    assert result.peak_memory_bytes > 50 * 1024**2
    assert result.raw_outputs == ()
    assert result.isolation is sandbox.IsolationMode.BUBBLEWRAP


@pytest.mark.needs_bwrap
def test_validate_checkpoint_reports_the_probe_run(tmp_path: Path) -> None:
    ensure_bubblewrap()
    checkpoint = tmp_path / "tiny.safetensors"
    write_tiny_safetensors(checkpoint)
    report = sandbox.validate_checkpoint(checkpoint, contract=CONTRACT, limits=TEST_LIMITS, probe_size=32)
    assert report.ok and report.code is None
    assert report.info is not None and report.info.architecture == "transformer_net"
    assert report.run is not None
    assert report.run.resolution == (32, 32)
    assert report.run.outputs == ()
    assert report.run.images_done == 1


@pytest.mark.needs_bwrap
def test_a_too_slow_generator_fails_validation_with_too_slow(tmp_path: Path) -> None:
    ensure_bubblewrap()
    checkpoint = tmp_path / "tiny.safetensors"
    write_tiny_safetensors(checkpoint)
    contract = GeneratorContract(max_seconds_per_image=1e-9)
    report = sandbox.validate_checkpoint(checkpoint, contract=contract, limits=TEST_LIMITS, probe_size=32)
    assert (report.ok, report.code) == (False, FailureCode.TOO_SLOW.value)
    assert "at most 1e-09 s" in (report.message or "")


@pytest.mark.needs_bwrap
def test_validate_then_run_stops_at_the_probe_before_touching_any_image(tmp_path: Path) -> None:
    ensure_bubblewrap()
    # given a model that returns NaN, and two content images
    model = tmp_path / "nan.onnx"
    model.write_bytes(onnx_returning_nan())
    inputs = write_images(tmp_path / "in", 2)
    progress: list[tuple[int, int]] = []
    # when it is validated and run in one child
    with pytest.raises(sandbox.SandboxError) as failed:
        sandbox.run_generator(
            checkpoint=model,
            inputs=inputs,
            output_dir=tmp_path / "out",
            contract=CONTRACT,
            limits=TEST_LIMITS,
            mode=sandbox.RunMode.VALIDATE_THEN_RUN,
            on_progress=lambda done, total: progress.append((done, total)),
        )
    # then the probe failed it: no image was started, nothing was written
    assert failed.value.code == FailureCode.NON_FINITE.value
    assert progress == []
    assert list((tmp_path / "out").iterdir()) == []


def test_a_refused_header_is_reported_without_starting_the_sandbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a pickle named like a safetensors file, and a sandbox that must not start
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00}\x94.")

    def must_not_run(**_: object) -> None:
        raise AssertionError("the sandbox was started for a refused header")

    monkeypatch.setattr("gan_core.sandbox.runs.run_in_sandbox", must_not_run)
    report = sandbox.validate_checkpoint(path, contract=CONTRACT, limits=TEST_LIMITS)
    assert (report.ok, report.code) == (False, FailureCode.UNSUPPORTED_FORMAT.value)
    assert report.run is None


def test_a_non_empty_output_folder_and_inputs_off_the_size_multiple_are_refused(tmp_path: Path) -> None:
    checkpoint = tmp_path / "tiny.safetensors"
    write_tiny_safetensors(checkpoint)
    used = tmp_path / "used"
    used.mkdir()
    (used / "old.png").write_bytes(b"")
    inputs = write_images(tmp_path / "in", 1)
    with pytest.raises(ValueError, match="not empty"):
        sandbox.run_generator(
            checkpoint=checkpoint, inputs=inputs, output_dir=used, contract=CONTRACT, limits=TEST_LIMITS
        )
    odd = write_images(tmp_path / "odd", 1, height=30, width=32)
    with pytest.raises(ValueError, match="not a multiple of 4"):
        sandbox.run_generator(
            checkpoint=checkpoint, inputs=odd, output_dir=tmp_path / "out", contract=CONTRACT, limits=TEST_LIMITS
        )
    same_stem = [inputs[0], *write_images(tmp_path / "again", 1)]
    with pytest.raises(ValueError, match="same name stem"):
        sandbox.run_generator(
            checkpoint=checkpoint, inputs=same_stem, output_dir=tmp_path / "out2", contract=CONTRACT, limits=TEST_LIMITS
        )


# --------------------------------------------------------------------------- without bubblewrap


def test_required_policy_refuses_everything_when_bubblewrap_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checkpoint = tmp_path / "tiny.safetensors"
    write_tiny_safetensors(checkpoint)
    monkeypatch.setattr("gan_core.sandbox.command.find_bubblewrap", lambda: None)
    monkeypatch.setenv(sandbox.SANDBOX_ENVIRONMENT_VARIABLE, "required")
    report = sandbox.validate_checkpoint(checkpoint, contract=CONTRACT, limits=TEST_LIMITS)
    assert (report.ok, report.code) == (False, FailureCode.SANDBOX_UNAVAILABLE.value)
    assert "apt-get install bubblewrap" in (report.message or "")
    assert "does not count against your quota" in (report.message or "")


def test_without_bubblewrap_safetensors_run_in_a_plain_child_and_onnx_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a worker without bubblewrap and the default policy
    safetensors_file = tmp_path / "tiny.safetensors"
    write_tiny_safetensors(safetensors_file)
    onnx_file = tmp_path / "tiny.onnx"
    write_tiny_onnx(onnx_file)
    monkeypatch.setattr("gan_core.sandbox.command.find_bubblewrap", lambda: None)
    monkeypatch.delenv(sandbox.SANDBOX_ENVIRONMENT_VARIABLE, raising=False)
    # when both are validated
    safe = sandbox.validate_checkpoint(safetensors_file, contract=CONTRACT, limits=TEST_LIMITS, probe_size=32)
    onnx = sandbox.validate_checkpoint(onnx_file, contract=CONTRACT, limits=TEST_LIMITS, probe_size=32)
    # then safetensors ran in a plain child process, and ONNX was refused with the reason
    assert safe.ok and safe.run is not None, (safe.code, safe.message)
    assert safe.run.isolation is sandbox.IsolationMode.PROCESS
    assert (onnx.ok, onnx.code) == (False, FailureCode.SANDBOX_UNAVAILABLE.value)
    assert "ONNX" in (onnx.message or "") and "apt-get install bubblewrap" in (onnx.message or "")


def test_an_unknown_sandbox_policy_is_refused_with_the_allowed_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(sandbox.SANDBOX_ENVIRONMENT_VARIABLE, "sometimes")
    with pytest.raises(ValueError, match="'required' or 'auto'"):
        sandbox.sandbox_policy()


# --------------------------------------------------------------------------- outcomes and outputs


def _outcome(**changes: object) -> sandbox.ChildOutcome:
    base = sandbox.ChildOutcome(
        result=None,
        error=None,
        returncode=1,
        stopped_for=None,
        startup_seconds=0.0,
        wall_seconds=1.0,
        peak_memory_bytes=0,
        oom_killed=False,
        log_tail="Traceback: /secret/host/path",
        isolation=sandbox.IsolationMode.BUBBLEWRAP,
    )
    return dataclasses.replace(base, **changes)


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"error": {"event": "error", "code": "wrong_channels", "message": "4 channels"}}, "wrong_channels"),
        ({"error": {"event": "error", "code": "not_a_code", "message": "?"}}, "crashed"),
        ({"stopped_for": "timeout", "returncode": -9}, "timeout"),
        ({"stopped_for": "output_too_large", "returncode": -9}, "output_too_large"),
        ({"oom_killed": True, "returncode": 137}, "out_of_memory"),
        ({"returncode": 128 + signal.SIGXCPU}, "timeout"),
        ({"returncode": -signal.SIGXFSZ}, "output_too_large"),
        ({"returncode": -signal.SIGSEGV}, "crashed"),
        ({"returncode": 0}, "crashed"),
    ],
)
def test_each_way_a_child_ends_maps_to_its_failure_code(changes: dict, code: str) -> None:
    with pytest.raises(sandbox.SandboxError) as failed:
        sandbox.outcome_result(_outcome(**changes), limits=TEST_LIMITS)
    assert failed.value.code == code
    assert "/secret/host/path" not in failed.value.message
    assert failed.value.log_tail == "Traceback: /secret/host/path"


_NO_SPACE = {"event": "error", "code": "output_too_large", "message": "The run tried to write more output..."}


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        # the parent saw a cap reached itself: the participant's
        ({"stopped_for": "output_too_large"}, "output_too_large"),
        ({"largest_file_bytes": TEST_LIMITS.max_file_bytes}, "output_too_large"),
        ({"returncode": -signal.SIGXFSZ}, "output_too_large"),
        # the child's word alone (ENOSPC with every output under its caps): the platform's
        ({}, "platform_no_space"),
        ({"largest_file_bytes": TEST_LIMITS.max_file_bytes - 1}, "platform_no_space"),
    ],
)
def test_a_childs_no_space_is_the_participants_only_on_the_parents_own_evidence(changes: dict, code: str) -> None:
    with pytest.raises(sandbox.SandboxError) as failed:
        sandbox.outcome_result(_outcome(error=_NO_SPACE, **changes), limits=TEST_LIMITS)
    assert failed.value.code == code
    assert failed.value.log_tail == "Traceback: /secret/host/path"
    if code == "platform_no_space":
        assert "the platform's fault, not yours" in failed.value.message


def test_the_parents_own_stops_say_which_limit_was_hit() -> None:
    with pytest.raises(sandbox.SandboxError, match=f"time limit of {TEST_LIMITS.wall_seconds:g} s"):
        sandbox.outcome_result(_outcome(stopped_for="timeout", returncode=-9), limits=TEST_LIMITS)
    with pytest.raises(sandbox.SandboxError, match=f"more than {TEST_LIMITS.max_output_bytes / 1024**2:g} MiB"):
        sandbox.outcome_result(_outcome(stopped_for="output_too_large", returncode=-9), limits=TEST_LIMITS)


def test_a_cgroup_is_made_with_its_limits_or_removed_again(tmp_path: Path) -> None:
    from gan_core.sandbox.cgroups import _make_cgroup

    # given a folder standing in for a cgroup parent: the required control files are written
    made = tmp_path / "run-1"
    assert _make_cgroup(made, required={"memory.max": "100"}, optional={"absent/swap.max": "0"})
    assert (made / "memory.max").read_text() == "100" and not (made / "absent").exists()
    # when a required control file cannot be written, then the (empty) directory is removed again
    refused = tmp_path / "run-2"
    assert not _make_cgroup(refused, required={"absent/memory.max": "100"}, optional={"pids.max": "4"})
    assert not refused.exists()


def test_the_output_folder_is_measured_on_disk_and_by_its_largest_file(tmp_path: Path) -> None:
    from gan_core.sandbox.child import _folder_bytes, _largest_file

    (tmp_path / "small").write_bytes(b"x" * 10)
    with open(tmp_path / "sparse", "wb") as sparse:
        sparse.truncate(64 * 1024**2)  # 64 MiB long, nothing written
    os.symlink("/etc/hostname", tmp_path / "link")

    assert _largest_file(tmp_path) == 64 * 1024**2
    assert 0 < _folder_bytes(tmp_path) < 1024**2  # blocks held, not lengths; the link is not followed
    assert _largest_file(tmp_path / "missing") == 0 and _folder_bytes(tmp_path / "missing") == 0


def test_a_segfault_is_named_in_the_crash_message() -> None:
    with pytest.raises(sandbox.SandboxError, match="SIGSEGV"):
        sandbox.outcome_result(_outcome(returncode=-signal.SIGSEGV), limits=TEST_LIMITS)


def test_outputs_are_revalidated_and_a_planted_symlink_discards_the_run(tmp_path: Path) -> None:
    # given an output folder where one expected output is a symlink to a host file
    output = tmp_path / "out"
    output.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(output / "a.png")
    os.symlink("/etc/hostname", output / "b.png")

    def validate_two_8x8_outputs() -> None:
        sandbox._validated_outputs(
            output,
            names=["a.png", "b.png"],
            sizes=[(8, 8), (8, 8)],
            raw_outputs=sandbox.RawOutputMode.NONE,
            limits=TEST_LIMITS,
            log_tail="",
        )

    with pytest.raises(sandbox.SandboxError) as failed:
        validate_two_8x8_outputs()
    assert failed.value.code == FailureCode.CRASHED.value
    # and an output of the wrong size is refused too
    (output / "b.png").unlink()
    Image.fromarray(np.zeros((8, 9, 3), dtype=np.uint8)).save(output / "b.png")
    with pytest.raises(sandbox.SandboxError, match="8x8"):
        validate_two_8x8_outputs()
