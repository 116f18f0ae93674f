"""URLs of the submissions API, included by ``gan_platform.urls`` under ``/api/v1/``."""

from django.urls import include, path

from gan_platform.microcache import microcached
from submissions import apis, leaderboard_apis, output_apis, upload_session_apis

app_name = "submissions_api"

competition_patterns = [
    path("quota/", apis.QuotaGetApi.as_view(), name="quota"),
    path("submissions/", apis.SubmissionCollectionApi.as_view(), name="submissions"),
    path("leaderboard/", microcached(leaderboard_apis.LeaderboardGetApi.as_view()), name="leaderboard"),
    path("leaderboard.csv", leaderboard_apis.LeaderboardCsvApi.as_view(), name="leaderboard-csv"),
    path("uploads/", upload_session_apis.UploadSessionCreateApi.as_view(), name="upload-sessions"),
    path("starter-kit.zip", output_apis.StarterKitGetApi.as_view(), name="starter-kit"),
    path("compare/", output_apis.ComparisonGetApi.as_view(), name="compare"),
]
"""Under ``competitions/<slug>/``."""

upload_session_patterns = [
    path("", upload_session_apis.UploadSessionResourceApi.as_view(), name="upload-session"),
    path("parts/", upload_session_apis.UploadSessionPartsApi.as_view(), name="upload-session-parts"),
    path("complete/", upload_session_apis.UploadSessionCompleteApi.as_view(), name="upload-session-complete"),
]
"""Under ``uploads/<session_id>/``."""

submission_patterns = [
    path("", apis.SubmissionDetailApi.as_view(), name="submission"),
    path("cancel/", apis.SubmissionCancelApi.as_view(), name="submission-cancel"),
    path("select-final/", apis.SubmissionSelectFinalApi.as_view(), name="submission-select-final"),
    path("outputs/", output_apis.SubmissionOutputListApi.as_view(), name="submission-outputs"),
    path("outputs/<str:image>.png", output_apis.SubmissionOutputGetApi.as_view(), name="submission-output"),
]
"""Under ``submissions/<submission_id>/``."""

urlpatterns = [
    path("me/", apis.MeApi.as_view(), name="me"),
    path("competitions/<slug:slug>/", include(competition_patterns)),
    path("uploads/<str:session_id>/", include(upload_session_patterns)),
    path("submissions/<int:submission_id>/", include(submission_patterns)),
]
