"""The worker cache's upkeep: work folders of killed runs are swept (on start and after every run), old
temporaries go, and checkpoints and image sets beyond the bound are evicted least recently used first,
never one a run holds."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest
from celery.signals import worker_ready
from django.utils import timezone

from scoring.worker.cache import cache_uses, checkpoint_materialise, entry_lock
from scoring.worker.upkeep import cache_upkeep
from submissions.models import Submission

pytestmark = [pytest.mark.django_db]

MIB = 1024**2


@pytest.fixture
def cache(settings, tmp_path) -> Path:
    settings.ATELIER_WORKER_CACHE_DIR = tmp_path / "cache"
    settings.ATELIER_WORKER_CACHE_MAX_MB = 0
    return settings.ATELIER_WORKER_CACHE_DIR


def _work_folder(cache: Path, submission_id: int, token: uuid.UUID) -> Path:
    folder = cache / "work" / f"{submission_id}-{token.hex}"
    folder.mkdir(parents=True)
    (folder / "outputs").mkdir()
    (folder / "outputs" / "a.png").write_bytes(b"x" * 100)
    return folder


def _entry(cache: Path, kind: str, name: str, *, size: int, used_ago: float) -> Path:
    folder = cache / kind
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "datasets":
        entry = folder / name
        entry.mkdir()
        (entry / "image.png").write_bytes(b"x" * size)
    else:
        entry = folder / name
        entry.write_bytes(b"x" * size)
    when = time.time() - used_ago
    os.utime(entry, (when, when))
    return entry


def test_work_folders_of_killed_runs_are_swept_and_live_ones_kept(cache, make_submission):
    # given a running submission, one whose run was killed and taken back, and a folder not of ours
    live_token, dead_token = uuid.uuid4(), uuid.uuid4()
    running = make_submission(
        state=Submission.State.GENERATING, lease_token=live_token, lease_expires_at=timezone.now(), attempts=1
    )
    taken_back = make_submission(state=Submission.State.QUEUED, attempts=1)
    live = _work_folder(cache, running.pk, live_token)
    dead = _work_folder(cache, taken_back.pk, dead_token)
    stranger = cache / "work" / "notes"
    stranger.mkdir()

    # when the upkeep runs
    report = cache_upkeep()

    # then only the killed run's folder is gone
    assert report.orphans == [dead.name]
    assert not dead.exists()
    assert live.is_dir() and stranger.is_dir()


def test_a_starting_worker_sweeps_its_cache(cache, make_submission):
    submission = make_submission(state=Submission.State.QUEUED, attempts=1)
    dead = _work_folder(cache, submission.pk, uuid.uuid4())

    import scoring.tasks  # noqa: F401  (Celery's autodiscovery imports it in a worker: it connects the handler)

    worker_ready.send(sender=None)

    assert not dead.exists(), "the worker_ready handler of scoring.tasks swept the orphan"


def test_old_temporaries_of_killed_copies_are_removed_and_fresh_ones_kept(cache):
    old = _entry(cache, "checkpoints", f".abc.{uuid.uuid4().hex}", size=10, used_ago=2 * 3600)
    fresh = _entry(cache, "datasets", f".def.{uuid.uuid4().hex}", size=10, used_ago=5)

    report = cache_upkeep()

    assert report.temporaries == [f"checkpoints/{old.name}"]
    assert not old.exists() and fresh.exists(), "a copy in progress is left alone"


def test_the_cache_is_evicted_least_recently_used_first_down_to_its_bound(cache):
    # given 4 MiB of checkpoints and image sets and a bound of 2 MiB
    oldest = _entry(cache, "checkpoints", "a" * 64, size=MIB, used_ago=400)
    older = _entry(cache, "datasets", "b" * 64, size=MIB, used_ago=300)
    recent = _entry(cache, "checkpoints", "c" * 64, size=MIB, used_ago=200)
    newest = _entry(cache, "datasets", "d" * 64, size=MIB, used_ago=100)
    stats = _entry(cache, "reference-stats", "e" * 64, size=MIB, used_ago=1000)

    report = cache_upkeep(max_bytes=2 * MIB)

    assert report.evicted == [f"checkpoints/{oldest.name}", f"datasets/{older.name}"]
    assert report.cache_bytes == 2 * MIB
    assert not oldest.exists() and not older.exists()
    assert recent.exists() and newest.exists()
    assert stats.exists(), "reference statistics are not evicted"
    assert not [entry for entry in (cache / "datasets").iterdir() if entry.name.startswith(".")], "nothing half-gone"


def test_an_entry_a_run_holds_is_never_evicted(cache, make_submission):
    # given the oldest checkpoint held by a run (materialised inside its cache_uses block)
    submission = make_submission(b"x" * MIB)
    other = _entry(cache, "checkpoints", "f" * 64, size=MIB, used_ago=100)
    with cache_uses():
        held = checkpoint_materialise(submission)
        when = time.time() - 1000
        os.utime(held, (when, when))

        # when the cache must shrink to 1 MiB
        report = cache_upkeep(max_bytes=MIB)

        # then the held one stays and the other goes
        assert held.exists()
        assert report.evicted == [f"checkpoints/{other.name}"]
        with entry_lock("checkpoints", submission.sha256, exclusive=True, blocking=False) as free:
            assert free is False

    # and once the run is over it can go
    assert cache_upkeep(max_bytes=0).evicted == []
    assert cache_upkeep(max_bytes=1).evicted == [f"checkpoints/{held.name}"]


def test_using_an_entry_makes_it_recently_used(cache, make_submission):
    submission = make_submission(b"y" * 1000)
    path = checkpoint_materialise(submission)
    os.utime(path, (1, 1))
    checkpoint_materialise(submission)
    assert path.stat().st_mtime > time.time() - 60
