"""Microcaching of the anonymous public boards (``gan_platform.microcache``): reused for at most
its window, never for a reader with an identity, never what a view did not mark shareable."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.http import HttpResponse
from django.middleware.csrf import get_token
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token

from gan_platform import microcache
from tests.submissions.helpers import scored_submission_create

pytestmark = pytest.mark.django_db

BOARD = "/api/v1/competitions/wood/leaderboard/"
PAGE = "/c/wood/leaderboard/"


@pytest.fixture
def clock(settings, monkeypatch):
    """The microcache on (1 s), empty, with a clock the test moves."""
    settings.ATELIER_MICROCACHE_SECONDS = 1
    microcache.clear()
    now = [1000.0]
    monkeypatch.setattr(microcache.time, "monotonic", lambda: now[0])
    yield now
    microcache.clear()


@pytest.fixture
def board(phase, alice, alice_team):
    return scored_submission_create(phase=phase, team=alice_team, user=alice, public={"fid": 10.0})


def teams(response) -> list[str]:
    return [row["team"] for row in json.loads(response.content)["rows"]]


@pytest.mark.parametrize("path", [BOARD, PAGE])
def test_an_anonymous_board_is_reused_within_the_window_then_read_again(clock, board, phase, bob, bob_team, path):
    client = Client()
    first = client.get(path)
    assert first.status_code == 200 and first["Cache-Control"] == "public, max-age=1"
    scored_submission_create(phase=phase, team=bob_team, user=bob, public={"fid": 1.0})
    clock[0] += 0.5
    with CaptureQueriesContext(connection) as queries:
        again = client.get(path)
    assert again.status_code == 200 and again.content == first.content and len(queries) == 0
    assert again["ETag"] == first["ETag"] and again["Cache-Control"] == "public, max-age=1"
    assert "Content-Security-Policy" in again  # a hit still passes the middleware
    clock[0] += 0.6  # past the window: read again, bob's better score is there
    fresh = client.get(path)
    assert fresh.content != first.content and fresh["ETag"] != first["ETag"]
    if path == BOARD:
        assert teams(first) == ["alice"] and teams(fresh) == ["bob", "alice"]
    else:
        assert b"bob" not in first.content and b"bob" in fresh.content


def test_a_hit_answers_304_to_its_own_etag(clock, board):
    client = Client()
    etag = client.get(BOARD)["ETag"]
    with CaptureQueriesContext(connection) as queries:
        again = client.get(BOARD, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again.content == b"" and again["ETag"] == etag and len(queries) == 0


def test_pages_and_formats_are_kept_apart(clock, board, phase, bob, bob_team):
    scored_submission_create(phase=phase, team=bob_team, user=bob, public={"fid": 1.0})
    client = Client()
    whole = client.get(BOARD)
    second = client.get(BOARD + "?page=2&page_size=1")
    assert teams(whole) == ["bob", "alice"] and teams(second) == ["alice"]
    assert client.get(BOARD, HTTP_ACCEPT="text/csv").status_code == 406  # not the cached JSON


def test_a_reader_with_an_identity_always_reads_the_board(clock, board, phase, alice, bob, bob_team):
    token = Token.objects.create(user=alice).key
    with_token = Client(HTTP_AUTHORIZATION=f"Token {token}")
    logged_in = Client()
    logged_in.force_login(alice)
    for client in (with_token, logged_in):
        assert client.get(BOARD)["Cache-Control"] == "private, no-cache"
    scored_submission_create(phase=phase, team=bob_team, user=bob, public={"fid": 1.0})
    for client in (with_token, logged_in):
        response = client.get(BOARD)
        assert teams(response) == ["bob", "alice"] and json.loads(response.content)["mine"]["rank"] == 2
    page = logged_in.get(PAGE)
    assert page["Cache-Control"] == "private, no-cache" and b"bob" in page.content


def test_the_private_board_is_never_kept(clock, board, phase, organizer, alice, alice_team):
    from competitions import services as competition_services

    competition_services.phase_private_reveal(phase=phase, actor=organizer)
    client = Client()
    first = client.get(BOARD + "?split=private")
    assert first.status_code == 200 and first["Cache-Control"] == "private, no-cache"
    scored_submission_create(phase=phase, team=alice_team, user=alice, public={"fid": 5.0}, private={"fid": 5.0})
    again = client.get(BOARD + "?split=private")
    assert again["ETag"] != first["ETag"]


def _view(cache_control: str, *, token: bool = False, status: int = 200):
    calls = []

    def view(request):
        calls.append(1)
        if token:
            get_token(request)
        response = HttpResponse(f"call {len(calls)}", status=status)
        response["Cache-Control"] = cache_control
        return response

    return microcache.microcached(view), calls


@pytest.mark.parametrize(
    ("cache_control", "token", "status", "kept"),
    [
        ("public, max-age=1", False, 200, True),
        ("public, max-age=30", False, 200, True),
        ("private, no-cache", False, 200, False),
        ("public", False, 200, False),  # no lifetime given
        ("public, max-age=1", True, 200, False),  # a CSRF token was made for this reader
        ("public, max-age=1", False, 404, False),
    ],
)
def test_only_what_the_view_marked_shareable_is_kept(clock, cache_control, token, status, kept):
    view, calls = _view(cache_control, token=token, status=status)
    factory = RequestFactory()
    first = view(factory.get("/x"))
    second = view(factory.get("/x"))
    assert first.content == b"call 1"
    assert second.content == (b"call 1" if kept else b"call 2") and len(calls) == (1 if kept else 2)
    if kept:
        clock[0] += 1.01  # never longer than the setting, whatever max-age says
        assert view(factory.get("/x")).content == b"call 2"


def test_credentials_cookies_and_other_methods_bypass_it(clock):
    view, calls = _view("public, max-age=1")
    factory = RequestFactory()
    view(factory.get("/x"))
    view(factory.get("/x", HTTP_AUTHORIZATION="Token abc"))
    with_session = factory.get("/x")
    with_session.COOKIES["sessionid"] = "s"
    view(with_session)
    with_messages = factory.get("/x")
    with_messages.COOKIES["messages"] = "m"
    view(with_messages)
    view(factory.post("/x"))
    assert len(calls) == 5
    assert view(factory.get("/x")).content == b"call 1"


def test_it_is_off_at_zero_and_bounded_in_size(clock, settings, monkeypatch):
    view, calls = _view("public, max-age=1")
    factory = RequestFactory()
    monkeypatch.setattr(microcache, "MAX_ENTRIES", 3)
    for index in range(5):
        view(factory.get(f"/x{index}"))
    assert len(microcache._entries) == 3 and list(microcache._entries)[0].endswith("/x2\n\n")
    settings.ATELIER_MICROCACHE_SECONDS = 0
    view(factory.get("/x4"))
    assert len(calls) == 6


def test_rows_of_the_previous_version_are_served_but_not_kept(clock, board, phase, organizer):
    from django.core.cache import cache

    from submissions import leaderboards
    from submissions.standings import standings_touch

    client = Client()
    old = client.get(BOARD)
    assert old["Cache-Control"] == "public, max-age=1"
    standings_touch(phase_id=phase.pk)
    view = leaderboards.leaderboard_view(phase=phase, split="public", viewer=None)
    # another request is building the new version's page: this one gets the previous rows
    cache.add(f"lb:{view.key}:page:1:{leaderboards.PAGE_SIZE_DEFAULT}:v{view.version}:building", 1, timeout=10)
    clock[0] += 1.01
    stale = client.get(BOARD)
    assert json.loads(stale.content)["version"] == json.loads(old.content)["version"] < view.version
    assert stale["Cache-Control"] == "private, no-cache"
    cache.delete(f"lb:{view.key}:page:1:{leaderboards.PAGE_SIZE_DEFAULT}:v{view.version}:building")
    fresh = client.get(BOARD)  # not the kept stale copy: the new version, shareable again
    assert json.loads(fresh.content)["version"] == view.version and fresh["Cache-Control"] == "public, max-age=1"


def test_an_expired_entry_is_read_again_by_one_request_while_the_others_get_the_old_copy(clock):
    import threading

    release = threading.Event()
    started = threading.Event()
    calls = []

    def slow(request):
        calls.append(1)
        number = len(calls)
        if number == 2:  # the refresh: hold it until the other reader has been served
            started.set()
            release.wait(5)
        response = HttpResponse(f"call {number}")
        response["Cache-Control"] = "public, max-age=1"
        return response

    view = microcache.microcached(slow)
    factory = RequestFactory()
    assert view(factory.get("/x")).content == b"call 1"
    clock[0] += 1.1  # expired (the window is 1 s here)
    results = {}
    request = factory.get("/x")
    refresher = threading.Thread(target=lambda: results.setdefault("refresh", view(request).content))
    refresher.start()
    assert started.wait(5)
    assert view(factory.get("/x")).content == b"call 1"  # served the expired copy, no second read
    clock[0] += 1.0  # past one more window: this reader does not take the expired copy any longer
    assert view(factory.get("/x")).content == b"call 3"
    release.set()
    refresher.join(5)
    assert results["refresh"] == b"call 2" and len(calls) == 3
