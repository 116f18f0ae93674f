"""REST API of the discussion (under ``/api/v1/competitions/{slug}/``): topics, replies, moderation.

One class per operation with nested serializers; rules live in ``discussion.services`` and
``discussion.selectors``. A competition, topic or reply the requester may not see answers 404.
Bodies come back as the Markdown written (``body``) and as sanitised HTML (``body_html``), the same
sanitiser as competition descriptions. Posting is limited per user and hour: 429 ``throttled``
with ``Retry-After``.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import Throttled
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from competitions.models import Competition
from competitions.selectors import is_organizer
from competitions.shortcuts import competition_or_not_found
from competitions.templatetags.atelier import markdown
from discussion import selectors, services
from discussion.models import Reply, Topic
from gan_platform.errors import ApplicationError, found_or_not_found
from gan_platform.openapi import error_responses

PAGE_PARAMETER = OpenApiParameter("page", OpenApiTypes.INT, required=False, description="From 1; default 1.")


def _topic_or_404(*, competition: Competition, topic_id: int, user: Any) -> Topic:
    topic = found_or_not_found(
        selectors.topic_get(competition=competition, topic_id=topic_id, user=user),
        f"No topic {topic_id} that you may see.",
    )
    topic.competition = competition
    return topic


def _throttled_as_drf(error: ApplicationError) -> Exception:
    """A refused post as DRF's Throttled: the one error shape with ``wait`` and a ``Retry-After`` header."""
    if error.code == "throttled":
        return Throttled(wait=error.extra.get("wait"), detail=error.message)
    return error


class AuthorSerializer(serializers.Serializer):
    username = serializers.CharField()
    is_organizer = serializers.BooleanField()


class TopicSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    author = AuthorSerializer()
    is_announcement = serializers.BooleanField()
    is_pinned = serializers.BooleanField()
    is_locked = serializers.BooleanField()
    is_hidden = serializers.BooleanField(help_text="Only organizers see hidden topics.")
    reply_count = serializers.IntegerField(help_text="Visible replies.")
    created_at = serializers.DateTimeField()
    last_activity_at = serializers.DateTimeField()


class TopicDetailSerializer(TopicSerializer):
    body = serializers.CharField(help_text="Markdown as written.")
    body_html = serializers.CharField(help_text="The Markdown as sanitised HTML (no script, style or raw HTML).")


class ReplySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    topic = serializers.IntegerField()
    author = AuthorSerializer()
    body = serializers.CharField(help_text="Markdown as written.")
    body_html = serializers.CharField(help_text="The Markdown as sanitised HTML.")
    is_hidden = serializers.BooleanField(help_text="Only organizers see hidden replies.")
    created_at = serializers.DateTimeField()


def _organizer_ids(competition: Competition) -> set[int]:
    return set(competition.organizers.values_list("pk", flat=True))


def _author(user: Any, organizers: set[int]) -> dict[str, Any]:
    return {"username": user.get_username(), "is_organizer": user.pk in organizers}


def topic_data(topic: Topic, organizers: set[int], *, detail: bool = False) -> dict[str, Any]:
    data = {
        "id": topic.pk,
        "title": topic.title,
        "author": _author(topic.author, organizers),
        "is_announcement": topic.is_announcement,
        "is_pinned": topic.is_pinned,
        "is_locked": topic.is_locked,
        "is_hidden": topic.is_hidden,
        "reply_count": topic.reply_count,
        "created_at": topic.created_at,
        "last_activity_at": topic.last_activity_at,
    }
    if detail:
        data["body"] = topic.body
        data["body_html"] = str(markdown(topic.body))
    return data


def reply_data(reply: Reply, organizers: set[int]) -> dict[str, Any]:
    return {
        "id": reply.pk,
        "topic": reply.topic_id,
        "author": _author(reply.author, organizers),
        "body": reply.body,
        "body_html": str(markdown(reply.body)),
        "is_hidden": reply.is_hidden,
        "created_at": reply.created_at,
    }


def _page_meta(page: selectors.Page) -> dict[str, int]:
    return {"page": page.number, "pages": page.pages, "count": page.total}


class TopicListApi(APIView):
    """The competition's topics that you may see: announcements and pinned topics first, then by
    latest activity, 20 a page."""

    permission_classes = [AllowAny]

    class OutputSerializer(serializers.Serializer):
        page = serializers.IntegerField()
        pages = serializers.IntegerField()
        count = serializers.IntegerField()
        results = TopicSerializer(many=True)

    @extend_schema(
        operation_id="topic_list",
        parameters=[PAGE_PARAMETER],
        responses={200: OutputSerializer, **error_responses(400, 404)},
    )
    def get(self, request: Request, slug: str) -> Response:
        competition = competition_or_not_found(slug=slug, user=request.user)
        page = selectors.topic_page(
            competition=competition, user=request.user, page=selectors.page_number(request.query_params.get("page"))
        )
        organizers = _organizer_ids(competition)
        return Response({**_page_meta(page), "results": [topic_data(topic, organizers) for topic in page.items]})


