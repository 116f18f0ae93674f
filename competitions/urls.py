from django.urls import path

from competitions import organizer_views, views
from gan_platform.microcache import microcached

app_name = "competitions"

urlpatterns = [
    path("", views.home, name="home"),
    path("organize/new/", organizer_views.competition_new, name="organizer-create"),
    path("c/<slug:slug>/", views.competition_detail, name="detail"),
    path("c/<slug:slug>/join/", views.competition_join, name="join"),
    path("c/<slug:slug>/leaderboard/", microcached(views.leaderboard), name="leaderboard"),
    path("c/<slug:slug>/organize/", organizer_views.dashboard, name="organizer-dashboard"),
    path("c/<slug:slug>/organize/edit/", organizer_views.competition_edit, name="organizer-edit"),
    path("c/<slug:slug>/organize/phases/new/", organizer_views.phase_edit, name="organizer-phase-new"),
    path("c/<slug:slug>/organize/phases/<slug:phase_slug>/", organizer_views.phase_edit, name="organizer-phase"),
    path(
        "c/<slug:slug>/organize/phases/<slug:phase_slug>/reveal/",
        organizer_views.phase_reveal,
        name="organizer-phase-reveal",
    ),
    path("c/<slug:slug>/organize/duplicate/", organizer_views.competition_duplicate, name="organizer-duplicate"),
    path("c/<slug:slug>/organize/data/", organizer_views.data_manage, name="organizer-data"),
    path("c/<slug:slug>/organize/data/<str:kind>/", organizer_views.data_upload, name="organizer-data-upload"),
    path(
        "c/<slug:slug>/organize/submissions/<int:submission_id>/<str:action>/",
        organizer_views.submission_action,
        name="organizer-submission-action",
    ),
    path("c/<slug:slug>/<str:section>/", views.competition_detail, name="detail-section"),
]
