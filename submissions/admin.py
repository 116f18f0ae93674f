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


def _apply(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet[Submission],
    action: Callable[[Submission], Any],
    done: str,
) -> None:
    succeeded, refused = 0, []
    for submission in queryset.select_related("phase__competition"):
        try:
            action(submission)
        except ApplicationError as error:
            refused.append(f"#{submission.pk}: {error.message}")
        else:
            succeeded += 1
    if succeeded:
        modeladmin.message_user(request, f"{done}: {succeeded} submission(s).", messages.SUCCESS)
    for line in refused:
        modeladmin.message_user(request, line, messages.WARNING)


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

    @admin.action(description="Rerun: back to queued and score again")
    def rerun(self, request: HttpRequest, queryset: QuerySet[Submission]) -> None:
        _apply(self, request, queryset, lambda s: services.submission_rerun(submission=s, user=request.user), "Rerun")

    @admin.action(description="Cancel (queued or running)")
    def cancel(self, request: HttpRequest, queryset: QuerySet[Submission]) -> None:
        _apply(
            self, request, queryset, lambda s: services.submission_cancel(submission=s, user=request.user), "Cancelled"
        )

    @admin.action(description="Mark as baseline (shown, not ranked)")
    def mark_baseline(self, request: HttpRequest, queryset: QuerySet[Submission]) -> None:
        _apply(
            self,
            request,
            queryset,
            lambda s: services.submission_baseline_set(submission=s, user=request.user, is_baseline=True),
            "Marked as baseline",
        )

    @admin.action(description="Unmark baseline (ranked again)")
    def unmark_baseline(self, request: HttpRequest, queryset: QuerySet[Submission]) -> None:
        _apply(
            self,
            request,
            queryset,
            lambda s: services.submission_baseline_set(submission=s, user=request.user, is_baseline=False),
            "Unmarked as baseline",
        )
