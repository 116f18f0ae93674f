from django.urls import path

from notifications import views

app_name = "notifications"

urlpatterns = [
    path("notifications/", views.notification_settings, name="settings"),
    path("c/<slug:slug>/organize/webhooks/", views.webhook_list, name="webhooks"),
    path(
        "c/<slug:slug>/organize/webhooks/<int:webhook_id>/<str:action>/",
        views.webhook_action,
        name="webhook-action",
    ),
]
