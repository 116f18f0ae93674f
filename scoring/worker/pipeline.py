"""The task body of a submission's run: claim, lease, validate, generate, score, then finish, fail or
release it for retry. What each error means (the participant's, the platform's) is decided here."""

from __future__ import annotations

import contextlib
import logging
import threading
import traceback
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.db import connection

from competitions.models import DatasetImage, ImageSet
from gan_core.checkpoints import CheckpointFormat
from gan_core.contract import GeneratorContract
from gan_core.devices import select_device
from gan_core.failures import FailureCode, GeneratorFailure
from gan_core.sandbox import SandboxLimits, validate_checkpoint
from gan_core.scoring import ScoringError
from gan_core.stats import StatisticsError
from gan_platform.storages import private_storage
from scoring.services import (
    ScoreValue,
    submission_advance,
    submission_claim,
    submission_fail,
    submission_finish,
    submission_heartbeat,
    submission_release_for_retry,
)
from scoring.worker.cache import (
    cache_root_path,
    cache_uses,
    checkpoint_materialise,
    file_name,
    folder_bytes,
    image_set_materialise,
    work_folder,
)
from scoring.worker.database import db_retried
from scoring.worker.faults import (
    PlatformResourceError,
    error_attributed,
    no_space_fault,
    room_checked,
    run_failure_attributed,
)
from scoring.worker.runs import SandboxedGenerator, efficiency_measured, hidden_run, preview_run
from scoring.worker.scores import submission_scores
from submissions.models import Submission

logger = logging.getLogger(__name__)

#: Failure code of a submission whose metrics the competition's configuration makes impossible.
SCORING_ERROR = "scoring_error"


class LeaseLost(Exception):
    """The run's lease token no longer holds the submission (cancelled, taken back): stop quietly."""


def submission_process_run(*, submission_id: int, worker: str) -> str:
    """Claim ``submission_id`` and run it; returns ``scored``, ``failed``, ``requeued``, ``not_claimed`` or ``lease_lost``."""
    token = db_retried(lambda: submission_claim(submission_id=submission_id, worker=worker), what="claim")
    if token is None:
        logger.info("submission %s: not claimable (held elsewhere, finished or out of attempts)", submission_id)
        return "not_claimed"
    try:
        with cache_uses(), LeaseKeeper(submission_id=submission_id, token=token) as lease:
            scores = submission_pipeline(submission_id=submission_id, token=token, lease=lease)
    except LeaseLost:
        logger.info("submission %s: lease lost (cancelled or taken back); stopping", submission_id)
        return "lease_lost"
    except PlatformResourceError as fault:  # the worker's disk or cache, the storage: retried, never charged
        # retried after the reconciler's grace period, not at once: the disk may need minutes to clear
        return _release(submission_id, token, fault, fault=fault, resend=False)
    except GeneratorFailure as failure:
        if failure.code == FailureCode.SANDBOX_UNAVAILABLE:
            return _release(submission_id, token, failure, code=failure.code, message=failure.message)
        detail = getattr(failure, "log_tail", "") or ""
        if failure.code == FailureCode.PLATFORM_NO_SPACE:  # no cap reached: the worker's disk or memory
            fault = no_space_fault(cache_root_path(), f"the run ended [{failure.code}] {failure.message}\n{detail}")
            return _release(submission_id, token, failure, fault=fault, resend=False)
        logger.info("submission %s failed: %s", submission_id, failure.code)
        return _fail(submission_id, token, failure.code, failure.message, detail, participant_fault=True)
    except (ScoringError, StatisticsError) as error:
        # The outputs are valid images (the contract checked them), so a metric that cannot be
        # computed is the competition's configuration (e.g. a split of one image), not the
        # participant's fault; retrying would fail the same way.
        message = (
            "The platform could not compute the scores of this competition "
            f"({error}). The organizers are told; this does not count against your quota."
        )
        detail = "".join(traceback.format_exception(error))[-20000:]
        logger.error("submission %s: scoring error, failed without retry: %s", submission_id, error)
        return _fail(submission_id, token, SCORING_ERROR, message, detail, participant_fault=False)
    except Exception as error:  # infrastructure: storage, database, weights, worker limits
        fault = error_attributed(error, cache=cache_root_path())
        return _release(submission_id, token, error, fault=fault, resend=fault is None)
    finished = db_retried(
        lambda: submission_finish(submission_id=submission_id, token=token, scores=scores),
        what=f"submission {submission_id}: finish",
    )
    if finished:
        return "scored"
    return "lease_lost"


