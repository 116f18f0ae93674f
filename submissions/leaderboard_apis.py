"""REST API of the leaderboards (under ``/api/v1/``): a page of a board, and the whole board as CSV.

Kept apart from ``submissions.apis`` for size; the reads are ``submissions.leaderboards``.
Responses carry an ``ETag`` (the standings version, the viewer, the variant): ``If-None-Match``
with it answers 304 before any page is read.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any

from django.http import HttpResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from competitions.shortcuts import competition_or_not_found
from gan_platform.openapi import error_responses
from submissions import leaderboards, selectors
from submissions.apis import (
    PAGE_PARAMETERS,
    PHASE_PARAMETER,
    SPLIT_PARAMETER,
    CsvRenderer,
    _ErrorsAsJsonMixin,
)
from submissions.models import Score


class LeaderboardMetricSerializer(serializers.Serializer):
    metric = serializers.CharField()
    label = serializers.CharField()
    direction = serializers.CharField()
    is_ranking = serializers.BooleanField()
    decimals = serializers.IntegerField()


class LeaderboardRowSerializer(serializers.Serializer):
    rank = serializers.IntegerField(allow_null=True, help_text="Null for baselines.")
    team = serializers.CharField()
    submission_id = serializers.IntegerField()
    is_baseline = serializers.BooleanField()
    scores = serializers.DictField(
        child=inline_serializer(
            "LeaderboardScore",
            fields={
                "value": serializers.FloatField(allow_null=True),
                "interval": serializers.ListField(child=serializers.FloatField(), allow_null=True),
            },
        )
    )
    submitted_at = serializers.CharField(help_text="When the submission that counts was uploaded.")
    rerunning = serializers.BooleanField(
        help_text="The submission is being rerun: these are its previous scores until the new ones land."
    )
    entries = serializers.IntegerField(help_text="The team's scored submissions in the phase (1 for a baseline).")
    last_submitted_at = serializers.CharField(help_text="When the team's newest scored submission was uploaded.")
    description = serializers.CharField(
        allow_null=True, help_text="A baseline's whole description (its team column is a short name); null for teams."
    )
    is_mine = serializers.BooleanField()


class LeaderboardMineSerializer(LeaderboardRowSerializer):
    position = serializers.IntegerField(help_text="1-based place among all rows, baselines included.")
    page = serializers.IntegerField(help_text="The page (of the requested page size) that holds the row.")


def _board_view(request: Request, slug: str) -> leaderboards.BoardView:
    competition = competition_or_not_found(slug=slug, user=request.user)
    phase = selectors.phase_resolve(competition=competition, slug=request.query_params.get("phase"))
    split = request.query_params.get("split") or Score.Split.PUBLIC
    return leaderboards.leaderboard_view(phase=phase, split=split, viewer=request.user)


def _cache_headers(response: HttpResponse, request: Request, etag: str, *, current: bool = True) -> HttpResponse:
    """ETag, and ``Cache-Control``: anonymous readers of the public board may share a response
    for a second; everyone else revalidates (their rows carry ``is_mine``, organizers' more), and
    so does everyone while the rows are the previous version's (``current`` False: the new
    version's page is being built)."""
    response["ETag"] = etag
    shareable = current and not request.user.is_authenticated
    if shareable and request.query_params.get("split", "public") == "public":
        response["Cache-Control"] = "public, max-age=1"
    else:
        response["Cache-Control"] = "private, no-cache"
    response["Vary"] = "Cookie, Authorization"
    return response


def _not_modified(request: Request, etag: str) -> bool:
    return leaderboards.etag_matches(request.headers.get("If-None-Match", ""), etag)


class LeaderboardGetApi(APIView):
    """A phase's leaderboard by split, a page at a time, under the visibility rules.

    ``mine`` is the requester's team's row with its rank and page, wherever it is. Responses carry
    an ``ETag``; ``If-None-Match`` with it answers 304 while the board is unchanged."""

    permission_classes = [AllowAny]

    @extend_schema_serializer(component_name="Leaderboard")
    class OutputSerializer(serializers.Serializer):
        phase = serializers.CharField()
        split = serializers.CharField()
        metrics = LeaderboardMetricSerializer(many=True)
        ranking_metric = serializers.CharField(allow_null=True)
        direction = serializers.CharField(allow_null=True)
        calibrated = serializers.BooleanField()
        count = serializers.IntegerField(help_text="Rows of the whole board, baselines included.")
        page = serializers.IntegerField()
        page_size = serializers.IntegerField()
        pages = serializers.IntegerField()
        rows = LeaderboardRowSerializer(many=True)
        mine = LeaderboardMineSerializer(allow_null=True, help_text="Your team's row; null without one.")
        version = serializers.IntegerField(help_text="The standings version the rows come from.")

    @extend_schema(
        operation_id="leaderboard_get",
        parameters=[PHASE_PARAMETER, SPLIT_PARAMETER, *PAGE_PARAMETERS],
        responses={200: OutputSerializer, 304: None, **error_responses(400, 403, 404)},
    )
    def get(self, request: Request, slug: str) -> HttpResponse:
        view = _board_view(request, slug)
        page, page_size = leaderboards.page_params(
            request.query_params.get("page"), request.query_params.get("page_size")
        )
        variant = f"json:{page}:{page_size}"
        etag = leaderboards.leaderboard_etag(view, variant=variant)
        if _not_modified(request, etag):
            return _cache_headers(HttpResponse(status=304), request, etag)
        board = leaderboards.leaderboard_page(view, page=page, page_size=page_size)
        etag = leaderboards.leaderboard_etag(view, version=board["version"], variant=variant)
        return _cache_headers(Response(board), request, etag, current=board["version"] == view.version)


class _Echo:
    def write(self, value: str) -> str:
        return value


def leaderboard_csv_lines(view: leaderboards.BoardView) -> Iterator[str]:
    """The whole board as CSV lines: rank, team, submission_id, is_baseline, submitted_at, then for
    each metric its value and interval bounds (``<metric>``, ``<metric>_low``, ``<metric>_high``)."""
    writer = csv.writer(_Echo())
    metrics = [metric.metric for metric in view.metrics]
    header = ["rank", "team", "submission_id", "is_baseline", "submitted_at"]
    for metric in metrics:
        header += [metric, f"{metric}_low", f"{metric}_high"]
    yield writer.writerow(header)
    for row in leaderboards.leaderboard_rows_all(view):
        line = [
            "" if row["rank"] is None else row["rank"],
            row["team"],
            row["submission_id"],
            "true" if row["is_baseline"] else "false",
            row["submitted_at"],
        ]
        for metric in metrics:
            score = row["scores"].get(metric)
            value = "" if score is None or score["value"] is None else repr(score["value"])
            low, high = score["interval"] if score is not None and score["interval"] else ("", "")
            line += [value, "" if low == "" else repr(low), "" if high == "" else repr(high)]
        yield writer.writerow(line)


class LeaderboardCsvApi(_ErrorsAsJsonMixin, APIView):
    """The whole leaderboard as CSV (streamed), under the same visibility rules as
    :class:`LeaderboardGetApi`."""

    permission_classes = [AllowAny]
    renderer_classes = [JSONRenderer, CsvRenderer]

    @extend_schema(
        operation_id="leaderboard_csv",
        parameters=[PHASE_PARAMETER, SPLIT_PARAMETER],
        responses={(200, "text/csv"): OpenApiTypes.STR, 304: None, **error_responses(400, 403, 404)},
    )
    def get(self, request: Request, slug: str) -> Any:
        view = _board_view(request, slug)
        etag = leaderboards.leaderboard_etag(view, variant="csv")
        if _not_modified(request, etag):
            return _cache_headers(HttpResponse(status=304), request, etag)
        response = StreamingHttpResponse(leaderboard_csv_lines(view), content_type="text/csv; charset=utf-8")
        filename = f"{view.phase.competition.slug}-{view.phase.slug}-{view.split}.csv"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return _cache_headers(response, request, etag)
