"""URLs of the notifications API, included by ``gan_platform.urls`` under ``/api/v1/``."""

from django.urls import path

from notifications import apis

app_name = "notifications_api"

urlpatterns = [
    path("notifications/settings/", apis.NotificationSettingsGetApi.as_view(), name="settings"),
    path("notifications/settings/update/", apis.NotificationSettingsUpdateApi.as_view(), name="settings-update"),
    path("competitions/<slug:slug>/webhooks/", apis.WebhookListApi.as_view(), name="webhook-list"),
    path("competitions/<slug:slug>/webhooks/create/", apis.WebhookCreateApi.as_view(), name="webhook-create"),
    path(
        "competitions/<slug:slug>/webhooks/<int:webhook_id>/delete/",
        apis.WebhookDeleteApi.as_view(),
        name="webhook-delete",
    ),
    path(
        "competitions/<slug:slug>/webhooks/<int:webhook_id>/deliveries/",
        apis.WebhookDeliveryListApi.as_view(),
        name="webhook-deliveries",
    ),
]
