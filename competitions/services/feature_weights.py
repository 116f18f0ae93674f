"""The scoring workers' reports of their pretrained feature-network weights (see
:class:`competitions.models.FeatureWeightsReport`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.utils import timezone

from competitions.models import FeatureWeightsReport
from gan_platform.errors import ApplicationError

WEIGHTS_STATES = ("verified", "missing", "corrupt")


def feature_weights_report_record(*, hostname: str, files: Iterable[Mapping[str, Any]]) -> FeatureWeightsReport:
    """Record (replace) worker ``hostname``'s weights report: one row per registered file with its
    ``name``, ``filename`` and ``state`` (``verified``, ``missing`` or ``corrupt``)."""
    hostname = (hostname or "").strip()
    if not hostname:
        raise ApplicationError("hostname: a weights report needs the worker's hostname.", code="validation_error")
    rows = []
    for row in files:
        state = str(row.get("state", ""))
        if state not in WEIGHTS_STATES:
            raise ApplicationError(
                f"files: state {state!r} of {row.get('name')!r} is not one of {', '.join(WEIGHTS_STATES)}.",
                code="validation_error",
            )
        rows.append({"name": str(row.get("name", "")), "filename": str(row.get("filename", "")), "state": state})
    report, _ = FeatureWeightsReport.objects.update_or_create(
        hostname=hostname[:255],
        defaults={
            "files": rows,
            "verified": bool(rows) and all(row["state"] == "verified" for row in rows),
            "reported_at": timezone.now(),
        },
    )
    return report
