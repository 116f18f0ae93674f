from django.urls import path

from discussion import views

app_name = "discussion"

urlpatterns = [
    path("c/<slug:slug>/discussion/", views.topic_list, name="topics"),
    path("c/<slug:slug>/discussion/new/", views.topic_new, name="topic-new"),
    path("c/<slug:slug>/discussion/<int:topic_id>/", views.topic_detail, name="topic"),
    path("c/<slug:slug>/discussion/<int:topic_id>/reply/", views.reply_new, name="reply-new"),
    path("c/<slug:slug>/discussion/<int:topic_id>/moderate/", views.topic_moderate, name="topic-moderate"),
    path("c/<slug:slug>/discussion/replies/<int:reply_id>/moderate/", views.reply_moderate, name="reply-moderate"),
]
