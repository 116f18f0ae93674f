from django.urls import include, path

from discussion import views

app_name = "discussion"

discussion_patterns = [
    path("", views.topic_list, name="topics"),
    path("new/", views.topic_new, name="topic-new"),
    path("<int:topic_id>/", views.topic_detail, name="topic"),
    path("<int:topic_id>/reply/", views.reply_new, name="reply-new"),
    path("<int:topic_id>/moderate/", views.topic_moderate, name="topic-moderate"),
    path("replies/<int:reply_id>/moderate/", views.reply_moderate, name="reply-moderate"),
]
"""Under ``c/<slug>/discussion/``."""

urlpatterns = [
    path("c/<slug:slug>/discussion/", include(discussion_patterns)),
]
