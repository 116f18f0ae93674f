"""Every page carries a strict Content-Security-Policy; only the API docs pages widen it, and only for styles."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model

pytestmark = pytest.mark.django_db

STRICT = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}


def policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    directives = [part.split() for part in header.split(";") if part.strip()]
    return {directive[0]: directive[1:] for directive in directives}


def inline_code(html: str) -> list[str]:
    """Inline scripts, <style> elements and style attributes: what the strict policy would block."""
    scripts = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>\s*\S", html)
    return scripts + re.findall(r"<style\b", html) + re.findall(r"\sstyle\s*=", html) + re.findall(r"\son\w+\s*=", html)


@pytest.mark.parametrize(
    "url", ["/", "/accounts/login/", "/accounts/signup/", "/accounts/password-reset/", "/admin/login/"]
)
def test_anonymous_pages_carry_the_strict_policy_and_hold_no_inline_code(client, url):
    response = client.get(url)

    assert response.status_code == 200
    assert policy(response) == STRICT
    assert inline_code(response.content.decode()) == []


def test_logged_in_pages_and_api_answers_carry_it_too(client):
    user = get_user_model().objects.create_user("ada", "ada@example.org", "a-long-enough-passphrase-42")
    client.force_login(user)

    for url in ["/accounts/token/", "/api/v1/me/"]:
        response = client.get(url)
        assert response.status_code == 200, url
        assert policy(response) == STRICT, url
    assert inline_code(client.get("/accounts/token/").content.decode()) == []


def test_throttled_pages_carry_it(client, settings):
    settings.ATELIER_SIGN_UP_LIMIT = 1
    form = {"username": "x", "email": "x@example.org", "password1": "a", "password2": "b"}
    client.post("/accounts/signup/", form)

    refused = client.post("/accounts/signup/", form)

    assert refused.status_code == 429 and policy(refused) == STRICT


@pytest.mark.parametrize("url", ["/api/v1/docs/", "/api/v1/docs/redoc/"])
def test_the_api_docs_allow_inline_styles_but_still_no_inline_script(client, url):
    response = client.get(url)

    assert response.status_code == 200
    directives = policy(response)
    assert directives["script-src"] == ["'self'"]
    assert directives["style-src"] == ["'self'", "'unsafe-inline'"]
    assert directives["frame-ancestors"] == ["'none'"] and directives["object-src"] == ["'none'"]
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>\s*\S", response.content.decode()) == []
