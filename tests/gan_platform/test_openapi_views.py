"""The OpenAPI schema view builds the schema once per process and serves what the uncached view serves."""

from __future__ import annotations

from unittest import mock

import pytest
from django.test import RequestFactory
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.views import SpectacularAPIView

from gan_platform.openapi_views import schema_cache_clear

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def empty_schema_cache():
    schema_cache_clear()
    yield
    schema_cache_clear()


def test_two_requests_build_the_schema_once(client):
    # given a process that has not built the schema yet
    with mock.patch.object(
        SchemaGenerator, "get_schema", autospec=True, side_effect=SchemaGenerator.get_schema
    ) as built:
        # when the schema is requested twice, in two formats
        first = client.get("/api/v1/schema/?format=json")
        second = client.get("/api/v1/schema/")
    # then it was built once, and both answers describe it
    assert first.status_code == 200 and second.status_code == 200
    assert built.call_count == 1
    assert b'"openapi"' in first.content and second.content.startswith(b"openapi:")


def test_a_cleared_cache_builds_again(client):
    with mock.patch.object(
        SchemaGenerator, "get_schema", autospec=True, side_effect=SchemaGenerator.get_schema
    ) as built:
        client.get("/api/v1/schema/?format=json")
        schema_cache_clear()
        client.get("/api/v1/schema/?format=json")
    assert built.call_count == 2


@pytest.mark.parametrize("query", ["?format=json", ""])
def test_the_cached_schema_equals_the_uncached_one(client, query):
    # given the uncached drf-spectacular view on the same request
    uncached = SpectacularAPIView.as_view()(RequestFactory().get(f"/api/v1/schema/{query}"))
    uncached.render()
    # when the site's view answers twice (built, then cached)
    client.get(f"/api/v1/schema/{query}")
    cached = client.get(f"/api/v1/schema/{query}")
    # then the bytes are the same
    assert cached.status_code == 200
    assert cached.content == uncached.content
    assert cached["Content-Disposition"] == uncached["Content-Disposition"]
