"""Each user's e-mail settings: the API and the page."""

from __future__ import annotations

import pytest

from notifications.models import NotificationPreference

pytestmark = pytest.mark.django_db

SETTINGS = "/api/v1/notifications/settings/"


def test_every_kind_is_on_until_turned_off(client_for, alice):
    assert client_for(alice).get(SETTINGS).json() == {
        "submission_scored": True,
        "submission_failed": True,
        "announcements": True,
    }
    assert not NotificationPreference.objects.exists(), "reading writes nothing"


def test_a_user_turns_kinds_off_and_on_through_the_api(client_for, alice, bob):
    changed = client_for(alice).post(f"{SETTINGS}update/", {"announcements": False}, format="json")
    assert changed.status_code == 200
    assert changed.json() == {"submission_scored": True, "submission_failed": True, "announcements": False}
    client_for(alice).post(f"{SETTINGS}update/", {"submission_scored": False, "announcements": True}, format="json")
    assert client_for(alice).get(SETTINGS).json() == {
        "submission_scored": False,
        "submission_failed": True,
        "announcements": True,
    }
    assert client_for(bob).get(SETTINGS).json()["submission_scored"] is True, "each user has their own"


def test_bad_values_are_refused_by_name(client_for, alice):
    response = client_for(alice).post(f"{SETTINGS}update/", {"announcements": "perhaps"}, format="json")
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["announcements"]


def test_anonymous_requests_are_told_to_log_in(client_for):
    response = client_for(None).get(SETTINGS)
    assert response.status_code in (401, 403)
    assert response.json()["error"]["code"] == "not_authenticated"


def test_the_settings_page_saves_the_checkboxes(client, alice):
    client.force_login(alice)
    page = client.get("/notifications/")
    assert page.status_code == 200 and b"alice@example.org" in page.content
    saved = client.post("/notifications/", {"submission_failed": "on"}, follow=True)
    assert b"Your e-mail settings are saved." in saved.content
    preference = NotificationPreference.objects.get(user=alice)
    assert (preference.submission_scored, preference.submission_failed, preference.announcements) == (
        False,
        True,
        False,
    )
