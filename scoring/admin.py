from django.contrib import admin

from scoring.models import WorkerPing


@admin.register(WorkerPing)
class WorkerPingAdmin(admin.ModelAdmin):
    list_display = ["hostname", "token", "received_at"]
    list_filter = ["hostname"]
