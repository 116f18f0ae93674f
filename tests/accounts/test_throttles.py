"""Login, token creation, sign-up and password reset are throttled per client address and per account.

Counts live in the database (django-axes' tables and accounts.ThrottleHit), so every process sees
them whatever the cache is. Time moves with time-machine, never with sleeps.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core import mail
from rest_framework.test import APIClient

from accounts.models import ThrottleHit

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-enough-passphrase-42"
START = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def small_limits(settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)
    settings.ATELIER_SIGN_UP_LIMIT = 2
    settings.ATELIER_PASSWORD_RESET_LIMIT = 3


@pytest.fixture
def ada():
    return get_user_model().objects.create_user("ada", "ada@example.org", PASSWORD)


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


def page_login(client, password, username="ada", address="10.0.0.1", forwarded_for=None):
    headers = {} if forwarded_for is None else {"HTTP_X_FORWARDED_FOR": forwarded_for}
    return client.post("/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=address, **headers)


def api_login(password, username="ada", address="10.0.0.1"):
    return APIClient().post(
        "/api/v1/auth/token/", {"username": username, "password": password}, format="json", REMOTE_ADDR=address
    )


# --- the login page --------------------------------------------------------------------------


def test_the_login_page_locks_an_account_after_the_limit_even_for_the_right_password(client, ada, clock):
    # given three wrong passwords
    for _ in range(2):
        assert page_login(client, "wrong").status_code == 200
    locking = page_login(client, "wrong")

    # then the third is answered with the lockout page, saying when to retry
    assert locking.status_code == 429
    assert locking["Retry-After"] == "900"
    text = locking.content.decode()
    assert "Too many login attempts from your address. Try again in 15 minutes (at 10:15:00 UTC)." in text

    # when the right password comes 14 minutes later, it is still refused, with the time left
    clock.shift(timedelta(minutes=14))
    refused = page_login(client, PASSWORD)
    assert refused.status_code == 429 and refused["Retry-After"] == "60"
    assert "Try again in 60 seconds (at 10:15:00 UTC)." in refused.content.decode()
    assert not client.get("/").context["user"].is_authenticated

    # when the window has passed, the right password logs in
    clock.shift(timedelta(minutes=1, seconds=1))
    assert page_login(client, PASSWORD).status_code == 302
    assert client.get("/").context["user"] == ada


def test_one_address_is_locked_out_for_every_account_and_other_addresses_are_not(client, ada, clock):
    get_user_model().objects.create_user("grace", "grace@example.org", PASSWORD)
    for username in ("nobody", "someone", "else"):
        page_login(client, "wrong", username=username, address="10.0.0.1")

    # the address that guessed is refused for any account
    refused = page_login(client, PASSWORD, username="grace", address="10.0.0.1")
    assert refused.status_code == 429 and "from your address" in refused.content.decode()
    # another address logs in to the same account
    assert page_login(client, PASSWORD, username="grace", address="10.0.0.2").status_code == 302


def test_one_account_is_locked_out_from_every_address(client, ada, clock):
    for number in range(3):
        page_login(client, "wrong", username="ADA ", address=f"10.0.1.{number}")

    refused = page_login(client, PASSWORD, address="10.0.2.1")
    assert refused.status_code == 429
    assert "Too many login attempts for this account. Try again in 15 minutes" in refused.content.decode()


def test_a_successful_login_resets_the_failures(client, ada, clock):
    page_login(client, "wrong")
    page_login(client, "wrong")
    assert page_login(client, PASSWORD).status_code == 302
    client.post("/accounts/logout/")

    # two more failures do not reach the limit of three: the earlier ones were forgotten
    page_login(client, "wrong")
    assert page_login(client, "wrong").status_code == 200
    assert page_login(client, PASSWORD).status_code == 302


def test_the_forwarded_address_counts_only_behind_a_trusted_proxy(client, ada, clock, settings):
    # no proxy: X-Forwarded-For is the client's own claim, and changing it does not escape the lockout
    for number in range(3):
        page_login(client, "wrong", username=f"user{number}", forwarded_for=f"192.0.2.{number}")
    again = page_login(client, PASSWORD, forwarded_for="192.0.2.9")
    assert again.status_code == 429

    # one trusted proxy (10.0.0.1): the address it appended is the client's; entries left of it are not trusted
    settings.ATELIER_TRUSTED_PROXIES = 1
    behind = page_login(client, PASSWORD, forwarded_for="10.0.0.1, 203.0.113.5")
    assert behind.status_code == 302


# --- the token API -----------------------------------------------------------------------------


def test_the_token_api_locks_out_with_429_retry_after_and_the_one_error_shape(ada, clock):
    first = api_login("wrong")
    assert first.status_code == 400 and first.json()["error"]["code"] == "validation_error"
    api_login("wrong")
    locking = api_login("wrong")

    assert locking.status_code == 429
    assert locking["Retry-After"] == "900"
    error = locking.json()["error"]
    assert error["code"] == "throttled"
    assert error["message"] == "Too many login attempts from your address. Try again in 15 minutes (at 10:15:00 UTC)."
    assert error["fields"] == {} and error["wait"] == 900

    clock.shift(timedelta(minutes=10))
    refused = api_login(PASSWORD)
    assert refused.status_code == 429 and refused["Retry-After"] == "300"
    assert "token" not in refused.json()

    clock.shift(timedelta(minutes=5, seconds=1))
    accepted = api_login(PASSWORD)
    assert accepted.status_code == 200 and len(accepted.json()["token"]) == 40


def test_page_and_api_failures_count_together(client, ada, clock):
    page_login(client, "wrong", address="10.0.0.1")
    api_login("wrong", address="10.0.0.2")
    api_login("wrong", address="10.0.0.3")

    refused = api_login(PASSWORD, address="10.0.0.4")
    assert refused.status_code == 429
    assert refused.json()["error"]["message"].startswith("Too many login attempts for this account.")


# --- sign-up and password reset ----------------------------------------------------------------


def sign_up(client, username, email, address="10.0.0.1"):
    return client.post(
        "/accounts/signup/",
        {"username": username, "email": email, "password1": PASSWORD, "password2": PASSWORD},
        REMOTE_ADDR=address,
    )


def test_sign_up_is_throttled_per_address_with_the_time_to_retry(client, clock):
    assert sign_up(client, "one", "one@example.org").status_code == 302
    client.post("/accounts/logout/")
    clock.shift(timedelta(minutes=20))
    assert sign_up(client, "two", "two@example.org").status_code == 302
    client.post("/accounts/logout/")

    refused = sign_up(client, "three", "three@example.org")
    assert refused.status_code == 429 and refused["Retry-After"] == str(40 * 60)
    assert (
        "Too many sign-up attempts from your address. Try again in 40 minutes (at 11:00:00 UTC)."
        in refused.content.decode()
    )
    assert not get_user_model().objects.filter(username="three").exists()

    # another address may still sign up; this one may again once the first attempt is an hour old
    assert sign_up(client, "four", "four@example.org", address="10.0.0.2").status_code == 302
    client.post("/accounts/logout/")
    clock.shift(timedelta(minutes=40, seconds=1))
    assert sign_up(client, "three", "three@example.org").status_code == 302


def test_sign_up_is_throttled_per_email_address_from_any_address(client, clock):
    sign_up(client, "one", "Same@example.org", address="10.0.0.1")
    client.post("/accounts/logout/")
    sign_up(client, "two", "same@example.org", address="10.0.0.2")

    refused = sign_up(client, "three", "SAME@example.org ", address="10.0.0.3")
    assert refused.status_code == 429
    assert "Too many sign-up attempts for this account." in refused.content.decode()
    # the table keeps no e-mail address, only digests
    assert not ThrottleHit.objects.filter(key__icontains="example").exists()


def test_password_reset_is_throttled_per_email_and_per_address(client, ada, clock):
    # per e-mail: one reset mail per hour (a third of the per-address limit of three)
    assert (
        client.post("/accounts/password-reset/", {"email": "ada@example.org"}, REMOTE_ADDR="10.0.0.1").status_code
        == 302
    )
    refused = client.post("/accounts/password-reset/", {"email": "ADA@example.org"}, REMOTE_ADDR="10.0.0.2")
    assert refused.status_code == 429 and refused["Retry-After"] == "3600"
    assert "Too many password reset attempts for this account. Try again in 60 minutes" in refused.content.decode()
    assert len(mail.outbox) == 1

    # per address: three attempts, whatever the e-mail address
    for number in range(2):
        client.post("/accounts/password-reset/", {"email": f"x{number}@example.org"}, REMOTE_ADDR="10.0.0.1")
    refused = client.post("/accounts/password-reset/", {"email": "y@example.org"}, REMOTE_ADDR="10.0.0.1")
    assert refused.status_code == 429 and "from your address" in refused.content.decode()

    clock.shift(timedelta(hours=1, seconds=1))
    assert (
        client.post("/accounts/password-reset/", {"email": "ada@example.org"}, REMOTE_ADDR="10.0.0.3").status_code
        == 302
    )
    assert len(mail.outbox) == 2


def test_the_counts_live_in_the_database_not_in_a_cache(client, ada, clock, settings):
    # given a cache that forgets everything (as a process-local cache looks to every other process)
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    for _ in range(3):
        api_login("wrong")
    sign_up(client, "one", "one@example.org", address="10.0.9.1")
    client.post("/accounts/logout/")
    sign_up(client, "two", "two@example.org", address="10.0.9.1")
    client.post("/accounts/logout/")

    # then both throttles still refuse
    assert api_login(PASSWORD, address="10.0.0.1").status_code == 429
    assert sign_up(client, "three", "three@example.org", address="10.0.9.1").status_code == 429
