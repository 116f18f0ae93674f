"""The OpenAPI schema view, building the schema once per process.

drf-spectacular's ``SpectacularAPIView`` walks every URL pattern, view and serializer on every
request (hundreds of milliseconds of CPU). The schema changes only with the code, so
:class:`CachedSpectacularAPIView` keeps what it built for the life of the process, one per
(view class, URLconf, API version, language); rendering (JSON or YAML) still follows the
request's content negotiation. A view that serves a non-public schema (``serve_public`` False:
the schema depends on the requester's permissions) is not cached.
"""

from __future__ import annotations

import threading
from typing import Any

from django.utils import translation
from drf_spectacular.views import SpectacularAPIView
from rest_framework.request import Request
from rest_framework.response import Response

__all__ = ["CachedSpectacularAPIView", "schema_cache_clear"]

_schemas: dict[tuple, Any] = {}
_lock = threading.Lock()


def schema_cache_clear() -> None:
    """Forget every built schema (tests; a process that reloads code)."""
    with _lock:
        _schemas.clear()


class CachedSpectacularAPIView(SpectacularAPIView):
    """``SpectacularAPIView`` whose public schema is built once per process and key."""

    def _get_schema_response(self, request: Request) -> Response:
        if not self.serve_public:
            return super()._get_schema_response(request)
        version = self.api_version or request.version or self._get_version_parameter(request)
        key = (type(self), repr(self.urlconf), repr(self.patterns), version, translation.get_language())
        schema = _schemas.get(key)
        if schema is None:
            # One build at a time: concurrent first requests wait for it rather than each building.
            with _lock:
                schema = _schemas.get(key)
                if schema is None:
                    generator = self.generator_class(urlconf=self.urlconf, api_version=version, patterns=self.patterns)
                    schema = generator.get_schema(request=request, public=True)
                    _schemas[key] = schema
        return Response(
            data=schema,
            headers={"Content-Disposition": f'inline; filename="{self._get_filename(request, version)}"'},
        )
