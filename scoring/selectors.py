"""Reads of the scoring app: what runs, what waits, and the cached reference statistics."""

from __future__ import annotations

from django.db.models import QuerySet

from scoring.models import ReferenceStats
from submissions.models import Submission


def submissions_running() -> QuerySet[Submission]:
    """Submissions a worker holds (validating, generating, scoring), oldest lease first."""
    return (
        Submission.objects.filter(state__in=Submission.RUNNING_STATES)
        .select_related("phase__competition", "team")
        .order_by("lease_expires_at", "id")
    )


def submission_queue_position(*, submission: Submission) -> int | None:
    """How many queued submissions were created before this one (0: next), or None when not queued."""
    if submission.state != Submission.State.QUEUED:
        return None
    return Submission.objects.filter(state=Submission.State.QUEUED, created_at__lt=submission.created_at).count()


def reference_stats_list(*, content_hash: str | None = None) -> QuerySet[ReferenceStats]:
    """Stored reference statistics, newest first; of one style set when ``content_hash`` is given."""
    queryset = ReferenceStats.objects.select_related("image_set__competition")
    if content_hash is not None:
        queryset = queryset.filter(content_hash=content_hash)
    return queryset.order_by("-computed_at")
