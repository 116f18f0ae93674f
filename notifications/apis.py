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
from notifications.models import NotificationPreference, Webhook, WebhookDelivery


class PreferenceSerializer(serializers.Serializer):
    submission_scored = serializers.BooleanField(help_text="E-mail when your submission is scored.")
    submission_failed = serializers.BooleanField(help_text="E-mail when your submission fails.")
    announcements = serializers.BooleanField(help_text="E-mail the announcements of competitions you joined.")


def _preference_data(preference: NotificationPreference) -> dict[str, bool]:
    return {kind: getattr(preference, kind) for kind in NotificationPreference.KINDS}


class NotificationSettingsGetApi(APIView):
    """Which e-mails you receive (every kind is on until you turn it off)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="notification_settings_get", responses={200: PreferenceSerializer, **error_responses(401)}
    )
    def get(self, request: Request) -> Response:
        return Response(_preference_data(services.preference_get(user=request.user)))


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
        return Response(_preference_data(preference))


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


class WebhookSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.URLField()
    payload_format = serializers.ChoiceField(choices=Webhook.PayloadFormat.choices)
    secret = serializers.CharField(
        help_text="Key of X-Atelier-Signature: sha256=HMAC-SHA256(secret, '{X-Atelier-Timestamp}.' + body), hex."
    )
    is_active = serializers.BooleanField()
    events = serializers.ListField(child=serializers.CharField())
    created_at = serializers.DateTimeField()


def _webhook_data(webhook: Webhook) -> dict[str, Any]:
    return {
        "id": webhook.pk,
        "url": webhook.url,
        "payload_format": webhook.payload_format,
        "secret": webhook.secret,
        "is_active": webhook.is_active,
        "events": list(Webhook.EVENTS),
        "created_at": webhook.created_at,
    }


class DeliverySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    webhook = serializers.IntegerField()
    event = serializers.CharField()
    status = serializers.ChoiceField(choices=WebhookDelivery.Status.choices)
    attempts = serializers.IntegerField()
    last_status_code = serializers.IntegerField(allow_null=True)
    last_error = serializers.CharField()
    created_at = serializers.DateTimeField()
    last_attempt_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)


def _delivery_data(delivery: WebhookDelivery) -> dict[str, Any]:
    return {
        "id": delivery.pk,
        "webhook": delivery.webhook_id,
        "event": delivery.event,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "created_at": delivery.created_at,
        "last_attempt_at": delivery.last_attempt_at,
        "delivered_at": delivery.delivered_at,
    }


class WebhookListApi(APIView):
    """The competition's webhooks (organizers)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="webhook_list", responses={200: WebhookSerializer(many=True), **error_responses(401, 403, 404)}
    )
    def get(self, request: Request, slug: str) -> Response:
        competition = _organized_or_error(slug=slug, user=request.user)
        return Response(
            [_webhook_data(webhook) for webhook in selectors.webhook_list(competition=competition, user=request.user)]
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
        return Response(_webhook_data(webhook), status=status.HTTP_201_CREATED)


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
        return Response([_delivery_data(delivery) for delivery in deliveries])
