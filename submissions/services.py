"""Writes of the submissions app: create, cancel, select as final, rerun, mark as baseline.

(Just over 500 lines: every state change of a submission and its quota lock stay together; the
upload sessions live in ``submissions.upload_sessions``.)

Every state change is a conditional UPDATE (``filter(pk=..., state__in=...).update(...)``):
a worker may hold the same submission at the same moment. Errors are
:class:`gan_platform.errors.ApplicationError` with the codes of the API contract.

Quota (per team and phase; see :func:`submissions.selectors.quota_counts`): a
submission counts when it is not a baseline, ``counts_against_quota`` is True
(the scoring pipeline sets it False when the platform, not the participant,
made it fail) and it was not cancelled before a worker started it
(``state == cancelled and started_at is null``). The daily quota counts those
created in the current UTC day ``[00:00, 24:00)``; it resets at 00:00 UTC.
The total quota counts all of the phase. ``max_running`` bounds the team's
unfinished submissions (queued or running) at once.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from competitions.models import Participation, Phase, Team
from competitions.selectors import is_organizer
from gan_core.architectures import check_state_shapes, normalize_config
from gan_core.failures import CheckpointError, FailureCode
from gan_core.formats import check_header
from gan_platform.errors import ApplicationError
from gan_platform.storages import private_storage
from submissions import sending
from submissions.models import Score, Submission, checkpoint_path
from submissions.selectors import quota_counts
from submissions.standings import standings_previous_scores, standings_submission_changed
from submissions.uploads import checkpoint_error, checkpoint_prepare

__all__ = [
    "submission_baseline_set",
    "submission_precheck",
    "submission_store",
    "submission_cancel",
    "submission_create",
    "submission_rerun",
    "submission_select_final",
]

logger = logging.getLogger(__name__)

HASH_CHUNK_SIZE = 1024 * 1024


def _fmt_size(size: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} bytes"  # pragma: no cover


def _participation_require(*, phase: Phase, user: Any) -> Participation:
    participation = (
        Participation.objects.select_related("team").filter(competition=phase.competition, user=user).first()
    )
    if participation is None:
        raise ApplicationError(
            f"You have not joined {phase.competition.slug}: join it (accept its rules) before submitting.",
            code="not_joined",
            status=403,
        )
    if participation.accepted_rules_at is None:
        raise ApplicationError(
            f"Accept the rules of {phase.competition.slug} before submitting.", code="rules_not_accepted", status=403
        )
    return participation


def _phase_window_require(*, phase: Phase, now: Any) -> None:
    if phase.is_open(now):
        return
    if now < phase.starts_at:
        when = f"it opens at {phase.starts_at.isoformat()}"
    else:
        when = f"it closed at {phase.ends_at.isoformat()}"
    raise ApplicationError(
        f"Phase {phase.slug!r} of {phase.competition.slug} does not accept submissions now: {when}.",
        code="phase_closed",
        status=403,
    )


def _size_require(*, phase: Phase, size: int) -> None:
    if size == 0:
        raise ApplicationError(
            "The uploaded file is empty (0 bytes): upload the checkpoint file itself.", code="empty_file"
        )
    if size > phase.upload_size_limit:
        raise ApplicationError(
            f"The file is {_fmt_size(size)}; phase {phase.slug!r} accepts at most {_fmt_size(phase.upload_size_limit)} "
            f"({phase.upload_size_limit} bytes). Make the checkpoint smaller (fewer parameters, float16).",
            code="file_too_large",
            status=413,
            extra={"limit": phase.upload_size_limit},
        )


def _format_require(*, phase: Phase, uploaded_file: UploadedFile, size: int) -> str:
    """The file's format, from the checks the worker runs first, torch-free (``gan_core.formats``:
    format, header, config present, ONNX opsets, operators, functions and external data;
    ``gan_core.architectures``: the config against its schema, the
    architecture accepted here, the tensors' names and shapes): a file they refuse is refused here,
    before it costs a run or a quota slot. What needs a run (the output contract, memory, time), the
    phase's value range and the ONNX inputs, outputs and ``onnx.checker`` stay with the worker."""
    try:
        header = check_header(uploaded_file, size)
        if header.config is not None:
            normalized = normalize_config(header.config)
            allowed = list(getattr(phase.competition, "accepted_architectures", None) or [])
            if allowed and normalized["architecture"] not in allowed:
                raise CheckpointError(
                    FailureCode.UNKNOWN_ARCHITECTURE,
                    f"Architecture {normalized['architecture']!r} is not accepted in this phase; accepted are "
                    f"{', '.join(sorted(allowed))}.",
                )
            check_state_shapes(header.shapes, normalized)
        detected = header.format.value
    except CheckpointError as error:
        raise checkpoint_error(error) from None
    accepted = list(phase.competition.accepted_formats or [])
    if detected not in accepted:
        raise ApplicationError(
            f"The file is {detected}, but {phase.competition.slug} accepts only {', '.join(accepted) or 'nothing'}.",
            code="unsupported_format",
            extra={"format": detected, "accepted_formats": accepted},
        )
    return detected


