"""URLs of the discussion API, included by ``gan_platform.urls`` under ``/api/v1/``."""

from django.urls import path

from discussion import apis

app_name = "discussion_api"

urlpatterns = [
    path("competitions/<slug:slug>/topics/", apis.TopicListApi.as_view(), name="topic-list"),
    path("competitions/<slug:slug>/topics/create/", apis.TopicCreateApi.as_view(), name="topic-create"),
    path("competitions/<slug:slug>/topics/<int:topic_id>/", apis.TopicDetailApi.as_view(), name="topic"),
    path("competitions/<slug:slug>/topics/<int:topic_id>/reply/", apis.ReplyCreateApi.as_view(), name="reply-create"),
    path(
        "competitions/<slug:slug>/topics/<int:topic_id>/moderate/",
        apis.TopicModerateApi.as_view(),
        name="topic-moderate",
    ),
    path(
        "competitions/<slug:slug>/replies/<int:reply_id>/moderate/",
        apis.ReplyModerateApi.as_view(),
        name="reply-moderate",
    ),
]
