"""Sign up, log in and out, password reset by email, the API token page."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from rest_framework.authtoken.models import Token

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-enough-passphrase-42"


def sign_up(client, username="ada", email="ada@example.org", password=PASSWORD, **extra):
    return client.post(
        "/accounts/signup/",
        {"username": username, "email": email, "password1": password, "password2": password, **extra},
    )


def test_signing_up_creates_a_participant_and_logs_them_in(client):
    response = sign_up(client, next="/accounts/token/")

    assert response.status_code == 302 and response["Location"] == "/accounts/token/"
    user = get_user_model().objects.get(username="ada")
    assert user.email == "ada@example.org"
    assert not user.is_staff and not user.is_superuser
    assert client.get("/").context["user"] == user


def test_signing_up_refuses_an_email_already_in_use_and_says_what_to_do(client):
    get_user_model().objects.create_user("grace", "ada@example.org", PASSWORD)

    response = sign_up(client, email="ADA@example.org")

    assert response.status_code == 200
    assert (
        "An account with this email address already exists. Log in or reset the password." in response.content.decode()
    )
    assert not get_user_model().objects.filter(username="ada").exists()


def test_sign_up_does_not_redirect_to_another_site(client):
    response = sign_up(client, next="https://evil.example.com/")

    assert response["Location"] == "/"


def test_log_in_and_log_out(client):
    get_user_model().objects.create_user("ada", "ada@example.org", PASSWORD)

    response = client.post("/accounts/login/", {"username": "ada", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get("/").context["user"].username == "ada"

    response = client.post("/accounts/logout/")
    assert response.status_code == 302
    assert not client.get("/").context["user"].is_authenticated


def test_password_reset_sends_a_link_that_sets_a_new_password(client):
    get_user_model().objects.create_user("ada", "ada@example.org", PASSWORD)

    client.post("/accounts/password-reset/", {"email": "ada@example.org"})

    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject == "Reset your Atelier password"
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", mail.outbox[0].body).group(1)
    form_page = client.get(link, follow=True)
    assert "Choose a new password" in form_page.content.decode()
    response = client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": "another-passphrase-77", "new_password2": "another-passphrase-77"},
    )
    assert response.status_code == 302
    assert client.login(username="ada", password="another-passphrase-77")


def test_the_api_token_page_creates_and_replaces_the_token(client):
    user = get_user_model().objects.create_user("ada", "ada@example.org", PASSWORD)
    client.force_login(user)

    assert "You have no token yet." in client.get("/accounts/token/").content.decode()
    client.post("/accounts/token/")
    first = Token.objects.get(user=user).key
    assert first in client.get("/accounts/token/").content.decode()

    client.post("/accounts/token/")
    second = Token.objects.get(user=user).key
    assert second != first
    assert not Token.objects.filter(key=first).exists(), "the replaced token must stop working"


def test_the_api_token_page_needs_a_login(client):
    response = client.get("/accounts/token/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/accounts/token/")
