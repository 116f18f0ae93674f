"""The OpenAPI schema and the docs page (assets served locally: the page works offline)."""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.staticfiles import finders

pytestmark = pytest.mark.django_db

CONTRACT_OPERATIONS = {
    ("/api/v1/auth/token/", "post"),
    ("/api/v1/auth/token/revoke/", "post"),
    ("/api/v1/me/", "get"),
    ("/api/v1/competitions/{slug}/quota/", "get"),
    ("/api/v1/competitions/{slug}/submissions/", "get"),
    ("/api/v1/competitions/{slug}/submissions/", "post"),
    ("/api/v1/competitions/{slug}/leaderboard/", "get"),
    ("/api/v1/competitions/{slug}/leaderboard.csv", "get"),
    ("/api/v1/submissions/{submission_id}/", "get"),
    ("/api/v1/submissions/{submission_id}/cancel/", "post"),
    ("/api/v1/submissions/{submission_id}/select-final/", "post"),
    ("/api/v1/submissions/{submission_id}/outputs/", "get"),
    ("/api/v1/submissions/{submission_id}/outputs/{image}.png", "get"),
}


def test_the_schema_endpoint_describes_every_operation(client):
    response = client.get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "Atelier API"
    operations = {(path, method) for path, item in schema["paths"].items() for method in item}
    assert CONTRACT_OPERATIONS <= operations
    create = schema["paths"]["/api/v1/competitions/{slug}/submissions/"]["post"]
    assert "multipart/form-data" in create["requestBody"]["content"]
    assert {"201", "413", "429"} <= set(create["responses"])
    assert "Error" in schema["components"]["schemas"]
    assert {"200", "400", "429"} <= set(schema["paths"]["/api/v1/auth/token/"]["post"]["responses"])
    assert {"204", "401"} <= set(schema["paths"]["/api/v1/auth/token/revoke/"]["post"]["responses"])


def test_the_schema_is_served_as_yaml_by_default(client):
    response = client.get("/api/v1/schema/")
    assert response.status_code == 200
    assert response.content.startswith(b"openapi: 3.")


@pytest.mark.parametrize("url", ["/api/v1/docs/", "/api/v1/docs/redoc/"])
def test_the_docs_pages_load_their_assets_from_this_server(client, url):
    response = client.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    # Swagger UI's set-up script is its own response (no inline script under the CSP): the schema URL is there.
    setup = client.get("/api/v1/docs/?script=").content.decode() if url == "/api/v1/docs/" else html
    assert "/api/v1/schema/" in setup
    # no CDN: every script and stylesheet is a local static file that exists
    assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', html)
    assert assets, html[:500]
    for asset in assets:
        assert asset.startswith("/static/"), asset
        assert finders.find(asset.removeprefix("/static/")) is not None, asset
    assert "cdn.jsdelivr" not in html and "unpkg.com" not in html and "fonts.googleapis" not in html
