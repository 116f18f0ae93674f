"""URLs of the judging API, included by ``gan_platform.urls`` under ``/api/v1/``."""

from django.urls import include, path

from judging import apis

app_name = "judging_api"

competition_patterns = [
    path("pair/", apis.PairGetApi.as_view(), name="pair"),
    path("votes/", apis.VoteCreateApi.as_view(), name="vote-create"),
    path("votes/export/", apis.VoteListApi.as_view(), name="vote-list"),
]
"""Under ``competitions/<slug>/judging/``."""

urlpatterns = [
    path("competitions/<slug:slug>/judging/", include(competition_patterns)),
    path("judging/pairs/<str:token>/<str:side>.png", apis.PairImageGetApi.as_view(), name="pair-image"),
]
