"""REST API of resumable uploads (``submissions.upload_sessions``; the protocol: decision 0012).

- ``POST /api/v1/competitions/{slug}/uploads/`` opens a session (JSON: filename, size, sha256,
  optional phase, description, config): every check that needs no byte runs here.
- ``PATCH /api/v1/uploads/{id}/`` with ``Upload-Offset: N`` and the raw bytes
  (``Content-Type: application/offset+octet-stream``) appends a chunk (local disk); a wrong offset
  answers 409 with the current ``offset``.
- ``GET`` (or ``HEAD``: headers ``Upload-Offset``, ``Upload-Length``) ``/api/v1/uploads/{id}/``:
  the status; ``DELETE``: abort.
- ``POST /api/v1/uploads/{id}/parts/`` (S3): presigned PUT URLs of parts.
- ``POST /api/v1/uploads/{id}/complete/``: verify and create the submission (201, its detail); on S3
  the verification runs in a task: 202 with the session, ``verifying``, then (GET) ``completed`` with
  its ``submission`` id, or ``failed`` with the ``error`` the completion would have answered.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.parsers import BaseParser, JSONParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from competitions.shortcuts import competition_or_not_found
from gan_platform.errors import ApplicationError
from gan_platform.openapi import error_responses
from submissions import selectors, upload_sessions
from submissions.apis import SubmissionDetailSerializer, submission_detail_data
from submissions.models import UploadSession


class SessionSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    url = serializers.CharField(help_text="This session's address: PATCH chunks, GET/HEAD status, DELETE abort.")
    competition = serializers.CharField()
    phase = serializers.CharField()
    filename = serializers.CharField()
    size = serializers.IntegerField()
    sha256 = serializers.CharField()
    offset = serializers.IntegerField(help_text="Bytes received (S3: the unbroken run of parts from the first).")
    state = serializers.ChoiceField(choices=UploadSession.State.choices)
    backend = serializers.ChoiceField(
        choices=UploadSession.Backend.choices,
        help_text="local: PATCH chunks here; s3: PUT parts to the URLs of parts/.",
    )
    chunk_size = serializers.IntegerField(help_text="Recommended bytes per chunk (s3: the exact part size).")
    parts = serializers.ListField(
        child=serializers.DictField(child=serializers.IntegerField()),
        help_text="s3: the parts stored ({part_number, size}).",
    )
    expires_at = serializers.DateTimeField()
    submission = serializers.IntegerField(allow_null=True, help_text="completed: the submission's id.")
    error = serializers.DictField(
        allow_null=True,
        help_text="failed: the refusal, as an API error answers it ({status, code, message, fields, ...}).",
    )


def session_data(request: Request, status: upload_sessions.SessionStatus) -> dict[str, Any]:
    session = status.session
    return SessionSerializer(
        {
            "id": session.pk,
            "url": request.build_absolute_uri(f"/api/v1/uploads/{session.pk}/"),
            "competition": session.phase.competition.slug,
            "phase": session.phase.slug,
            "filename": session.filename,
            "size": session.size,
            "sha256": session.sha256,
            "offset": status.offset,
            "state": session.state,
            "backend": session.backend,
            "chunk_size": session.part_size,
            "parts": status.parts,
            "expires_at": session.expires_at,
            "submission": session.submission_id,
            "error": session.error,
        }
    ).data


def _status_response(request: Request, session: UploadSession, code: int = 200) -> Response:
    status = upload_sessions.upload_session_status(session=session)
    response = Response(session_data(request, status), status=code)
    response["Upload-Offset"] = str(status.offset)
    response["Upload-Length"] = str(session.size)
    response["Cache-Control"] = "no-store"
    return response


class UploadSessionCreateApi(APIView):
    """Open a resumable upload (refused here, before any byte, when the submission could not be accepted)."""

    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser]

    @extend_schema_serializer(component_name="UploadSessionCreateInput")
    class InputSerializer(serializers.Serializer):
        filename = serializers.CharField(max_length=255)
        size = serializers.IntegerField(min_value=0, help_text="Bytes of the whole file.")
        sha256 = serializers.CharField(max_length=64, help_text="SHA-256 of the whole file, hex.")
        phase = serializers.CharField(required=False, allow_blank=True, default="", help_text="Default: open phase.")
        description = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")
        config = serializers.JSONField(
            required=False,
            allow_null=True,
            default=None,
            help_text='safetensors only: {"architecture": ..., "hyperparameters": {...}}, written into the file\'s '
            "metadata when it has none.",
        )
        is_baseline = serializers.BooleanField(required=False, default=False, help_text="Organizers only.")

    @extend_schema(
        operation_id="upload_session_create",
        request=InputSerializer,
        responses={201: SessionSerializer, **error_responses(400, 401, 403, 404, 413, 429)},
    )
    def post(self, request: Request, slug: str) -> Response:
        competition = competition_or_not_found(slug=slug, user=request.user)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        phase = selectors.phase_to_submit(competition=competition, slug=data["phase"])
        session = upload_sessions.upload_session_create(
            phase=phase,
            user=request.user,
            filename=data["filename"],
            size=data["size"],
            sha256=data["sha256"],
            description=data["description"],
            config=data["config"],
            is_baseline=data["is_baseline"],
        )
        response = _status_response(request, session, 201)
        response["Location"] = response.data["url"]
        return response


class _RawBodyParser(BaseParser):
    """Declares the chunk's media type; the view reads the body as a stream and never parses it."""

    media_type = "application/offset+octet-stream"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        return {}


