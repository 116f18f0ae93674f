"""REST API of the submissions app (under ``/api/v1/``): quota, submissions (the
preview outputs: ``submissions.output_apis``; the leaderboards: ``submissions.leaderboard_apis``).

(Just over 500 lines: one class per operation with its serializers; the outputs, the leaderboards and
the upload sessions already live in modules of their own.)

One class per operation, each with its nested input and output serializers;
rules live in ``submissions.services`` (writes) and ``submissions.selectors``
(reads). A submission the requester may not see answers 404 (``not_found``),
never 403, so that its existence does not leak. Errors have the one shape of
``gan_platform.errors``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.http import HttpRequest
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_serializer,
)
from rest_framework import serializers
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from competitions.models import Phase
from competitions.selectors import is_organizer, phase_current
from competitions.shortcuts import competition_or_not_found
from gan_platform.errors import ApplicationError, found_or_not_found
from gan_platform.openapi import error_responses
from submissions import leaderboards, selectors, services
from submissions.models import Score, Submission
from submissions.uploads import LimitedTemporaryFileUploadHandler, config_check

PHASE_PARAMETER = OpenApiParameter(
    "phase", OpenApiTypes.STR, required=False, description="Phase slug; default: the open phase, else the latest."
)
STATE_PARAMETER = OpenApiParameter(
    "state", OpenApiTypes.STR, required=False, enum=list(Submission.State.values), description="Only this state."
)
ORDER_PARAMETER = OpenApiParameter(
    "order",
    OpenApiTypes.STR,
    required=False,
    enum=list(selectors.SUBMISSION_ORDERS),
    description="newest (default), oldest, or best: the ranking metric on the public split (needs `phase`).",
)
SPLIT_PARAMETER = OpenApiParameter(
    "split", OpenApiTypes.STR, required=False, enum=["public", "private"], description="Default: public."
)


PAGE_PARAMETERS = [
    OpenApiParameter("page", OpenApiTypes.INT, required=False, description="From 1; default 1."),
    OpenApiParameter(
        "page_size",
        OpenApiTypes.INT,
        required=False,
        description=f"Rows per page, 1 to {leaderboards.PAGE_SIZE_MAX}; default {leaderboards.PAGE_SIZE_DEFAULT}.",
    ),
]


def _submission_or_404(*, submission_id: int, user: Any) -> Submission:
    return found_or_not_found(
        selectors.submission_get(submission_id=submission_id, user=user),
        f"No submission {submission_id} that you may see.",
    )


# --- Output shapes --------------------------------------------------------------------------


class ProgressSerializer(serializers.Serializer):
    done = serializers.IntegerField()
    total = serializers.IntegerField()


class FailureSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class ScoreSerializer(serializers.Serializer):
    split = serializers.ChoiceField(choices=Score.Split.choices)
    metric = serializers.CharField()
    label = serializers.CharField(help_text="The metric's display name (the phase's, else the registry's).")
    decimals = serializers.IntegerField(help_text="Decimals the pages show it with.")
    is_ranking = serializers.BooleanField(help_text="Whether the phase ranks by this metric.")
    value = serializers.FloatField(allow_null=True)
    interval = serializers.ListField(child=serializers.FloatField(), allow_null=True, min_length=2, max_length=2)
    calibrated = serializers.BooleanField()


class SubmissionDetailSerializer(serializers.Serializer):
    """The submission as its team, its organizers (or anyone, for a baseline) see it."""

    id = serializers.IntegerField()
    competition = serializers.CharField(help_text="Competition slug.")
    phase = serializers.CharField(help_text="Phase slug.")
    team = serializers.CharField(allow_null=True)
    state = serializers.ChoiceField(choices=Submission.State.choices)
    stage = serializers.CharField(allow_null=True, help_text="The running stage, or null when not running.")
    progress = ProgressSerializer()
    queue_position = serializers.IntegerField(allow_null=True, help_text="1: next; null when not queued.")
    failure = FailureSerializer(allow_null=True)
    scores = ScoreSerializer(many=True)
    is_final = serializers.BooleanField()
    is_baseline = serializers.BooleanField()
    counts_against_quota = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    description = serializers.CharField(allow_blank=True)
    format = serializers.ChoiceField(choices=Submission.Format.choices)
    size = serializers.IntegerField()
    sha256 = serializers.CharField()


def submission_detail_data(
    *,
    submission: Submission,
    user: Any,
    queue_positions: Mapping[int, int] | None = None,
    organizer: bool | None = None,
) -> dict[str, Any]:
    """The contract's submission detail, with only the scores ``user`` may see (``organizer``:
    whether ``user`` organises the competition, when the caller knows it already). The queue
    position comes from ``queue_positions`` (a list's positions, one query for all) or is looked up."""
    return SubmissionDetailSerializer(
        _submission_fields(submission=submission, user=user, queue_positions=queue_positions, organizer=organizer)
    ).data


def submission_list_data(*, submissions: list[Submission], user: Any, organizer: bool) -> list[dict[str, Any]]:
    """:func:`submission_detail_data` of each of ``submissions`` (queue positions in one query, one
    serializer for all: a serializer per row costs more than the rows' queries)."""
    positions = selectors.queue_positions(submissions)
    return SubmissionDetailSerializer(
        [
            _submission_fields(submission=submission, user=user, queue_positions=positions, organizer=organizer)
            for submission in submissions
        ],
        many=True,
    ).data


def _submission_fields(
    *, submission: Submission, user: Any, queue_positions: Mapping[int, int] | None, organizer: bool | None
) -> dict[str, Any]:
    if queue_positions is not None:
        queue_position = queue_positions.get(submission.pk)
    else:
        queue_position = selectors.submission_queue_position(submission)
    scores = selectors.submission_scores_visible(submission=submission, user=user, organizer=organizer)
    display = selectors.metric_display(phase=submission.phase)
    failure = None
    if submission.state == Submission.State.FAILED or submission.failure_code:
        failure = {"code": submission.failure_code or "failed", "message": submission.failure_message}
    return {
        "id": submission.pk,
        "competition": submission.phase.competition.slug,
        "phase": submission.phase.slug,
        "team": submission.team.name if submission.team is not None else None,
        "state": submission.state,
        "stage": submission.state if submission.state in Submission.RUNNING_STATES else None,
        "progress": {"done": submission.progress_done, "total": submission.progress_total},
        "queue_position": queue_position,
        "failure": failure,
        "scores": [
            {
                "split": score.split,
                "metric": score.metric,
                "label": display.label(score.metric),
                "decimals": display.decimals(score.metric),
                "is_ranking": score.metric == display.ranking,
                "value": selectors.finite_or_none(score.value),
                "interval": (
                    [score.interval_low, score.interval_high]
                    if score.interval_low is not None and score.interval_high is not None
                    else None
                ),
                "calibrated": score.calibrated,
            }
            for score in display.sorted_scores(scores)
        ],
        "is_final": submission.is_final,
        "is_baseline": submission.is_baseline,
        "counts_against_quota": submission.counts_against_quota,
        "created_at": submission.created_at,
        "finished_at": submission.finished_at,
        "description": submission.description,
        "format": submission.format,
        "size": submission.size,
        "sha256": submission.sha256,
    }


# --- Renderers for non-JSON answers --------------------------------------------------------------


class _PassthroughRenderer(BaseRenderer):
    charset = None

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> Any:
        return data


class PngRenderer(_PassthroughRenderer):
    media_type = "image/png"
    format = "png"


class CsvRenderer(_PassthroughRenderer):
    media_type = "text/csv"
    format = "csv"


class _ErrorsAsJsonMixin:
    """For views that answer files: content negotiation may pick the file's renderer; errors
    (dicts) are still rendered as JSON."""

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
        if isinstance(response, Response) and isinstance(response.data, dict):
            response.accepted_renderer = JSONRenderer()
            response.accepted_media_type = "application/json"
            response.renderer_context = self.get_renderer_context()  # type: ignore[attr-defined]
        return response


# --- Me -----------------------------------------------------------------------------------------


class MeApi(APIView):
    """Who the token or session belongs to."""

    permission_classes = [IsAuthenticated]

    @extend_schema_serializer(component_name="Me")
    class OutputSerializer(serializers.Serializer):
        username = serializers.CharField()

    @extend_schema(operation_id="me_get", responses={200: OutputSerializer, **error_responses(401)})
    def get(self, request: Request) -> Response:
        return Response(self.OutputSerializer({"username": request.user.get_username()}).data)


# --- Quota --------------------------------------------------------------------------------------


class QuotaGetApi(APIView):
    """The requester's team's quota in a phase."""

    permission_classes = [IsAuthenticated]

    @extend_schema_serializer(component_name="Quota")
    class OutputSerializer(serializers.Serializer):
        phase = serializers.CharField()
        daily_quota = serializers.IntegerField()
        used_today = serializers.IntegerField()
        remaining_today = serializers.IntegerField()
        total_quota = serializers.IntegerField(allow_null=True)
        used_total = serializers.IntegerField()
        remaining_total = serializers.IntegerField(allow_null=True)
        resets_at = serializers.CharField(help_text="Next 00:00 UTC, ISO 8601.")
        running = serializers.IntegerField(help_text="Unfinished (queued or running) submissions.")
        max_running = serializers.IntegerField()

    @extend_schema(
        operation_id="quota_get",
        parameters=[PHASE_PARAMETER],
        responses={200: OutputSerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, slug: str) -> Response:
        competition = competition_or_not_found(slug=slug, user=request.user)
        phase = selectors.phase_resolve(competition=competition, slug=request.query_params.get("phase"))
        team = selectors.viewer_team(competition=competition, user=request.user)
        if team is None:
            raise ApplicationError(
                f"You have not joined {competition.slug}: join it to get a quota.", code="not_joined", status=403
            )
        quota = selectors.quota_get(phase=phase, team=team)
        return Response(self.OutputSerializer(quota.as_dict()).data)


# --- Submissions --------------------------------------------------------------------------------


class SubmissionListApi(APIView):
    """The requester's team's submissions in a competition (one phase with ``?phase=``)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="submission_list",
        parameters=[PHASE_PARAMETER, STATE_PARAMETER, ORDER_PARAMETER, *PAGE_PARAMETERS],
        responses={200: SubmissionDetailSerializer(many=True), **error_responses(400, 401, 404)},
        description="Newest first, a page at a time (default 50, at most 200): `X-Total-Count` holds the "
        "total, `Link` the `next` and `prev` pages.",
    )
    def get(self, request: Request, slug: str) -> Response:
        competition = competition_or_not_found(slug=slug, user=request.user)
        phase_slug = request.query_params.get("phase")
        phase = selectors.phase_resolve(competition=competition, slug=phase_slug) if phase_slug else None
        page, page_size = leaderboards.page_params(
            request.query_params.get("page"), request.query_params.get("page_size")
        )
        listed = selectors.submission_list(
            competition=competition,
            phase=phase,
            user=request.user,
            page=page,
            page_size=page_size,
            state=request.query_params.get("state") or None,
            order=request.query_params.get("order") or "newest",
        )
        organizer = is_organizer(competition=competition, user=request.user)
        response = Response(submission_list_data(submissions=listed.items, user=request.user, organizer=organizer))
        response["X-Total-Count"] = str(listed.total)
        links = []
        for relation, number in (("prev", page - 1), ("next", page + 1)):
            if 1 <= number <= listed.pages:
                query = request.query_params.copy()
                query["page"], query["page_size"] = str(number), str(page_size)
                links.append(f'<{request.build_absolute_uri(request.path)}?{query.urlencode()}>; rel="{relation}"')
        if links:
            response["Link"] = ", ".join(links)
        return response


class SubmissionCreateApi(APIView):
    """Upload a checkpoint (multipart, streamed; the phase's size limit is enforced while reading)."""

    permission_classes = [IsAuthenticated]
    parser_classes = [MultiPartParser]
    upload_handler: LimitedTemporaryFileUploadHandler | None = None

    @extend_schema_serializer(component_name="SubmissionCreateInput")
    class InputSerializer(serializers.Serializer):
        file = serializers.FileField(allow_empty_file=True, help_text="safetensors or ONNX checkpoint.")
        description = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")
        phase = serializers.CharField(required=False, allow_blank=True, default="", help_text="Default: open phase.")
        is_baseline = serializers.BooleanField(required=False, default=False, help_text="Organizers only.")
        config = serializers.CharField(
            required=False,
            allow_blank=True,
            default="",
            max_length=65536,
            help_text='safetensors only: the architecture config as JSON ({"architecture": ..., "hyperparameters": '
            "{...}}), written into the file's metadata when it has none.",
        )

    def initialize_request(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Request:
        # Install the limited handler before anything (CSRF check, authentication) parses the body.
        if request.method == "POST" and kwargs.get("slug"):  # (schema generation calls this without kwargs)
            limit = self._upload_limit(slug=kwargs["slug"], phase_slug=request.GET.get("phase"))
            self.upload_handler = LimitedTemporaryFileUploadHandler(limit, request)
            request.upload_handlers = [self.upload_handler]
        return super().initialize_request(request, *args, **kwargs)

    @staticmethod
    def _upload_limit(*, slug: str, phase_slug: str | None) -> int:
        """The phase's limit when the query names it; else the largest of the competition's phases
        (the body's ``phase`` field is not known before the body is read); the service then checks
        the chosen phase's own limit. 0 for an unknown competition (nothing is read)."""
        phases = Phase.objects.filter(competition__slug=slug)
        if phase_slug:
            phases = phases.filter(slug=phase_slug)
        limits = list(phases.values_list("upload_size_limit", flat=True))
        return max(limits, default=0)

    @extend_schema(
        operation_id="submission_create",
        request={"multipart/form-data": InputSerializer},
        parameters=[PHASE_PARAMETER],
        responses={201: SubmissionDetailSerializer, **error_responses(400, 401, 403, 404, 413, 429)},
    )
    def post(self, request: Request, slug: str) -> Response:
        competition = competition_or_not_found(slug=slug, user=request.user)
        query_phase = request.query_params.get("phase")
        early_phase = (
            selectors.phase_resolve(competition=competition, slug=query_phase)
            if query_phase
            else phase_current(competition=competition)
        )
        if early_phase is not None and not is_organizer(competition=competition, user=request.user):
            # What needs no byte of the file (joined, phase window, quota) is refused before the body is read
            # (organizers may be sending a baseline, which the body says: the service checks them).
            services.submission_precheck(phase=early_phase, user=request.user)
        data = request.data  # parses the body through the limited upload handler
        if self.upload_handler is not None and self.upload_handler.limit_exceeded:
            raise ApplicationError(
                f"The upload is larger than the limit of {self.upload_handler.limit} bytes; reading stopped there. "
                "Make the checkpoint smaller (fewer parameters, float16).",
                code="file_too_large",
                status=413,
                extra={"limit": self.upload_handler.limit},
            )
        serializer = self.InputSerializer(data=data)
        serializer.is_valid(raise_exception=True)
        body_phase, query_phase = serializer.validated_data["phase"], request.query_params.get("phase")
        if body_phase and query_phase and body_phase != query_phase:
            raise ApplicationError(
                f"phase: the query names {query_phase!r} and the form {body_phase!r}; name one phase.",
                code="validation_error",
                extra={"fields": {"phase": ["Two different phases were named."]}},
            )
        phase = selectors.phase_to_submit(competition=competition, slug=query_phase or body_phase)
        config_text = serializer.validated_data["config"].strip()
        submission = services.submission_create(
            phase=phase,
            user=request.user,
            uploaded_file=serializer.validated_data["file"],
            description=serializer.validated_data["description"],
            is_baseline=serializer.validated_data["is_baseline"],
            config=(
                config_check(config_text, accepted_architectures=competition.accepted_architectures)
                if config_text
                else None
            ),
        )
        submission = selectors.submission_get(submission_id=submission.pk, user=request.user)
        assert submission is not None  # the submitter sees what they created
        data = submission_detail_data(
            submission=submission,
            user=request.user,
        )
        return Response(data, status=201)


class SubmissionCollectionApi(SubmissionCreateApi, SubmissionListApi):
    """``/competitions/{slug}/submissions/``: GET lists (:class:`SubmissionListApi`), POST creates
    (:class:`SubmissionCreateApi`); one URL, two operations."""


class SubmissionDetailApi(APIView):
    """A submission's state, progress, queue position, failure and the scores the requester may see."""

    permission_classes = [AllowAny]

    @extend_schema(operation_id="submission_get", responses={200: SubmissionDetailSerializer, **error_responses(404)})
    def get(self, request: Request, submission_id: int) -> Response:
        submission = _submission_or_404(submission_id=submission_id, user=request.user)
        return Response(
            submission_detail_data(
                submission=submission,
                user=request.user,
            )
        )


class SubmissionCancelApi(APIView):
    """Cancel a queued or running submission."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="submission_cancel",
        request=None,
        responses={200: SubmissionDetailSerializer, **error_responses(401, 403, 404, 409)},
    )
    def post(self, request: Request, submission_id: int) -> Response:
        submission = _submission_or_404(submission_id=submission_id, user=request.user)
        services.submission_cancel(submission=submission, user=request.user)
        submission = _submission_or_404(submission_id=submission_id, user=request.user)
        return Response(submission_detail_data(submission=submission, user=request.user))


class SubmissionSelectFinalApi(APIView):
    """Select (``{"selected": true}``) or unselect a scored submission for the private leaderboard."""

    permission_classes = [IsAuthenticated]

    @extend_schema_serializer(component_name="SubmissionSelectFinalInput")
    class InputSerializer(serializers.Serializer):
        selected = serializers.BooleanField()

    @extend_schema(
        operation_id="submission_select_final",
        request=InputSerializer,
        responses={200: SubmissionDetailSerializer, **error_responses(400, 401, 403, 404, 409)},
    )
    def post(self, request: Request, submission_id: int) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        submission = _submission_or_404(submission_id=submission_id, user=request.user)
        services.submission_select_final(
            submission=submission, user=request.user, selected=serializer.validated_data["selected"]
        )
        submission = _submission_or_404(submission_id=submission_id, user=request.user)
        return Response(
            submission_detail_data(
                submission=submission,
                user=request.user,
            )
        )
