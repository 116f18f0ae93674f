"""The generator runner's child: ``python -m gan_core.runner_child --job JOB.json --protocol-fd N``.

This runs INSIDE the sandbox (see :mod:`gan_core.sandbox`), never in a worker process. In order:

1. Hardening (:func:`harden`), before anything the participant sent is opened: empty the
   capability bounding set (with the ``CAP_SETPCAP`` bubblewrap kept for that), clear the
   ambient set, ``--drop-to UID:GID`` (given when the sandbox was started by root: become that
   unprivileged uid, which clears the effective and permitted sets), clear every set with
   ``capset``, keep ``NoNewPrivs``. With ``--harden sandboxed`` it then checks in
   ``/proc/self/status`` that all five sets are empty, ``NoNewPrivs`` is set and the seccomp
   filter bubblewrap installed is in force, and stops otherwise.
2. Import torch (and onnxruntime through the loader), then, on CPU, lower ``RLIMIT_AS`` to what
   the libraries already map plus the run's memory limit, so an allocation past the limit fails
   cleanly (reported as ``out_of_memory``) instead of being killed.
3. Re-inspect the checkpoint header, load the generator (:func:`gan_core.checkpoints.load_generator`),
   say ``ready``.
4. Probe mode: the contract's probe image, three passes (the first is warm-up), contract and
   latency checks. Validate-then-run mode: the probe, a ``validated`` event, then a full run in
   the same process (one start-up for both). Full mode: the job's images in batches of one size, float32 ``(N, 3, H, W)`` in
   the declared range; every output checked, clamped and counted, written as ``<name>.png``
   (uint8 RGB, rounded, never truncated) and optionally ``<name>.npy`` (float32 ``(3, H, W)``),
   with a ``progress`` event per batch.
5. ``result`` (parameter count, median seconds per image, peak memory, clamped values), or
   ``error`` with a stable code and a participant-safe message.

Protocol: one JSON object per line on the pipe ``--protocol-fd``; stdout and stderr are only a
log for operators.
"""

from __future__ import annotations

import argparse
import ctypes
import errno
import json
import os
import resource
import statistics
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

#: Text fragments of allocation failures from torch, onnxruntime and the C++ runtime.
_ALLOCATION_FAILURES = (
    "can't allocate memory",
    "out of memory",
    "bad_alloc",
    "failed to allocate",
    "cannot allocate memory",
    "memoryerror",
)


