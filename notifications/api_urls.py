"""URLs of the notifications API, included by ``gan_platform.urls`` under ``/api/v1/``."""

from django.urls import include, path

from notifications import apis

app_name = "notifications_api"

webhook_patterns = [
    path("", apis.WebhookListApi.as_view(), name="webhook-list"),
    path("create/", apis.WebhookCreateApi.as_view(), name="webhook-create"),
    path("<int:webhook_id>/delete/", apis.WebhookDeleteApi.as_view(), name="webhook-delete"),
    path("<int:webhook_id>/deliveries/", apis.WebhookDeliveryListApi.as_view(), name="webhook-deliveries"),
]
"""Under ``competitions/<slug>/webhooks/``."""

urlpatterns = [
    path("notifications/settings/", apis.NotificationSettingsGetApi.as_view(), name="settings"),
    path("notifications/settings/update/", apis.NotificationSettingsUpdateApi.as_view(), name="settings-update"),
    path("competitions/<slug:slug>/webhooks/", include(webhook_patterns)),
]
