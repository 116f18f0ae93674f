"""One error shape for the whole API: ``{"error": {"code", "message", "fields"}}``, for every code."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from competitions.models import Phase
from gan_platform.errors import ApplicationError, found_or_not_found, refused_as_page_not_found
from submissions.models import Submission
from tests.factories import user_create
from tests.submissions.helpers import pickle_bytes, safetensors_bytes, scored_submission_create


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = json.loads(response.content)
    assert list(body) == ["error"]
    error = body["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"].strip()
    assert isinstance(error["fields"], dict)
    return error


def raising_view(exc: Exception):
    class RaisingApi(APIView):
        authentication_classes = [TokenAuthentication]
        permission_classes = [AllowAny]

        def get(self, request):
            raise exc

    return RaisingApi.as_view()


def call(exc: Exception):
    response = raising_view(exc)(APIRequestFactory().get("/"))
    response.render()
    return response


# --- the handler, one exception type at a time -------------------------------------------------


def test_an_application_error_keeps_its_code_status_and_extra():
    response = call(
        ApplicationError("You must accept the rules.", code="rules_not_accepted", status=403, extra={"x": 1})
    )
    error = assert_error(response, 403, "rules_not_accepted")
    assert error["x"] == 1 and error["message"] == "You must accept the rules."


def test_an_application_error_with_fields_puts_them_under_fields():
    response = call(ApplicationError("bad split", code="validation_error", extra={"fields": {"split": ["no"]}}))
    assert assert_error(response, 400, "validation_error")["fields"] == {"split": ["no"]}


def test_drf_validation_errors_become_validation_error_with_fields():
    response = call(exceptions.ValidationError({"selected": ["This field is required."]}))
    error = assert_error(response, 400, "validation_error")
    assert error["fields"] == {"selected": ["This field is required."]}
    assert "selected: This field is required." in error["message"]


def test_django_validation_errors_become_validation_error_with_fields():
    response = call(DjangoValidationError({"name": ["Too long."], "__all__": ["Clash."]}))
    error = assert_error(response, 400, "validation_error")
    assert error["fields"] == {"name": ["Too long."], "non_field_errors": ["Clash."]}


def test_not_authenticated_is_401_with_the_token_challenge_and_how_to_log_in():
    response = call(exceptions.NotAuthenticated())
    error = assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Token"
    assert "/api/v1/auth/token/" in error["message"]


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (exceptions.PermissionDenied(), 403, "permission_denied"),
        (DjangoPermissionDenied(), 403, "permission_denied"),
        (exceptions.NotFound(), 404, "not_found"),
        (Http404(), 404, "not_found"),
        (exceptions.NotFound("No submission 3."), 404, "not_found"),
        (exceptions.MethodNotAllowed("PUT"), 405, "method_not_allowed"),
    ],
    ids=["drf-permission", "django-permission", "drf-not-found", "django-404", "drf-not-found-detail", "method"],
)
def test_drf_and_django_errors_map_onto_the_shape(exc, status, code):
    assert_error(call(exc), status, code)


def test_throttled_says_when_to_retry():
    response = call(exceptions.Throttled(wait=7))
    error = assert_error(response, 429, "throttled")
    assert response["Retry-After"] == "7" and error["wait"] == 7


def test_an_unknown_exception_is_not_disguised_as_a_client_error():
    with pytest.raises(ZeroDivisionError):
        raising_view(ZeroDivisionError("bug"))(APIRequestFactory().get("/"))


def test_a_successful_response_is_untouched():
    class OkApi(APIView):
        permission_classes = [AllowAny]

        def get(self, request):
            return Response({"ok": True})

    response = OkApi.as_view()(APIRequestFactory().get("/"))
    assert response.status_code == 200 and response.data == {"ok": True}


# --- every code a client acts on, through the real endpoints -------------------------------------


def post_file(client, content: bytes, **fields):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.post(
        "/api/v1/competitions/wood/submissions/",
        {"file": SimpleUploadedFile("model.bin", content), **fields},
        format="multipart",
    )


@pytest.mark.django_db
def test_codes_of_the_submission_endpoints(client_for, competition, phase, organizer, alice, alice_team, bob):
    alice_client = client_for(alice)
    # not_authenticated
    assert_error(client_for().get("/api/v1/competitions/wood/quota/"), 401, "not_authenticated")
    # not_joined
    assert_error(client_for(bob).get("/api/v1/competitions/wood/quota/"), 403, "not_joined")
    assert_error(post_file(client_for(bob), safetensors_bytes()), 403, "not_joined")
    # not_found: an unknown competition, phase, submission
    assert_error(alice_client.get("/api/v1/competitions/nope/quota/"), 404, "not_found")
    assert_error(alice_client.get("/api/v1/competitions/wood/quota/?phase=nope"), 404, "not_found")
    assert_error(alice_client.get("/api/v1/submissions/999999/"), 404, "not_found")
    # permission_denied: a participant's baseline
    assert_error(post_file(alice_client, safetensors_bytes(), is_baseline="true"), 403, "permission_denied")
    # unsupported_format, empty_file
    assert_error(post_file(alice_client, pickle_bytes()), 400, "unsupported_format")
    assert_error(post_file(alice_client, b""), 400, "empty_file")
    # validation_error: no file
    error = assert_error(
        alice_client.post("/api/v1/competitions/wood/submissions/", {"description": "x"}, format="multipart"),
        400,
        "validation_error",
    )
    assert "file" in error["fields"]


@pytest.mark.django_db
def test_codes_of_quota_and_running(client_for, phase, alice, alice_team):
    alice_client = client_for(alice)
    Phase.objects.filter(pk=phase.pk).update(daily_quota=1, max_running=5)
    assert post_file(alice_client, safetensors_bytes()).status_code == 201
    error = assert_error(post_file(alice_client, safetensors_bytes()), 429, "quota_exceeded")
    assert "resets at 00:00 UTC" in error["message"] and error["resets_at"].endswith("T00:00:00Z")
    Phase.objects.filter(pk=phase.pk).update(daily_quota=10, max_running=1)
    assert_error(post_file(alice_client, safetensors_bytes()), 429, "too_many_running")


@pytest.mark.django_db
def test_code_phase_closed(client_for, phase, alice, alice_team):
    now = timezone.now()
    Phase.objects.filter(pk=phase.pk).update(starts_at=now - timedelta(days=2), ends_at=now - timedelta(hours=1))
    assert_error(post_file(client_for(alice), safetensors_bytes()), 403, "phase_closed")
    assert_error(post_file(client_for(alice), safetensors_bytes(), phase="main"), 403, "phase_closed")


@pytest.mark.django_db
def test_codes_of_cancel_and_final_selection(client_for, phase, alice, alice_team):
    alice_client = client_for(alice)
    Phase.objects.filter(pk=phase.pk).update(final_selection_limit=1)
    first = scored_submission_create(phase=phase, team=alice_team, user=alice, public={"fid": 1.0})
    second = scored_submission_create(phase=phase, team=alice_team, user=alice, public={"fid": 2.0})
    assert_error(alice_client.post(f"/api/v1/submissions/{first.pk}/cancel/"), 409, "not_cancellable")
    assert_error(
        alice_client.post(f"/api/v1/submissions/{first.pk}/select-final/", {}, format="json"), 400, "validation_error"
    )
    assert alice_client.post(f"/api/v1/submissions/{first.pk}/select-final/", {"selected": True}).status_code == 200
    assert_error(
        alice_client.post(f"/api/v1/submissions/{second.pk}/select-final/", {"selected": True}),
        409,
        "final_selection_limit",
    )


@pytest.mark.django_db
def test_code_private_leaderboard_hidden_names_no_figure(client_for, phase, alice, alice_team):
    scored_submission_create(phase=phase, team=alice_team, user=alice, public={"fid": 1.5}, private={"fid": 7.125})
    for client in (client_for(alice), client_for()):
        for url in (
            "/api/v1/competitions/wood/leaderboard/?split=private",
            "/api/v1/competitions/wood/leaderboard.csv?split=private",
        ):
            response = client.get(url)
            assert_error(response, 403, "private_leaderboard_hidden")
            assert b"7.125" not in response.content


@pytest.mark.django_db
def test_code_not_authenticated_for_a_bad_token(phase):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert_error(client.get("/api/v1/me/"), 401, "not_authenticated")


@pytest.mark.django_db
def test_an_unknown_user_cannot_cancel_a_submission_it_cannot_see(client_for, phase, alice, alice_team):
    submission = scored_submission_create(phase=phase, team=alice_team, user=alice, public={"fid": 1.0})
    Submission.objects.filter(pk=submission.pk).update(state=Submission.State.QUEUED)
    stranger = user_create("mallory")
    assert_error(client_for(stranger).post(f"/api/v1/submissions/{submission.pk}/cancel/"), 404, "not_found")
    submission.refresh_from_db()
    assert submission.state == Submission.State.QUEUED


@pytest.mark.django_db
def test_code_rules_not_accepted_when_joining_without_accepting(client_for, competition, bob):
    response = client_for(bob).post("/api/v1/competitions/wood/join/", {"accept_rules": False}, format="json")
    assert_error(response, 400, "rules_not_accepted")


def test_a_lookup_that_found_nothing_answers_not_found_with_its_message():
    # given a lookup that found something, and one that found nothing
    found = found_or_not_found(0, "No zero.")

    # when the second is answered
    with pytest.raises(ApplicationError) as raised:
        found_or_not_found(None, "No submission 7 that you may see.")

    # then the found value passes through (even a falsy one) and nothing found is the API's 404
    assert found == 0
    error = assert_error(call(raised.value), 404, "not_found")
    assert error["message"] == "No submission 7 that you may see."


def test_a_page_answers_a_refused_lookup_with_a_404_that_keeps_the_message():
    # given a page's lookup that a service refuses, and one that succeeds
    def refused_lookup():
        raise ApplicationError("No phase 'final' in woodcuts; its phases are: dev.", code="not_found", status=404)

    # when each runs inside the pages' refusal
    with pytest.raises(Http404) as raised:
        with refused_as_page_not_found():
            refused_lookup()
    with refused_as_page_not_found():
        found = "dev"

    # then the refusal is Django's 404 with the service's own message, chained to it; success passes
    assert str(raised.value) == "No phase 'final' in woodcuts; its phases are: dev."
    assert isinstance(raised.value.__cause__, ApplicationError)
    assert found == "dev"


def test_a_page_lets_every_other_error_through():
    # given an error that is not an application's refusal (a bug, say)
    # when it is raised inside the pages' refusal
    # then it is not turned into a 404 that would hide it
    with pytest.raises(KeyError):
        with refused_as_page_not_found():
            raise KeyError("phase")
