"""The front page and the admin login are served."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_the_front_page_names_the_site(client):
    response = client.get("/")

    assert response.status_code == 200
    page = response.content.decode()
    assert '<a class="brand" href="/">Atelier</a>' in page
    assert "<h1>Competitions</h1>" in page


def test_the_admin_login_page_is_served(client):
    response = client.get("/admin/login/")

    assert response.status_code == 200
    assert 'name="password"' in response.content.decode()


def test_private_files_have_no_url(client, settings):
    # given a private file on disk (checkpoints, hidden sets, outputs live there)
    (settings.PRIVATE_ROOT / "secret.txt").write_text("hidden")
    try:
        for url in ("/private/secret.txt", "/media/../private/secret.txt", "/var/private/secret.txt"):
            response = client.get(url)
            assert response.status_code in (400, 404), url
            assert b"hidden" not in b"".join(getattr(response, "streaming_content", [response.content])), url
    finally:
        (settings.PRIVATE_ROOT / "secret.txt").unlink()
