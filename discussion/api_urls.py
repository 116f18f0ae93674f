"""URLs of the discussion API, included by ``gan_platform.urls`` under ``/api/v1/``."""

from django.urls import include, path

from discussion import apis

app_name = "discussion_api"

competition_patterns = [
    path("topics/", apis.TopicListApi.as_view(), name="topic-list"),
    path("topics/create/", apis.TopicCreateApi.as_view(), name="topic-create"),
    path("topics/<int:topic_id>/", apis.TopicDetailApi.as_view(), name="topic"),
    path("topics/<int:topic_id>/reply/", apis.ReplyCreateApi.as_view(), name="reply-create"),
    path("topics/<int:topic_id>/moderate/", apis.TopicModerateApi.as_view(), name="topic-moderate"),
    path("replies/<int:reply_id>/moderate/", apis.ReplyModerateApi.as_view(), name="reply-moderate"),
]
"""Under ``competitions/<slug>/``."""

urlpatterns = [
    path("competitions/<slug:slug>/", include(competition_patterns)),
]
