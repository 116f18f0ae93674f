"""Hostile behaviour inside the sandbox: each is stopped by its limit, and the caller keeps serving.

Hostile models are ONNX graphs built by the tests (memory, endless loop, NaN, huge output);
what ONNX cannot express (network, file reads, huge files, touching memory) is done by the
test-only child ``tests.gan_core.hostile_child`` started through the same sandbox command.
After every hostile run, a normal checkpoint is validated in the sandbox successfully.
"""

from __future__ import annotations

import dataclasses
import socket
from pathlib import Path

import pytest

from gan_core import sandbox
from gan_core.contract import GeneratorContract
from gan_core.failures import FailureCode
from tests.gan_core.sandbox_support import (
    TEST_LIMITS,
    ensure_bubblewrap,
    onnx_allocating,
    onnx_never_finishing,
    onnx_returning_huge_output,
    onnx_returning_nan,
    run_hostile_child,
    write_images,
    write_tiny_safetensors,
)

pytestmark = pytest.mark.needs_bwrap

CONTRACT = GeneratorContract()


@pytest.fixture(scope="module", autouse=True)
def bwrap() -> str:
    return ensure_bubblewrap()


@pytest.fixture(scope="module")
def normal_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("normal") / "normal.safetensors"
    write_tiny_safetensors(path)
    return path


def assert_still_serving(checkpoint: Path) -> None:
    """The calling process can still run a normal job in the sandbox after a hostile one."""
    report = sandbox.validate_checkpoint(checkpoint, contract=CONTRACT, limits=TEST_LIMITS)
    assert report.ok, (report.code, report.message)
    assert report.run is not None and report.run.parameter_count > 0
    assert report.run.isolation is sandbox.IsolationMode.BUBBLEWRAP


def assert_sandbox_still_runs(tmp_path: Path) -> None:
    """A normal (well-behaved) child runs to its result after a hostile one (cheaper than a model run)."""
    outcome = run_hostile_child(tmp_path / "after", "identity")
    assert outcome.result is not None and outcome.returncode == 0, outcome.log_tail
    assert outcome.result["status"]["Uid"][0] in ("65534", str(sandbox.SANDBOX_UID))


def validate_onnx(tmp_path: Path, data: bytes, limits: sandbox.SandboxLimits = TEST_LIMITS) -> sandbox.ValidationReport:
    path = tmp_path / "hostile.onnx"
    path.write_bytes(data)
    return sandbox.validate_checkpoint(path, contract=CONTRACT, limits=limits)


def test_an_onnx_model_allocating_past_the_memory_limit_is_stopped_with_out_of_memory(
    tmp_path: Path, normal_checkpoint: Path
) -> None:
    # given a graph whose intermediate tensor is 3 GiB, with a 1.5 GiB limit
    # when it is validated in the sandbox
    report = validate_onnx(tmp_path, onnx_allocating())
    # then it fails with out_of_memory and a message naming the limit
    assert (report.ok, report.code) == (False, FailureCode.OUT_OF_MEMORY.value)
    assert "1.5 GiB" in (report.message or "")
    assert_still_serving(normal_checkpoint)


def test_a_child_touching_memory_past_the_limit_is_killed_by_the_cgroup(tmp_path: Path) -> None:
    if sandbox.memory_enforcement() not in (sandbox.MemoryEnforcement.CGROUP_V1, sandbox.MemoryEnforcement.CGROUP_V2):
        pytest.skip("needs a writable memory cgroup (v1 or v2) on this host; RLIMIT_AS is tested by the ONNX case")
    # given a child that fills 3 GiB page by page under a 512 MiB limit
    limits = dataclasses.replace(TEST_LIMITS, memory_bytes=512 * 1024**2)
    outcome = run_hostile_child(tmp_path, "allocate", "--bytes", str(3 * 1024**3), limits=limits)
    # then the cgroup killed it and the outcome says out_of_memory
    assert outcome.result is None and outcome.oom_killed
    with pytest.raises(sandbox.SandboxError) as stopped:
        sandbox.outcome_result(outcome, limits=limits)
    assert stopped.value.code == FailureCode.OUT_OF_MEMORY.value
    assert outcome.peak_memory_bytes <= 512 * 1024**2
    assert_sandbox_still_runs(tmp_path)


def test_an_onnx_model_that_never_finishes_is_stopped_by_the_wall_clock(
    tmp_path: Path, normal_checkpoint: Path
) -> None:
    limits = dataclasses.replace(TEST_LIMITS, wall_seconds=4)
    report = validate_onnx(tmp_path, onnx_never_finishing(), limits=limits)
    assert (report.ok, report.code) == (False, FailureCode.TIMEOUT.value)
    assert "4 s" in (report.message or "")
    assert_still_serving(normal_checkpoint)


def test_an_onnx_model_returning_nan_is_refused_as_non_finite(tmp_path: Path, normal_checkpoint: Path) -> None:
    report = validate_onnx(tmp_path, onnx_returning_nan())
    assert (report.ok, report.code) == (False, FailureCode.NON_FINITE.value)
    assert "12288 NaN" in (report.message or "")  # every value of the 1x3x64x64 probe
    assert_still_serving(normal_checkpoint)


