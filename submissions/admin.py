"""Admin of submissions: filters, read-only rows, and actions that go through the services.

Rows are read-only here: states change only by the services' conditional
UPDATEs (rerun, cancel, baseline), never by saving a loaded row.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from gan_platform.errors import ApplicationError
from submissions import services
from submissions.models import Score, Submission


class ScoreInline(admin.TabularInline):
    model = Score
    ordering = ("split", "metric")  # Score has no default ordering
    extra = 0
    can_delete = False
    fields = ("split", "metric", "value", "interval_low", "interval_high", "calibrated", "gan_core_version")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _action(description: str, done: str, call: Callable[[Submission, Any], Any]) -> Callable[..., None]:
    """An admin action that calls ``call(submission, user)`` (a service) on each selected submission,
    then reports how many it changed (``done``) and, one by one, what the service refused."""

    @admin.action(description=description)
    def action(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Submission]) -> None:
        succeeded, refused = 0, []
        for submission in queryset.select_related("phase__competition"):
            try:
                call(submission, request.user)
            except ApplicationError as error:
                refused.append(f"#{submission.pk}: {error.message}")
            else:
                succeeded += 1
        if succeeded:
            modeladmin.message_user(request, f"{done}: {succeeded} submission(s).", messages.SUCCESS)
        for line in refused:
            modeladmin.message_user(request, line, messages.WARNING)

    return action


@admin.register(Submission)
class SubmissionAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "phase",
        "team",
        "submitted_by",
        "state",
        "format",
        "is_baseline",
        "is_final",
        "counts_against_quota",
        "attempts",
        "created_at",
        "finished_at",
    )
    list_filter = (
        "state",
        "phase__competition",
        "phase",
        "format",
        "is_baseline",
        "is_final",
        "counts_against_quota",
        "failure_code",
        "created_at",
    )
    search_fields = ("=id", "sha256", "original_name", "team__name", "submitted_by__username", "description")
    list_select_related = ("phase__competition", "team", "submitted_by")
    date_hierarchy = "created_at"
    inlines = [ScoreInline]
    actions = ["rerun", "cancel", "mark_baseline", "unmark_baseline"]
    readonly_fields = [field.name for field in Submission._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Uploads go through submissions.services.submission_create (quota, format, storage).
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    rerun = _action(
        "Rerun: back to queued and score again",
        "Rerun",
        lambda s, user: services.submission_rerun(submission=s, user=user),
    )
    cancel = _action(
        "Cancel (queued or running)", "Cancelled", lambda s, user: services.submission_cancel(submission=s, user=user)
    )
    mark_baseline = _action(
        "Mark as baseline (shown, not ranked)",
        "Marked as baseline",
        lambda s, user: services.submission_baseline_set(submission=s, user=user, is_baseline=True),
    )
    unmark_baseline = _action(
        "Unmark baseline (ranked again)",
        "Unmarked as baseline",
        lambda s, user: services.submission_baseline_set(submission=s, user=user, is_baseline=False),
    )
