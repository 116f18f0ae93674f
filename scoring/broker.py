"""What the broker still holds for scoring: the submissions that have a ``scoring.submission_process``
message waiting in the GPU queue or delivered to a worker and not yet acknowledged.

The reconciler re-sends a queued submission only when no such message exists (decision 0014): a
message still in the broker reaches a worker sooner or later (Redis re-delivers an unacknowledged one
after its visibility timeout), so sending another would only pile up copies during a backlog.
Reading a queue is transport-specific; for a transport this module cannot read,
:func:`submissions_held` returns None and the reconciler falls back to its grace period alone.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from celery import current_app
from django.conf import settings

logger = logging.getLogger(__name__)

TASK_NAME = "scoring.submission_process"
#: kombu's Redis transport keeps a queue's messages of priority 3, 6 and 9 under these suffixes.
_REDIS_PRIORITY_SEPARATOR = "\x06\x16"


def submissions_held(queue: str | None = None) -> set[int] | None:
    """Ids of the submissions with a message in the broker (queued in ``queue``, default
    ``ATELIER_GPU_QUEUE``, or delivered within the grace period and unacknowledged); None when the transport is not readable."""
    messages = messages_held(queue)
    return None if messages is None else set(messages)


def messages_held(queue: str | None = None) -> list[int] | None:
    """The submission id of every ``scoring.submission_process`` message in the broker (one entry per
    message, so a submission sent twice appears twice); None when the transport is not readable."""
    queue = queue or settings.ATELIER_GPU_QUEUE
    try:
        with current_app.connection_for_read() as connection:
            driver = connection.transport.driver_type
            if driver == "redis":
                return _ids(_redis_payloads(connection, queue))
            if driver == "filesystem":
                return _ids(_filesystem_payloads(connection, queue))
    except Exception:  # the broker is down: the reconciler cannot tell, and sends nothing it need not
        logger.warning("could not read the broker's queue %s", queue, exc_info=True)
        return None
    return None


def _redis_payloads(connection, queue: str) -> list[bytes]:
    channel = connection.default_channel
    client = channel.client
    keys = [queue] + [f"{queue}{_REDIS_PRIORITY_SEPARATOR}{step}" for step in (3, 6, 9)]
    payloads: list[bytes] = []
    for key in keys:
        payloads.extend(client.lrange(key, 0, -1))
    # Delivered and unacknowledged: only deliveries younger than the reconciler's grace period count.
    # A queued submission whose message a worker took longer ago than that was never claimed: that
    # worker died or hangs, and Redis would give the message back only after its visibility timeout.
    since = time.time() - max(float(settings.ATELIER_RECONCILE_GRACE_SECONDS), 30.0)
    tags = client.zrangebyscore(channel.unacked_index_key, since, "+inf")
    # The unacknowledged deliveries of every queue share one hash: keep this queue's (kombu stores each
    # as [message, exchange, routing key]; a Celery queue's exchange and routing key are its name).
    for raw in client.hmget(channel.unacked_key, tags) if tags else []:
        if raw is None:
            continue
        try:
            message, exchange, routing_key = json.loads(raw)[:3]
        except (ValueError, TypeError):
            continue
        if queue in (exchange, routing_key):
            payloads.append(json.dumps(message).encode())
    return payloads


def _filesystem_payloads(connection, queue: str) -> list[bytes]:
    options = connection.transport_options or {}
    folder = Path(options.get("data_folder_in", ""))
    suffix = f".{queue}.msg"
    payloads: list[bytes] = []
    for name in os.listdir(folder):
        if name.partition(".")[2] != suffix[1:]:
            continue
        try:
            payloads.append((folder / name).read_bytes())
        except OSError:  # taken by a worker meanwhile
            continue
    return payloads


def _ids(payloads: list[bytes]) -> list[int]:
    return [submission_id for raw in payloads if (submission_id := _submission_id(raw)) is not None]


def _submission_id(raw: bytes) -> int | None:
    try:
        message: dict[str, Any] = json.loads(raw)
        if (message.get("headers") or {}).get("task") != TASK_NAME:
            return None
        body = message["body"]
        if (message.get("properties") or {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args = json.loads(body)[0]
        return int(args[0])
    except (ValueError, KeyError, IndexError, TypeError):
        return None
