"""The one application error and the one JSON error shape of the API.

Services raise :class:`ApplicationError` with a machine-readable ``code`` a
client can act on (``quota_exceeded``, ``phase_closed``...) and a message a
person can read. The DRF exception handler :func:`exception_handler` (wired in
``settings.REST_FRAMEWORK["EXCEPTION_HANDLER"]``) renders it, and Django's and
DRF's own errors, as::

    {"error": {"code": "quota_exceeded", "message": "...", "fields": {...}}}

``fields`` maps a field name to a list of messages for validation errors and
is ``{}`` otherwise; ``extra`` of an ApplicationError is merged into ``error``
(for example ``resets_at`` of ``quota_exceeded``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions as drf_exceptions
from rest_framework import status as http_status
from rest_framework.response import Response
from rest_framework.views import set_rollback

__all__ = ["ApplicationError", "error_body", "exception_handler", "found_or_not_found", "refused_as_page_not_found"]

NOT_FOUND_MESSAGE = "Not found: check the address, and that you are logged in as someone who may see it."


class ApplicationError(Exception):
    """An error a user or client caused and can act on.

    Args:
        message: what was wrong and what to do, for a person.
        code: a stable snake_case code for programs (``quota_exceeded``).
        status: the HTTP status the API answers with (400 unless told).
        extra: more JSON-serialisable facts (``{"resets_at": "..."}``); a
            ``fields`` key holds per-field messages.
    """

    def __init__(self, message: str, *, code: str, status: int = 400, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.extra = dict(extra or {})

    def __repr__(self) -> str:
        return f"ApplicationError({self.message!r}, code={self.code!r}, status={self.status})"


_T = TypeVar("_T")


def found_or_not_found(found: _T | None, message: str) -> _T:
    """``found``, unless a lookup found nothing (None): then the API's 404 ``not_found`` with ``message``.

    The one answer for a thing the requester may not see, so that its existence does not leak.
    """
    if found is None:
        raise ApplicationError(message, code="not_found", status=404)
    return found


@contextmanager
def refused_as_page_not_found() -> Iterator[None]:
    """For HTML pages: an :class:`ApplicationError` raised inside answers Django's 404 with its message.

    A page has no JSON error to show, so a lookup or a query parameter a service refuses (no such
    phase, a page past the last) is a page that is not there; the API renders the same error itself.
    """
    try:
        yield
    except ApplicationError as error:
        raise Http404(error.message) from error


def error_body(code: str, message: str, fields: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """The JSON body of every API error: ``{"error": {"code", "message", "fields", ...extra}}``."""
    body: dict[str, Any] = {"code": code, "message": message, "fields": fields or {}}
    for key, value in extra.items():
        if key not in body:
            body[key] = value
    return {"error": body}


def _as_text(detail: Any) -> str:
    if isinstance(detail, list | tuple):
        return " ".join(_as_text(item) for item in detail)
    if isinstance(detail, dict):
        return " ".join(f"{key}: {_as_text(value)}" for key, value in detail.items())
    return str(detail)


def _as_fields(detail: Any) -> dict[str, Any]:
    """DRF ``ValidationError.detail`` as ``{field: [messages]}`` (non-field errors under ``non_field_errors``)."""
    if isinstance(detail, dict):
        fields: dict[str, Any] = {}
        for key, value in detail.items():
            if isinstance(value, dict):
                fields[str(key)] = _as_fields(value)
            elif isinstance(value, list | tuple):
                fields[str(key)] = [_as_text(item) for item in value]
            else:
                fields[str(key)] = [str(value)]
        return fields
    if isinstance(detail, list | tuple):
        return {"non_field_errors": [_as_text(item) for item in detail]}
    return {"non_field_errors": [str(detail)]}


def _validation_message(fields: dict[str, Any]) -> str:
    parts = []
    for key, value in fields.items():
        text = _as_text(value)
        parts.append(text if key == "non_field_errors" else f"{key}: {text}")
    summary = "; ".join(parts)
    return f"The request is not valid: {summary}" if summary else "The request is not valid."


def _django_validation_fields(error: DjangoValidationError) -> dict[str, Any]:
    if hasattr(error, "error_dict"):
        return {
            ("non_field_errors" if key == "__all__" else key): [str(message) for message in messages]
            for key, messages in error.message_dict.items()
        }
    return {"non_field_errors": [str(message) for message in error.messages]}


def _response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    set_rollback()
    response = Response(body, status=status)
    for key, value in (headers or {}).items():
        response[key] = value
    return response


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF exception handler: map every known error onto the one error shape.

    Returns None (DRF re-raises, Django answers 500) for anything unknown, so
    that programming errors are not disguised as client errors.
    """
    if isinstance(exc, ApplicationError):
        extra = dict(exc.extra)
        fields = extra.pop("fields", None)
        return _response(exc.status, error_body(exc.code, exc.message, fields, **extra))
    if isinstance(exc, DjangoValidationError):
        fields = _django_validation_fields(exc)
        return _response(
            http_status.HTTP_400_BAD_REQUEST, error_body("validation_error", _validation_message(fields), fields)
        )
    if isinstance(exc, Http404):
        return _response(
            http_status.HTTP_404_NOT_FOUND, error_body("not_found", "Not found: check the address and your access.")
        )
    if isinstance(exc, DjangoPermissionDenied):
        message = str(exc) or "You do not have permission to do this."
        return _response(http_status.HTTP_403_FORBIDDEN, error_body("permission_denied", message))
    if isinstance(exc, drf_exceptions.ValidationError):
        fields = _as_fields(exc.detail)
        return _response(
            http_status.HTTP_400_BAD_REQUEST, error_body("validation_error", _validation_message(fields), fields)
        )
    if isinstance(exc, drf_exceptions.NotAuthenticated | drf_exceptions.AuthenticationFailed):
        headers = {}
        authenticate_header = (
            context.get("view").get_authenticate_header(context["request"]) if context.get("view") else None
        )
        if authenticate_header:
            headers["WWW-Authenticate"] = authenticate_header
        status = http_status.HTTP_401_UNAUTHORIZED if authenticate_header else http_status.HTTP_403_FORBIDDEN
        message = (
            f"{_as_text(exc.detail)} Log in, or send 'Authorization: Token <key>' (POST /api/v1/auth/token/ gives one)."
        )
        return _response(status, error_body("not_authenticated", message), headers)
    if isinstance(exc, drf_exceptions.PermissionDenied):
        return _response(http_status.HTTP_403_FORBIDDEN, error_body("permission_denied", _as_text(exc.detail)))
    if isinstance(exc, drf_exceptions.NotFound):
        message = _as_text(exc.detail)
        if message == str(drf_exceptions.NotFound.default_detail):
            message = NOT_FOUND_MESSAGE
        return _response(http_status.HTTP_404_NOT_FOUND, error_body("not_found", message))
    if isinstance(exc, drf_exceptions.Throttled):
        headers = {"Retry-After": str(exc.wait)} if exc.wait is not None else {}
        return _response(exc.status_code, error_body("throttled", _as_text(exc.detail), wait=exc.wait), headers)
    if isinstance(exc, drf_exceptions.APIException):
        # MethodNotAllowed, UnsupportedMediaType, ParseError, NotAcceptable...: keep DRF's status, name the code.
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else exc.default_code
        return _response(exc.status_code, error_body(str(code), _as_text(exc.detail)))
    return None
