"""Logging in as a visitor does: through the login form."""

from __future__ import annotations

from tests.factories import DEFAULT_PASSWORD


def log_in(page, username: str, *, next_url: str | None = None) -> None:
    """Log ``username`` (with the factories' password) in through the login form, and wait until the
    browser is on ``next_url`` (the login form's ``?next=``) or else the home page."""
    page.goto("/accounts/login/" + (f"?next={next_url}" if next_url else ""))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"**{next_url or '/'}")
