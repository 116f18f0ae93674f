"""REST API of the accounts app: obtain and revoke the caller's API token.

``POST /api/v1/auth/token/`` checks the password through
``django.contrib.auth.authenticate`` with the request, so django-axes counts its
failures together with the login page's and locks it out the same way (429
with ``Retry-After``, error code ``throttled``).
"""

from __future__ import annotations

from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import Throttled, ValidationError
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.services import api_token_obtain, api_token_revoke
from accounts.throttles import login_lockout
from gan_platform.openapi import error_responses


class TokenCreateApi(APIView):
    """Exchange a username and password for the account's API token."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        username = serializers.CharField()
        password = serializers.CharField(trim_whitespace=False, style={"input_type": "password"})

    @extend_schema_serializer(component_name="Token")
    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField()

    @extend_schema(
        operation_id="auth_token_create",
        request=InputSerializer,
        responses={200: OutputSerializer, **error_responses(400, 429)},
        description="Too many failed attempts from one address or for one account answer 429 with "
        "Retry-After (seconds) until the lockout ends, even for the right password.",
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        credentials = serializer.validated_data
        user = authenticate(request._request, username=credentials["username"], password=credentials["password"])
        if getattr(request._request, "axes_locked_out", False):
            refusal = login_lockout(request._request, {"username": credentials["username"]})
            if refusal is not None:
                raise Throttled(wait=refusal.retry_after_seconds, detail=refusal.message("login"))
        if user is None:
            # The shape DRF's obtain_auth_token answered, which clients already handle.
            raise ValidationError(
                {
                    "non_field_errors": [
                        "Unable to log in with this username and password: check both, "
                        "or reset the password on the site."
                    ]
                }
            )
        return Response(self.OutputSerializer({"token": api_token_obtain(user=user).key}).data)


class TokenRevokeApi(APIView):
    """Revoke the caller's API token: it answers 401 from now on. ``POST /api/v1/auth/token/`` gives a new one."""

    permission_classes = [IsAuthenticated]

    @extend_schema(operation_id="auth_token_revoke", request=None, responses={204: None, **error_responses(401)})
    def post(self, request: Request) -> Response:
        api_token_revoke(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
