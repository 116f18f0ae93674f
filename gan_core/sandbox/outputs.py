"""The outputs of a run: the child's output mount, copied out, then re-validated by trusted code."""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Sequence
from pathlib import Path

from gan_core.failures import FailureCode
from gan_core.sandbox.limits import SandboxLimits
from gan_core.sandbox.records import RawOutputMode, SandboxError

#: ``f_type`` of a tmpfs (``statfs``): the output mount the child hands over must be one.
_TMPFS_MAGIC = 0x01021994
#: Most entries copied out of the output mount (one PNG, and maybe one ``.npy``, per input).
_MAX_OUTPUT_ENTRIES = 200_000


def _is_output_mount(descriptor: int, limits: SandboxLimits) -> bool:
    """Whether ``descriptor`` is a directory on a tmpfs no larger than the output cap (the child's ``/out``)."""
    import ctypes

    try:
        if not stat.S_ISDIR(os.fstat(descriptor).st_mode):
            return False
    except OSError:
        return False
    buffer = ctypes.create_string_buffer(120)  # struct statfs; f_type is its first word
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.fstatfs(descriptor, buffer) != 0:
        return False
    f_type = int.from_bytes(buffer.raw[:8], sys.byteorder)
    size = os.fstatvfs(descriptor)
    return f_type == _TMPFS_MAGIC and size.f_blocks * size.f_frsize <= limits.max_output_bytes + size.f_frsize


def _output_mount_full(descriptor: int) -> bool:
    """Whether the output mount has under two pages left: the kernel has refused a write there."""
    size = os.fstatvfs(descriptor)
    return size.f_bavail < 2


def _copy_outputs(descriptor: int, output_dir: Path) -> bool:
    """Copy every regular file of the output mount (``descriptor``) into ``output_dir``, never
    following a link; other entries become empty folders (so re-validation discards the run).
    Returns ``False`` when the mount held more than ``_MAX_OUTPUT_ENTRIES`` entries (not all copied)."""
    count = 0
    for entry in os.scandir(descriptor):
        count += 1
        if count > _MAX_OUTPUT_ENTRIES:
            return False
        name = entry.name
        target = output_dir / name
        info = os.stat(name, dir_fd=descriptor, follow_symlinks=False)
        if not stat.S_ISREG(info.st_mode):
            target.mkdir()
            continue
        source = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=descriptor)
        try:
            if not stat.S_ISREG(os.fstat(source).st_mode):
                target.mkdir()
                continue
            copy = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
            try:
                while True:
                    block = os.read(source, 1 << 20)
                    if not block:
                        break
                    view = memoryview(block)
                    while view:
                        view = view[os.write(copy, view) :]
            finally:
                os.close(copy)
        finally:
            os.close(source)
    return True


def _validated_outputs(
    output_dir: Path,
    *,
    names: Sequence[str],
    sizes: Sequence[tuple[int, int]],
    raw_outputs: RawOutputMode,
    limits: SandboxLimits,
    log_tail: str,
) -> tuple[list[Path], list[Path]]:
    """Trusted re-validation: exactly the expected regular files, total size under the cap, each PNG
    decodable as 8-bit RGB of its input's size (and each ``.npy`` float32 ``(3, H, W)``)."""
    import numpy as np
    from PIL import Image

    expected = set(names)
    if raw_outputs is RawOutputMode.NUMPY:
        expected |= {name[: -len(".png")] + ".npy" for name in names}
    present = {}
    total = 0
    for entry in os.scandir(output_dir):
        info = entry.stat(follow_symlinks=False)
        if not stat.S_ISREG(info.st_mode) or entry.name not in expected:
            raise SandboxError(
                FailureCode.CRASHED,
                "The run left unexpected files in its output folder; its outputs were discarded.",
                log_tail=log_tail,
            )
        present[entry.name] = info.st_size
        total += info.st_size
    if total > limits.max_output_bytes:
        raise SandboxError(
            FailureCode.OUTPUT_TOO_LARGE,
            f"The outputs take {total / 1024**2:.1f} MiB, above the limit of {limits.max_output_bytes / 1024**2:g} MiB.",
            log_tail=log_tail,
        )
    missing = sorted(expected - set(present))
    if missing:
        raise SandboxError(
            FailureCode.CRASHED,
            f"The run ended without writing {len(missing)} of its outputs; it was discarded.",
            log_tail=log_tail,
        )
    outputs: list[Path] = []
    raws: list[Path] = []
    for name, (height, width) in zip(names, sizes, strict=True):
        path = output_dir / name
        try:
            with Image.open(path) as image:
                image.load()
                ok = image.format == "PNG" and image.mode == "RGB" and image.size == (width, height)
        except Exception:  # any decoder failure: not a valid output
            ok = False
        if not ok:
            raise SandboxError(
                FailureCode.CRASHED,
                f"An output image was not an 8-bit RGB PNG of {height}x{width}; the run was discarded.",
                log_tail=log_tail,
            )
        outputs.append(path)
        if raw_outputs is RawOutputMode.NUMPY:
            raw = output_dir / (name[: -len(".png")] + ".npy")
            array = np.load(raw, allow_pickle=False, mmap_mode="r")
            if array.dtype != np.float32 or array.shape != (3, height, width):
                raise SandboxError(FailureCode.CRASHED, "A raw output had the wrong shape or dtype.", log_tail=log_tail)
            raws.append(raw)
    return outputs, raws
