"""URLs of the competitions API, included by ``gan_platform.urls`` under ``/api/v1/``."""

from django.urls import include, path

from competitions import apis

app_name = "competitions_api"

competition_patterns = [
    path("", apis.CompetitionDetailApi.as_view(), name="competition"),
    path("join/", apis.CompetitionJoinApi.as_view(), name="competition-join"),
    path("team/", apis.TeamGetApi.as_view(), name="team"),
    path("team/create/", apis.TeamCreateApi.as_view(), name="team-create"),
    path("team/join/", apis.TeamJoinApi.as_view(), name="team-join"),
    path("team/leave/", apis.TeamLeaveApi.as_view(), name="team-leave"),
    path("images/", apis.PublicImageListApi.as_view(), name="image-list"),
    path("images/<int:image_id>.png", apis.PublicImageGetApi.as_view(), name="image"),
]
"""Under ``competitions/<slug>/``."""

urlpatterns = [
    path("metrics/", apis.MetricListApi.as_view(), name="metric-list"),
    path("competitions/", apis.CompetitionListApi.as_view(), name="competition-list"),
    path("competitions/<slug:slug>/", include(competition_patterns)),
]
