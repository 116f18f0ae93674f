from csp.decorators import csp_update
from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerSplitView

from accounts.apis import TokenCreateApi, TokenRevokeApi
from gan_platform.openapi_views import CachedSpectacularAPIView


def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness probe: the process answers; touches neither the database nor the cache."""
    return HttpResponse(b"ok\n", content_type="text/plain")


DOCS_CSP = {"style-src": ["'unsafe-inline'"], "worker-src": ["'self'", "blob:"], "img-src": ["'self'", "data:"]}

api_patterns = [
    path("auth/token/", TokenCreateApi.as_view(), name="api-token"),
    path("auth/token/revoke/", TokenRevokeApi.as_view(), name="api-token-revoke"),
    path("", include("submissions.api_urls")),
    path("", include("competitions.api_urls")),
    path("", include("judging.api_urls")),
    path("", include("discussion.api_urls")),
    path("", include("notifications.api_urls")),
    # Built once per process (gan_platform/openapi_views.py).
    path("schema/", CachedSpectacularAPIView.as_view(), name="api-schema"),
    # Swagger UI and Redoc assets come from drf-spectacular-sidecar: the docs work offline.
    # The docs pages keep their script in files (the split view serves Swagger UI's set-up script
    # as its own response); their bundles add <style> elements and Redoc runs a worker from a blob.
    path("docs/", csp_update(DOCS_CSP)(SpectacularSwaggerSplitView.as_view(url_name="api-schema")), name="api-docs"),
    path(
        "docs/redoc/",
        csp_update(DOCS_CSP)(SpectacularRedocView.as_view(url_name="api-schema", template_name="api_docs/redoc.html")),
        name="api-redoc",
    ),
]

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    # Submissions' pages first: "c/<slug>/submit/" must win over "c/<slug>/<section>/".
    path("", include("submissions.urls")),
    path("", include("judging.urls")),
    path("", include("discussion.urls")),
    path("", include("notifications.urls")),
    path("", include("competitions.urls")),
    path("accounts/", include("accounts.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_patterns)),
]

if settings.DEBUG:
    # Public media only; private files (checkpoints, hidden sets, outputs) have no URL.
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
