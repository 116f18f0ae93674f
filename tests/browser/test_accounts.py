"""A visitor signs up, gets an API token and logs out, in a real browser."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from tests.browser.inspection import accessibility_problems, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_visitor_signs_up_gets_a_token_and_logs_out(page):
    page.goto("/")
    assert accessibility_problems(page) == []
    screenshot(page, "home")

    page.get_by_role("link", name="Sign up").click()
    assert accessibility_problems(page) == []
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Email").fill("ada@example.org")
    page.get_by_label("Password", exact=True).fill("a-long-enough-passphrase-42")
    page.get_by_label("Password confirmation").fill("a-long-enough-passphrase-42")
    screenshot(page, "sign-up")
    page.get_by_role("button", name="Sign up").click()

    page.get_by_text("Welcome, ada. Your account is ready.").wait_for()
    assert get_user_model().objects.filter(username="ada", email="ada@example.org").exists()

    page.get_by_role("link", name="API token").click()
    page.get_by_role("button", name="Create a token").click()
    token = page.get_by_label("Your token").input_value()
    assert len(token) == 40
    assert accessibility_problems(page) == []
    screenshot(page, "api-token")

    page.get_by_role("button", name="Log out").click()
    page.get_by_role("link", name="Log in").wait_for()
    page.get_by_role("link", name="Log in").click()
    assert accessibility_problems(page) == []
    screenshot(page, "log-in")


def test_a_wrong_password_says_so(page):
    get_user_model().objects.create_user("ada", "ada@example.org", "a-long-enough-passphrase-42")

    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Log in").click()

    assert page.get_by_role("alert").first.inner_text().startswith("Please enter a correct username and password")
