"""REST API of the competitions app (under ``/api/v1/``): list, detail, join, teams, public images.

One class per operation with nested input/output serializers; rules live in
``competitions.services`` and ``competitions.selectors``. A competition the requester may not
see answers 404 (``not_found``). Errors have the one shape of ``gan_platform.errors``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import FileResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_serializer, extend_schema_view
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from competitions import selectors, services
from competitions.models import Competition, Participation, Phase, PhaseMetric, Team
from competitions.shortcuts import competition_or_not_found
from gan_core.metrics.registry import METRICS as METRIC_REGISTRY
from gan_platform.errors import ApplicationError, found_or_not_found
from gan_platform.openapi import error_responses
from gan_platform.storages import private_storage


class PhaseSummarySerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()


class MetricSerializer(serializers.Serializer):
    metric = serializers.CharField()
    label = serializers.CharField(source="get_metric_display")
    direction = serializers.CharField()
    is_ranking = serializers.BooleanField()
    decimals = serializers.IntegerField()
    shown = serializers.BooleanField()


class PhaseSerializer(PhaseSummarySerializer):
    daily_quota = serializers.IntegerField()
    total_quota = serializers.IntegerField(allow_null=True)
    max_running = serializers.IntegerField()
    upload_size_limit = serializers.IntegerField(help_text="Bytes.")
    execution_time_limit = serializers.IntegerField(help_text="Seconds.")
    final_selection_limit = serializers.IntegerField()
    is_open = serializers.BooleanField()
    private_revealed = serializers.BooleanField()
    metrics = MetricSerializer(many=True)


# What the API shows of a competition and of a phase: the settings an organizer edits
# (services.COMPETITION_FIELDS, services.PHASE_FIELDS), with the slug first, and these differences:
# a competition's feature_weights is shown only as `calibrated` (true with pretrained networks); a phase's
# order is the list's order and reveal_private_at_end is shown as its outcome, `private_revealed`.
SHOWN_INSTEAD = {"feature_weights": "calibrated", "order": None, "reveal_private_at_end": None}
"""Editable field -> the field the API shows for it (None: not shown)."""


def _shown(editable: tuple[str, ...]) -> tuple[str, ...]:
    shown = (SHOWN_INSTEAD.get(name, name) for name in editable)
    return ("slug", *(name for name in shown if name))


COMPETITION_FIELDS = _shown(services.COMPETITION_FIELDS)
PHASE_FIELDS = _shown(services.PHASE_FIELDS)


class TeamSerializer(serializers.Serializer):
    name = serializers.CharField()
    members = serializers.ListField(child=serializers.CharField())
    join_code = serializers.CharField(help_text="Share it with whom you invite; only members see it.")
    max_size = serializers.IntegerField()


def _team_data(team: Team, competition: Competition) -> dict[str, Any]:
    return {
        "name": team.name,
        "members": selectors.team_members(team_id=team.pk),
        "join_code": team.join_code,
        "max_size": competition.max_team_size,
    }


class ParticipationSerializer(serializers.Serializer):
    competition = serializers.CharField()
    team = TeamSerializer()
    accepted_rules_at = serializers.DateTimeField()
    joined_at = serializers.DateTimeField()


def _participation_data(participation: Participation) -> dict[str, Any]:
    competition = participation.competition
    return {
        "competition": competition.slug,
        "team": _team_data(participation.team, competition),
        "accepted_rules_at": participation.accepted_rules_at,
        "joined_at": participation.joined_at,
    }


class MetricListApi(APIView):
    """Every metric a phase can use (``gan_core.metrics.registry``): its stored name, label, which
    way is better, default decimals, what it needs and what it measures."""

    permission_classes = [AllowAny]

    @extend_schema_serializer(component_name="MetricDefinition")
    class OutputSerializer(serializers.Serializer):
        metric = serializers.CharField(help_text="The name phases, scores and leaderboards use.")
        label = serializers.CharField()
        direction = serializers.ChoiceField(choices=["lower", "higher"], help_text="Which way is better.")
        decimals = serializers.IntegerField(help_text="Decimals shown unless the phase sets others.")
        description = serializers.CharField()
        networks = serializers.ListField(child=serializers.CharField(), help_text="Feature networks it needs.")
        style = serializers.BooleanField(help_text="Compared with the style set.")
        paired = serializers.BooleanField(help_text="Each output compared with its content input.")
        measured_by_run = serializers.BooleanField(help_text="An efficiency figure of the run, not an image metric.")

    @extend_schema(operation_id="metric_list", responses={200: OutputSerializer(many=True)})
    def get(self, request: Request) -> Response:
        rows = [
            {
                "metric": stored,
                "label": metric.label,
                "direction": metric.direction,
                "decimals": metric.decimals,
                "description": metric.description,
                "networks": sorted(metric.networks),
                "style": metric.style,
                "paired": metric.paired,
                "measured_by_run": metric.source == "run",
            }
            for stored, metric in METRIC_REGISTRY.items()
        ]
        return Response(self.OutputSerializer(rows, many=True).data)


class CompetitionListApi(APIView):
    """Competitions the requester may see listed (public ones, their drafts as organizers, unlisted ones joined)."""

    permission_classes = [AllowAny]

    @extend_schema_serializer(component_name="CompetitionSummary")
    class OutputSerializer(serializers.Serializer):
        slug = serializers.CharField()
        title = serializers.CharField()
        summary = serializers.CharField()
        visibility = serializers.CharField()
        calibrated = serializers.BooleanField()
        current_phase = PhaseSummarySerializer(allow_null=True)
        joined = serializers.BooleanField()

    @extend_schema(operation_id="competition_list", responses={200: OutputSerializer(many=True)})
    def get(self, request: Request) -> Response:
        joined = selectors.joined_competition_ids(user=request.user)
        rows = [
            {
                "slug": competition.slug,
                "title": competition.title,
                "summary": competition.summary,
                "visibility": competition.visibility,
                "calibrated": competition.calibrated,
                "current_phase": selectors.phase_current_in(list(competition.phases.all())),
                "joined": competition.pk in joined,
            }
            for competition in selectors.competition_list(user=request.user)
        ]
        return Response(self.OutputSerializer(rows, many=True).data)


class CompetitionDetailApi(APIView):
    """One competition: settings, phases with their (shown) metrics, rules, the requester's team."""

    permission_classes = [AllowAny]

    @extend_schema_serializer(component_name="CompetitionDetail")
    class OutputSerializer(serializers.Serializer):
        slug = serializers.CharField()
        title = serializers.CharField()
        summary = serializers.CharField()
        description = serializers.CharField(help_text="Markdown.")
        rules = serializers.CharField(help_text="Markdown; accept them to join.")
        visibility = serializers.CharField()
        preprocessing_mode = serializers.CharField()
        input_value_range = serializers.CharField()
        image_size = serializers.IntegerField()
        size_multiple = serializers.IntegerField()
        accepted_formats = serializers.ListField(child=serializers.CharField())
        accepted_architectures = serializers.ListField(child=serializers.CharField())
        max_team_size = serializers.IntegerField()
        calibrated = serializers.BooleanField(help_text="False: scores use random-initialised feature networks.")
        current_phase = PhaseSummarySerializer(allow_null=True)
        phases = PhaseSerializer(many=True)
        joined = serializers.BooleanField()
        team = TeamSerializer(allow_null=True)
        is_organizer = serializers.BooleanField()

    @extend_schema(operation_id="competition_get", responses={200: OutputSerializer, **error_responses(404)})
    def get(self, request: Request, slug: str) -> Response:
        competition = competition_or_not_found(slug=slug, user=request.user)
        organizer = selectors.is_organizer(competition=competition, user=request.user)
        participation = selectors.participation_get(competition=competition, user=request.user)
        phases = list(competition.phases.all())
        data = {
            **{field: getattr(competition, field) for field in COMPETITION_FIELDS},
            "current_phase": selectors.phase_current_in(phases),
            "phases": [self._phase(phase, organizer=organizer) for phase in phases],
            "joined": participation is not None,
            "team": _team_data(participation.team, competition) if participation else None,
            "is_organizer": organizer,
        }
        return Response(self.OutputSerializer(data).data)

    @staticmethod
    def _phase(phase: Phase, *, organizer: bool) -> dict[str, Any]:
        metrics: list[PhaseMetric] = [metric for metric in phase.metrics.all() if organizer or metric.shown]
        return {
            **{field: getattr(phase, field) for field in PHASE_FIELDS},
            "is_open": phase.is_open(),
            "private_revealed": phase.private_is_revealed(),
            "metrics": metrics,
        }


