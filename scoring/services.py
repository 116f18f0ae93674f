"""Writes of the scoring app: the lease protocol of a submission's run, and the reconciler.

Every state change is one conditional UPDATE (``filter(pk=..., state=..., lease_token=...)
.update(...)``): a worker, a second worker that received the same message twice, the
reconciler and a participant cancelling can all act on one submission at the same time, and
exactly one of them wins each step. The database is the source of truth; the broker only
delivers messages, at least once.

The protocol, seen from a worker:

1. ``submission_claim`` moves ``queued`` (or a running state whose lease expired) to
   ``validating``, counts the attempt and returns a fresh lease token, or ``None`` when someone
   else holds it or it is finished. A submission already tried ``Submission.MAX_ATTEMPTS`` times
   fails with ``too_many_attempts`` instead (not counted against the quota).
2. ``submission_heartbeat`` / ``submission_advance`` extend the lease and move the stage;
   they return False once the token no longer matches (cancelled, taken back): stop then.
3. ``submission_finish`` writes the scores and ``scored`` in one transaction, only under the
   token; ``submission_fail`` ends it ``failed``; ``submission_release_for_retry`` gives it back
   to the queue after an infrastructure error (or fails it when attempts are exhausted).

``reconcile`` (beat every 60 s, ``manage.py reconcile``) re-sends queued submissions whose
message is older than the grace period and no longer in the broker, and takes back expired leases.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Sequence
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from scoring.broker import submissions_held
from scoring.models import WorkerPing
from submissions import sending
from submissions.models import Score, Submission

logger = logging.getLogger(__name__)

#: Failure codes the platform itself sets (gan_core's codes cover the participant's side).
TOO_MANY_ATTEMPTS = "too_many_attempts"
INFRASTRUCTURE_ERROR = "infrastructure_error"

#: A message sent less than this long ago is never sent again, whatever the configured grace period: two
#: reconcilers started at nearly the same moment then cannot both send it (the second sees the first's send).
RECONCILE_MINIMUM_GRACE_SECONDS = 30

INFRASTRUCTURE_MESSAGE = (
    "The platform could not finish scoring this submission after {attempts} attempts because of an internal "
    "error on our side. It does not count against your quota; you may submit it again, and the organizers "
    "can see what went wrong."
)


def worker_ping_record(*, token: str, hostname: str) -> WorkerPing:
    """Record that the worker ``hostname`` received the ping ``token`` (idempotent)."""
    ping, _created = WorkerPing.objects.get_or_create(token=token, defaults={"hostname": hostname})
    return ping


def _finished(submission_id: int) -> None:
    """The one hook of every transition into ``scored`` or ``failed``: once the transaction commits,
    send ``notifications.submission_finished`` (e-mail to the submitter, the competition's webhooks;
    decision 0016). ``robust``: a broker error never undoes or breaks the transition."""
    transaction.on_commit(lambda: sending.submission_finished_notify_send(submission_id=submission_id), robust=True)


def _lease_expiry(now=None):
    return (now or timezone.now()) + timedelta(seconds=settings.ATELIER_LEASE_SECONDS)


# --------------------------------------------------------------------------- the lease protocol


def submission_claim(*, submission_id: int, worker: str) -> uuid.UUID | None:
    """Take ``submission_id`` for a run: one conditional UPDATE; returns the new lease token or None.

    Claimable: ``queued``, or a running state whose lease expired. The claim counts the attempt
    and sets ``validating``, a new token, the lease expiry, ``started_at`` and ``worker``. When
    ``Submission.MAX_ATTEMPTS`` attempts were already made the submission fails with
    ``too_many_attempts`` (``counts_against_quota=False``) and None is returned.
    """
    now = timezone.now()
    claimable = Q(state=Submission.State.QUEUED) | Q(state__in=Submission.RUNNING_STATES, lease_expires_at__lt=now)
    token = uuid.uuid4()
    claimed = Submission.objects.filter(claimable, pk=submission_id, attempts__lt=Submission.MAX_ATTEMPTS).update(
        state=Submission.State.VALIDATING,
        attempts=F("attempts") + 1,
        lease_token=token,
        lease_expires_at=_lease_expiry(now),
        started_at=now,
        worker=worker[:255],
        progress_done=0,
        progress_total=0,
    )
    if claimed:
        return token
    exhausted = Submission.objects.filter(claimable, pk=submission_id, attempts__gte=Submission.MAX_ATTEMPTS)
    if exhausted.update(**_failure_fields(code=TOO_MANY_ATTEMPTS, attempts=Submission.MAX_ATTEMPTS, detail="")):
        _finished(submission_id)
        logger.warning("submission %s failed: %s attempts exhausted", submission_id, Submission.MAX_ATTEMPTS)
    return None


def _held(submission_id: int, token: uuid.UUID):
    return Submission.objects.filter(pk=submission_id, lease_token=token, state__in=Submission.RUNNING_STATES)


def submission_heartbeat(
    *,
    submission_id: int,
    token: uuid.UUID,
    stage: Submission.State | str | None = None,
    progress: tuple[int, int] | None = None,
) -> bool:
    """Extend the lease of a run (and record its ``stage`` and ``progress`` = (done, total) images).

    Returns False when ``token`` no longer holds the submission (cancelled, taken back by the
    reconciler, claimed by another worker, finished): the worker must stop.
    """
    fields: dict = {"lease_expires_at": _lease_expiry()}
    if stage is not None:
        if stage not in Submission.RUNNING_STATES:
            raise ValueError(f"stage must be one of {', '.join(Submission.RUNNING_STATES)}, got {stage!r}")
        fields["state"] = stage
    if progress is not None:
        fields["progress_done"], fields["progress_total"] = int(progress[0]), int(progress[1])
    return bool(_held(submission_id, token).update(**fields))


def submission_advance(*, submission_id: int, token: uuid.UUID, to_state: Submission.State | str) -> bool:
    """Move a held run to the running state ``to_state`` (``generating``, ``scoring``); False when not held."""
    return submission_heartbeat(submission_id=submission_id, token=token, stage=to_state)


@dataclasses.dataclass(frozen=True)
class ScoreValue:
    """One score a worker computed: ``split`` (public, private), platform ``metric`` name, value and interval.

    Its fields are the ``Score`` row's, by name: :func:`submission_finish` writes them as they are."""

    split: str
    metric: str
    value: float
    interval_low: float | None = None
    interval_high: float | None = None
    calibrated: bool = True
    preprocessing_mode: str = ""
    gan_core_version: str = ""
    network_digests: dict = dataclasses.field(default_factory=dict)