def _quota_require(*, phase: Phase, team: Team, now: Any) -> None:
    counts = quota_counts(phase=phase, team=team, now=now)
    if counts.running >= phase.max_running:
        raise ApplicationError(
            f"Team {team.name!r} has {counts.running} unfinished submissions in phase {phase.slug!r}, the most "
            f"allowed at once ({phase.max_running}); wait until one finishes or cancel one.",
            code="too_many_running",
            status=429,
            extra={"running": counts.running, "max_running": phase.max_running},
        )
    if phase.total_quota is not None and counts.used_total >= phase.total_quota:
        raise _quota_exceeded(
            team=team, phase=phase, quota="total", limit=phase.total_quota, used=counts.used_total, resets_at=None
        )
    if counts.used_today >= phase.daily_quota:
        resets_at = counts.resets_at.isoformat().replace("+00:00", "Z")
        raise _quota_exceeded(
            team=team, phase=phase, quota="daily", limit=phase.daily_quota, used=counts.used_today, resets_at=resets_at
        )


def _quota_exceeded(
    *, team: Team, phase: Phase, quota: str, limit: int, used: int, resets_at: str | None
) -> ApplicationError:
    """The refusal of a team whose ``total`` or ``daily`` quota is used up; its ``extra`` names the
    quota, its size (``total_quota`` or ``daily_quota``), the count (``used_total`` or
    ``used_today``) and when it resets (never for the total)."""
    used_key = "used_total" if quota == "total" else "used_today"
    when = "it does not reset" if resets_at is None else f"it resets at 00:00 UTC ({resets_at})"
    return ApplicationError(
        f"Team {team.name!r} has used its {quota} quota of {limit} submissions in phase {phase.slug!r}; {when}.",
        code="quota_exceeded",
        status=429,
        extra={"quota": quota, f"{quota}_quota": limit, used_key: used, "resets_at": resets_at},
    )


def _sha256_and_size(uploaded_file: UploadedFile) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    uploaded_file.seek(0)
    for chunk in uploaded_file.chunks(HASH_CHUNK_SIZE):
        digest.update(chunk)
        size += len(chunk)
    uploaded_file.seek(0)
    return digest.hexdigest(), size


