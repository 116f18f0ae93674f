"""URLs of the competitions API, included by ``gan_platform.urls`` under ``/api/v1/``."""

from django.urls import path

from competitions import apis

app_name = "competitions_api"

urlpatterns = [
    path("metrics/", apis.MetricListApi.as_view(), name="metric-list"),
    path("competitions/", apis.CompetitionListApi.as_view(), name="competition-list"),
    path("competitions/<slug:slug>/", apis.CompetitionDetailApi.as_view(), name="competition"),
    path("competitions/<slug:slug>/join/", apis.CompetitionJoinApi.as_view(), name="competition-join"),
    path("competitions/<slug:slug>/team/", apis.TeamGetApi.as_view(), name="team"),
    path("competitions/<slug:slug>/team/create/", apis.TeamCreateApi.as_view(), name="team-create"),
    path("competitions/<slug:slug>/team/join/", apis.TeamJoinApi.as_view(), name="team-join"),
    path("competitions/<slug:slug>/team/leave/", apis.TeamLeaveApi.as_view(), name="team-leave"),
    path("competitions/<slug:slug>/images/", apis.PublicImageListApi.as_view(), name="image-list"),
    path("competitions/<slug:slug>/images/<int:image_id>.png", apis.PublicImageGetApi.as_view(), name="image"),
]