def submission_finish(*, submission_id: int, token: uuid.UUID, scores: Sequence[ScoreValue]) -> bool:
    """Write ``scores`` and the state ``scored`` in one transaction, only while ``token`` holds the run.

    Returns False (and writes nothing) for a stale token. The unique constraint on (submission,
    split, metric) is the backstop against a second set of scores. The standings of the phase are
    updated in the same transaction.
    """
    now = timezone.now()
    with transaction.atomic():
        updated = _held(submission_id, token).update(
            state=Submission.State.SCORED,
            finished_at=now,
            lease_token=None,
            lease_expires_at=None,
            failure_code="",
            failure_message="",
        )
        if not updated:
            return False
        rows = [
            Score(submission_id=submission_id, **dataclasses.asdict(item) | {"value": float(item.value)})
            for item in scores
        ]
        for row in rows:
            row.full_clean(exclude=["submission"], validate_unique=False, validate_constraints=False)
        Score.objects.bulk_create(rows)
        standings_for_scores(submission_id=submission_id)
        _finished(submission_id)
    return True


def _failed_fields(*, code: str, message: str, detail: str, counts_against_quota: bool) -> dict:
    """The fields that end a run ``failed`` with ``code``, ``message`` and the organizer-only ``detail``."""
    return {
        "state": Submission.State.FAILED,
        "failure_code": code,
        "failure_message": message,
        "failure_detail": detail,
        "counts_against_quota": counts_against_quota,
        "finished_at": timezone.now(),
        "lease_token": None,
        "lease_expires_at": None,
    }


def _failure_fields(*, code: str, attempts: int, detail: str) -> dict:
    """The platform's failure after ``attempts`` attempts: its fixed message, never counted against the quota."""
    return _failed_fields(
        code=code,
        message=INFRASTRUCTURE_MESSAGE.format(attempts=attempts),
        detail=detail,
        counts_against_quota=False,
    )


def submission_fail(
    *,
    submission_id: int,
    token: uuid.UUID,
    code: str,
    message: str,
    detail: str = "",
    participant_fault: bool,
) -> bool:
    """End a held run ``failed`` with ``code`` and the participant-safe ``message`` (``detail``: organizers only).

    ``participant_fault``: the submission itself was wrong (bad output, out of memory, timeout,
    unsupported format); then it counts against the quota, otherwise not. False for a stale token.
    """
    failed = _held(submission_id, token).update(
        **_failed_fields(code=code, message=message, detail=detail, counts_against_quota=participant_fault)
    )
    if failed:
        _finished(submission_id)
    return bool(failed)


def submission_release_for_retry(
    *,
    submission_id: int,
    token: uuid.UUID,
    detail: str = "",
    code: str = "",
    message: str = "",
    resend: bool = True,
) -> str:
    """Give a held run back after an infrastructure error (worker, storage, database, weights).

    Back to ``queued`` with the lease cleared and the task sent again after the commit, or, when
    the attempts are exhausted, ``failed`` with ``code`` (default ``infrastructure_error``; not
    counted against the quota). ``code`` and ``message`` name the platform's failure when it is
    known (``worker_disk_full``...): kept on the queued submission too, so the organizers see the
    cause while it waits for its retry. ``resend=False``: no message now, the reconciler sends one after
    its grace period (a worker out of disk should not take the submission straight back and spend
    every attempt in seconds). Returns ``"requeued"``, ``"failed"`` or ``"stale"`` (the
    token no longer held it).
    """
    now = timezone.now()
    with transaction.atomic():
        held = _held(submission_id, token)
        if held.filter(attempts__gte=Submission.MAX_ATTEMPTS).update(
            **_failure_fields(
                code=code or INFRASTRUCTURE_ERROR,
                attempts=Submission.MAX_ATTEMPTS,
                detail=f"[{code}] {message}\n{detail}" if code else detail,
            )
        ):
            _finished(submission_id)
            return "failed"
        cause = {"failure_code": code, "failure_message": message} if code else {}
        if held.update(
            state=Submission.State.QUEUED,
            lease_token=None,
            lease_expires_at=None,
            enqueued_at=now,
            failure_detail=detail,
            progress_done=0,
            progress_total=0,
            **cause,
        ):
            if resend:
                transaction.on_commit(lambda: sending.submission_send(submission_id=submission_id))
            return "requeued"
    return "stale"


