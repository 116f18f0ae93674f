"""Celery tasks of the scoring app: thin interfaces over services."""

from celery import shared_task


@shared_task(name="scoring.worker_ping", bind=True)
def worker_ping(self, token: str) -> None:
    from scoring.services import worker_ping_record

    worker_ping_record(token=token, hostname=self.request.hostname or "unknown")
