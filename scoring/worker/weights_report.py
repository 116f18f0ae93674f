"""A worker's report of its pretrained feature-network weights, for the web side.

The web side imports no torch and sees no worker's disk; a worker of the GPU queue writes what
``python -m gan_core weights status`` would print (:func:`gan_core.weights.status`: each registered
file verified, missing or corrupt) to :class:`competitions.models.FeatureWeightsReport` when it
starts (Celery's ``worker_ready``, :mod:`scoring.tasks`) and every ``ATELIER_WORKER_WEIGHTS_REPORT_S``
seconds after, from a daemon thread (digests are cached per path, size and modification time, so a
refresh reads no unchanged file again).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection

from competitions.models import FeatureWeightsReport
from competitions.services import feature_weights_report_record

logger = logging.getLogger(__name__)

_refresher: threading.Thread | None = None
_refresher_lock = threading.Lock()


def consumes_gpu_queue(consumer: Any) -> bool:
    """Whether the worker whose consumer is ``consumer`` (``worker_ready``'s sender) takes tasks of
    ``ATELIER_GPU_QUEUE``: only those score, so only those report. Without a queue list (no
    ``--queues``, or a sender without an app, as in tests) it consumes every declared queue."""
    app = getattr(consumer, "app", None)
    if app is None:
        return True
    queues = app.amqp.queues.consume_from
    return not queues or settings.ATELIER_GPU_QUEUE in queues


def feature_weights_report(*, hostname: str) -> FeatureWeightsReport:
    """Check every registered weights file on this machine and record the result for ``hostname``."""
    from gan_core import weights

    return feature_weights_report_record(hostname=hostname, files=weights.status())


def feature_weights_report_safely(*, hostname: str) -> FeatureWeightsReport | None:
    """:func:`feature_weights_report`, logging instead of raising (it must never stop a worker)."""
    try:
        return feature_weights_report(hostname=hostname)
    except Exception:
        logger.warning("feature weights report of %s failed", hostname, exc_info=True)
        return None


def feature_weights_report_on_start(*, hostname: str) -> FeatureWeightsReport | None:
    """What a starting worker does: report now, close the connection (the pool forks children from
    this process later; they must not share its socket), then start the refresher."""
    report = feature_weights_report_safely(hostname=hostname)
    if not connection.in_atomic_block:  # never at a real start; a test's transaction stays open
        connection.close()
    feature_weights_refresher_start(hostname=hostname)
    return report


def feature_weights_refresher_start(*, hostname: str, interval_s: float | None = None) -> threading.Thread | None:
    """Start (once per process) the daemon thread that reports every ``interval_s`` seconds
    (default ``ATELIER_WORKER_WEIGHTS_REPORT_S``; 0: none). Returns the thread, or None."""
    global _refresher
    interval = float(settings.ATELIER_WORKER_WEIGHTS_REPORT_S if interval_s is None else interval_s)
    if interval <= 0:
        return None
    with _refresher_lock:
        if _refresher is not None and _refresher.is_alive():
            return _refresher
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(interval):
                close_old_connections()
                feature_weights_report_safely(hostname=hostname)
                connection.close()

        _refresher = threading.Thread(target=loop, name="atelier-weights-report", daemon=True)
        _refresher.stop = stop  # type: ignore[attr-defined]
        _refresher.start()
        return _refresher


def feature_weights_refresher_stop() -> None:
    """Stop the refreshing thread (tests; a worker's exit ends the daemon thread anyway)."""
    global _refresher
    with _refresher_lock:
        if _refresher is not None:
            _refresher.stop.set()  # type: ignore[attr-defined]
            _refresher.join(timeout=5)
            _refresher = None
