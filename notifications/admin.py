from django.contrib import admin

from notifications.models import EmailNotice, NotificationPreference, PhaseEvent, Webhook, WebhookDelivery


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(admin.ModelAdmin):
    list_display = ("user", "submission_scored", "submission_failed", "announcements", "updated_at")
    raw_id_fields = ("user",)


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    list_display = ("url", "competition", "payload_format", "is_active", "created_at")
    list_filter = ("payload_format", "is_active")
    raw_id_fields = ("competition", "created_by")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ("pk", "event", "webhook", "status", "attempts", "last_status_code", "created_at")
    list_filter = ("status", "event")
    readonly_fields = ("payload",)
    raw_id_fields = ("webhook",)


admin.site.register(EmailNotice)
admin.site.register(PhaseEvent)
