"""REST API of a submission's preview outputs (under ``/api/v1/``): the list, each PNG, the
comparison of several submissions (scores and outputs on the same public preview inputs), and a
phase's starter kit (the zip the Data page offers, for token-authenticated clients).

Kept apart from ``submissions.apis`` for size. A submission the requester may not see answers 404,
never 403; only public preview images have outputs (nothing generated from a hidden image leaves
the trusted side).
"""

from __future__ import annotations

from typing import Any

from django.http import FileResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from competitions.shortcuts import competition_or_not_found
from gan_platform.errors import ApplicationError
from gan_platform.openapi import error_responses
from gan_platform.storages import private_storage
from submissions import comparisons, selectors
from submissions.apis import PngRenderer, _ErrorsAsJsonMixin, _submission_or_404
from submissions.starter_kits import starter_kit_zip


class SubmissionOutputListApi(APIView):
    """The submission's outputs on the competition's public preview images."""

    permission_classes = [AllowAny]

    @extend_schema_serializer(component_name="SubmissionOutput")
    class OutputSerializer(serializers.Serializer):
        image = serializers.CharField(help_text="The preview image's name without its extension.")
        input_url = serializers.CharField()
        output_url = serializers.CharField(allow_null=True, help_text="Null until the worker wrote the output.")

    @extend_schema(
        operation_id="submission_output_list", responses={200: OutputSerializer(many=True), **error_responses(404)}
    )
    def get(self, request: Request, submission_id: int) -> Response:
        submission = _submission_or_404(submission_id=submission_id, user=request.user)
        slug = submission.phase.competition.slug
        rows = []
        for image, _name, exists in selectors.submission_preview_outputs(submission=submission):
            stem = image.name.rsplit(".", 1)[0]
            rows.append(
                {
                    "image": stem,
                    "input_url": request.build_absolute_uri(f"/api/v1/competitions/{slug}/images/{image.pk}.png"),
                    "output_url": (
                        request.build_absolute_uri(f"/api/v1/submissions/{submission.pk}/outputs/{stem}.png")
                        if exists
                        else None
                    ),
                }
            )
        return Response(self.OutputSerializer(rows, many=True).data)


class SubmissionOutputGetApi(_ErrorsAsJsonMixin, APIView):
    """One output PNG on a public preview image, streamed from private storage after the check."""

    permission_classes = [AllowAny]
    renderer_classes = [JSONRenderer, PngRenderer]

    @extend_schema(
        operation_id="submission_output_get",
        responses={(200, "image/png"): OpenApiTypes.BINARY, **error_responses(404)},
    )
    def get(self, request: Request, submission_id: int, image: str) -> Any:
        submission = _submission_or_404(submission_id=submission_id, user=request.user)
        for dataset_image, name, exists in selectors.submission_preview_outputs(submission=submission):
            if dataset_image.name.rsplit(".", 1)[0] == image and exists:
                response = FileResponse(private_storage().open(name, "rb"), content_type="image/png")
                response["Cache-Control"] = "private, max-age=300"
                return response
        raise ApplicationError(
            f"Submission {submission.pk} has no output on a preview image {image!r} (yet).",
            code="not_found",
            status=404,
        )


class ComparisonGetApi(APIView):
    """Two to six submissions side by side (``?ids=3,5``): the scores the requester may see and
    the outputs on the same public preview inputs. An id the requester may not see answers 404."""

    permission_classes = [AllowAny]

    @extend_schema_serializer(component_name="Comparison")
    class OutputSerializer(serializers.Serializer):
        submissions = serializers.ListField(child=serializers.DictField(), help_text="id, team, is_baseline, phase.")
        metrics = serializers.ListField(
            child=serializers.DictField(),
            help_text="metric, label, split, direction, decimals, values: one {value, interval} or null per submission.",
        )
        previews = serializers.ListField(
            child=serializers.DictField(), help_text="image, input_url, output_urls: one URL or null per submission."
        )

    @extend_schema(
        operation_id="comparison_get",
        parameters=[
            OpenApiParameter("ids", OpenApiTypes.STR, required=True, description="Submission ids, comma-separated.")
        ],
        responses={200: OutputSerializer, **error_responses(400, 404)},
    )
    def get(self, request: Request, slug: str) -> Response:
        competition = competition_or_not_found(slug=slug, user=request.user)
        ids = comparisons.comparison_ids_parse(request.query_params.getlist("ids"))
        comparison = comparisons.comparison_get(competition=competition, ids=ids, user=request.user)
        url = request.build_absolute_uri
        data = {
            "submissions": [
                {
                    "id": submission.pk,
                    "team": submission.team.name if submission.team is not None else None,
                    "is_baseline": submission.is_baseline,
                    "description": submission.description,
                    "phase": submission.phase.slug,
                }
                for submission in comparison.submissions
            ],
            "metrics": [
                {
                    "metric": metric.metric,
                    "label": metric.get_metric_display(),
                    "split": split,
                    "direction": metric.direction,
                    "decimals": metric.decimals,
                    "values": [
                        None
                        if score is None
                        else {
                            "value": selectors.finite_or_none(score.value),
                            "interval": [score.interval_low, score.interval_high]
                            if score.interval_low is not None and score.interval_high is not None
                            else None,
                        }
                        for score in cells
                    ],
                }
                for metric, split, cells in comparison.metrics
            ],
            "previews": [
                {
                    "image": image.name.rsplit(".", 1)[0],
                    "input_url": url(f"/api/v1/competitions/{slug}/images/{image.pk}.png"),
                    "output_urls": [
                        url(f"/api/v1/submissions/{submission.pk}/outputs/{stem}.png") if stem else None
                        for submission, stem in zip(comparison.submissions, outputs, strict=True)
                    ],
                }
                for image, outputs in comparison.gallery
            ],
        }
        return Response(self.OutputSerializer(data).data)


class ZipRenderer(BaseRenderer):
    media_type = "application/zip"
    format = "zip"
    charset = None

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> Any:
        return data


class StarterKitGetApi(_ErrorsAsJsonMixin, APIView):
    """The phase's starter kit (``?phase=``, default the open one), the zip of the Data page:
    public images, constraints, the exact commands and the baseline checkpoint. Anyone who sees
    the competition; 404 otherwise."""

    permission_classes = [AllowAny]
    renderer_classes = [JSONRenderer, ZipRenderer]

    @extend_schema(
        operation_id="starter_kit_get",
        parameters=[OpenApiParameter("phase", str, description="phase slug (default: the open phase)")],
        responses={(200, "application/zip"): OpenApiTypes.BINARY, **error_responses(404)},
    )
    def get(self, request: Request, slug: str) -> Any:
        competition = competition_or_not_found(slug=slug, user=request.user)
        phase = selectors.phase_resolve(competition=competition, slug=request.query_params.get("phase"))
        response = StreamingHttpResponse(
            starter_kit_zip(competition=competition, phase=phase), content_type="application/zip"
        )
        response["Content-Disposition"] = f'attachment; filename="{competition.slug}-{phase.slug}-starter-kit.zip"'
        response["Cache-Control"] = "private, no-cache"
        return response
