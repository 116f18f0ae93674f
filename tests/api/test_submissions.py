"""The submissions API: create, list, detail, cancel, select final, outputs, quota, token and me;
every answer filtered by what the requester may see."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.middleware.csrf import _get_new_csrf_string
from django.utils import timezone
from rest_framework.test import APIClient

from competitions.models import Competition, Phase, PhaseMetric
from competitions.selectors import preview_images
from gan_platform.storages import private_storage
from submissions.models import Submission
from tests.factories import DEFAULT_PASSWORD
from tests.submissions.helpers import onnx_bytes, safetensors_bytes, scored_submission_create

pytestmark = pytest.mark.django_db

DETAIL_KEYS = {
    "id",
    "competition",
    "phase",
    "team",
    "state",
    "stage",
    "progress",
    "queue_position",
    "failure",
    "scores",
    "is_final",
    "is_baseline",
    "counts_against_quota",
    "created_at",
    "finished_at",
    "description",
    "format",
    "size",
    "sha256",
}


def body(response) -> object:
    return json.loads(response.content)


def post_file(client, content: bytes, url: str = "/api/v1/competitions/wood/submissions/", **fields):
    return client.post(url, {"file": SimpleUploadedFile("model.bin", content), **fields}, format="multipart")


def end_phase(phase: Phase) -> None:
    now = timezone.now()
    Phase.objects.filter(pk=phase.pk).update(starts_at=now - timedelta(days=2), ends_at=now - timedelta(minutes=1))


# --- create, list, detail -----------------------------------------------------------------------


def test_posting_a_checkpoint_answers_201_with_the_detail_and_queues_it(
    client_for, phase, alice, alice_team, sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = post_file(client_for(alice), onnx_bytes(), description="tiny onnx")
    assert response.status_code == 201, response.content
    detail = body(response)
    assert set(detail) == DETAIL_KEYS
    assert detail["competition"] == "wood" and detail["phase"] == "main" and detail["team"] == "alice"
    assert (detail["state"], detail["stage"], detail["queue_position"]) == ("queued", None, 1)
    assert detail["format"] == "onnx" and detail["size"] == len(onnx_bytes()) and len(detail["sha256"]) == 64
    assert detail["scores"] == [] and detail["failure"] is None
    assert detail["progress"] == {"done": 0, "total": 0}
    assert detail["description"] == "tiny onnx" and detail["counts_against_quota"] is True
    assert sent == [detail["id"]]


def test_the_phase_can_be_named_in_the_body(client_for, phase, alice, alice_team):
    response = post_file(client_for(alice), safetensors_bytes(), phase="main")
    assert response.status_code == 201 and body(response)["phase"] == "main"


def test_naming_two_different_phases_is_refused(client_for, phase, alice, alice_team):
    response = post_file(
        client_for(alice), safetensors_bytes(), url="/api/v1/competitions/wood/submissions/?phase=main", phase="other"
    )
    assert response.status_code == 400
    assert body(response)["error"]["code"] == "validation_error" and "phase" in body(response)["error"]["fields"]
    assert Submission.objects.count() == 0


def test_organizers_post_baselines_through_the_api(client_for, phase, organizer):
    response = post_file(client_for(organizer), safetensors_bytes(), is_baseline="true", description="identity")
    assert response.status_code == 201, response.content
    assert body(response)["is_baseline"] is True and body(response)["team"] is None


def test_the_list_holds_only_the_requesters_team_submissions(client_for, phase, alice, alice_team, bob, bob_team):
    mine = scored_submission_create(phase=phase, team=alice_team, user=alice, public={"fid": 1.0})
    scored_submission_create(phase=phase, team=bob_team, user=bob, public={"fid": 2.0})
    response = client_for(alice).get("/api/v1/competitions/wood/submissions/?phase=main")
    assert response.status_code == 200
    assert [row["id"] for row in body(response)] == [mine.pk]
    assert set(body(response)[0]) == DETAIL_KEYS


def test_the_list_costs_the_same_queries_for_one_or_many_submissions(client_for, phase, alice, alice_team):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries_for_list() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client_for(alice).get("/api/v1/competitions/wood/submissions/").status_code == 200
        return len(captured.captured_queries)

    scored_submission_create(phase=phase, team=alice_team, user=alice, public={"fid": 1.0}, private={"fid": 2.0})
    one = queries_for_list()
    for value in range(5):
        scored_submission_create(phase=phase, team=alice_team, user=alice, public={"fid": value}, private={"fid": 2.0})
    assert queries_for_list() == one


def test_another_teams_submission_is_not_found_not_forbidden(client_for, phase, alice, alice_team, bob, bob_team):
    theirs = scored_submission_create(phase=phase, team=bob_team, user=bob, public={"fid": 2.0})
    for client in (client_for(alice), client_for()):
        for url in (
            f"/api/v1/submissions/{theirs.pk}/",
            f"/api/v1/submissions/{theirs.pk}/outputs/",
            f"/api/v1/submissions/{theirs.pk}/outputs/content-000.png",
        ):
            response = client.get(url)
            assert response.status_code == 404, (url, response.content)
            assert body(response)["error"]["code"] == "not_found"
    assert (
        client_for(alice).post(f"/api/v1/submissions/{theirs.pk}/select-final/", {"selected": True}).status_code == 404
    )


def test_organizers_see_every_submission_and_anyone_sees_a_baseline(client_for, phase, organizer, alice, alice_team):
    theirs = scored_submission_create(phase=phase, team=alice_team, user=alice, public={"fid": 2.0})
    baseline = scored_submission_create(phase=phase, team=None, user=organizer, public={"fid": 3.0}, is_baseline=True)
    assert client_for(organizer).get(f"/api/v1/submissions/{theirs.pk}/").status_code == 200
    assert client_for().get(f"/api/v1/submissions/{baseline.pk}/").status_code == 200


def test_a_draft_competitions_baseline_is_hidden_from_anonymous_users(client_for, competition, phase, organizer):
    baseline = scored_submission_create(phase=phase, team=None, user=organizer, public={"fid": 3.0}, is_baseline=True)
    Competition.objects.filter(pk=competition.pk).update(visibility=Competition.Visibility.DRAFT)
    assert client_for().get(f"/api/v1/submissions/{baseline.pk}/").status_code == 404


def test_private_and_hidden_scores_appear_in_the_detail_only_when_allowed(
    client_for, phase, organizer, alice, alice_team
):
    PhaseMetric.objects.filter(phase=phase, metric="lpips").update(shown=False)
    submission = scored_submission_create(
        phase=phase,
        team=alice_team,
        user=alice,
        public={"fid": 1.5, "lpips": 0.25},
        private={"fid": 6.125, "lpips": 0.5},
        interval=(1.0, 2.0),
    )
    url = f"/api/v1/submissions/{submission.pk}/"

    def seen(user) -> set[tuple[str, str]]:
        response = client_for(user).get(url)
        return {(score["split"], score["metric"]) for score in body(response)["scores"]}

    # while the phase runs: the team sees public shown metrics only, and no private figure anywhere
    assert seen(alice) == {("public", "fid")}
    assert b"6.125" not in client_for(alice).get(url).content
    assert seen(organizer) == {("public", "fid"), ("public", "lpips"), ("private", "fid"), ("private", "lpips")}
    first = body(client_for(alice).get(url))["scores"][0]
    assert first == {
        "split": "public",
        "metric": "fid",
        "label": "FID",
        "decimals": 3,
        "is_ranking": True,
        "value": 1.5,
        "interval": [1.0, 2.0],
        "calibrated": False,
    }
    # the organizer's list follows the display order: ranking metric first, public before private
    order = [(score["split"], score["metric"]) for score in body(client_for(organizer).get(url))["scores"]]
    assert order == [("public", "fid"), ("private", "fid"), ("public", "lpips"), ("private", "lpips")]
    # after the end (reveal at end): private shown metrics too
    end_phase(phase)
    assert seen(alice) == {("public", "fid"), ("private", "fid")}


def test_a_failed_submission_shows_its_participant_safe_failure_only(client_for, phase, alice, alice_team):
    submission = scored_submission_create(phase=phase, team=alice_team, user=alice, public={})
    Submission.objects.filter(pk=submission.pk).update(
        state=Submission.State.FAILED,
        failure_code="bad_output",
        failure_message="The output has 1 channel; 3 are needed.",
        failure_detail="Traceback (most recent call last): secret worker path",
    )
    response = client_for(alice).get(f"/api/v1/submissions/{submission.pk}/")
    assert body(response)["failure"] == {"code": "bad_output", "message": "The output has 1 channel; 3 are needed."}
    assert b"secret worker path" not in response.content


# --- cancel, select final -------------------------------------------------------------------------


def test_cancel_through_the_api(client_for, phase, alice, alice_team):
    created = body(post_file(client_for(alice), safetensors_bytes()))
    response = client_for(alice).post(f"/api/v1/submissions/{created['id']}/cancel/")
    assert response.status_code == 200
    assert body(response)["state"] == "cancelled" and body(response)["queue_position"] is None


def test_select_final_through_the_api(client_for, phase, alice, alice_team):
    Phase.objects.filter(pk=phase.pk).update(final_selection_limit=2)
    submission = scored_submission_create(phase=phase, team=alice_team, user=alice, public={"fid": 1.0})
    url = f"/api/v1/submissions/{submission.pk}/select-final/"
    assert body(client_for(alice).post(url, {"selected": True}, format="json"))["is_final"] is True
    assert body(client_for(alice).post(url, {"selected": False}, format="json"))["is_final"] is False


# --- outputs --------------------------------------------------------------------------------------


def write_outputs(submission) -> dict[str, bytes]:
    written = {}
    for index, image in enumerate(preview_images(competition=submission.phase.competition)):
        data = b"\x89PNG\r\n\x1a\n" + bytes([index]) * 16
        private_storage().save(submission.preview_output_name(image.name), ContentFile(data))
        written[image.name.rsplit(".", 1)[0]] = data
    return written


def test_outputs_list_the_preview_images_and_serve_the_pngs_to_the_team(client_for, phase, alice, alice_team):
    submission = scored_submission_create(phase=phase, team=alice_team, user=alice, public={"fid": 1.0})
    url = f"/api/v1/submissions/{submission.pk}/outputs/"
    # before the worker wrote them: listed without an output URL
    before = body(client_for(alice).get(url))
    assert len(before) == 2 and all(row["output_url"] is None for row in before)
    assert all("/api/v1/competitions/wood/images/" in row["input_url"] for row in before)
    # the input URL serves the preview image itself (the competitions API)
    preview = client_for(alice).get(before[0]["input_url"])
    assert preview.status_code == 200 and preview["Content-Type"] == "image/png"
    written = write_outputs(submission)
    after = body(client_for(alice).get(url))
    assert {row["image"] for row in after} == set(written)
    for row in after:
        response = client_for(alice).get(row["output_url"])
        assert response.status_code == 200 and response["Content-Type"] == "image/png"
        assert b"".join(response.streaming_content) == written[row["image"]]


def test_outputs_on_hidden_images_are_never_served(client_for, phase, alice, alice_team):
    submission = scored_submission_create(phase=phase, team=alice_team, user=alice, public={"fid": 1.0})
    hidden = submission.phase.competition.image_sets.get(kind="content").images.filter(is_preview=False).first()
    private_storage().save(submission.preview_output_name(hidden.name), ContentFile(b"\x89PNG hidden"))
    stem = hidden.name.rsplit(".", 1)[0]
    response = client_for(alice).get(f"/api/v1/submissions/{submission.pk}/outputs/{stem}.png")
    assert response.status_code == 404 and body(response)["error"]["code"] == "not_found"


def test_anyone_sees_a_baselines_outputs_but_not_a_teams(client_for, phase, organizer, alice, alice_team):
    baseline = scored_submission_create(phase=phase, team=None, user=organizer, public={"fid": 3.0}, is_baseline=True)
    theirs = scored_submission_create(phase=phase, team=alice_team, user=alice, public={"fid": 2.0})
    stem = next(iter(write_outputs(baseline)))
    write_outputs(theirs)
    assert client_for().get(f"/api/v1/submissions/{baseline.pk}/outputs/{stem}.png").status_code == 200
    assert client_for().get(f"/api/v1/submissions/{theirs.pk}/outputs/{stem}.png").status_code == 404
    assert client_for(organizer).get(f"/api/v1/submissions/{theirs.pk}/outputs/{stem}.png").status_code == 200


def test_an_image_client_gets_the_png_and_errors_as_json(client_for, phase, alice, alice_team):
    submission = scored_submission_create(phase=phase, team=alice_team, user=alice, public={"fid": 1.0})
    stem = next(iter(write_outputs(submission)))
    client = client_for(alice)
    ok = client.get(f"/api/v1/submissions/{submission.pk}/outputs/{stem}.png", HTTP_ACCEPT="image/png")
    missing = client.get(f"/api/v1/submissions/{submission.pk}/outputs/nope.png", HTTP_ACCEPT="image/png")
    assert ok.status_code == 200
    assert missing.status_code == 404 and body(missing)["error"]["code"] == "not_found"


# --- quota, token, me, CSRF -------------------------------------------------------------------------


def test_the_quota_endpoint_reports_the_teams_counts(client_for, phase, alice, alice_team):
    Phase.objects.filter(pk=phase.pk).update(daily_quota=3, total_quota=10, max_running=2)
    post_file(client_for(alice), safetensors_bytes())
    quota = body(client_for(alice).get("/api/v1/competitions/wood/quota/?phase=main"))
    assert quota == {
        "phase": "main",
        "daily_quota": 3,
        "used_today": 1,
        "remaining_today": 2,
        "total_quota": 10,
        "used_total": 1,
        "remaining_total": 9,
        "resets_at": quota["resets_at"],
        "running": 1,
        "max_running": 2,
    }
    tomorrow = (timezone.now() + timedelta(days=1)).strftime("%Y-%m-%d")
    assert quota["resets_at"] == f"{tomorrow}T00:00:00Z"


def test_a_token_from_the_token_endpoint_authenticates_scripts(phase, alice):
    client = APIClient()
    response = client.post("/api/v1/auth/token/", {"username": "alice", "password": DEFAULT_PASSWORD}, format="json")
    assert response.status_code == 200
    token = body(response)["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert body(client.get("/api/v1/me/")) == {"username": "alice"}
    wrong = APIClient().post("/api/v1/auth/token/", {"username": "alice", "password": "wrong"}, format="json")
    assert wrong.status_code == 400 and body(wrong)["error"]["code"] == "validation_error"


def test_browser_sessions_need_the_csrf_token_to_post(phase, alice, alice_team):
    client = APIClient(enforce_csrf_checks=True)
    client.login(username="alice", password=DEFAULT_PASSWORD)
    refused = post_file(client, safetensors_bytes())
    assert refused.status_code == 403 and "CSRF" in body(refused)["error"]["message"]
    assert Submission.objects.count() == 0
    # with the CSRF cookie and header a browser page sends, the same post is accepted
    secret = _get_new_csrf_string()
    client.cookies["csrftoken"] = secret
    accepted = client.post(
        "/api/v1/competitions/wood/submissions/",
        {"file": SimpleUploadedFile("m.safetensors", safetensors_bytes())},
        format="multipart",
        HTTP_X_CSRFTOKEN=secret,
    )
    assert accepted.status_code == 201, accepted.content


def test_the_submission_list_filters_by_state_and_orders_by_the_ranking_score(client_for, phase, alice, alice_team):
    # given three scored submissions (fid: lower is better) and a failed one
    worst = scored_submission_create(phase=phase, team=alice_team, user=alice, public={"fid": 9.0}, interval=(8, 10))
    best = scored_submission_create(
        phase=phase, team=alice_team, user=alice, public={"fid": 1.0}, private={"fid": 99.0}
    )
    middle = scored_submission_create(phase=phase, team=alice_team, user=alice, public={"fid": 5.0})
    failed = scored_submission_create(phase=phase, team=alice_team, user=alice, public={})
    Submission.objects.filter(pk=failed.pk).update(state=Submission.State.FAILED)
    url = f"/api/v1/competitions/{phase.competition.slug}/submissions/"
    client = client_for(alice)

    # when listing the best first: by the public ranking score, unscored last
    listed = body(client.get(url, {"phase": phase.slug, "order": "best"}))
    assert [item["id"] for item in listed] == [best.pk, middle.pk, worst.pk, failed.pk]
    # the private score (99) neither orders nor shows while the phase runs
    assert all(score["split"] == "public" for item in listed for score in item["scores"])
    # when filtering by state
    scored = client.get(url, {"phase": phase.slug, "state": "scored", "order": "oldest"})
    assert [item["id"] for item in body(scored)] == [worst.pk, best.pk, middle.pk]
    assert scored["X-Total-Count"] == "3"
    assert [item["id"] for item in body(client.get(url, {"state": "failed"}))] == [failed.pk]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"state": "winning"}, "state: 'winning' is not a state; use one of queued"),
        ({"order": "random"}, "order: 'random' is not an order; use one of newest, oldest, best."),
    ],
)
def test_the_submission_list_refuses_an_unknown_state_or_order(client_for, phase, alice, alice_team, query, message):
    response = client_for(alice).get(f"/api/v1/competitions/{phase.competition.slug}/submissions/", query)
    assert response.status_code == 400
    error = body(response)["error"]
    assert error["code"] == "validation_error" and error["message"].startswith(message)
