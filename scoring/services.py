"""Writes of the scoring app."""

from scoring.models import WorkerPing


def worker_ping_record(*, token: str, hostname: str) -> WorkerPing:
    """Record that the worker ``hostname`` received the ping ``token`` (idempotent)."""
    ping, _created = WorkerPing.objects.get_or_create(token=token, defaults={"hostname": hostname})
    return ping