OFFSET_HEADER = OpenApiParameter(
    "Upload-Offset",
    OpenApiTypes.INT,
    location=OpenApiParameter.HEADER,
    required=True,
    description="Where this chunk starts: the bytes received so far.",
)


class UploadSessionGetApi(APIView):
    """A session's status (HEAD: only the headers ``Upload-Offset`` and ``Upload-Length``)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(operation_id="upload_session_get", responses={200: SessionSerializer, **error_responses(401, 404)})
    def get(self, request: Request, session_id: str) -> Response:
        session = upload_sessions.upload_session_get(session_id=session_id, user=request.user)
        return _status_response(request, session)


class UploadSessionAppendApi(APIView):
    """Append a chunk at ``Upload-Offset`` (local-disk sessions)."""

    permission_classes = [IsAuthenticated]
    parser_classes = [_RawBodyParser]

    @extend_schema(
        operation_id="upload_session_append",
        parameters=[OFFSET_HEADER],
        request={"application/offset+octet-stream": OpenApiTypes.BINARY},
        responses={200: SessionSerializer, **error_responses(400, 401, 404, 409, 413)},
    )
    def patch(self, request: Request, session_id: str) -> Response:
        session = upload_sessions.upload_session_get(session_id=session_id, user=request.user)
        try:
            offset = int(request.headers.get("Upload-Offset", ""))
            length = int(request.headers.get("Content-Length", ""))
        except ValueError:
            raise ApplicationError(
                "Give the chunk's start in the Upload-Offset header and its length in Content-Length.",
                code="validation_error",
                extra={"fields": {"Upload-Offset": ["An integer."]}},
            ) from None
        if offset < 0 or length < 0:
            raise ApplicationError("Upload-Offset and Content-Length cannot be negative.", code="validation_error")
        upload_sessions.upload_session_append(session=session, offset=offset, length=length, stream=request._request)
        return _status_response(request, session)


class UploadSessionAbortApi(APIView):
    """Abort: the session and its bytes are deleted."""

    permission_classes = [IsAuthenticated]

    @extend_schema(operation_id="upload_session_abort", responses={204: None, **error_responses(401, 404, 409)})
    def delete(self, request: Request, session_id: str) -> Response:
        session = upload_sessions.upload_session_get(session_id=session_id, user=request.user)
        upload_sessions.upload_session_abort(session=session)
        return Response(status=204)


class UploadSessionResourceApi(UploadSessionGetApi, UploadSessionAppendApi, UploadSessionAbortApi):
    """``/uploads/{id}/``: GET/HEAD status, PATCH append, DELETE abort; one URL, three operations."""

    def get_parsers(self) -> list[BaseParser]:
        if self.request is not None and self.request.method == "PATCH":
            return [_RawBodyParser()]
        return [JSONParser()]


class UploadSessionPartsApi(APIView):
    """Presigned URLs to PUT parts straight to the bucket (S3 sessions)."""

    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser]

    @extend_schema_serializer(component_name="UploadSessionPartsInput")
    class InputSerializer(serializers.Serializer):
        part_numbers = serializers.ListField(child=serializers.IntegerField(min_value=1), max_length=1000)

    class OutputSerializer(serializers.Serializer):
        part_number = serializers.IntegerField()
        size = serializers.IntegerField(help_text="The part must have exactly these bytes.")
        url = serializers.CharField(help_text="PUT the part's bytes here (valid ATELIER_UPLOAD_PART_URL_SECONDS).")

    @extend_schema(
        operation_id="upload_session_parts",
        request=InputSerializer,
        responses={200: OutputSerializer(many=True), **error_responses(400, 401, 404, 409)},
    )
    def post(self, request: Request, session_id: str) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        session = upload_sessions.upload_session_get(session_id=session_id, user=request.user)
        urls = upload_sessions.upload_session_part_urls(
            session=session, part_numbers=serializer.validated_data["part_numbers"]
        )
        return Response(self.OutputSerializer(urls, many=True).data)


class UploadSessionCompleteApi(APIView):
    """Verify the whole file (size, SHA-256, the worker's checks) and create the submission (201); on S3
    the verification runs in a task: 202 with the session, to be polled until it leaves ``verifying``."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="upload_session_complete",
        request=None,
        responses={
            201: SubmissionDetailSerializer,
            202: SessionSerializer,
            **error_responses(400, 401, 403, 404, 409, 429),
        },
    )
    def post(self, request: Request, session_id: str) -> Response:
        session = upload_sessions.upload_session_get(session_id=session_id, user=request.user)
        session = upload_sessions.upload_session_complete(session=session, user=request.user)
        if session.state == UploadSession.State.VERIFYING:
            return _status_response(request, session, 202)
        submission = selectors.submission_get(submission_id=session.submission.pk, user=request.user)
        assert submission is not None  # the submitter sees what they created
        return Response(submission_detail_data(submission=submission, user=request.user), status=201)
