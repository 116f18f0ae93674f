from django.urls import include, path

from competitions import organizer_views, views
from gan_platform.microcache import microcached

app_name = "competitions"

organizer_patterns = [
    path("", organizer_views.dashboard, name="organizer-dashboard"),
    path("edit/", organizer_views.competition_edit, name="organizer-edit"),
    path("phases/new/", organizer_views.phase_edit, name="organizer-phase-new"),
    path("phases/<slug:phase_slug>/", organizer_views.phase_edit, name="organizer-phase"),
    path("phases/<slug:phase_slug>/reveal/", organizer_views.phase_reveal, name="organizer-phase-reveal"),
    path("duplicate/", organizer_views.competition_duplicate, name="organizer-duplicate"),
    path("data/", organizer_views.data_manage, name="organizer-data"),
    path("data/<str:kind>/", organizer_views.data_upload, name="organizer-data-upload"),
    path(
        "submissions/<int:submission_id>/<str:action>/",
        organizer_views.submission_action,
        name="organizer-submission-action",
    ),
]
"""Under ``c/<slug>/organize/``."""

urlpatterns = [
    path("", views.home, name="home"),
    path("organize/new/", organizer_views.competition_new, name="organizer-create"),
    path("c/<slug:slug>/", views.competition_detail, name="detail"),
    path("c/<slug:slug>/join/", views.competition_join, name="join"),
    path("c/<slug:slug>/leaderboard/", microcached(views.leaderboard), name="leaderboard"),
    path("c/<slug:slug>/organize/", include(organizer_patterns)),
    path("c/<slug:slug>/<str:section>/", views.competition_detail, name="detail-section"),
]