class TopicCreateApi(APIView):
    """Open a topic (participants and organizers). ``announcement``: organizers only; pinned and
    e-mailed to the participants who want announcements."""

    permission_classes = [IsAuthenticated]

    class InputSerializer(serializers.Serializer):
        title = serializers.CharField(max_length=200)
        body = serializers.CharField(max_length=20000, help_text="Markdown.")
        announcement = serializers.BooleanField(default=False)

    @extend_schema(
        operation_id="topic_create",
        request=InputSerializer,
        responses={201: TopicDetailSerializer, **error_responses(400, 401, 403, 404, 429)},
    )
    def post(self, request: Request, slug: str) -> Response:
        competition = competition_or_not_found(slug=slug, user=request.user)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            topic = services.topic_create(competition=competition, user=request.user, **serializer.validated_data)
        except ApplicationError as error:
            raise _throttled_as_drf(error) from error
        return Response(topic_data(topic, _organizer_ids(competition), detail=True), status=status.HTTP_201_CREATED)


class TopicDetailApi(APIView):
    """A topic with a page of its replies (oldest first, 20 a page)."""

    permission_classes = [AllowAny]

    class OutputSerializer(serializers.Serializer):
        topic = TopicDetailSerializer()
        page = serializers.IntegerField()
        pages = serializers.IntegerField()
        count = serializers.IntegerField()
        replies = ReplySerializer(many=True)

    @extend_schema(
        operation_id="topic_get",
        parameters=[PAGE_PARAMETER],
        responses={200: OutputSerializer, **error_responses(400, 404)},
    )
    def get(self, request: Request, slug: str, topic_id: int) -> Response:
        competition = competition_or_not_found(slug=slug, user=request.user)
        topic = _topic_or_404(competition=competition, topic_id=topic_id, user=request.user)
        page = selectors.reply_page(
            topic=topic, user=request.user, page=selectors.page_number(request.query_params.get("page"))
        )
        organizers = _organizer_ids(competition)
        return Response(
            {
                "topic": topic_data(topic, organizers, detail=True),
                **_page_meta(page),
                "replies": [reply_data(reply, organizers) for reply in page.items],
            }
        )


class ReplyCreateApi(APIView):
    """Reply to a topic (participants and organizers); 409 ``topic_locked`` when it is locked."""

    permission_classes = [IsAuthenticated]

    class InputSerializer(serializers.Serializer):
        body = serializers.CharField(max_length=20000, help_text="Markdown.")

    @extend_schema(
        operation_id="reply_create",
        request=InputSerializer,
        responses={201: ReplySerializer, **error_responses(400, 401, 403, 404, 409, 429)},
    )
    def post(self, request: Request, slug: str, topic_id: int) -> Response:
        competition = competition_or_not_found(slug=slug, user=request.user)
        topic = _topic_or_404(competition=competition, topic_id=topic_id, user=request.user)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            reply = services.reply_create(topic=topic, user=request.user, body=serializer.validated_data["body"])
        except ApplicationError as error:
            raise _throttled_as_drf(error) from error
        return Response(reply_data(reply, _organizer_ids(competition)), status=status.HTTP_201_CREATED)


class TopicModerateApi(APIView):
    """Organizers hide or show, lock or unlock, pin or unpin a topic (fields left out stay as they are)."""

    permission_classes = [IsAuthenticated]

    class InputSerializer(serializers.Serializer):
        hidden = serializers.BooleanField(required=False, allow_null=True, default=None)
        locked = serializers.BooleanField(required=False, allow_null=True, default=None)
        pinned = serializers.BooleanField(required=False, allow_null=True, default=None)

    @extend_schema(
        operation_id="topic_moderate",
        request=InputSerializer,
        responses={200: TopicDetailSerializer, **error_responses(400, 401, 403, 404)},
    )
    def post(self, request: Request, slug: str, topic_id: int) -> Response:
        competition = competition_or_not_found(slug=slug, user=request.user)
        topic = _topic_or_404(competition=competition, topic_id=topic_id, user=request.user)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        topic = services.topic_moderate(topic=topic, user=request.user, **serializer.validated_data)
        return Response(topic_data(topic, _organizer_ids(competition), detail=True))


class ReplyModerateApi(APIView):
    """Organizers hide or show a reply."""

    permission_classes = [IsAuthenticated]

    class InputSerializer(serializers.Serializer):
        hidden = serializers.BooleanField()

    @extend_schema(
        operation_id="reply_moderate",
        request=InputSerializer,
        responses={200: ReplySerializer, **error_responses(400, 401, 403, 404)},
    )
    def post(self, request: Request, slug: str, reply_id: int) -> Response:
        competition = competition_or_not_found(slug=slug, user=request.user)
        reply = found_or_not_found(
            selectors.reply_get(competition=competition, reply_id=reply_id, user=request.user),
            f"No reply {reply_id} that you may see.",
        )
        if not is_organizer(competition=competition, user=request.user):
            raise ApplicationError(
                f"Only organizers of {competition.title} may do this.", code="permission_denied", status=403
            )
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        reply = services.reply_moderate(reply=reply, user=request.user, hidden=serializer.validated_data["hidden"])
        return Response(reply_data(reply, _organizer_ids(competition)))
