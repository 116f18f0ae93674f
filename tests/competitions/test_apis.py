"""The competitions API: list, detail, join, teams, public images, permissions, the one error shape."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from competitions.models import Participation
from tests.factories import competition_create_for_tests, participant_join, user_create

pytestmark = pytest.mark.django_db


def client_for(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


@pytest.fixture
def wood(organizer):
    return competition_create_for_tests(slug="wood", organizer=organizer, style_images=2, content_images=4, preview=1)


@pytest.fixture
def draft(organizer):
    return competition_create_for_tests(
        slug="secret", organizer=organizer, visibility="draft", style_images=1, content_images=2, preview=0
    )


def test_anonymous_visitors_list_public_competitions_only(wood, draft):
    response = client_for().get("/api/v1/competitions/")

    assert response.status_code == 200
    [row] = response.json()
    assert row["slug"] == "wood" and row["joined"] is False and row["calibrated"] is False
    assert row["current_phase"]["slug"] == "main"


def test_the_list_marks_joined_competitions_and_shows_organizers_their_drafts(wood, draft, organizer, alice):
    participant_join(wood, alice)

    assert [(r["slug"], r["joined"]) for r in client_for(alice).get("/api/v1/competitions/").json()] == [("wood", True)]
    assert sorted(r["slug"] for r in client_for(organizer).get("/api/v1/competitions/").json()) == ["secret", "wood"]


def test_the_detail_has_phases_metrics_and_settings(wood, alice):
    participant_join(wood, alice)

    body = client_for(alice).get("/api/v1/competitions/wood/").json()

    assert body["joined"] is True and body["team"]["name"] == "alice" and body["team"]["members"] == ["alice"]
    assert (body["image_size"], body["input_value_range"], body["calibrated"]) == (32, "-1,1", False)
    assert body["accepted_formats"] == ["safetensors", "onnx"] and body["is_organizer"] is False
    [phase] = body["phases"]
    assert phase["slug"] == "main" and phase["is_open"] is True and phase["daily_quota"] == 5
    assert [(m["metric"], m["is_ranking"], m["direction"]) for m in phase["metrics"]] == [
        ("fid", True, "lower"),
        ("lpips", False, "lower"),
        ("ssim", False, "higher"),
    ]
    assert phase["metrics"][0]["label"] == "FID"


def test_the_detail_shows_every_editable_setting_with_feature_weights_as_calibrated(wood, alice):
    from competitions import services
    from competitions.apis import CompetitionDetailApi, PhaseSerializer

    body = client_for(alice).get("/api/v1/competitions/wood/").json()

    # every setting an organizer edits is shown, except the two the API shows by their outcome
    shown = set(body) - {"current_phase", "phases", "joined", "team", "is_organizer"}
    assert shown == {"slug", *services.COMPETITION_FIELDS} - {"feature_weights"} | {"calibrated"}
    assert set(body["phases"][0]) == {"slug", *services.PHASE_FIELDS} - {"order", "reveal_private_at_end"} | {
        "is_open",
        "private_revealed",
        "metrics",
    }
    # and the serializers declare no field the lists leave out
    assert set(CompetitionDetailApi.OutputSerializer().fields) - shown == {
        "current_phase",
        "phases",
        "joined",
        "team",
        "is_organizer",
    }
    assert set(PhaseSerializer().fields) == set(body["phases"][0])


def test_hidden_metrics_are_shown_to_organizers_only(wood, organizer, alice):
    from competitions import services

    phase = wood.phases.get()
    services.phase_metrics_set(
        phase=phase, actor=organizer, metrics=[{"metric": "fid", "ranking": True}, {"metric": "kid", "shown": False}]
    )

    participant_metrics = client_for(alice).get("/api/v1/competitions/wood/").json()["phases"][0]["metrics"]
    organizer_metrics = client_for(organizer).get("/api/v1/competitions/wood/").json()["phases"][0]["metrics"]
    assert [m["metric"] for m in participant_metrics] == ["fid"]
    assert [m["metric"] for m in organizer_metrics] == ["fid", "kid"]


def test_a_draft_answers_404_to_everyone_but_its_organizers(draft, organizer, alice):
    for client in (client_for(), client_for(alice)):
        response = client.get("/api/v1/competitions/secret/")
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"

    assert client_for(organizer).get("/api/v1/competitions/secret/").json()["is_organizer"] is True


def test_joining_needs_a_login_and_the_rules_accepted(wood, alice):
    anonymous = client_for().post("/api/v1/competitions/wood/join/", {"accept_rules": True}, format="json")
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "not_authenticated"

    refused = client_for(alice).post("/api/v1/competitions/wood/join/", {}, format="json")
    assert refused.status_code == 400
    assert (
        refused.json()["error"]["code"] == "rules_not_accepted" and "accept_rules" in refused.json()["error"]["fields"]
    )
    assert not Participation.objects.exists()

    joined = client_for(alice).post("/api/v1/competitions/wood/join/", {"accept_rules": True}, format="json")
    assert joined.status_code == 201 and joined.json()["team"]["name"] == "alice"
    again = client_for(alice).post("/api/v1/competitions/wood/join/", {"accept_rules": True}, format="json")
    assert again.status_code == 200 and Participation.objects.count() == 1


def test_teams_are_created_joined_by_code_and_left(wood, alice, bob):
    participant_join(wood, alice)
    participant_join(wood, bob)
    alice_client, bob_client = client_for(alice), client_for(bob)

    created = alice_client.post("/api/v1/competitions/wood/team/create/", {"name": "Grain"}, format="json")
    assert created.status_code == 201 and created.json()["members"] == ["alice"]
    code = created.json()["join_code"]

    wrong = bob_client.post("/api/v1/competitions/wood/team/join/", {"code": "nope"}, format="json")
    assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "team_not_found"

    joined = bob_client.post("/api/v1/competitions/wood/team/join/", {"code": code}, format="json")
    assert joined.status_code == 200 and joined.json()["members"] == ["alice", "bob"]
    assert alice_client.get("/api/v1/competitions/wood/team/").json()["members"] == ["alice", "bob"]

    left = bob_client.post("/api/v1/competitions/wood/team/leave/")
    assert left.status_code == 200 and left.json()["name"] == "bob" and left.json()["members"] == ["bob"]


def test_team_operations_need_a_participation(wood, alice):
    response = client_for(alice).get("/api/v1/competitions/wood/team/")

    assert response.status_code == 403 and response.json()["error"]["code"] == "not_joined"


def test_public_images_are_style_and_previews_and_hidden_ones_answer_404(wood):
    client = client_for()

    listing = client.get("/api/v1/competitions/wood/images/").json()
    assert sorted((row["kind"], row["name"]) for row in listing) == [
        ("content", next(row["name"] for row in listing if row["kind"] == "content")),
        ("style", "style-000.png"),
        ("style", "style-001.png"),
    ]
    image = client.get(f"/api/v1/competitions/wood/images/{listing[0]['id']}.png")
    assert listing[0]["url"] == f"http://testserver/api/v1/competitions/wood/images/{listing[0]['id']}.png"
    assert image.status_code == 200 and image["Content-Type"] == "image/png"
    assert b"".join(image.streaming_content).startswith(b"\x89PNG")

    hidden = wood.image_sets.get(kind="content").images.filter(is_preview=False).first()
    response = client.get(f"/api/v1/competitions/wood/images/{hidden.pk}.png")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_images_of_a_draft_are_hidden_from_participants(draft, organizer, alice):
    style = draft.image_sets.get(kind="style").images.get()

    assert client_for(alice).get(f"/api/v1/competitions/secret/images/{style.pk}.png").status_code == 404
    assert client_for(organizer).get(f"/api/v1/competitions/secret/images/{style.pk}.png").status_code == 200


def test_the_schema_lists_the_competition_operations(db):
    user_create("reader")
    schema = client_for().get("/api/v1/schema/", HTTP_ACCEPT="application/json")

    assert schema.status_code == 200
    text = schema.content.decode()
    for operation in ("competition_list", "competition_get", "competition_join", "team_join", "competition_image_get"):
        assert operation in text


def test_the_team_changes_keep_each_its_own_operation_in_the_schema(db):
    # given the schema, as JSON
    schema = client_for().get("/api/v1/schema/?format=json").json()

    # when the three team changes (one shared view course) are looked up
    create, join, leave = (
        schema["paths"][f"/api/v1/competitions/{{slug}}/team/{change}/"]["post"]
        for change in ("create", "join", "leave")
    )

    # then each keeps its operation id, its own description, its input and its success status
    assert [create["operationId"], join["operationId"], leave["operationId"]] == [
        "team_create",
        "team_join",
        "team_leave",
    ]
    assert create["description"].startswith("Create a team") and join["description"].startswith("Join a team")
    assert leave["description"] == "Leave the current team for a new team of one."
    assert create["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/TeamCreateInput")
    assert join["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/TeamJoinInput")
    assert "requestBody" not in leave
    assert set(create["responses"]) == {"201", "400", "401", "403", "404"}
    assert set(join["responses"]) == set(leave["responses"]) == {"200", "400", "401", "403", "404"}
