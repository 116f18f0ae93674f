"""URLs of the judging API, included by ``gan_platform.urls`` under ``/api/v1/``."""

from django.urls import path

from judging import apis

app_name = "judging_api"

urlpatterns = [
    path("competitions/<slug:slug>/judging/pair/", apis.PairGetApi.as_view(), name="pair"),
    path("competitions/<slug:slug>/judging/votes/", apis.VoteCreateApi.as_view(), name="vote-create"),
    path("competitions/<slug:slug>/judging/votes/export/", apis.VoteListApi.as_view(), name="vote-list"),
    path("judging/pairs/<str:token>/<str:side>.png", apis.PairImageGetApi.as_view(), name="pair-image"),
]
