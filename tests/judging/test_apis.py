"""The judging API: a pair names no submission, its images answer only its voter, a vote is one POST."""

from __future__ import annotations

import json

from rest_framework.test import APIClient

from competitions.selectors import preview_images
from judging.models import Assignment, Vote
from tests.factories import user_create


def _client(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def test_a_pair_names_no_submission_and_its_images_answer_only_its_voter(board, config, phase, voter):
    client = _client(voter)
    response = client.get("/api/v1/competitions/wood/judging/pair/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"token", "phase", "content_url", "left_url", "right_url", "expires_at"}
    text = json.dumps(body)
    for key, submission in board.items():
        if not key.startswith("user-"):
            assert f"/submissions/{submission.pk}/" not in text and f'"{submission.pk}"' not in text
    assignment = Assignment.objects.get(token=body["token"])
    image = assignment.image
    left = client.get(body["left_url"])
    assert left.status_code == 200 and left["Content-Type"] == "image/png"
    from gan_platform.storages import private_storage

    with private_storage().open(assignment.left.preview_output_name(image.name), "rb") as handle:
        assert b"".join(left.streaming_content) == handle.read()
    assert client.get(body["content_url"]).status_code == 200
    # another user gets nothing
    stranger = _client(user_create("mallory"))
    refused = stranger.get(body["right_url"])
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "not_found"


def test_a_vote_is_one_post_and_a_bad_choice_says_what_to_send(board, config, phase, voter):
    client = _client(voter)
    token = client.get("/api/v1/competitions/wood/judging/pair/").json()["token"]
    bad = client.post("/api/v1/competitions/wood/judging/votes/", {"token": token, "choice": "up"}, format="json")
    assert bad.status_code == 400 and "choice" in json.dumps(bad.json())
    good = client.post("/api/v1/competitions/wood/judging/votes/", {"token": token, "choice": "equal"}, format="json")
    assert good.status_code == 201 and good.json() == {"recorded": True}
    assert Vote.objects.get().choice == "tie"
    assert preview_images(competition=phase.competition).count() == 2


def test_anonymous_voters_are_asked_to_log_in(board, config):
    response = _client().get("/api/v1/competitions/wood/judging/pair/")
    assert response.status_code == 401 and response.json()["error"]["code"] == "not_authenticated"


def test_the_schema_documents_the_judging_operations(db):
    schema = _client().get("/api/v1/schema/?format=json").json()
    operations = {op["operationId"] for path in schema["paths"].values() for op in path.values() if "operationId" in op}
    assert {"judging_pair_get", "judging_vote_create", "judging_pair_image_get", "judging_vote_list"} <= operations


def test_organizers_export_the_votes_through_the_api_and_nobody_else(board, config, phase, voter, organizer):
    client = _client(voter)
    token = client.get("/api/v1/competitions/wood/judging/pair/").json()["token"]
    client.post("/api/v1/competitions/wood/judging/votes/", {"token": token, "choice": "left"}, format="json")
    rows = _client(organizer).get("/api/v1/competitions/wood/judging/votes/export/?phase=main").json()
    assert len(rows) == 1 and rows[0]["choice"] in ("a", "b") and rows[0]["shown_left"] in ("a", "b")
    assert rows[0]["voter"] != str(voter.pk) and len(rows[0]["voter"]) == 16
    refused = client.get("/api/v1/competitions/wood/judging/votes/export/")
    assert refused.status_code == 404