class ProtocolChannel:
    """Writes the child's events as JSON lines on the protocol pipe (flushed per event)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    @classmethod
    def from_fd(cls, fd: int) -> ProtocolChannel:
        return cls(os.fdopen(fd, "w", buffering=1, encoding="utf-8"))

    def send(self, event: str, **fields: Any) -> None:
        self._stream.write(json.dumps({"event": event, **fields}) + "\n")
        self._stream.flush()

    def error(self, code: str, message: str) -> None:
        self.send("error", code=code, message=message)


def drop_privileges(uid: int, gid: int) -> None:
    """Become ``uid``/``gid`` with no supplementary groups; the kernel clears every capability.

    Raises ``RuntimeError`` when the switch did not take (or could be undone), so nothing runs
    with more privilege than intended.
    """
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if os.getresuid() != (uid, uid, uid) or os.getresgid() != (gid, gid, gid):
        raise RuntimeError("dropping privileges did not take")
    try:
        os.setuid(0)
    except PermissionError:
        return
    raise RuntimeError("privileges could be regained after dropping them")


_PR_CAPBSET_READ = 23
_PR_CAPBSET_DROP = 24
_PR_SET_NO_NEW_PRIVS = 38
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
#: The capability sets of ``/proc/self/status`` that must all be empty in the sandbox.
CAPABILITY_SETS = ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")


class HardenMode:
    """``--harden``: ``sandboxed`` (in bubblewrap: every step must take, checked, or the child
    stops) or ``process`` (the plain-child fallback: clear the ambient set and set ``NoNewPrivs``
    only; the caller keeps its own privileges there)."""

    SANDBOXED = "sandboxed"
    PROCESS = "process"
    CHOICES = (SANDBOXED, PROCESS)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _prctl(option: int, argument: int = 0, *rest: int) -> int:
    libc = _libc()
    libc.prctl.restype = ctypes.c_int
    values = [argument, *rest] + [0] * (4 - len(rest) - 1)
    result = libc.prctl(ctypes.c_int(option), *(ctypes.c_ulong(v) for v in values))
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, f"prctl({option}): {os.strerror(code)}")
    return int(result)


def drop_bounding_set() -> None:
    """Remove every capability from the bounding set (needs ``CAP_SETPCAP`` for any still in it)."""
    for capability in range(64):
        try:
            present = _prctl(_PR_CAPBSET_READ, capability)
        except OSError as error:
            if error.errno == errno.EINVAL:  # past the last capability this kernel knows
                return
            raise
        if present:
            _prctl(_PR_CAPBSET_DROP, capability)


def clear_capabilities() -> None:
    """Empty the effective, permitted and inheritable sets with ``capset`` (lowering is always allowed)."""
    libc = _libc()
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    if libc.capset(ctypes.byref(header), data) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"capset: {os.strerror(code)}")


def process_status() -> dict[str, str]:
    """``/proc/self/status`` as a mapping of field to its (stripped) value."""
    fields = {}
    with open("/proc/self/status", encoding="ascii", errors="replace") as handle:
        for line in handle:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def harden(*, mode: str, drop_to: tuple[int, int] | None = None) -> None:
    """The child's hardening step, before any untrusted byte is opened (see the module's docstring).

    ``mode`` is a :class:`HardenMode` value. Raises ``RuntimeError`` (or ``OSError``) in
    ``sandboxed`` mode when any capability set is not empty afterwards, ``NoNewPrivs`` is not set,
    or no seccomp filter is in force.
    """
    strict = mode == HardenMode.SANDBOXED
    if strict:
        drop_bounding_set()
    _prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL)
    if drop_to is not None:
        drop_privileges(*drop_to)
    if strict:
        clear_capabilities()
    _prctl(_PR_SET_NO_NEW_PRIVS, 1)
    if not strict:
        return
    status = process_status()
    left = {name: status.get(name) for name in CAPABILITY_SETS if int(status.get(name) or "1", 16) != 0}
    if left:
        raise RuntimeError(f"capabilities left after hardening: {left}")
    if status.get("NoNewPrivs") != "1":
        raise RuntimeError("NoNewPrivs is not set after hardening")
    if status.get("Seccomp") != "2":
        raise RuntimeError("no seccomp filter is in force in the sandbox")


def is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` is an allocation failure (host or CUDA), whatever library raised it."""
    if isinstance(error, MemoryError):
        return True
    text = f"{type(error).__name__}: {error}".lower()
    return any(fragment in text for fragment in _ALLOCATION_FAILURES)


def tighten_address_space(memory_bytes: int) -> None:
    """Lower ``RLIMIT_AS`` to the current mapped size plus ``memory_bytes`` (CPU runs only)."""
    mapped = 0
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmSize:"):
                mapped = int(line.split()[1]) * 1024
    if not mapped:
        return
    wanted = mapped + memory_bytes
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    current = hard if hard != resource.RLIM_INFINITY else None
    if current is None or wanted < current:
        resource.setrlimit(resource.RLIMIT_AS, (wanted, wanted))


