"""The platform's own resource failures on a worker, told apart from the participant's.

A full disk, no free inodes, a read-only or vanished cache folder and a failing object store are
the platform's: the run is released for retry (never charged to the participant's quota) with a
failure code and message the organizers see on the submission and the dashboard. The participant's
own output cap stays theirs: in the sandbox, outputs go to a tmpfs of ``max_output_bytes`` whose
``ENOSPC`` is the kernel enforcing that cap, and in the plain-child fallback the parent measures
the output folder against it.

The child's own word is never trusted for this (participant code runs in it), neither way: its
``output_too_large`` (it met ``ENOSPC`` or ``EFBIG``) is charged only when the parent saw a cap
reached itself (outputs at the cap, the output mount full, a file at the per-file limit,
``SIGXFSZ``); any other lack of space fails the run with ``platform_no_space``
(``gan_core.sandbox.outcome_result``), which the worker releases as :data:`WORKER_DISK_FULL` (or
:data:`WORKER_OUT_OF_INODES`) with no look at the disk needed (:func:`no_space_fault`): a disk filled
for a moment is free again by the time the parent could look. After any other failed run the parent
also looks at the work folder's file system (:func:`run_failure_attributed`): a participant cannot
fill the worker's disk with outputs under the cap, so a file system below
``ATELIER_WORKER_CACHE_MIN_FREE_MB`` at that moment is the platform's.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from django.conf import settings

#: Failure codes of the platform's resource failures (organizer-visible; never charged).
WORKER_DISK_FULL = "worker_disk_full"
WORKER_OUT_OF_INODES = "worker_out_of_inodes"
WORKER_CACHE_READ_ONLY = "worker_cache_read_only"
WORKER_CACHE_MISSING = "worker_cache_missing"
STORAGE_ERROR = "storage_error"

#: Fewer free inodes than this on the cache's file system: the worker cannot write a run's outputs.
MIN_FREE_INODES = 64

_WHAT = {
    WORKER_DISK_FULL: "ran out of disk space",
    WORKER_OUT_OF_INODES: "ran out of file entries (inodes) on its disk",
    WORKER_CACHE_READ_ONLY: "found its cache folder read-only",
    WORKER_CACHE_MISSING: "lost its cache folder",
    STORAGE_ERROR: "could not read or write the platform's file storage",
}


class PlatformResourceError(RuntimeError):
    """A resource of the platform failed a run: ``code`` (one of this module's), the participant-safe
    ``message``, and ``detail`` for the organizers (paths, free space)."""

    def __init__(self, code: str, detail: str = "") -> None:
        self.code = code
        self.message = (
            f"The worker that ran your submission {_WHAT[code]} (code {code}): this is the platform's fault, "
            "not yours. Your submission goes back to the queue and is retried; it does not count against your "
            "quota, and the organizers can see what went wrong."
        )
        self.detail = detail
        super().__init__(f"[{code}] {detail or _WHAT[code]}")


def min_free_bytes() -> int:
    return max(0, int(settings.ATELIER_WORKER_CACHE_MIN_FREE_MB)) * 1024**2


def room_checked(folder: Path) -> None:
    """Raise :class:`PlatformResourceError` when ``folder`` (in the worker cache) is missing, read-only,
    or on a file system with less than ``ATELIER_WORKER_CACHE_MIN_FREE_MB`` or ``MIN_FREE_INODES`` free."""
    if not folder.is_dir():
        raise PlatformResourceError(WORKER_CACHE_MISSING, f"{folder} does not exist (removed while in use?)")
    try:
        info = os.statvfs(folder)
    except FileNotFoundError:
        raise PlatformResourceError(WORKER_CACHE_MISSING, f"{folder} does not exist (removed while in use?)") from None
    if info.f_flag & os.ST_RDONLY or not os.access(folder, os.W_OK):
        raise PlatformResourceError(WORKER_CACHE_READ_ONLY, f"{folder} is on a read-only file system")
    free = info.f_bavail * info.f_frsize
    if free < min_free_bytes():
        raise PlatformResourceError(
            WORKER_DISK_FULL,
            f"{folder}: {free / 1024**2:.1f} MiB free, the worker needs ATELIER_WORKER_CACHE_MIN_FREE_MB="
            f"{settings.ATELIER_WORKER_CACHE_MIN_FREE_MB}",
        )
    if info.f_files and info.f_favail < MIN_FREE_INODES:  # f_files == 0: the file system has no inode limit
        raise PlatformResourceError(WORKER_OUT_OF_INODES, f"{folder}: {info.f_favail} free inodes")


def run_failure_attributed(folder: Path, *, output_bytes: int, cap_bytes: int) -> PlatformResourceError | None:
    """After a sandboxed run failed: the platform's resource failure that explains it, or None (the
    participant's). ``output_bytes`` the run left in ``folder``: at or above ``cap_bytes`` it is the
    participant's output cap that stopped it, whatever the disk says."""
    if output_bytes >= cap_bytes:
        return None
    try:
        room_checked(folder)
    except PlatformResourceError as error:
        return error
    return None


def no_space_fault(folder: Path, detail: str) -> PlatformResourceError:
    """The platform's failure behind an ``ENOSPC`` on ``folder``'s file system: out of inodes when
    fewer than ``MIN_FREE_INODES`` are free there now, else out of disk space."""
    inodes = False
    try:
        info = os.statvfs(folder)
        inodes = bool(info.f_files) and info.f_favail < MIN_FREE_INODES
        detail = (
            f"{detail}\n{folder}: {info.f_bavail * info.f_frsize / 1024**2:.1f} MiB, {info.f_favail} inodes free now"
        )
    except OSError:
        pass
    return PlatformResourceError(WORKER_OUT_OF_INODES if inodes else WORKER_DISK_FULL, detail)


def error_attributed(error: BaseException, *, cache: Path) -> PlatformResourceError | None:
    """The platform resource failure behind an infrastructure ``error`` (its chain included), or None."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, PlatformResourceError):
            return current
        if type(current).__module__.split(".")[0] in {"botocore", "boto3", "s3transfer"}:
            return PlatformResourceError(STORAGE_ERROR, f"{type(current).__name__}: {current}")
        if type(current).__name__ == "StorageMismatch":
            return PlatformResourceError(STORAGE_ERROR, str(current))
        if isinstance(current, OSError) and current.errno is not None:
            in_cache = _under(current.filename, cache) or _under(getattr(current, "filename2", None), cache)
            detail = f"{type(current).__name__}: {current}"
            if current.errno in (errno.ENOSPC, errno.EDQUOT):
                return no_space_fault(cache, detail)
            if current.errno == errno.EROFS:
                return PlatformResourceError(WORKER_CACHE_READ_ONLY, detail)
            if in_cache and current.errno == errno.ENOENT:
                return PlatformResourceError(WORKER_CACHE_MISSING, detail)
            if not in_cache and current.filename is not None:
                return PlatformResourceError(STORAGE_ERROR, detail)
        current = current.__cause__ or current.__context__
    return None


def _under(name: object, folder: Path) -> bool:
    if not isinstance(name, str | bytes | os.PathLike):
        return False
    try:
        return Path(os.fsdecode(name)).resolve().is_relative_to(folder.resolve())
    except (OSError, ValueError):
        return False
