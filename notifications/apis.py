"""REST API of the notifications app (under ``/api/v1/``): your e-mail settings, organizers' webhooks.

One class per operation with nested serializers; rules live in ``notifications.services`` and
``notifications.selectors``. A competition or webhook the requester may not see answers 404; a
competition they see but do not organise answers 403 on its webhooks.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from competitions.models import Competition
from competitions.selectors import is_organizer
from competitions.shortcuts import competition_or_not_found
from gan_platform.errors import ApplicationError, found_or_not_found
from gan_platform.openapi import error_responses
from notifications import selectors, services, webhooks
from notifications.models import Webhook, WebhookDelivery


class PreferenceSerializer(serializers.Serializer):
    submission_scored = serializers.BooleanField(help_text="E-mail when your submission is scored.")
    submission_failed = serializers.BooleanField(help_text="E-mail when your submission fails.")
    announcements = serializers.BooleanField(help_text="E-mail the announcements of competitions you joined.")


class NotificationSettingsGetApi(APIView):
    """Which e-mails you receive (every kind is on until you turn it off)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="notification_settings_get", responses={200: PreferenceSerializer, **error_responses(401)}
    )
    def get(self, request: Request) -> Response:
        return Response(PreferenceSerializer(services.preference_get(user=request.user)).data)


class NotificationSettingsUpdateApi(APIView):
    """Turn e-mail kinds on or off; kinds left out stay as they are."""

    permission_classes = [IsAuthenticated]

    class InputSerializer(serializers.Serializer):
        submission_scored = serializers.BooleanField(required=False)
        submission_failed = serializers.BooleanField(required=False)
        announcements = serializers.BooleanField(required=False)

    @extend_schema(
        operation_id="notification_settings_update",
        request=InputSerializer,
        responses={200: PreferenceSerializer, **error_responses(400, 401)},
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        preference = services.preference_update(user=request.user, **serializer.validated_data)
        return Response(PreferenceSerializer(preference).data)


def _organized_or_error(*, slug: str, user: Any) -> Competition:
    competition = competition_or_not_found(slug=slug, user=user)
    if not is_organizer(competition=competition, user=user):
        raise ApplicationError(
            f"Only organizers of {competition.title} manage its webhooks.", code="permission_denied", status=403
        )
    return competition


def _webhook_or_404(*, competition: Competition, webhook_id: int, user: Any) -> Webhook:
    return found_or_not_found(
        selectors.webhook_get(competition=competition, webhook_id=webhook_id, user=user),
        f"No webhook {webhook_id} in {competition.slug}.",
    )


# The serializers read the models' attributes (a docstring would become the schema's description).
class WebhookSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.URLField()
    payload_format = serializers.ChoiceField(choices=Webhook.PayloadFormat.choices)
    secret = serializers.CharField(
        help_text="Key of X-Atelier-Signature: sha256=HMAC-SHA256(secret, '{X-Atelier-Timestamp}.' + body), hex."
    )
    is_active = serializers.BooleanField()
    events = serializers.ListField(child=serializers.CharField(), source="EVENTS")
    created_at = serializers.DateTimeField()


class DeliverySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    webhook = serializers.IntegerField(source="webhook_id")
    event = serializers.CharField()
    status = serializers.ChoiceField(choices=WebhookDelivery.Status.choices)
    attempts = serializers.IntegerField()
    last_status_code = serializers.IntegerField(allow_null=True)
    last_error = serializers.CharField()
    created_at = serializers.DateTimeField()
    last_attempt_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)


class WebhookListApi(APIView):
    """The competition's webhooks (organizers)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="webhook_list", responses={200: WebhookSerializer(many=True), **error_responses(401, 403, 404)}
    )
    def get(self, request: Request, slug: str) -> Response:
        competition = _organized_or_error(slug=slug, user=request.user)
        return Response(
            WebhookSerializer(selectors.webhook_list(competition=competition, user=request.user), many=True).data
        )


class WebhookCreateApi(APIView):
    """Add an HTTPS endpoint that receives the competition's events (submission scored and failed,
    phase opened and closed) as signed JSON, or as a Slack-compatible ``{"text": ...}``."""

    permission_classes = [IsAuthenticated]

    class InputSerializer(serializers.Serializer):
        url = serializers.CharField(max_length=500, help_text="https:// address of the receiver.")
        payload_format = serializers.ChoiceField(choices=Webhook.PayloadFormat.choices, default="json")

    @extend_schema(
        operation_id="webhook_create",
        request=InputSerializer,
        responses={201: WebhookSerializer, **error_responses(400, 401, 403, 404)},
    )
    def post(self, request: Request, slug: str) -> Response:
        competition = _organized_or_error(slug=slug, user=request.user)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        webhook = webhooks.webhook_create(competition=competition, user=request.user, **serializer.validated_data)
        return Response(WebhookSerializer(webhook).data, status=status.HTTP_201_CREATED)


class WebhookDeleteApi(APIView):
    """Remove a webhook and its delivery log."""

    permission_classes = [IsAuthenticated]

    @extend_schema(operation_id="webhook_delete", request=None, responses={204: None, **error_responses(401, 403, 404)})
    def post(self, request: Request, slug: str, webhook_id: int) -> Response:
        competition = _organized_or_error(slug=slug, user=request.user)
        webhook = _webhook_or_404(competition=competition, webhook_id=webhook_id, user=request.user)
        webhooks.webhook_delete(webhook=webhook, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookDeliveryListApi(APIView):
    """The webhook's latest 50 deliveries, newest first: status, attempts, last status code and error."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="webhook_delivery_list",
        responses={200: DeliverySerializer(many=True), **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, slug: str, webhook_id: int) -> Response:
        competition = _organized_or_error(slug=slug, user=request.user)
        webhook = _webhook_or_404(competition=competition, webhook_id=webhook_id, user=request.user)
        deliveries = selectors.delivery_list(competition=competition, user=request.user, webhook=webhook)
        return Response(DeliverySerializer(deliveries, many=True).data)
