"""The platform's own resource failures (full disk, no inodes, a read-only or vanished cache folder, a
storage error) are retried, never charged, and named for the organizers; the participant's output cap
stays the participant's. The cache folder is a real tmpfs of a few MiB mounted for the test."""

from __future__ import annotations

import contextlib
import errno
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from gan_platform.storages import private_storage
from scoring.worker.faults import (
    STORAGE_ERROR,
    WORKER_CACHE_MISSING,
    WORKER_CACHE_READ_ONLY,
    WORKER_DISK_FULL,
    WORKER_OUT_OF_INODES,
    error_attributed,
    run_failure_attributed,
)
from scoring.worker.pipeline import submission_process_run
from submissions.models import Submission
from tests.scoring.conftest import checkpoint_bytes

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture(autouse=True)
def small_runs(settings):
    settings.ATELIER_SANDBOX_THREADS = 1
    settings.ATELIER_SCORING_BOOTSTRAP_RESAMPLES = 20
    settings.ATELIER_WORKER_CACHE_MIN_FREE_MB = 1


@pytest.fixture
def tmpfs(tmp_path):
    """``mount(size, inodes)``: a fresh tmpfs under the test's folder, unmounted afterwards."""
    mounted: list[Path] = []

    def mount(*, size: str = "16m", inodes: int = 4096) -> Path:
        point = tmp_path / f"cache-{len(mounted)}"
        point.mkdir()
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},nr_inodes={inodes}", "tmpfs", str(point)],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            pytest.skip(f"these tests mount a small tmpfs as the worker cache and need root: {result.stderr.strip()}")
        mounted.append(point)
        return point

    yield mount
    for point in reversed(mounted):
        subprocess.run(["umount", "-l", str(point)], check=False)


def _fill_bytes(folder: Path) -> None:
    with open(folder / f"filler-{uuid.uuid4().hex}", "wb") as sink, contextlib.suppress(OSError):
        while True:
            sink.write(b"\0" * 65536)
            sink.flush()


def _fill_inodes(folder: Path) -> None:
    filler = folder / "inodes"
    filler.mkdir(exist_ok=True)
    with contextlib.suppress(OSError):
        for index in range(1_000_000):
            (filler / str(index)).touch()


@pytest.fixture
def before_preview_run(monkeypatch):
    """``before_preview_run(action)``: ``action(work_folder)`` runs after the worker's own checks of its
    cache, just before the sandboxed child starts (a disk filled by someone else meanwhile)."""
    import scoring.worker.pipeline

    original = scoring.worker.pipeline.preview_run

    def install(action):
        def wrapped(**kwargs):
            action(Path(kwargs["output_dir"]).parent)
            return original(**kwargs)

        monkeypatch.setattr(scoring.worker.pipeline, "preview_run", wrapped)

    return install


def _assert_released_as_platform_fault(outcome: str, submission: Submission, code: str) -> None:
    submission.refresh_from_db()
    assert outcome == "requeued", (submission.state, submission.failure_code, submission.failure_message)
    assert submission.state == Submission.State.QUEUED
    assert submission.failure_code == code
    assert "the platform's fault, not yours" in submission.failure_message
    assert "does not count against your quota" in submission.failure_message
    assert submission.counts_against_quota is True, "still pending: it counts like any queued submission"
    assert submission.lease_token is None


def test_a_disk_filled_during_the_run_is_the_platforms_fault_retried_and_never_charged(
    arena, make_submission, settings, tmpfs, before_preview_run, sent
):
    # given a worker cache on a 16 MiB disk that fills up once the run has started
    cache = tmpfs(size="16m")
    settings.ATELIER_WORKER_CACHE_DIR = cache
    before_preview_run(lambda work: _fill_bytes(cache))
    submission = make_submission(checkpoint_bytes(seed=1))

    # when a worker runs it (the child's output writes fail with ENOSPC)
    outcome = submission_process_run(submission_id=submission.pk, worker="gpu@test")

    # then it goes back to the queue with the platform's code, not the participant's
    _assert_released_as_platform_fault(outcome, submission, WORKER_DISK_FULL)
    assert sent == [], "no message now: the reconciler re-sends it after its grace period, when the disk may be clear"
    # (in the sandbox the parent's copy out of the output tmpfs meets ENOSPC; in the plain-child fallback the
    # child's own write does, and the parent's look at the disk names the cause)
    assert "No space left on device" in submission.failure_detail or "MiB free" in submission.failure_detail
    assert not list((cache / "work").iterdir()), "the attempt's work folder is removed"

    # and when its last attempt meets the same full disk, it fails without counting against the quota
    Submission.objects.filter(pk=submission.pk).update(attempts=Submission.MAX_ATTEMPTS - 1)
    outcome = submission_process_run(submission_id=submission.pk, worker="gpu@test")
    submission.refresh_from_db()
    assert outcome == "failed"
    assert (submission.state, submission.failure_code) == (Submission.State.FAILED, WORKER_DISK_FULL)
    assert submission.counts_against_quota is False
    assert "MiB free" in submission.failure_detail