class CompetitionJoinApi(APIView):
    """Join a competition with its rules accepted; creates the requester's team of one."""

    permission_classes = [IsAuthenticated]

    class InputSerializer(serializers.Serializer):
        accept_rules = serializers.BooleanField(required=False, default=False)

    @extend_schema(
        operation_id="competition_join",
        request=InputSerializer,
        responses={200: ParticipationSerializer, 201: ParticipationSerializer, **error_responses(400, 401, 404)},
    )
    def post(self, request: Request, slug: str) -> Response:
        competition = competition_or_not_found(slug=slug, user=request.user)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        existed = selectors.participation_get(competition=competition, user=request.user) is not None
        participation = services.participation_join(
            competition=competition, user=request.user, accept_rules=serializer.validated_data["accept_rules"]
        )
        return Response(
            ParticipationSerializer(_participation_data(participation)).data,
            status=status.HTTP_200_OK if existed else status.HTTP_201_CREATED,
        )


class TeamGetApi(APIView):
    """The requester's team in a competition."""

    permission_classes = [IsAuthenticated]

    @extend_schema(operation_id="team_get", responses={200: TeamSerializer, **error_responses(401, 403, 404)})
    def get(self, request: Request, slug: str) -> Response:
        competition = competition_or_not_found(slug=slug, user=request.user)
        participation = selectors.participation_get(competition=competition, user=request.user)
        if participation is None:
            raise ApplicationError(f"Join {competition.slug} first (accept its rules).", code="not_joined", status=403)
        return Response(TeamSerializer(_team_data(participation.team, competition)).data)


