"""Celery tasks of the submissions app (default queue): thin interfaces over ``submissions.standings``.

- ``submissions.standings_rebuild(phase_id)``: replace every standing of a phase after its
  ranking configuration changed (sent on commit by the services that change it);
- ``submissions.standings_sweep()``: rebuild the phases whose standings were built for another
  configuration (beat, 60 s), in case a change came from elsewhere (the admin, a bundle import)
  or the rebuild message was lost;
- ``submissions.upload_sessions_expire()``: delete expired upload sessions and their bytes (beat, 10 min);
- ``submissions.upload_session_verify(session_id)``: verify a completed S3 upload (its SHA-256 and the
  checks) and create its submission, or mark it failed (sent on commit by the completion);
- ``submissions.upload_sessions_verify_sweep()``: send the verification again for sessions still
  verifying after ``ATELIER_UPLOAD_VERIFY_GRACE_SECONDS`` (beat, 60 s).
"""

from __future__ import annotations

from celery import shared_task


@shared_task(name="submissions.standings_rebuild", ignore_result=True)
def standings_rebuild(phase_id: int) -> int:
    from submissions.standings import standings_rebuild as rebuild

    return rebuild(phase_id=int(phase_id))


@shared_task(name="submissions.standings_sweep", ignore_result=True)
def standings_sweep() -> list[int]:
    from submissions.standings import standings_rebuild as rebuild
    from submissions.standings import standings_stale_phases

    stale = standings_stale_phases()
    for phase_id in stale:
        rebuild(phase_id=phase_id)
    return stale


@shared_task(name="submissions.upload_sessions_expire", ignore_result=True)
def upload_sessions_expire() -> int:
    from submissions.upload_sessions import upload_sessions_expire as expire

    return expire()


@shared_task(name="submissions.upload_session_verify", ignore_result=True)
def upload_session_verify(session_id: str) -> str:
    from submissions.upload_sessions import upload_session_verify as verify

    return verify(session_id=session_id)


@shared_task(name="submissions.upload_sessions_verify_sweep", ignore_result=True)
def upload_sessions_verify_sweep() -> list[str]:
    from submissions.upload_sessions import upload_sessions_verify_sweep as sweep

    return sweep()