def _fail(
    submission_id: int, token: uuid.UUID, code: str, message: str, detail: str, *, participant_fault: bool
) -> str:
    """End the run ``failed`` (retried on a fresh connection after a database blip)."""
    done = db_retried(
        lambda: submission_fail(
            submission_id=submission_id,
            token=token,
            code=code,
            message=message,
            detail=detail,
            participant_fault=participant_fault,
        ),
        what=f"submission {submission_id}: fail",
    )
    return "failed" if done else "lease_lost"


def _release(
    submission_id: int,
    token: uuid.UUID,
    error: BaseException,
    *,
    fault: PlatformResourceError | None = None,
    code: str = "",
    message: str = "",
    resend: bool = True,
) -> str:
    """Give the run back for a retry; ``fault`` (or ``code`` and ``message``) says why to the organizers."""
    detail = "".join(traceback.format_exception(error))[-20000:]
    if fault is not None:
        code, message, detail = fault.code, fault.message, f"{fault.detail}\n\n{detail}"[-20000:]
    logger.warning("submission %s: infrastructure error, releasing for retry: %r", submission_id, error)
    try:
        return db_retried(
            lambda: submission_release_for_retry(
                submission_id=submission_id, token=token, detail=detail, code=code, message=message, resend=resend
            ),
            what=f"submission {submission_id}: release",
        )
    except Exception:  # the database stayed down: the lease expires and the reconciler takes it back
        logger.exception("submission %s: could not release it; the reconciler will take it back", submission_id)
        return "lease_expires"