def _peak_rss_bytes() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def run_job(job: dict[str, Any], channel: ProtocolChannel) -> None:
    """Load the generator described by ``job`` and run it (probe or full), reporting on ``channel``."""
    import torch

    from gan_core.checkpoints import CheckpointFormat, inspect_checkpoint, load_generator
    from gan_core.contract import GeneratorContract, check_latency, check_output, probe_image

    threads = int(job.get("threads", 1))
    torch.set_num_threads(threads)
    device = torch.device(job.get("device", "cpu"))
    if device.type == "cuda" and job.get("gpu_memory_fraction"):
        torch.cuda.set_per_process_memory_fraction(float(job["gpu_memory_fraction"]), device)
    contract = GeneratorContract(
        value_range=job["value_range"],
        size_multiple=int(job["size_multiple"]),
        max_seconds_per_image=job.get("max_seconds_per_image"),
    )
    checkpoint = Path(job["checkpoint"])
    checkpoint_format = CheckpointFormat(job["format"])
    info = inspect_checkpoint(
        checkpoint,
        allowed_formats=frozenset({checkpoint_format}),
        config=job["config"] if checkpoint_format is CheckpointFormat.SAFETENSORS else None,
        value_range=contract.value_range,
    )
    if checkpoint_format is CheckpointFormat.ONNX:
        import onnxruntime  # noqa: F401 (its libraries are mapped before the address-space limit is computed)
    if job.get("address_space_mode") == "tighten" and device.type == "cpu":
        tighten_address_space(int(job["memory_bytes"]))
    generator = load_generator(checkpoint, info, device=device, threads=threads)
    channel.send("ready", parameter_count=info.parameter_count, format=info.format.value)

    def forward(batch: torch.Tensor) -> tuple[torch.Tensor, float]:
        started = time.perf_counter()
        with torch.inference_mode():
            output = generator(batch.to(device))
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        elapsed = time.perf_counter() - started
        if isinstance(output, torch.Tensor):
            output = output.detach().to("cpu")
        return output, elapsed

    clamped_total = 0
    per_image: list[float] = []
    probe_seconds = None
    if job["mode"] in ("probe", "validate-then-run"):
        probe = probe_image(contract, size=int(job.get("probe_size", 64)))
        for _ in range(3):
            output, elapsed = forward(probe)
            _checked, clamped = check_output(output, input=probe, contract=contract)
            per_image.append(elapsed)
        clamped_total = clamped
        probe_seconds = seconds = statistics.median(per_image[1:])
        check_latency(seconds, contract=contract)
        resolution = [int(probe.shape[2]), int(probe.shape[3])]
        done = total = 1
        channel.send("validated", seconds_per_image=seconds, clamped_values=clamped_total)
    if job["mode"] != "probe":
        seconds, clamped_total, resolution, done = _run_inputs(job, channel, contract, forward, check_output)
        total = len(job["inputs"])
        check_latency(seconds, contract=contract)
    peak_gpu = int(torch.cuda.max_memory_allocated(device)) if device.type == "cuda" else 0
    channel.send(
        "result",
        parameter_count=info.parameter_count,
        seconds_per_image=seconds,
        resolution=resolution,
        clamped_values=clamped_total,
        images_done=done,
        images_total=total,
        probe_seconds_per_image=probe_seconds,
        peak_rss_bytes=_peak_rss_bytes(),
        peak_gpu_bytes=peak_gpu,
    )


def _run_inputs(job: dict[str, Any], channel: ProtocolChannel, contract: Any, forward: Any, check_output: Any) -> Any:
    import numpy as np
    import torch
    from PIL import Image

    from gan_core.images import load_image, to_uint8

    entries: list[dict[str, str]] = job["inputs"]
    output_dir = Path(job["output_dir"])
    batch_size = int(job["batch_size"])
    raw = job.get("raw_outputs") == "numpy"
    total = len(entries)
    low, high = contract.value_range.bounds
    per_image: list[float] = []
    clamped_total = 0
    resolution: list[int] | None = None
    done = 0
    channel.send("progress", done=0, total=total)
    pending: list[tuple[dict[str, str], torch.Tensor]] = []

    def flush() -> None:
        nonlocal clamped_total, resolution, done
        if not pending:
            return
        images = torch.stack([image for _entry, image in pending])
        batch = contract.value_range.from_unit(images.to(torch.float32) / 255.0)
        output, elapsed = forward(batch)
        checked, clamped = check_output(output, input=batch, contract=contract)
        clamped_total += clamped
        quantised, _ = to_uint8(checked, value_range=(low, high))
        for index, (entry, _image) in enumerate(pending):
            name = entry["name"]
            array = quantised[index].permute(1, 2, 0).contiguous().numpy()
            Image.fromarray(array, mode="RGB").save(output_dir / name, format="PNG")
            if raw:
                np.save(output_dir / (name[: -len(".png")] + ".npy"), checked[index].numpy().astype(np.float32))
        if resolution is None:
            resolution = [int(batch.shape[2]), int(batch.shape[3])]
        per_image.extend([elapsed / len(pending)] * len(pending))
        done += len(pending)
        pending.clear()
        channel.send("progress", done=done, total=total)

    for entry in entries:
        image = load_image(Path(entry["path"]))
        if pending and (pending[0][1].shape != image.shape or len(pending) >= batch_size):
            flush()
        pending.append((entry, image))
    flush()
    return statistics.median(per_image), clamped_total, resolution or [0, 0], done