def submission_precheck(*, phase: Phase, user: Any, is_baseline: bool = False, description: str = "") -> Team | None:
    """Everything about a submission that is known before its file: the user is authenticated; for a
    baseline, that they organise the competition (baselines have no team, no quota, and may be
    submitted at any time); otherwise that they joined with the rules accepted, that the phase is
    open, and (without a lock: the final check is :func:`submission_store`'s) ``max_running`` and the
    quotas. Returns the team (None for a baseline).

    Raises:
        ApplicationError: ``not_authenticated``, ``permission_denied``, ``not_joined``,
            ``rules_not_accepted``, ``phase_closed``, ``validation_error`` (description),
            ``too_many_running``, ``quota_exceeded``.
    """
    if not getattr(user, "is_authenticated", False):
        raise ApplicationError("Log in to submit.", code="not_authenticated", status=401)
    competition = phase.competition
    now = timezone.now()
    team: Team | None = None
    if is_baseline:
        if not is_organizer(competition=competition, user=user):
            raise ApplicationError(
                f"Only organizers of {competition.slug} may submit baselines.", code="permission_denied", status=403
            )
    else:
        team = _participation_require(phase=phase, user=user).team
        _phase_window_require(phase=phase, now=now)
    if len((description or "").strip()) > 500:
        raise ApplicationError(
            f"description: {len(description.strip())} characters; at most 500 are allowed.",
            code="validation_error",
            extra={"fields": {"description": ["At most 500 characters."]}},
        )
    if team is not None:
        _quota_require(phase=phase, team=team, now=now)
    return team


def submission_store(
    *,
    phase: Phase,
    team: Team | None,
    user: Any,
    original_name: str,
    file_format: str,
    sha256: str,
    size: int,
    description: str,
    is_baseline: bool,
    content: Any = None,
    stored_name: str | None = None,
) -> Submission:
    """Create the submission of a checked file and charge the quota, atomically.

    Under a row lock on the team (``select_for_update``; on SQLite the IMMEDIATE transaction
    serialises writers) ``max_running`` and the quotas are checked again; then ``content`` is
    written to private storage (a rename on local disk when it has a ``temporary_file_path``), or
    ``stored_name``, a file already in private storage (an S3 multipart upload), is taken as it is.
    Any error deletes the stored file, so a refusal never leaves one (unless the caller wraps this in
    an outer transaction that rolls back later: Django has no rollback hook). After the commit,
    ``scoring.submission_process`` is sent; a broker error is logged and the reconciler sends it later.
    """
    storage = private_storage()
    try:
        with transaction.atomic():
            if team is not None:
                team = Team.objects.select_for_update().get(pk=team.pk)
                _quota_require(phase=phase, team=team, now=timezone.now())
            submission = Submission(
                phase=phase,
                team=team,
                submitted_by=user,
                original_name=(original_name or "checkpoint")[:255],
                format=file_format,
                sha256=sha256,
                size=size,
                description=(description or "").strip(),
                is_baseline=is_baseline,
                state=Submission.State.QUEUED,
                enqueued_at=timezone.now(),
            )
            if stored_name is None:
                stored_name = storage.save(checkpoint_path(submission, "checkpoint"), content, max_length=255)
            submission.file.name = stored_name
            submission.full_clean()
            submission.save()
            transaction.on_commit(lambda: sending.submission_send(submission_id=submission.pk), robust=True)
    except BaseException:
        if stored_name:
            storage.delete(stored_name)
        raise
    return submission


def submission_create(
    *,
    phase: Phase,
    user: Any,
    uploaded_file: UploadedFile,
    description: str = "",
    is_baseline: bool = False,
    config: dict | None = None,
) -> Submission:
    """Accept a checkpoint for ``phase`` from ``user`` and queue it for scoring (the one-shot upload;
    resumable uploads: ``submissions.upload_sessions``).

    Checks, in order: :func:`submission_precheck`; the size (``empty_file``, ``file_too_large``);
    ``config`` (given next to the file: written into a safetensors file's metadata, see
    :func:`submissions.uploads.checkpoint_prepare`); the format and header by content (the worker's
    own torch-free checks: ``unsupported_format``, ``truncated``, ``bad_config``...); then
    :func:`submission_store` (quota again under the team's lock, file stored, row created). The
    SHA-256 is computed in one streamed pass before the lock.

    Returns:
        The new submission, ``queued``, with ``enqueued_at`` set.
    """
    team = submission_precheck(phase=phase, user=user, is_baseline=is_baseline, description=description)
    _size_require(phase=phase, size=uploaded_file.size or 0)
    with checkpoint_prepare(file=uploaded_file, size=uploaded_file.size, config=config) as prepared:
        content = prepared.file
        file_format = _format_require(phase=phase, uploaded_file=content, size=prepared.size)
        sha256, size = _sha256_and_size(content)
        _size_require(phase=phase, size=size)
        return submission_store(
            phase=phase,
            team=team,
            user=user,
            original_name=uploaded_file.name or "checkpoint",
            file_format=file_format,
            sha256=sha256,
            size=size,
            description=description,
            is_baseline=is_baseline,
            content=content,
        )


