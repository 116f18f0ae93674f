"""Local copies of stored files in ``ATELIER_WORKER_CACHE_DIR`` (layout: :mod:`scoring.worker`).

Every copy is written under a temporary name and renamed into place, so concurrent workers on one
machine never see half a file or half a set. A run holds a shared ``flock`` on every checkpoint and
image set it uses (``locks/<kind>-<name>``, within :func:`cache_uses`) and touches its time of last use;
the upkeep (:mod:`scoring.worker.upkeep`) evicts only what it can lock exclusively, least recently used
first. Locks end with their process, so a killed run holds nothing.
"""

from __future__ import annotations

import contextlib
import contextvars
import fcntl
import hashlib
import os
import shutil
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

from django.conf import settings

from competitions.models import DatasetImage
from gan_platform.storages import private_storage
from submissions.models import Submission

_CHUNK = 1024 * 1024


class StorageMismatch(RuntimeError):
    """A stored file's bytes do not match the SHA-256 recorded for it (infrastructure: retried)."""


def cache_root_path() -> Path:
    """``ATELIER_WORKER_CACHE_DIR``, without creating it."""
    return Path(settings.ATELIER_WORKER_CACHE_DIR)


def cache_root() -> Path:
    root = cache_root_path()
    root.mkdir(parents=True, exist_ok=True)
    return root


_run_uses: contextvars.ContextVar[contextlib.ExitStack | None] = contextvars.ContextVar("run_uses", default=None)


@contextlib.contextmanager
def cache_uses() -> Iterator[None]:
    """Keep every checkpoint and image set materialised inside the block locked (shared) until it ends,
    so that no eviction removes what a run is using."""
    with contextlib.ExitStack() as stack:
        token = _run_uses.set(stack)
        try:
            yield
        finally:
            _run_uses.reset(token)


@contextlib.contextmanager
def entry_lock(kind: str, name: str, *, exclusive: bool, blocking: bool = True) -> Iterator[bool]:
    """A ``flock`` on cache entry ``kind``/``name`` (``checkpoints``, ``datasets``); yields whether it was
    taken (always True when ``blocking``)."""
    folder = cache_root() / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(folder / f"{kind}-{name}", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        mode = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | (0 if blocking else fcntl.LOCK_NB)
        try:
            fcntl.flock(descriptor, mode)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(descriptor)


def _use(kind: str, name: str) -> None:
    """Lock entry ``kind``/``name`` (shared) for the rest of the current :func:`cache_uses` block."""
    stack = _run_uses.get()
    if stack is not None:
        stack.enter_context(entry_lock(kind, name, exclusive=False))


def _touch(path: Path) -> None:
    """Record a use (the upkeep evicts the least recently used first)."""
    with contextlib.suppress(OSError):
        os.utime(path)


def folder_bytes(folder: Path) -> int:
    """Bytes of the regular files under ``folder`` (0 when it is gone)."""
    total = 0
    for path in folder.rglob("*"):
        with contextlib.suppress(OSError):
            if path.is_file() and not path.is_symlink():
                total += path.stat().st_size
    return total


def copy_from_storage(name: str, target: Path) -> str:
    """Copy private-storage file ``name`` to ``target`` (a new file); returns its SHA-256."""
    digest = hashlib.sha256()
    with private_storage().open(name, "rb") as source, open(target, "wb") as sink:
        while chunk := source.read(_CHUNK):
            digest.update(chunk)
            sink.write(chunk)
    os.chmod(target, 0o644)
    return digest.hexdigest()


def checkpoint_materialise(submission: Submission) -> Path:
    """The submission's checkpoint as a local file ``checkpoints/<sha256>``, copied once and verified."""
    folder = cache_root() / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / submission.sha256
    _use("checkpoints", submission.sha256)
    if target.is_file():
        _touch(target)
        return target
    temporary = folder / f".{submission.sha256}.{uuid.uuid4().hex}"
    try:
        digest = copy_from_storage(submission.file.name, temporary)
        if digest != submission.sha256:
            raise StorageMismatch(
                f"stored checkpoint {submission.file.name} has SHA-256 {digest}, the submission says {submission.sha256}"
            )
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return target


def dataset_key(images: Sequence[DatasetImage]) -> str:
    """SHA-256 of the sorted ``name:sha256`` lines of a set's images: the local folder's name."""
    lines = sorted(f"{image.name}:{image.sha256}" for image in images)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def image_set_materialise(images: Sequence[DatasetImage]) -> Path:
    """A local folder holding ``images`` under their names, keyed by content; copied once per machine.

    The copy goes to a temporary folder renamed into place: a concurrent worker either finds the
    complete folder or makes its own and discards it when it loses the rename.
    """
    root = cache_root() / "datasets"
    root.mkdir(parents=True, exist_ok=True)
    key = dataset_key(images)
    target = root / key
    _use("datasets", key)
    if target.is_dir():
        _touch(target)
        return target
    temporary = root / f".{key}.{uuid.uuid4().hex}"
    temporary.mkdir()
    try:
        for image in images:
            digest = copy_from_storage(image.file.name, temporary / file_name(image))
            if digest != image.sha256:
                raise StorageMismatch(
                    f"stored image {image.file.name} has SHA-256 {digest}, its row says {image.sha256}"
                )
        os.chmod(temporary, 0o755)
        try:
            os.rename(temporary, target)
        except OSError:
            if not target.is_dir():
                raise
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    return target


def file_name(image: DatasetImage) -> str:
    name = Path(image.name).name
    if not name or name != image.name or name.startswith("."):
        raise RuntimeError(
            f"dataset image {image.pk} has an unusable name {image.name!r}; names must be plain file names"
        )
    return name


@contextlib.contextmanager
def work_folder(submission_id: int, token: uuid.UUID) -> Iterator[Path]:
    folder = cache_root() / "work" / f"{submission_id}-{token.hex}"
    folder.mkdir(parents=True, exist_ok=True)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
