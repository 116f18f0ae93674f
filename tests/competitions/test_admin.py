"""The competitions admin: every page renders, rules show on the forms, the reveal action works."""

from __future__ import annotations

from datetime import timedelta

import pytest

from competitions.models import Competition, Phase
from tests.factories import competition_create_for_tests, participant_join, user_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def root_client(client):
    client.force_login(user_create("root", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def wood(organizer, alice):
    competition = competition_create_for_tests(organizer=organizer, style_images=1, content_images=2, preview=1)
    participant_join(competition, alice)
    return competition


@pytest.mark.parametrize("model", ["competition", "phase", "imageset", "team", "participation", "featureweightsreport"])
def test_every_changelist_and_change_page_renders(root_client, wood, model):
    from django.apps import apps

    from competitions.services import feature_weights_report_record

    feature_weights_report_record(hostname="gpu1", files=[{"name": "vgg19", "filename": "v.pth", "state": "missing"}])

    row = apps.get_model("competitions", model).objects.first()

    assert root_client.get(f"/admin/competitions/{model}/").status_code == 200
    assert root_client.get(f"/admin/competitions/{model}/{row.pk}/change/").status_code == 200


def test_the_reveal_action_sets_the_reveal_time(root_client, wood):
    phase = wood.phases.get()

    response = root_client.post(
        "/admin/competitions/phase/", {"action": "reveal_private_leaderboard", "_selected_action": [phase.pk]}
    )

    assert response.status_code == 302
    phase.refresh_from_db()
    assert phase.private_revealed_at is not None


def test_the_phase_form_refuses_an_overlapping_window(root_client, wood):
    main = wood.phases.get()
    data = {
        "competition": wood.pk,
        "slug": "extra",
        "name": "Extra",
        "order": 1,
        "starts_at_0": (main.ends_at - timedelta(days=1)).strftime("%Y-%m-%d"),
        "starts_at_1": "00:00:00",
        "ends_at_0": (main.ends_at + timedelta(days=9)).strftime("%Y-%m-%d"),
        "ends_at_1": "00:00:00",
        "daily_quota": 5,
        "max_running": 2,
        "execution_time_limit": 900,
        "upload_size_limit": 1000,
        "final_selection_limit": 0,
        "metrics-TOTAL_FORMS": 0,
        "metrics-INITIAL_FORMS": 0,
    }

    response = root_client.post("/admin/competitions/phase/add/", data)

    assert response.status_code == 200 and "overlaps phase" in response.content.decode()
    assert Phase.objects.count() == 1


def test_the_competition_form_shows_the_slug_rule(root_client, wood):
    data = {
        "slug": "bad--slug",
        "title": "Bad",
        "visibility": "draft",
        "preprocessing_mode": "clean",
        "input_value_range": "-1,1",
        "image_size": 64,
        "size_multiple": 4,
        "accepted_formats": '["safetensors"]',
        "accepted_architectures": "[]",
        "feature_weights": "random",
        "max_team_size": 1,
        "phases-TOTAL_FORMS": 0,
        "phases-INITIAL_FORMS": 0,
    }

    response = root_client.post("/admin/competitions/competition/add/", data)
    assert response.status_code == 200 and "is not a valid slug" in response.content.decode()

    data["slug"] = "good"
    response = root_client.post("/admin/competitions/competition/add/", data)
    assert response.status_code == 302
    created = Competition.objects.get(slug="good")
    assert created.organizers.filter(username="root").exists()


def test_the_weights_reports_list_names_the_missing_files(root_client, wood):
    from competitions.services import feature_weights_report_record

    feature_weights_report_record(
        hostname="gpu7", files=[{"name": "vgg19", "filename": "vgg19.pth", "state": "corrupt"}]
    )
    page = root_client.get("/admin/competitions/featureweightsreport/").content.decode()
    assert "gpu7" in page and '<td class="field-missing_files">vgg19</td>' in page