def test_an_onnx_model_returning_huge_outputs_writes_nothing_and_fails_wrong_size(
    tmp_path: Path, normal_checkpoint: Path
) -> None:
    # given a model that returns 16 times the input's height and width, and two content images
    model = tmp_path / "huge.onnx"
    model.write_bytes(onnx_returning_huge_output())
    inputs = write_images(tmp_path / "inputs", 2)
    output = tmp_path / "out"
    # when it runs over them
    with pytest.raises(sandbox.SandboxError) as failed:
        sandbox.run_generator(checkpoint=model, inputs=inputs, output_dir=output, contract=CONTRACT, limits=TEST_LIMITS)
    # then the contract stopped it before any output was written
    assert failed.value.code == FailureCode.WRONG_SIZE.value
    assert "512x512" in failed.value.message
    assert list(output.iterdir()) == []
    assert_still_serving(normal_checkpoint)


def test_a_child_writing_a_huge_file_is_stopped_by_the_file_size_limit(tmp_path: Path) -> None:
    limits = dataclasses.replace(TEST_LIMITS, max_file_bytes=8 * 1024**2)
    outcome = run_hostile_child(tmp_path, "write-huge", "--bytes", str(256 * 1024**2), limits=limits)
    assert outcome.result is None
    assert outcome.largest_file_bytes <= 8 * 1024**2
    with pytest.raises(sandbox.SandboxError) as stopped:
        sandbox.outcome_result(outcome, limits=limits)
    assert stopped.value.code == FailureCode.OUTPUT_TOO_LARGE.value
    assert_sandbox_still_runs(tmp_path)


def test_a_child_filling_its_output_folder_is_stopped_by_the_output_cap(tmp_path: Path) -> None:
    # given a per-file limit far above the cap on all outputs together
    limits = dataclasses.replace(TEST_LIMITS, max_file_bytes=4 * 1024**3, max_output_bytes=16 * 1024**2)
    outcome = run_hostile_child(tmp_path, "write-huge", "--bytes", str(3 * 1024**3), limits=limits)
    # then the size-limited output mount refused the writes past the cap
    assert outcome.stopped_for == FailureCode.OUTPUT_TOO_LARGE.value
    assert "No space left on device" in outcome.log_tail
    assert outcome.result is None
    with pytest.raises(sandbox.SandboxError) as stopped:
        sandbox.outcome_result(outcome, limits=limits)
    assert stopped.value.code == FailureCode.OUTPUT_TOO_LARGE.value
    assert_sandbox_still_runs(tmp_path)


def test_a_child_writing_many_files_past_the_output_cap_is_refused_by_the_kernel(tmp_path: Path) -> None:
    # given a cap of 16 MiB on all outputs, each file far below the per-file limit
    cap = 16 * 1024**2
    limits = dataclasses.replace(TEST_LIMITS, max_file_bytes=64 * 1024**2, max_output_bytes=cap)
    # when the child writes 1 MiB files until 256 MiB (sixteen times the cap)
    outcome = run_hostile_child(tmp_path, "fill-output", "--bytes", str(256 * 1024**2), limits=limits)
    # then its own writes failed with ENOSPC at the cap: the kernel stopped it, not a poll
    assert outcome.result is not None, outcome.log_tail
    assert outcome.result["stopped"] == "ENOSPC"
    assert cap - 2 * 1024**2 <= outcome.result["wrote"] <= cap
    # and the run fails with the output cap's code
    assert outcome.stopped_for == FailureCode.OUTPUT_TOO_LARGE.value
    with pytest.raises(sandbox.SandboxError) as stopped:
        sandbox.outcome_result(outcome, limits=limits)
    assert stopped.value.code == FailureCode.OUTPUT_TOO_LARGE.value
    # and no more than the cap (plus a page per file) reached the host folder
    written = sum(path.stat().st_size for path in (tmp_path / "out").iterdir())
    assert 0 < written <= cap + 17 * 4096
    assert_sandbox_still_runs(tmp_path)


def test_a_child_cannot_connect_to_postgres_redis_or_any_host_port(tmp_path: Path) -> None:
    # given a server listening on the host's loopback, which the host itself can reach
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass
        # when the sandboxed child tries PostgreSQL, Redis and that port
        outcome = run_hostile_child(tmp_path, "network", "--ports", "5432", "6379", str(port))
    # then every connection fails inside (its loopback is not the host's)
    assert outcome.result is not None, outcome.log_tail
    ports = outcome.result["ports"]
    assert set(ports) == {"5432", "6379", str(port)}
    assert all(answer.startswith("refused") for answer in ports.values()), ports
    assert_sandbox_still_runs(tmp_path)


def test_a_child_reads_its_inputs_but_nothing_outside_them(tmp_path: Path) -> None:
    # given an input bound into the sandbox, and secrets beside it, in /tmp, in the repository and at home
    inputs = write_images(tmp_path / "inputs", 1)
    sibling = tmp_path / "inputs" / "not_an_input.txt"
    sibling.write_text("private split")
    secret = tmp_path / "secret.txt"
    secret.write_text("DATABASE_URL=postgres://...")
    repository_var = sandbox.code_root() / "var"
    probes = [
        "/inputs/000000.png",
        "/etc/shadow",
        "/etc/passwd",
        str(secret),
        str(sibling),
        str(tmp_path),
        str(repository_var),
        str(sandbox.code_root() / "pyproject.toml"),
        str(Path.home() / ".bashrc"),
        str(Path.home() / ".ssh"),
        "/run",
        "/var/run",
    ]
    outcome = run_hostile_child(tmp_path, "read", "--paths", *probes, read_only=[(inputs[0], "/inputs/000000.png")])
    assert outcome.result is not None, outcome.log_tail
    answers = outcome.result["paths"]
    # then the input is readable (so the probe works) and nothing else is there
    assert answers.pop("/inputs/000000.png") == "read"
    assert all(answer == "denied: FileNotFoundError" for answer in answers.values()), answers
    assert_sandbox_still_runs(tmp_path)
