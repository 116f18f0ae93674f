from django.urls import path

from judging import views

app_name = "judging"

urlpatterns = [
    path("c/<slug:slug>/vote/", views.vote, name="vote"),
    path("c/<slug:slug>/organize/judging/", views.organizer_judging, name="organizer"),
    path("c/<slug:slug>/organize/judging/votes.<str:fmt>", views.votes_export, name="votes-export"),
]