def test_a_disk_full_only_while_the_plain_child_wrote_is_the_platforms_fault_though_free_again_after(
    arena, make_submission, settings, tmpfs, tmp_path, before_preview_run, monkeypatch
):
    # given the plain-child fallback (no bubblewrap: the child writes its outputs straight into the worker's
    # cache) on a 16 MiB disk that fills up once the run has started and is free again as soon as the child
    # has ended, before the parent could look at it (the race `make chaos` lost 2 times in 10)
    import gan_core.sandbox.runs

    cache = tmpfs(size="16m")
    settings.ATELIER_WORKER_CACHE_DIR = cache
    monkeypatch.setenv("ATELIER_BWRAP", str(tmp_path / "no-bubblewrap-here"))
    before_preview_run(lambda work: _fill_bytes(cache))
    original = gan_core.sandbox.runs.run_in_sandbox
    isolations = []

    def freed_when_the_child_ended(**kwargs):
        isolations.append(kwargs["isolation"])
        try:
            return original(**kwargs)
        finally:
            for filler in cache.glob("filler-*"):
                filler.unlink()

    monkeypatch.setattr(gan_core.sandbox.runs, "run_in_sandbox", freed_when_the_child_ended)
    submission = make_submission(checkpoint_bytes(seed=1))

    # when a worker runs it (the child's PNG write meets ENOSPC; it claims output_too_large)
    outcome = submission_process_run(submission_id=submission.pk, worker="gpu@test")

    # then no cap was reached as far as the parent can see: the platform's, released, not charged
    assert {mode.value for mode in isolations} == {"process"}, "the validation probe and the preview run"
    _assert_released_as_platform_fault(outcome, submission, WORKER_DISK_FULL)
    assert "[platform_no_space]" in submission.failure_detail
    assert "No space left on device" in submission.failure_detail, "the child's traceback, for the organizers"
    assert not list(cache.glob("filler-*")), "the disk was free again when the parent looked"


def test_a_disk_out_of_inodes_is_the_platforms_fault(arena, make_submission, settings, tmpfs, before_preview_run):
    cache = tmpfs(size="64m", inodes=400)
    settings.ATELIER_WORKER_CACHE_DIR = cache
    before_preview_run(lambda work: _fill_inodes(cache))
    submission = make_submission(checkpoint_bytes(seed=1))

    outcome = submission_process_run(submission_id=submission.pk, worker="gpu@test")

    _assert_released_as_platform_fault(outcome, submission, WORKER_OUT_OF_INODES)


def test_a_read_only_cache_folder_is_the_platforms_fault(arena, make_submission, settings, tmpfs):
    cache = tmpfs(size="4m")
    subprocess.run(["mount", "-o", "remount,ro", str(cache)], check=True)
    settings.ATELIER_WORKER_CACHE_DIR = cache
    submission = make_submission(checkpoint_bytes(seed=1))

    outcome = submission_process_run(submission_id=submission.pk, worker="gpu@test")

    _assert_released_as_platform_fault(outcome, submission, WORKER_CACHE_READ_ONLY)
    assert "Read-only file system" in submission.failure_detail


def test_a_work_folder_that_vanishes_during_the_run_is_the_platforms_fault(
    arena, make_submission, settings, tmp_path, monkeypatch
):
    # given a work folder that someone removes after the preview run wrote its outputs
    import scoring.worker.pipeline

    settings.ATELIER_WORKER_CACHE_DIR = tmp_path / "cache"
    original = scoring.worker.pipeline.preview_outputs_store

    def vanishing(submission, images, outputs):
        shutil.rmtree(next(iter(outputs.values())).parent.parent)
        return original(submission, images, outputs)

    monkeypatch.setattr(scoring.worker.pipeline, "preview_outputs_store", vanishing)
    submission = make_submission(checkpoint_bytes(seed=1))

    outcome = submission_process_run(submission_id=submission.pk, worker="gpu@test")

    _assert_released_as_platform_fault(outcome, submission, WORKER_CACHE_MISSING)


def test_a_checkpoint_missing_from_storage_is_a_storage_error(arena, make_submission, settings, tmp_path):
    settings.ATELIER_WORKER_CACHE_DIR = tmp_path / "cache"
    submission = make_submission(checkpoint_bytes(seed=1))
    private_storage().delete(submission.file.name)

    outcome = submission_process_run(submission_id=submission.pk, worker="gpu@test")

    _assert_released_as_platform_fault(outcome, submission, STORAGE_ERROR)


def test_the_participants_own_output_cap_stays_the_participants_even_on_a_full_disk(tmpfs, settings):
    cache = tmpfs(size="2m")
    _fill_bytes(cache)
    # outputs at the cap: the cap stopped the run, whatever the disk says
    assert run_failure_attributed(cache, output_bytes=1000, cap_bytes=1000) is None
    # below the cap on a full disk: the platform's
    fault = run_failure_attributed(cache, output_bytes=10, cap_bytes=1000)
    assert fault is not None and fault.code == WORKER_DISK_FULL


def test_errors_are_attributed_by_errno_and_by_where_the_file_was(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()

    def code(error: BaseException) -> str | None:
        fault = error_attributed(error, cache=cache)
        return fault.code if fault is not None else None

    assert code(OSError(errno.ENOSPC, "No space left on device", str(cache / "x"))) == WORKER_DISK_FULL
    assert code(OSError(errno.EROFS, "Read-only file system", str(cache / "x"))) == WORKER_CACHE_READ_ONLY
    assert code(FileNotFoundError(errno.ENOENT, "No such file", str(cache / "work" / "x"))) == WORKER_CACHE_MISSING
    assert code(FileNotFoundError(errno.ENOENT, "No such file", "/srv/private/checkpoints/x")) == STORAGE_ERROR
    wrapped = RuntimeError("copy failed")
    wrapped.__cause__ = OSError(errno.ENOSPC, "No space left on device")
    assert code(wrapped) == WORKER_DISK_FULL, "the cause of an error counts"
    assert code(RuntimeError("weights missing")) is None, "anything else stays a generic infrastructure error"