def standings_for_scores(*, submission_id: int) -> None:
    """Put the submission's new scores on its phase's standings, in the transaction that wrote them
    (so a score is on the leaderboard the moment it commits, in every process)."""
    from submissions.standings import standings_submission_changed

    standings_submission_changed(submission_id=submission_id)


# --------------------------------------------------------------------------- the reconciler


@dataclasses.dataclass
class ReconcileReport:
    """What one ``reconcile`` run did: submission ids re-sent, leases taken back, failures."""

    resent: list[int] = dataclasses.field(default_factory=list)
    taken_back: list[int] = dataclasses.field(default_factory=list)
    failed: list[int] = dataclasses.field(default_factory=list)

    def as_dict(self) -> dict[str, list[int]]:
        return dataclasses.asdict(self)


def reconcile(*, now=None, limit: int = 500) -> ReconcileReport:
    """Re-send what no worker holds and take back expired leases; safe to run several at once.

    - ``queued`` submissions whose message was sent before the grace period
      (``ATELIER_RECONCILE_GRACE_SECONDS``, at least ``RECONCILE_MINIMUM_GRACE_SECONDS``), or never,
      are sent again, unless the broker still holds a message for them (:mod:`scoring.broker`;
      decision 0014): at most one outstanding message per queued submission, however long a backlog;
    - running submissions whose lease expired (their worker died or lost the database) go back
      to ``queued`` and are sent again, or fail with ``too_many_attempts`` when
      ``Submission.MAX_ATTEMPTS`` attempts were made.

    Each step is a conditional UPDATE on the values just read (``enqueued_at``, the lease token),
    so two reconcilers at once never send the same submission twice in one round.
    """
    now = now or timezone.now()
    report = ReconcileReport()
    grace = now - timedelta(seconds=max(settings.ATELIER_RECONCILE_GRACE_SECONDS, RECONCILE_MINIMUM_GRACE_SECONDS))
    stale_queued = (
        Submission.objects.filter(state=Submission.State.QUEUED)
        .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=grace))
        .order_by("created_at", "id")
        .values_list("id", "enqueued_at")[:limit]
    )
    stale = list(stale_queued)
    held = submissions_held() if stale else None
    for submission_id, enqueued_at in stale:
        if held is not None and submission_id in held:
            continue  # its message still waits in the broker (or a worker holds it): a worker will get it
        unchanged = Q(enqueued_at__isnull=True) if enqueued_at is None else Q(enqueued_at=enqueued_at)
        with transaction.atomic():
            if Submission.objects.filter(unchanged, pk=submission_id, state=Submission.State.QUEUED).update(
                enqueued_at=now
            ):
                report.resent.append(submission_id)
                transaction.on_commit(
                    lambda submission_id=submission_id: sending.submission_send(submission_id=submission_id)
                )
    expired = (
        Submission.objects.filter(state__in=Submission.RUNNING_STATES, lease_expires_at__lt=now)
        .order_by("lease_expires_at", "id")
        .values_list("id", "lease_token", "attempts")[:limit]
    )
    for submission_id, token, attempts in list(expired):
        held = Submission.objects.filter(
            pk=submission_id, state__in=Submission.RUNNING_STATES, lease_token=token, lease_expires_at__lt=now
        )
        with transaction.atomic():
            if attempts >= Submission.MAX_ATTEMPTS:
                if held.update(
                    **_failure_fields(
                        code=TOO_MANY_ATTEMPTS,
                        attempts=attempts,
                        detail=f"lease expired at attempt {attempts}; taken back by the reconciler at {now:%Y-%m-%d %H:%M:%S}",
                    )
                ):
                    report.failed.append(submission_id)
                    _finished(submission_id)
                continue
            if held.update(
                state=Submission.State.QUEUED,
                lease_token=None,
                lease_expires_at=None,
                enqueued_at=now,
                progress_done=0,
                progress_total=0,
            ):
                report.taken_back.append(submission_id)
                transaction.on_commit(
                    lambda submission_id=submission_id: sending.submission_send(submission_id=submission_id)
                )
    if report.resent or report.taken_back or report.failed:
        logger.info("reconcile: %s", report.as_dict())
    return report
