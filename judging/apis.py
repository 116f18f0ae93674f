"""REST API of human judging (under ``/api/v1/``): get a pair, vote, the pair's images, the votes' export.

A pair is known to the voter by a random token only: its image URLs carry the token and a side
(``content``, ``left``, ``right``), never a submission id, and answer only the voter it was served
to. Hosts with their own rater pool use the same two calls (``GET`` a pair, ``POST`` a vote) with
their raters' API tokens.
"""

from __future__ import annotations

from typing import Any

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from competitions.selectors import is_organizer
from competitions.shortcuts import competition_or_not_found
from gan_platform.errors import ApplicationError
from gan_platform.openapi import error_responses
from gan_platform.storages import private_storage
from judging import services
from judging.selectors import vote_rows
from submissions.apis import PngRenderer, _ErrorsAsJsonMixin
from submissions.selectors import phase_resolve

SIDES = ("content", "left", "right")


def pair_urls(request: Request, token: str) -> dict[str, str]:
    return {f"{side}_url": request.build_absolute_uri(f"/api/v1/judging/pairs/{token}/{side}.png") for side in SIDES}


class PairGetApi(APIView):
    """A pair to vote on: one public preview image and two anonymised outputs on it, in random order."""

    permission_classes = [AllowAny]

    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField(help_text="Names this pair when voting; it reveals nothing else.")
        phase = serializers.CharField()
        content_url = serializers.CharField()
        left_url = serializers.CharField()
        right_url = serializers.CharField()
        expires_at = serializers.DateTimeField()

    @extend_schema(
        operation_id="judging_pair_get",
        parameters=[OpenApiParameter("phase", str, description="Phase slug; default: the open phase.")],
        responses={200: OutputSerializer, **error_responses(401, 403, 404, 429)},
    )
    def get(self, request: Request, slug: str) -> Response:
        competition = competition_or_not_found(slug=slug, user=request.user)
        phase = phase_resolve(competition=competition, slug=request.query_params.get("phase"))
        assignment = services.assignment_create(phase=phase, user=request.user)
        data = {"token": assignment.token, "phase": phase.slug, "expires_at": assignment.expires_at}
        data.update(pair_urls(request, assignment.token))
        return Response(self.OutputSerializer(data).data)


class VoteCreateApi(APIView):
    """Vote on a pair: ``left``, ``right`` or ``equal`` (equally good)."""

    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        token = serializers.CharField(max_length=64)
        choice = serializers.ChoiceField(choices=services.CHOICES)

    class OutputSerializer(serializers.Serializer):
        recorded = serializers.BooleanField()

    @extend_schema(
        operation_id="judging_vote_create",
        request=InputSerializer,
        responses={201: OutputSerializer, **error_responses(400, 401, 403, 404, 409, 429)},
    )
    def post(self, request: Request, slug: str) -> Response:
        competition_or_not_found(slug=slug, user=request.user)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if not getattr(request.user, "is_authenticated", False):
            raise ApplicationError("Log in to vote.", code="not_authenticated", status=401)
        assignment = services.assignment_for_voter(token=serializer.validated_data["token"], user=request.user)
        if assignment.phase.competition.slug != slug:
            raise ApplicationError("This pair belongs to another competition.", code="not_found", status=404)
        services.vote_create(user=request.user, **serializer.validated_data)
        return Response(self.OutputSerializer({"recorded": True}).data, status=201)


class PairImageGetApi(_ErrorsAsJsonMixin, APIView):
    """One image of a pair served to the requester: the preview input, or the left or right output."""

    permission_classes = [AllowAny]
    renderer_classes = [PngRenderer]

    @extend_schema(
        operation_id="judging_pair_image_get",
        responses={(200, "image/png"): OpenApiTypes.BINARY, **error_responses(404)},
    )
    def get(self, request: Request, token: str, side: str) -> Any:
        if side not in SIDES:
            raise ApplicationError(f"side: use one of {', '.join(SIDES)}.", code="not_found", status=404)
        assignment = services.assignment_for_voter(token=token, user=request.user, unexpired=False)
        if side == "content":
            handle = private_storage().open(assignment.image.file.name, "rb")
        else:
            submission = assignment.left if side == "left" else assignment.right
            handle = private_storage().open(submission.preview_output_name(assignment.image.name), "rb")
        response = FileResponse(handle, content_type="image/png")
        response["Cache-Control"] = "private, max-age=3600"
        return response


class VoteListApi(APIView):
    """Every vote of a phase, for its organizers' analysis: the voter pseudonymised (a keyed hash),
    the pair, the preview image, the choice, the side shown left, gold or not, the time."""

    permission_classes = [AllowAny]

    class OutputSerializer(serializers.Serializer):
        voter = serializers.CharField(help_text="HMAC-SHA-256 of the voter's id, keyed by the site's secret.")
        phase = serializers.CharField()
        submission_a = serializers.IntegerField(help_text="The pair's lower submission id.")
        submission_b = serializers.IntegerField()
        image = serializers.CharField(help_text="The public preview image's name.")
        choice = serializers.ChoiceField(choices=["a", "b", "tie"])
        shown_left = serializers.ChoiceField(choices=["a", "b"])
        gold = serializers.BooleanField()
        created_at = serializers.CharField()

    @extend_schema(
        operation_id="judging_vote_list",
        parameters=[OpenApiParameter("phase", str, description="Phase slug; default: the open phase.")],
        responses={200: OutputSerializer(many=True), **error_responses(404)},
    )
    def get(self, request: Request, slug: str) -> Response:
        competition = competition_or_not_found(slug=slug, user=request.user)
        if not is_organizer(competition=competition, user=request.user):
            raise ApplicationError(
                "Only the competition's organizers may export its votes.", code="not_found", status=404
            )
        phase = phase_resolve(competition=competition, slug=request.query_params.get("phase"))
        return Response(self.OutputSerializer(list(vote_rows(phase=phase)), many=True).data)