def _out_of_memory_message(job: dict[str, Any]) -> str:
    memory = int(job.get("memory_bytes", 0))
    return (
        f"Your generator tried to allocate more memory than the limit of {memory / 1024**3:g} GiB allows. "
        "Reduce its memory use (fewer or narrower layers, no huge intermediate tensors) and upload again."
    )


def _parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m gan_core.runner_child", description=__doc__.splitlines()[0])
    parser.add_argument("--job", required=True, type=Path, help="job description (JSON) written by the parent")
    parser.add_argument("--protocol-fd", required=True, type=int, help="pipe for JSON-line events")
    add_hardening_arguments(parser)
    return parser.parse_args(argv)


def add_hardening_arguments(parser: argparse.ArgumentParser) -> None:
    """``--drop-to UID:GID`` and ``--harden MODE``, as :func:`gan_core.sandbox.run_in_sandbox` passes them."""
    parser.add_argument("--drop-to", default=None, help="UID:GID to become before opening anything")
    parser.add_argument("--harden", default=HardenMode.PROCESS, choices=HardenMode.CHOICES, help="hardening mode")
    parser.add_argument("--output-mount", default=None, help="the output tmpfs to hand over to the parent")


def harden_from_arguments(arguments: argparse.Namespace) -> None:
    """:func:`harden` as the parsed ``--drop-to`` and ``--harden`` ask."""
    drop_to = None
    if arguments.drop_to:
        uid, _, gid = arguments.drop_to.partition(":")
        drop_to = (int(uid), int(gid))
    harden(mode=arguments.harden, drop_to=drop_to)
    if arguments.output_mount:
        hand_over_output_mount(arguments.output_mount, arguments.protocol_fd)


def hand_over_output_mount(path: str, protocol_fd: int) -> None:
    """Send a descriptor of the output tmpfs to the parent, as the first message on the protocol
    socket, before any participant code runs: the parent copies the outputs out through it after
    the run (the mount itself ends with the sandbox)."""
    import socket

    descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        connection = socket.socket(fileno=protocol_fd)
        try:
            socket.send_fds(connection, [b"\n"], [descriptor])
        finally:
            connection.detach()  # the descriptor stays open for the protocol channel
    finally:
        os.close(descriptor)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns 0 after a ``result`` event, 1 after an ``error`` event."""
    arguments = _parse_arguments(argv)
    channel = ProtocolChannel.from_fd(arguments.protocol_fd)
    harden_from_arguments(arguments)
    from gan_core.failures import FailureCode, GeneratorFailure

    job: dict[str, Any] = {}
    try:
        job = json.loads(arguments.job.read_text())
        run_job(job, channel)
    except GeneratorFailure as failure:
        if failure.code == FailureCode.CRASHED.value and is_out_of_memory(failure):
            channel.error(FailureCode.OUT_OF_MEMORY.value, _out_of_memory_message(job))
        else:
            channel.error(failure.code, failure.message)
        return 1
    except BaseException as error:  # every failure of participant code must be reported
        traceback.print_exc(file=sys.stderr)
        if isinstance(error, OSError) and error.errno in (errno.EFBIG, errno.ENOSPC):
            # only a claim: the parent charges the participant when it sees a cap reached itself, and
            # otherwise fails the run with platform_no_space (gan_core.sandbox.runs.outcome_result)
            channel.error(
                FailureCode.OUTPUT_TOO_LARGE.value,
                "The run tried to write more output than the platform allows (one file too large, or all outputs "
                "together above the cap) and was stopped.",
            )
        elif is_out_of_memory(error):
            channel.error(FailureCode.OUT_OF_MEMORY.value, _out_of_memory_message(job))
        else:
            channel.error(
                FailureCode.CRASHED.value,
                f"Your generator raised {type(error).__name__} while running. Run `python -m gan_core check "
                "YOUR_FILE` locally to see the full error and fix it.",
            )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