def _state_conflict(submission: Submission, only: str, *, code: str) -> ApplicationError:
    """The 409 for a submission whose state (just read) does not allow the operation: ``only`` says which may."""
    return ApplicationError(
        f"Submission {submission.pk} is {submission.state}; {only}.",
        code=code,
        status=409,
        extra={"state": submission.state},
    )


def _may_act_for(*, submission: Submission, user: Any) -> bool:
    """Whether ``user`` is a member of the submission's team (baselines: its submitter) or organises it."""
    if not getattr(user, "is_authenticated", False):
        return False
    if is_organizer(competition=submission.phase.competition, user=user):
        return True
    if submission.team_id is None:
        return submission.submitted_by_id == user.pk
    return Participation.objects.filter(team_id=submission.team_id, user=user).exists()


def submission_cancel(*, submission: Submission, user: Any) -> Submission:
    """Cancel a queued or running submission (team members and organizers).

    One conditional UPDATE from an unfinished state to ``cancelled`` (lease
    cleared, ``finished_at`` set): a worker holding it sees its heartbeat
    refused and stops. A queued submission cancelled before any worker started
    it (``started_at`` null) no longer counts against the quota.

    Raises:
        ApplicationError: ``permission_denied`` (403), or ``not_cancellable``
            (409) when it already finished.
    """
    if not _may_act_for(submission=submission, user=user):
        raise ApplicationError("You may not cancel this submission.", code="permission_denied", status=403)
    now = timezone.now()
    with transaction.atomic():
        updated = Submission.objects.filter(pk=submission.pk, state__in=Submission.UNFINISHED_STATES).update(
            state=Submission.State.CANCELLED, finished_at=now, lease_token=None, lease_expires_at=None
        )
        if updated:
            standings_submission_changed(submission_id=submission.pk)
    submission.refresh_from_db()
    if not updated:
        raise _state_conflict(submission, "only queued or running submissions can be cancelled", code="not_cancellable")
    return submission


def submission_select_final(*, submission: Submission, user: Any, selected: bool) -> Submission:
    """Select (or unselect) a scored submission of one's team for the private leaderboard.

    Rules: team members only; only ``scored`` submissions; only until the phase
    ends; at most ``phase.final_selection_limit`` selected per team (0: the
    phase has no selection). The count is checked under a row lock on the team.

    Raises:
        ApplicationError: ``permission_denied``, ``phase_closed``,
            ``validation_error`` (not scored, or a baseline),
            ``final_selection_limit`` (409).
    """
    phase = submission.phase
    if submission.team_id is None or submission.is_baseline:
        raise ApplicationError(
            "Baselines are not ranked and cannot be selected as final.",
            code="validation_error",
            extra={"fields": {"selected": ["Baselines cannot be selected."]}},
        )
    if (
        not getattr(user, "is_authenticated", False)
        or not Participation.objects.filter(team_id=submission.team_id, user=user).exists()
    ):
        raise ApplicationError(
            "Only members of the submission's team may select it.", code="permission_denied", status=403
        )
    now = timezone.now()
    if phase.has_ended(now):
        raise ApplicationError(
            f"Phase {phase.slug!r} ended at {phase.ends_at.isoformat()}; final selections can no longer change.",
            code="phase_closed",
            status=403,
        )
    if selected and submission.state != Submission.State.SCORED:
        raise ApplicationError(
            f"Submission {submission.pk} is {submission.state}; only scored submissions can be selected as final.",
            code="validation_error",
            extra={"fields": {"selected": ["Only scored submissions can be selected."]}},
        )
    with transaction.atomic():
        Team.objects.select_for_update().filter(pk=submission.team_id).first()
        if selected:
            limit = phase.final_selection_limit
            if limit == 0:
                raise ApplicationError(
                    f"Phase {phase.slug!r} has no final selection: the private leaderboard uses each team's best "
                    "public submission.",
                    code="final_selection_limit",
                    status=409,
                    extra={"final_selection_limit": 0},
                )
            chosen = (
                Submission.objects.filter(phase=phase, team_id=submission.team_id, is_final=True)
                .exclude(pk=submission.pk)
                .count()
            )
            if chosen >= limit:
                raise ApplicationError(
                    f"Your team already selected {chosen} submissions as final, the most phase {phase.slug!r} "
                    f"allows ({limit}); unselect one first.",
                    code="final_selection_limit",
                    status=409,
                    extra={"final_selection_limit": limit},
                )
            Submission.objects.filter(pk=submission.pk, state=Submission.State.SCORED).update(is_final=True)
        else:
            Submission.objects.filter(pk=submission.pk).update(is_final=False)
        standings_submission_changed(submission_id=submission.pk)
    submission.refresh_from_db()
    return submission