class _TeamChangeApi(APIView):
    """One course for the team changes: the competition, the validated input (``InputSerializer``, if
    any), the service ``change`` with it, and the team the requester is in afterwards.

    A subclass names its ``operation_id``, its service and the status of a success; its schema
    (request, responses) follows from them.
    """

    permission_classes = [IsAuthenticated]
    InputSerializer: type[serializers.Serializer] | None = None
    operation_id: str
    change: Callable[..., Team]
    success_status = status.HTTP_200_OK

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        extend_schema_view(
            post=extend_schema(
                operation_id=cls.operation_id,
                request=cls.InputSerializer,
                responses={cls.success_status: TeamSerializer, **error_responses(400, 401, 403, 404)},
            )
        )(cls)

    def post(self, request: Request, slug: str) -> Response:
        # (No docstring: the schema describes each operation by its class's.)
        competition = competition_or_not_found(slug=slug, user=request.user)
        fields: dict[str, Any] = {}
        if self.InputSerializer is not None:
            serializer = self.InputSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            fields = serializer.validated_data
        team = self.change(competition=competition, user=request.user, **fields)
        return Response(TeamSerializer(_team_data(team, competition)).data, status=self.success_status)


class TeamCreateApi(_TeamChangeApi):
    """Create a team and move into it (only while the current team has no submission in an unfinished phase)."""

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=120)

    operation_id = "team_create"
    change = staticmethod(services.team_create)
    success_status = status.HTTP_201_CREATED


class TeamJoinApi(_TeamChangeApi):
    """Join a team by the invitation code its members share, if it has room."""

    class InputSerializer(serializers.Serializer):
        code = serializers.CharField(max_length=32)

    operation_id = "team_join"
    change = staticmethod(services.team_join)


class TeamLeaveApi(_TeamChangeApi):
    """Leave the current team for a new team of one."""

    operation_id = "team_leave"
    change = staticmethod(services.team_leave)


class PublicImageListApi(APIView):
    """The images anyone who sees the competition may see: the style set and the preview content images."""

    permission_classes = [AllowAny]

    @extend_schema_serializer(component_name="PublicImage")
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        kind = serializers.CharField(help_text="style or content (content: public previews only).")
        name = serializers.CharField()
        width = serializers.IntegerField()
        height = serializers.IntegerField()
        url = serializers.CharField()

    @extend_schema(
        operation_id="competition_image_list", responses={200: OutputSerializer(many=True), **error_responses(404)}
    )
    def get(self, request: Request, slug: str) -> Response:
        competition = competition_or_not_found(slug=slug, user=request.user)
        rows = [
            {
                "id": image.pk,
                "kind": image.image_set.kind,
                "name": image.name,
                "width": image.width,
                "height": image.height,
                "url": request.build_absolute_uri(
                    reverse("competitions_api:image", kwargs={"slug": competition.slug, "image_id": image.pk})
                ),
            }
            for image in selectors.public_images(competition=competition)
        ]
        return Response(self.OutputSerializer(rows, many=True).data)


class PublicImageGetApi(APIView):
    """One style image or preview content image as PNG; hidden content images answer 404."""

    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="competition_image_get",
        responses={(200, "image/png"): OpenApiTypes.BINARY, **error_responses(404)},
    )
    def get(self, request: Request, slug: str, image_id: int) -> Any:
        competition = competition_or_not_found(slug=slug, user=request.user)
        image = found_or_not_found(
            selectors.public_image_get(competition=competition, image_id=image_id),
            f"No public image {image_id} in {competition.slug}.",
        )
        response = FileResponse(private_storage().open(image.file.name, "rb"), content_type="image/png")
        response["Cache-Control"] = "private, max-age=3600"
        response["X-Content-Type-Options"] = "nosniff"
        return response
