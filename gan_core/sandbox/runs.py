"""Generator runs: the job files, the run of a participant's generator, its outcome and validation."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import stat
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gan_core.contract import GeneratorContract
from gan_core.failures import FailureCode, GeneratorFailure
from gan_core.sandbox.child import run_in_sandbox
from gan_core.sandbox.command import isolation_mode
from gan_core.sandbox.limits import SandboxLimits
from gan_core.sandbox.outputs import _validated_outputs
from gan_core.sandbox.records import (
    _INSTALL_HINT,
    INPUT_MOUNT,
    JOB_MOUNT,
    OUTPUT_MOUNT,
    RUNNER_MODULE,
    ChildOutcome,
    IsolationMode,
    RawOutputMode,
    RunMode,
    RunResult,
    SandboxError,
    ValidationReport,
)

if TYPE_CHECKING:
    from gan_core.checkpoints import CheckpointFormat, CheckpointInfo


def run_generator(
    *,
    checkpoint: Path,
    inputs: Sequence[Path] | Path,
    output_dir: Path,
    contract: GeneratorContract,
    limits: SandboxLimits,
    device: str = "cpu",
    batch_size: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    mode: RunMode = RunMode.FULL,
    raw_outputs: RawOutputMode = RawOutputMode.NONE,
    info: CheckpointInfo | None = None,
    allowed_formats: frozenset[CheckpointFormat] | None = None,
    allowed_architectures: frozenset[str] | None = None,
    probe_size: int = 64,
) -> RunResult:
    """Run a participant's generator in the sandbox and return its validated outputs and figures.

    ``checkpoint``: a safetensors or ONNX file (inspected here, header only, unless ``info`` is
    given). ``inputs``: a folder of content images or a list of image files, decoded to float32
    ``(N, 3, H, W)`` in ``contract.value_range``; H and W must be multiples of
    ``contract.size_multiple``. ``output_dir``: created if missing, must be empty; receives
    ``<input stem>.png`` (uint8 RGB, same H x W as the input). ``batch_size`` defaults to
    ``limits.batch_size``; images of different sizes never share a batch. ``on_progress(done,
    total)`` is called as batches complete. ``mode=RunMode.PROBE`` ignores ``inputs`` and runs the
    contract's probe image (``probe_size`` square) only; ``RunMode.VALIDATE_THEN_RUN`` runs the
    probe first and then the inputs, in the same child.

    Raises :class:`SandboxError` (or the ``CheckpointError`` from inspecting the header) with a
    stable code and a participant-safe message.
    """
    from gan_core.checkpoints import CheckpointFormat, inspect_checkpoint

    if info is None:
        info = inspect_checkpoint(
            checkpoint,
            allowed_formats=allowed_formats if allowed_formats is not None else frozenset(CheckpointFormat),
            allowed_architectures=allowed_architectures,
            value_range=contract.value_range,
        )
    isolation = isolation_mode()
    if isolation is IsolationMode.PROCESS and info.format is not CheckpointFormat.SAFETENSORS:
        raise SandboxError(
            FailureCode.SANDBOX_UNAVAILABLE,
            "This worker cannot run ONNX models safely right now (its sandbox, bubblewrap, is missing), so your "
            "submission was not run; this does not count against your quota. Safetensors checkpoints of the "
            f"reference architectures still run. Operators: run `{_INSTALL_HINT}`.",
        )
    input_paths = [] if mode is RunMode.PROBE else _input_list(inputs)
    names = _output_names(input_paths)
    sizes = [_image_size(path) for path in input_paths]
    for (height, width), path in zip(sizes, input_paths, strict=True):
        if height % contract.size_multiple or width % contract.size_multiple:
            raise ValueError(
                f"{path}: {height}x{width} (H x W) is not a multiple of {contract.size_multiple} as the contract "
                "requires; resize or crop the content images before running generators on them."
            )
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    if any(output_dir.iterdir()):
        raise ValueError(f"{output_dir} is not empty; give each run a new, empty output folder.")
    with _job_folder() as job_dir:
        read_only, job = _job_files(
            job_dir=job_dir,
            output_dir=output_dir,
            checkpoint=Path(checkpoint),
            info=info,
            input_paths=input_paths,
            names=names,
            contract=contract,
            limits=limits,
            device=device,
            batch_size=batch_size or limits.batch_size,
            mode=mode,
            raw_outputs=raw_outputs,
            probe_size=probe_size,
            isolation=isolation,
        )

        def forward_progress(event: dict[str, Any]) -> None:
            if on_progress is not None and event.get("event") == "progress":
                on_progress(int(event.get("done", 0)), int(event.get("total", 0)))

        outcome = run_in_sandbox(
            module=RUNNER_MODULE,
            arguments=["--job", job],
            read_only=read_only,
            output_dir=output_dir,
            limits=limits,
            device=device,
            isolation=isolation,
            on_event=forward_progress,
        )
    result = outcome_result(outcome, limits=limits)
    outputs, raws = _validated_outputs(
        output_dir, names=names, sizes=sizes, raw_outputs=raw_outputs, limits=limits, log_tail=outcome.log_tail
    )
    peak = max(outcome.peak_memory_bytes, int(result.get("peak_rss_bytes", 0)))
    resolution = result.get("resolution") or [probe_size, probe_size]
    return RunResult(
        outputs=tuple(outputs),
        raw_outputs=tuple(raws),
        parameter_count=info.parameter_count,  # from the header, inspected by trusted code
        seconds_per_image=float(result.get("seconds_per_image", 0.0)),
        resolution=(int(resolution[0]), int(resolution[1])),
        peak_memory_bytes=peak,
        peak_gpu_memory_bytes=int(result.get("peak_gpu_bytes", 0)),
        clamped_values=int(result.get("clamped_values", 0)),
        images_done=int(result.get("images_done", 0)),
        images_total=int(result.get("images_total", 0)),
        isolation=outcome.isolation,
        device=device,
        startup_seconds=outcome.startup_seconds,
        wall_seconds=outcome.wall_seconds,
        log_tail=outcome.log_tail,
        probe_seconds_per_image=result.get("probe_seconds_per_image"),
    )


def outcome_result(outcome: ChildOutcome, *, limits: SandboxLimits) -> dict[str, Any]:
    """The child's ``result`` event, or the :class:`SandboxError` that explains why there is none.

    Order: an error the child reported (its code and message: checkpoint, contract, memory);
    then the parent's own stop (wall clock, output size); then how the child died (OOM kill,
    ``SIGXCPU``, ``SIGXFSZ``, any other signal or exit code: ``crashed``).

    The child's ``output_too_large`` (it met ``ENOSPC`` or ``EFBIG``) is only its word: it stands
    when the parent's own evidence shows a cap reached (:func:`output_cap_reached`); otherwise the
    space ran out outside the participant's caps (the worker's disk in the plain-child fallback,
    the machine's memory behind a tmpfs) and the run fails with ``platform_no_space``, the platform's.
    """
    gib = limits.memory_bytes / 1024**3
    if outcome.error is not None:
        code = str(outcome.error.get("code") or FailureCode.CRASHED.value)
        try:
            FailureCode(code)
        except ValueError:
            code = FailureCode.CRASHED.value
        message = str(outcome.error.get("message") or "Your generator failed.")
        if code == FailureCode.OUTPUT_TOO_LARGE.value and not output_cap_reached(outcome, limits=limits):
            raise SandboxError(
                FailureCode.PLATFORM_NO_SPACE,
                "The machine that ran your generator ran out of space while the run wrote its outputs, which were "
                "within the limits: this is the platform's fault, not yours.",
                log_tail=outcome.log_tail,
            )
        raise SandboxError(code, message, log_tail=outcome.log_tail)
    parent_stops = {
        FailureCode.TIMEOUT.value: (
            f"Your generator did not finish within the time limit of {limits.wall_seconds:g} s and was stopped. "
            "Make it faster (fewer or narrower layers) or check that it does not loop forever."
        ),
        FailureCode.OUTPUT_TOO_LARGE.value: (
            f"The run wrote more than {limits.max_output_bytes / 1024**2:g} MiB of outputs and was stopped. "
            "A generator must return one image per input, of the input's size."
        ),
    }
    if outcome.stopped_for in parent_stops:
        raise SandboxError(outcome.stopped_for, parent_stops[outcome.stopped_for], log_tail=outcome.log_tail)
    if outcome.result is not None and outcome.returncode == 0:
        return outcome.result
    signal_number = _signal_of(outcome.returncode)
    near_limit = outcome.peak_memory_bytes >= 0.95 * limits.memory_bytes
    if outcome.oom_killed or (signal_number == signal.SIGKILL and near_limit):
        raise SandboxError(
            FailureCode.OUT_OF_MEMORY,
            f"Your generator used more than the memory limit of {gib:g} GiB and was stopped. Reduce its memory "
            "use (fewer or narrower layers, no huge intermediate tensors) and upload again.",
            log_tail=outcome.log_tail,
        )
    if signal_number == signal.SIGXCPU:
        raise SandboxError(
            FailureCode.TIMEOUT,
            f"Your generator used more than its CPU time limit ({limits.effective_cpu_seconds} s) and was stopped. "
            "Make it faster or check that it does not loop forever.",
            log_tail=outcome.log_tail,
        )
    if signal_number == signal.SIGXFSZ or outcome.largest_file_bytes >= limits.max_file_bytes:
        raise SandboxError(
            FailureCode.OUTPUT_TOO_LARGE,
            f"The run tried to write a file larger than {limits.max_file_bytes / 1024**2:g} MiB and was stopped.",
            log_tail=outcome.log_tail,
        )
    raise SandboxError(
        FailureCode.CRASHED,
        "Your generator crashed while running"
        + (f" (signal {signal.Signals(signal_number).name})" if _is_signal(signal_number) else "")
        + ". Run `python -m gan_core check YOUR_FILE` locally to reproduce it; if it passes there, contact the "
        "organisers.",
        log_tail=outcome.log_tail,
    )


def output_cap_reached(outcome: ChildOutcome, *, limits: SandboxLimits) -> bool:
    """Whether the parent itself saw the run reach an output cap: its own ``output_too_large`` stop
    (all outputs at or above ``max_output_bytes``, or the size-limited output mount full), a file at
    ``max_file_bytes`` (``RLIMIT_FSIZE``: ``EFBIG``), or death by ``SIGXFSZ``."""
    return (
        outcome.stopped_for == FailureCode.OUTPUT_TOO_LARGE.value
        or outcome.largest_file_bytes >= limits.max_file_bytes
        or _signal_of(outcome.returncode) == signal.SIGXFSZ
    )


def _signal_of(returncode: int | None) -> int:
    """The signal that ended the child (``-N`` from ``wait``, or ``128 + N`` from a shell-like parent); 0 for none."""
    code = returncode or 0
    return -code if code < 0 else (code - 128 if code > 128 else 0)


def _is_signal(number: int) -> bool:
    try:
        signal.Signals(number)
    except ValueError:
        return False
    return number > 0


@contextlib.contextmanager
def _job_folder() -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="atelier-job-"))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _job_files(
    *,
    job_dir: Path,
    output_dir: Path,
    checkpoint: Path,
    info: CheckpointInfo,
    input_paths: Sequence[Path],
    names: Sequence[str],
    contract: GeneratorContract,
    limits: SandboxLimits,
    device: str,
    batch_size: int,
    mode: RunMode,
    raw_outputs: RawOutputMode,
    probe_size: int,
    isolation: IsolationMode,
) -> tuple[list[tuple[Path, str]], str]:
    """Write ``job.json`` (and readable copies where the unprivileged uid could not read a file);
    return the read-only binds and the job file's path as the child sees it."""
    dropping = isolation is IsolationMode.BUBBLEWRAP and os.geteuid() == 0
    os.chmod(job_dir, 0o755)
    inside = isolation is IsolationMode.BUBBLEWRAP

    def readable(path: Path, copy_name: str) -> Path:
        if dropping and not _world_readable(path):
            copy = job_dir / copy_name
            shutil.copyfile(path, copy)
            os.chmod(copy, 0o644)
            return copy
        return path.resolve()

    checkpoint_host = readable(checkpoint, "checkpoint")
    read_only: list[tuple[Path, str]] = [(checkpoint_host, f"{JOB_MOUNT}/checkpoint")]
    input_entries = []
    for index, (path, name) in enumerate(zip(input_paths, names, strict=True)):
        host = readable(path, f"input-{index:06d}{path.suffix}")
        target = f"{INPUT_MOUNT}/{index:06d}{path.suffix.lower()}"
        read_only.append((host, target))
        input_entries.append({"path": target if inside else str(host), "name": name})
    job = {
        "checkpoint": f"{JOB_MOUNT}/checkpoint" if inside else str(checkpoint_host),
        "format": info.format.value,
        "config": info.config,
        "parameter_count": info.parameter_count,
        "inputs": input_entries,
        "output_dir": OUTPUT_MOUNT if inside else str(output_dir.resolve()),
        "value_range": contract.value_range.value,
        "size_multiple": contract.size_multiple,
        "max_seconds_per_image": contract.max_seconds_per_image,
        "device": device,
        "batch_size": batch_size,
        "threads": limits.threads,
        "memory_bytes": limits.memory_bytes,
        "address_space_mode": "tighten" if not device.startswith("cuda") else "none",
        "gpu_memory_fraction": limits.gpu_memory_fraction,
        "mode": mode.value,
        "raw_outputs": raw_outputs.value,
        "probe_size": probe_size,
    }
    job_file = job_dir / "job.json"
    job_file.write_text(json.dumps(job))
    os.chmod(job_file, 0o644)
    read_only.append((job_file, f"{JOB_MOUNT}/job.json"))
    if not inside:
        return read_only, str(job_file)
    return read_only, f"{JOB_MOUNT}/job.json"