class LeaseKeeper:
    """Extends a run's lease every ``ATELIER_HEARTBEAT_SECONDS`` in a background thread while the
    sandbox runs; ``check()`` and ``progress()`` raise ``LeaseLost`` once the token stopped holding it."""

    def __init__(self, *, submission_id: int, token: uuid.UUID, interval: float | None = None) -> None:
        self.submission_id = submission_id
        self.token = token
        self.interval = float(interval if interval is not None else settings.ATELIER_HEARTBEAT_SECONDS)
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"lease-{submission_id}", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 30)

    def _beat(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                try:
                    held = submission_heartbeat(submission_id=self.submission_id, token=self.token)
                except Exception:  # a database hiccup: try again next beat; the lease covers two beats
                    logger.warning("submission %s: heartbeat failed", self.submission_id, exc_info=True)
                    connection.close()  # the next beat opens a fresh connection
                    continue
                if not held:
                    self.lost.set()
                    return
        finally:
            connection.close()

    def check(self) -> None:
        if self.lost.is_set():
            raise LeaseLost(self.submission_id)

    def advance(self, to_state: Submission.State) -> None:
        self.check()
        advanced = db_retried(
            lambda: submission_advance(submission_id=self.submission_id, token=self.token, to_state=to_state),
            what=f"submission {self.submission_id}: advance",
        )
        if not advanced:
            self.lost.set()
            raise LeaseLost(self.submission_id)

    def progress(self, done: int, total: int) -> None:
        """Record generation progress (images done of total); stops the sandbox when the lease is lost."""
        self.check()
        held = db_retried(
            lambda: submission_heartbeat(submission_id=self.submission_id, token=self.token, progress=(done, total)),
            what=f"submission {self.submission_id}: progress",
        )
        if not held:
            self.lost.set()
            raise LeaseLost(self.submission_id)


def submission_pipeline(*, submission_id: int, token: uuid.UUID, lease: LeaseKeeper) -> list[ScoreValue]:
    """Validate, generate and score a claimed submission; returns the scores to finish it with.

    Its reads go through :func:`db_retried` too: a database blip between stages (a restart while the sandbox
    ran for minutes) costs seconds of retries on a fresh connection, not the run's attempt."""
    submission = db_retried(
        lambda: Submission.objects.select_related("phase__competition").get(pk=submission_id),
        what=f"submission {submission_id}: load",
    )
    phase = submission.phase
    competition = phase.competition
    contract = GeneratorContract(value_range=competition.input_value_range, size_multiple=competition.size_multiple)
    limits = SandboxLimits(
        wall_seconds=float(phase.execution_time_limit),
        threads=max(1, int(settings.ATELIER_SANDBOX_THREADS)),
        max_file_bytes=64 * 1024**2,
    )
    allowed_formats = frozenset(CheckpointFormat(name) for name in (competition.accepted_formats or ["safetensors"]))
    allowed_architectures = frozenset(competition.accepted_architectures) or None

    # Validate: header checks here, the probe image in the sandbox.
    checkpoint = checkpoint_materialise(submission)
    probe_size = max(competition.size_multiple, 64 - 64 % competition.size_multiple)
    report = validate_checkpoint(
        checkpoint,
        contract=contract,
        limits=limits,
        allowed_formats=allowed_formats,
        allowed_architectures=allowed_architectures,
        probe_size=probe_size,
    )
    if not report.ok:
        raise GeneratorFailure(report.code or FailureCode.CRASHED, report.message or "The checkpoint was refused.")

    # Generate, in two sandboxed runs kept apart (scoring/worker/runs.py): the preview images alone,
    # whose outputs a participant sees, then every content image, whose outputs are only scored.
    lease.advance(Submission.State.GENERATING)
    content_images = db_retried(
        lambda: list(
            DatasetImage.objects.filter(
                image_set__competition=competition, image_set__kind=ImageSet.Kind.CONTENT
            ).order_by("name")
        ),
        what=f"submission {submission_id}: content images",
    )
    if not content_images:
        raise RuntimeError(f"competition {competition.slug} has no content images to run submissions on")
    content_dir = image_set_materialise(content_images)
    content_paths = [content_dir / file_name(image) for image in content_images]
    preview_images = [image for image in content_images if image.is_preview]
    generator = SandboxedGenerator(
        checkpoint=checkpoint, contract=contract, limits=limits, device=str(select_device()), info=report.info
    )
    with work_folder(submission_id, token) as work, _platform_faults_told_apart(work, limits):
        room_checked(work)
        clock = None
        if preview_images:
            preview, clock = preview_run(
                generator=generator,
                preview_paths=[content_dir / file_name(image) for image in preview_images],
                output_dir=work / "preview",
                check=lease.check,
            )
            preview_outputs_store(submission, preview_images, {path.stem: path for path in preview.outputs})
        efficiency = efficiency_measured(preview=clock, validation=report, info=report.info)
        run = hidden_run(
            generator=generator,
            content_paths=content_paths,
            output_dir=work / "outputs",
            report_progress=lease.progress,
        )
        outputs_by_stem = {path.stem: path for path in run.outputs}

        # Score: per split, against the cached reference statistics of the style set.
        lease.advance(Submission.State.SCORING)
        return submission_scores(
            competition=competition,
            phase_metrics=db_retried(lambda: list(phase.metrics.all()), what=f"submission {submission_id}: metrics"),
            content_images=content_images,
            content_paths=content_paths,
            outputs_by_stem=outputs_by_stem,
            efficiency=efficiency,
            lease=lease,
        )


@contextlib.contextmanager
def _platform_faults_told_apart(work: Path, limits: SandboxLimits) -> Iterator[None]:
    """Re-raise a run's failure as the platform's :class:`PlatformResourceError` when the worker's own
    disk or cache folder explains it (see :mod:`scoring.worker.faults`)."""
    try:
        yield
    except GeneratorFailure as failure:
        if failure.code == FailureCode.SANDBOX_UNAVAILABLE:
            raise
        fault = run_failure_attributed(work, output_bytes=folder_bytes(work), cap_bytes=limits.max_output_bytes)
        if fault is not None:
            fault.detail = f"{fault.detail}\nthe run ended [{failure.code}] {failure.message}"
            raise fault from failure
        raise


def preview_outputs_store(submission: Submission, images: Sequence[DatasetImage], outputs: dict[str, Path]) -> None:
    """Copy the preview run's outputs (``outputs``: stem -> file) of the public preview images to private
    storage, replacing an earlier attempt's. Only the preview run's outputs may come here: the hidden
    run's never leave the worker."""
    storage = private_storage()
    for image in images:
        if not image.is_preview:
            continue
        name = submission.preview_output_name(image.name)
        source = outputs[Path(image.name).stem]
        if storage.exists(name):
            storage.delete(name)
        with open(source, "rb") as handle:
            stored = storage.save(name, File(handle, name=Path(name).name))
        if stored != name:
            raise RuntimeError(f"preview output stored as {stored!r} instead of {name!r}")
