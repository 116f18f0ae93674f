"""OpenAPI wiring: the schema class of the API (``REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]``).

The apps follow the convention of one API class per operation with nested
``InputSerializer`` / ``OutputSerializer`` classes; drf-spectacular would name
every one of them "Input" or "Output" and warn about the clashes (its
``check --deploy`` check fails on them). Here a nested serializer is named after
its API class instead: ``TeamCreateApi.InputSerializer`` -> ``TeamCreateInput``.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

__all__ = ["AutoSchema", "ErrorSerializer", "component_name", "error_responses"]

#: The one error shape of the API (``gan_platform.errors.error_body``), for the schema.
ErrorSerializer = inline_serializer(
    "Error",
    fields={
        "error": inline_serializer(
            "ErrorBody",
            fields={
                "code": serializers.CharField(),
                "message": serializers.CharField(),
                "fields": serializers.DictField(),
            },
        )
    },
)


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """``extend_schema(responses=...)`` entries: each status answers the error shape."""
    return {status: OpenApiResponse(ErrorSerializer) for status in statuses}


def component_name(qualname: str) -> str | None:
    """The component name of a nested serializer class from its ``__qualname__``, or None when it is
    not nested (``"TeamCreateApi.InputSerializer"`` -> ``"TeamCreateInput"``)."""
    parts = [part for part in qualname.split(".") if part != "<locals>"]
    if len(parts) < 2:
        return None
    outer, inner = parts[-2], parts[-1]
    return f"{outer.removesuffix('Api')}{inner.removesuffix('Serializer')}"


class AutoSchema(SpectacularAutoSchema):
    """drf-spectacular's AutoSchema, naming nested serializers after the API class that holds them."""

    def get_serializer_name(self, serializer: Any, direction: str) -> str:
        return component_name(type(serializer).__qualname__) or super().get_serializer_name(serializer, direction)
