"""The worker's database reads and writes survive a database blip: a PostgreSQL restart or a terminated
backend costs seconds of retries on a fresh connection, not the run's attempt (issue 12).

A worker holds one connection for a whole run; once the server has dropped it, every later query on it
fails (``OperationalError``, then ``InterfaceError: connection already closed``). The writes that end or
move a run are single conditional UPDATEs or one short transaction, safe to repeat: a retry after a
commit whose answer was lost finds the token no longer holding the run and returns False/"stale". The
pipeline's reads (the submission, its images and metrics, the stored reference statistics) are repeated
the same way: a restart while the sandbox ran would otherwise fail the next read and cost the attempt.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: The first pause between tries; it doubles up to ``_MAX_DELAY``.
_FIRST_DELAY = 0.25
_MAX_DELAY = 4.0


def db_retried(operation: Callable[[], T], *, what: str, budget_seconds: float | None = None) -> T:
    """Run ``operation`` (a read, or a write safe to repeat); on a lost connection close it, wait and try again on a fresh
    one, for at most ``budget_seconds`` (default: half of ``ATELIER_LEASE_SECONDS``, so the lease still
    holds while it tries). Re-raises the last error when the budget is spent, or at once inside a
    transaction of the caller's (a fresh connection could not continue it)."""
    budget = float(budget_seconds if budget_seconds is not None else settings.ATELIER_LEASE_SECONDS / 2)
    deadline = time.monotonic() + budget
    delay = _FIRST_DELAY
    while True:
        try:
            return operation()
        except (OperationalError, InterfaceError) as error:
            if connection.in_atomic_block:
                raise
            connection.close()
            if time.monotonic() + delay > deadline:
                raise
            logger.warning("%s: database connection lost (%s); retrying in %.2f s", what, error, delay)
            time.sleep(delay)
            delay = min(delay * 2, _MAX_DELAY)