def _organizer_require(*, submission: Submission, user: Any) -> None:
    if not is_organizer(competition=submission.phase.competition, user=user):
        raise ApplicationError(
            f"Only organizers of {submission.phase.competition.slug} may do this.",
            code="permission_denied",
            status=403,
        )


def submission_rerun(*, submission: Submission, user: Any) -> Submission:
    """Score a finished submission again (organizers): back to ``queued`` and sent again.

    One conditional UPDATE from a finished state (scored, failed, cancelled):
    failure, progress, attempts, lease and timestamps are reset and its scores
    moved to ``previous_scores`` (the board shows them, marked, until the rerun finishes) and its
    standings recomputed, in one transaction; after the commit ``scoring.submission_process`` is sent. ``counts_against_quota`` is kept.

    Raises:
        ApplicationError: ``permission_denied`` (403), or ``validation_error``
            (409) while it is still queued or running.
    """
    _organizer_require(submission=submission, user=user)
    with transaction.atomic():
        updated = Submission.objects.filter(pk=submission.pk, state__in=Submission.FINISHED_STATES).update(
            state=Submission.State.QUEUED,
            failure_code="",
            failure_message="",
            failure_detail="",
            progress_done=0,
            progress_total=0,
            attempts=0,
            lease_token=None,
            lease_expires_at=None,
            worker="",
            started_at=None,
            finished_at=None,
            enqueued_at=timezone.now(),
        )
        if updated:
            # the board keeps the previous scores, marked, until the rerun finishes (decision 0015)
            previous = standings_previous_scores(submission_id=submission.pk)
            Submission.objects.filter(pk=submission.pk).update(previous_scores=previous)
            Score.objects.filter(submission_id=submission.pk).delete()
            standings_submission_changed(submission_id=submission.pk)
            submission_id = submission.pk
            transaction.on_commit(lambda: sending.submission_send(submission_id=submission_id), robust=True)
    submission.refresh_from_db()
    if not updated:
        raise _state_conflict(submission, "only finished submissions can be rerun", code="validation_error")
    return submission


def submission_baseline_set(*, submission: Submission, user: Any, is_baseline: bool) -> Submission:
    """Mark (or unmark) a submission as a baseline (organizers): shown on the board, marked, not ranked.

    A submission without a team (an organizer's baseline) cannot be unmarked.
    """
    _organizer_require(submission=submission, user=user)
    if not is_baseline and submission.team_id is None:
        raise ApplicationError(
            f"Submission {submission.pk} has no team: it can only be a baseline.",
            code="validation_error",
            extra={"fields": {"is_baseline": ["A submission without a team must stay a baseline."]}},
        )
    with transaction.atomic():
        changes: dict[str, Any] = {"is_baseline": is_baseline}
        if is_baseline:
            changes["is_final"] = False
        Submission.objects.filter(pk=submission.pk).update(**changes)
        standings_submission_changed(submission_id=submission.pk)
    submission.refresh_from_db()
    return submission
