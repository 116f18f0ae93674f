"""The token API: obtain a token, revoke the caller's token."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-enough-passphrase-42"


@pytest.fixture
def ada():
    return get_user_model().objects.create_user("ada", "ada@example.org", PASSWORD)


def token_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_the_same_token_comes_back_until_it_is_revoked(ada):
    first = APIClient().post("/api/v1/auth/token/", {"username": "ada", "password": PASSWORD}, format="json")
    again = APIClient().post("/api/v1/auth/token/", {"username": "ada", "password": PASSWORD}, format="json")

    assert first.status_code == again.status_code == 200
    assert first.json()["token"] == again.json()["token"] == Token.objects.get(user=ada).key


def test_a_revoked_token_answers_401_and_a_new_login_gives_another(ada):
    key = Token.objects.create(user=ada).key
    client = token_client(key)
    assert client.get("/api/v1/me/").json() == {"username": "ada"}

    revoked = client.post("/api/v1/auth/token/revoke/")

    assert revoked.status_code == 204 and revoked.content == b""
    assert not Token.objects.filter(user=ada).exists()
    after = token_client(key).get("/api/v1/me/")
    assert after.status_code == 401 and after.json()["error"]["code"] == "not_authenticated"
    again = token_client(key).post("/api/v1/auth/token/revoke/")
    assert again.status_code == 401
    fresh = APIClient().post("/api/v1/auth/token/", {"username": "ada", "password": PASSWORD}, format="json")
    assert fresh.json()["token"] != key


def test_revoking_touches_only_the_callers_token(ada):
    grace = get_user_model().objects.create_user("grace", "grace@example.org", PASSWORD)
    grace_key = Token.objects.create(user=grace).key

    token_client(Token.objects.create(user=ada).key).post("/api/v1/auth/token/revoke/")

    assert token_client(grace_key).get("/api/v1/me/").json() == {"username": "grace"}


def test_revoking_without_credentials_is_401():
    response = APIClient().post("/api/v1/auth/token/revoke/")

    assert response.status_code == 401 and response.json()["error"]["code"] == "not_authenticated"
