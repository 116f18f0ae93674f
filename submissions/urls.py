from django.urls import path

from submissions import views

app_name = "submissions"

urlpatterns = [
    path("c/<slug:slug>/submit/", views.submit, name="submit"),
    path("c/<slug:slug>/submissions/", views.my_submissions, name="mine"),
    path("c/<slug:slug>/compare/", views.compare, name="compare"),
    path("c/<slug:slug>/starter-kit.zip", views.starter_kit, name="starter-kit"),
    path("submissions/<int:submission_id>/", views.submission_detail, name="detail"),
]
