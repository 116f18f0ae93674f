"""URLs of the submissions API, included by ``gan_platform.urls`` under ``/api/v1/``."""

from django.urls import path

from gan_platform.microcache import microcached
from submissions import apis, leaderboard_apis, output_apis, upload_session_apis

app_name = "submissions_api"

urlpatterns = [
    path("me/", apis.MeApi.as_view(), name="me"),
    path("competitions/<slug:slug>/quota/", apis.QuotaGetApi.as_view(), name="quota"),
    path("competitions/<slug:slug>/submissions/", apis.SubmissionCollectionApi.as_view(), name="submissions"),
    path(
        "competitions/<slug:slug>/leaderboard/",
        microcached(leaderboard_apis.LeaderboardGetApi.as_view()),
        name="leaderboard",
    ),
    path(
        "competitions/<slug:slug>/leaderboard.csv", leaderboard_apis.LeaderboardCsvApi.as_view(), name="leaderboard-csv"
    ),
    path(
        "competitions/<slug:slug>/uploads/",
        upload_session_apis.UploadSessionCreateApi.as_view(),
        name="upload-sessions",
    ),
    path("uploads/<str:session_id>/", upload_session_apis.UploadSessionResourceApi.as_view(), name="upload-session"),
    path(
        "uploads/<str:session_id>/parts/",
        upload_session_apis.UploadSessionPartsApi.as_view(),
        name="upload-session-parts",
    ),
    path(
        "uploads/<str:session_id>/complete/",
        upload_session_apis.UploadSessionCompleteApi.as_view(),
        name="upload-session-complete",
    ),
    path("competitions/<slug:slug>/starter-kit.zip", output_apis.StarterKitGetApi.as_view(), name="starter-kit"),
    path("competitions/<slug:slug>/compare/", output_apis.ComparisonGetApi.as_view(), name="compare"),
    path("submissions/<int:submission_id>/", apis.SubmissionDetailApi.as_view(), name="submission"),
    path("submissions/<int:submission_id>/cancel/", apis.SubmissionCancelApi.as_view(), name="submission-cancel"),
    path(
        "submissions/<int:submission_id>/select-final/",
        apis.SubmissionSelectFinalApi.as_view(),
        name="submission-select-final",
    ),
    path(
        "submissions/<int:submission_id>/outputs/",
        output_apis.SubmissionOutputListApi.as_view(),
        name="submission-outputs",
    ),
    path(
        "submissions/<int:submission_id>/outputs/<str:image>.png",
        output_apis.SubmissionOutputGetApi.as_view(),
        name="submission-output",
    ),
]