def _world_readable(path: Path) -> bool:
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return bool(mode & stat.S_IROTH)


def _input_list(inputs: Sequence[Path] | Path) -> list[Path]:
    if isinstance(inputs, (str, Path)):
        from gan_core.images import list_images

        return list_images(Path(inputs))
    paths = [Path(p) for p in inputs]
    if not paths:
        raise ValueError("No input images were given; pass a folder of images or a non-empty list of files.")
    return paths


def _output_names(paths: Sequence[Path]) -> list[str]:
    names = [f"{path.stem}.png" for path in paths]
    seen: set[str] = set()
    for name, path in zip(names, paths, strict=True):
        if name in seen:
            raise ValueError(f"{path}: another input has the same name stem, so their outputs would collide.")
        if name.startswith(".") or "/" in name:
            raise ValueError(f"{path}: its name cannot be used for an output file; rename it.")
        seen.add(name)
    return names


def _image_size(path: Path) -> tuple[int, int]:
    """``(H, W)`` of an image from its header, after EXIF orientation."""
    from PIL import Image

    with Image.open(path) as image:
        width, height = image.size
        orientation = image.getexif().get(0x0112, 1)
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return height, width


def validate_checkpoint(
    checkpoint: Path,
    *,
    contract: GeneratorContract,
    limits: SandboxLimits,
    device: str = "cpu",
    allowed_formats: frozenset[CheckpointFormat] | None = None,
    allowed_architectures: frozenset[str] | None = None,
    max_bytes: int | None = None,
    config: Mapping[str, Any] | None = None,
    probe_size: int = 64,
) -> ValidationReport:
    """The platform's validation: inspect the header here (safe, allocates nothing large), then run
    the contract's probe image in the sandbox. ``config``: a sidecar generator config for
    safetensors (replaces the one in the file's metadata). Never raises for a bad checkpoint: returns
    ``ValidationReport(ok=False, code=..., message=...)``."""
    from gan_core.checkpoints import CheckpointFormat, inspect_checkpoint

    try:
        info = inspect_checkpoint(
            checkpoint,
            allowed_formats=allowed_formats if allowed_formats is not None else frozenset(CheckpointFormat),
            allowed_architectures=allowed_architectures,
            max_bytes=max_bytes,
            config=config,
            value_range=contract.value_range,
        )
    except GeneratorFailure as failure:
        return ValidationReport(ok=False, code=failure.code, message=failure.message)
    with tempfile.TemporaryDirectory(prefix="atelier-probe-") as scratch:
        try:
            run = run_generator(
                checkpoint=checkpoint,
                inputs=[],
                output_dir=Path(scratch) / "out",
                contract=contract,
                limits=limits,
                device=device,
                mode=RunMode.PROBE,
                info=info,
                probe_size=probe_size,
            )
        except GeneratorFailure as failure:
            return ValidationReport(ok=False, code=failure.code, message=failure.message, info=info)
    return ValidationReport(ok=True, info=info, run=run)
