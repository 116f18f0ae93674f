"""Celery tasks of human judging: thin, they call :mod:`judging.ratings`."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="judging.ratings_update", ignore_result=True)
def ratings_update(phase_id: int) -> int:
    from judging.ratings import ratings_update as update

    return update(phase_id=phase_id)


@shared_task(name="judging.ratings_sweep", ignore_result=True)
def ratings_sweep() -> list[int]:
    """Refit every phase with votes its ratings do not include (lost messages, votes inside a
    debounce window)."""
    from judging.ratings import ratings_stale_phases
    from judging.ratings import ratings_update as update

    stale = ratings_stale_phases()
    for phase_id in stale:
        update(phase_id=phase_id)
    return stale
