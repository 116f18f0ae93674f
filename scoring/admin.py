from django.contrib import admin

from scoring.models import ReferenceStats, WorkerPing


@admin.register(WorkerPing)
class WorkerPingAdmin(admin.ModelAdmin):
    list_display = ["hostname", "token", "received_at"]
    list_filter = ["hostname"]


@admin.register(ReferenceStats)
class ReferenceStatsAdmin(admin.ModelAdmin):
    list_display = ["kind", "network", "mode", "content_hash", "image_count", "calibrated", "computed_at"]
    list_filter = ["kind", "network", "mode", "calibrated"]
    search_fields = ["content_hash", "network"]
    readonly_fields = [
        "image_set",
        "kind",
        "content_hash",
        "network",
        "weights_digest",
        "mode",
        "file",
        "image_count",
        "calibrated",
        "gan_core_version",
        "computed_at",
    ]
