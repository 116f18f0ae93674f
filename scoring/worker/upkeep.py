"""Upkeep of a worker's cache: orphaned work folders, left-over temporaries and a bounded size.

Runs when a worker starts (Celery's ``worker_ready``) and after every submission it processes
(:func:`cache_upkeep`); cheap (a listing and one query), so it needs no schedule of its own.

- ``work/<submission>-<token>/`` folders whose token no live lease holds (the run was killed, its
  lease expired or moved on) are removed;
- temporaries of copies that were killed half-way (``.<name>.<uuid>``) older than an hour go;
- checkpoints and image sets beyond ``ATELIER_WORKER_CACHE_MAX_MB`` are evicted, least recently used
  first, never one a run holds (:func:`scoring.worker.cache.entry_lock`). Reference statistics are
  small and stay.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import time
import uuid
from pathlib import Path

from django.conf import settings

from scoring.worker.cache import cache_root_path, entry_lock, folder_bytes
from submissions.models import Submission

logger = logging.getLogger(__name__)

#: Entries the size bound may evict, by folder.
EVICTABLE = ("checkpoints", "datasets")
#: A temporary (a copy in progress) older than this was left by a killed copy.
TEMPORARY_SECONDS = 3600


@dataclasses.dataclass
class UpkeepReport:
    orphans: list[str] = dataclasses.field(default_factory=list)
    temporaries: list[str] = dataclasses.field(default_factory=list)
    evicted: list[str] = dataclasses.field(default_factory=list)
    cache_bytes: int = 0


def cache_upkeep_safely() -> UpkeepReport | None:
    """:func:`cache_upkeep`, logging instead of raising (it must never stop a worker or fail a task)."""
    try:
        return cache_upkeep()
    except Exception:
        logger.warning("worker cache upkeep failed", exc_info=True)
        return None


def cache_upkeep(*, max_bytes: int | None = None) -> UpkeepReport:
    """Sweep orphans and temporaries, then evict down to ``max_bytes`` (default ``ATELIER_WORKER_CACHE_MAX_MB``;
    0: no bound)."""
    report = UpkeepReport()
    root = cache_root_path()
    if not root.is_dir():
        return report
    report.orphans = work_orphans_removed(root)
    report.temporaries = temporaries_removed(root)
    if max_bytes is None:
        max_bytes = max(0, int(settings.ATELIER_WORKER_CACHE_MAX_MB)) * 1024**2
    report.evicted, report.cache_bytes = least_recently_used_evicted(root, max_bytes=max_bytes)
    if report.orphans or report.temporaries or report.evicted:
        logger.info(
            "worker cache upkeep: %d orphaned work folders, %d temporaries, %d evicted; %.1f MiB cached",
            len(report.orphans),
            len(report.temporaries),
            len(report.evicted),
            report.cache_bytes / 1024**2,
        )
    return report


def work_orphans_removed(root: Path) -> list[str]:
    """Remove the ``work/<submission>-<token>/`` folders whose token holds no running submission."""
    work = root / "work"
    if not work.is_dir():
        return []
    folders: dict[uuid.UUID, Path] = {}
    for folder in work.iterdir():
        _submission, _, token = folder.name.partition("-")
        try:
            folders[uuid.UUID(hex=token)] = folder
        except ValueError:
            continue  # not one of ours
    if not folders:
        return []
    live = set(
        Submission.objects.filter(lease_token__in=list(folders), state__in=Submission.RUNNING_STATES).values_list(
            "lease_token", flat=True
        )
    )
    removed = []
    for token, folder in folders.items():
        if token not in live:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder.name)
    return removed


def temporaries_removed(root: Path, *, older_than: float = TEMPORARY_SECONDS) -> list[str]:
    """Remove copies in progress (``.<name>.<uuid>``) older than ``older_than`` seconds: their copier died."""
    cutoff = time.time() - older_than
    removed = []
    for folder_name in (*EVICTABLE, "reference-stats"):
        folder = root / folder_name
        if not folder.is_dir():
            continue
        for entry in folder.iterdir():
            try:
                if entry.name.startswith(".") and entry.lstat().st_mtime < cutoff:
                    _remove(entry)
                    removed.append(f"{folder_name}/{entry.name}")
            except OSError:
                continue
    return removed


def least_recently_used_evicted(root: Path, *, max_bytes: int) -> tuple[list[str], int]:
    """Evict checkpoints and image sets, least recently used first, until the cache's evictable entries
    fit in ``max_bytes`` (0: no bound); skips what a run holds. Returns what went and the bytes left."""
    entries = []
    for kind in EVICTABLE:
        folder = root / kind
        if not folder.is_dir():
            continue
        for entry in folder.iterdir():
            if entry.name.startswith("."):
                continue
            try:
                used = entry.stat().st_mtime
                size = folder_bytes(entry) if entry.is_dir() else entry.stat().st_size
            except OSError:
                continue
            entries.append((used, kind, entry, size))
    total = sum(size for *_rest, size in entries)
    evicted: list[str] = []
    if not max_bytes:
        return evicted, total
    for _used, kind, entry, size in sorted(entries, key=lambda item: item[0]):
        if total <= max_bytes:
            break
        with entry_lock(kind, entry.name, exclusive=True, blocking=False) as free:
            if not free:
                continue  # a run is using it
            _remove(_renamed_away(entry))
        total -= size
        evicted.append(f"{kind}/{entry.name}")
    return evicted, total


def _renamed_away(entry: Path) -> Path:
    """Move ``entry`` aside first, so no reader ever finds it half-removed."""
    aside = entry.with_name(f".{entry.name}.{uuid.uuid4().hex}")
    try:
        entry.rename(aside)
    except OSError:
        return entry
    return aside


def _remove(entry: Path) -> None:
    if entry.is_dir() and not entry.is_symlink():
        shutil.rmtree(entry, ignore_errors=True)
    else:
        entry.unlink(missing_ok=True)
