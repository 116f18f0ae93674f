"""The leaderboard API and its CSV export: the same rows, the same visibility rules."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from competitions.models import Competition, Phase
from tests.submissions.helpers import scored_hours_ago, scored_submission_create

pytestmark = pytest.mark.django_db

BOARD_KEYS = {
    "phase",
    "split",
    "metrics",
    "ranking_metric",
    "direction",
    "rows",
    "calibrated",
    "count",
    "page",
    "page_size",
    "pages",
    "mine",
    "version",
}
ROW_KEYS = {
    "rank",
    "team",
    "submission_id",
    "is_baseline",
    "scores",
    "submitted_at",
    "entries",
    "rerunning",
    "last_submitted_at",
    "description",
    "is_mine",
}


@pytest.fixture
def scored(phase, organizer, alice, alice_team, bob, bob_team):
    """Alice's submission (public fid 10 in [9, 12], private 11.5), bob's (public 20, private 8.25) and a
    baseline (public 15, private 30), made three, two and one hours ago."""
    alice_sub = scored_hours_ago(
        3, phase=phase, team=alice_team, user=alice, interval=(9.0, 12.0),
        public={"fid": 10.0, "lpips": 0.1, "ssim": 0.9}, private={"fid": 11.5, "lpips": 0.2, "ssim": 0.8},
    )  # fmt: skip
    bob_sub = scored_hours_ago(
        2, phase=phase, team=bob_team, user=bob,
        public={"fid": 20.0, "lpips": 0.3, "ssim": 0.7}, private={"fid": 8.25, "lpips": 0.4, "ssim": 0.6},
    )  # fmt: skip
    baseline = scored_hours_ago(
        1, phase=phase, team=None, user=organizer, public={"fid": 15.0}, private={"fid": 30.0}, is_baseline=True
    )
    return alice_sub, bob_sub, baseline


def body(response) -> bytes:
    """The body of a response, streamed (the CSV export) or not."""
    return b"".join(response.streaming_content) if response.streaming else response.content


def get(client, url: str):
    response = client.get(url)
    return response, json.loads(response.content) if response["Content-Type"].startswith("application/json") else None


def test_the_public_board_follows_the_contract(client_for, scored, alice):
    alice_sub, bob_sub, baseline = scored
    response, board = get(client_for(alice), "/api/v1/competitions/wood/leaderboard/")
    assert response.status_code == 200
    assert set(board) == BOARD_KEYS
    assert (board["phase"], board["split"], board["ranking_metric"], board["direction"]) == (
        "main",
        "public",
        "fid",
        "lower",
    )
    assert [metric["metric"] for metric in board["metrics"]] == ["fid", "lpips", "ssim"]
    assert set(board["metrics"][0]) == {"metric", "label", "direction", "is_ranking", "decimals"}
    assert all(set(row) == ROW_KEYS for row in board["rows"])
    assert [(row["rank"], row["submission_id"], row["is_mine"]) for row in board["rows"]] == [
        (1, alice_sub.pk, True),
        (None, baseline.pk, False),
        (2, bob_sub.pk, False),
    ]
    assert board["rows"][0]["scores"]["fid"] == {"value": 10.0, "interval": [9.0, 12.0]}
    assert board["calibrated"] is False


def test_anonymous_users_see_the_public_board_but_not_the_private_one(client_for, scored):
    response, board = get(client_for(), "/api/v1/competitions/wood/leaderboard/?split=public")
    assert response.status_code == 200 and len(board["rows"]) == 3
    response, error = get(client_for(), "/api/v1/competitions/wood/leaderboard/?split=private")
    assert response.status_code == 403 and error["error"]["code"] == "private_leaderboard_hidden"


def test_organizers_see_the_private_board_while_the_phase_runs(client_for, scored, organizer):
    alice_sub, bob_sub, baseline = scored
    response, board = get(client_for(organizer), "/api/v1/competitions/wood/leaderboard/?split=private")
    assert response.status_code == 200
    assert [(row["rank"], row["submission_id"]) for row in board["rows"]] == [
        (1, bob_sub.pk),
        (2, alice_sub.pk),
        (None, baseline.pk),
    ]


def test_participants_see_the_private_board_after_the_phase_ends(client_for, phase, scored, alice):
    now = timezone.now()
    Phase.objects.filter(pk=phase.pk).update(starts_at=now - timedelta(days=3), ends_at=now - timedelta(seconds=1))
    response, board = get(client_for(alice), "/api/v1/competitions/wood/leaderboard/?split=private&phase=main")
    assert response.status_code == 200
    assert board["rows"][0]["scores"]["fid"]["value"] == 8.25


def test_the_csv_export_has_the_same_rows_and_rules(client_for, phase, scored, alice):
    alice_sub, bob_sub, baseline = scored
    response = client_for(alice).get("/api/v1/competitions/wood/leaderboard.csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="wood-main-public.csv"' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(body(response).decode())))
    assert [(row["rank"], row["submission_id"], row["is_baseline"]) for row in rows] == [
        ("1", str(alice_sub.pk), "false"),
        ("", str(baseline.pk), "true"),
        ("2", str(bob_sub.pk), "false"),
    ]
    assert (rows[0]["fid"], rows[0]["fid_low"], rows[0]["fid_high"]) == ("10.0", "9.0", "12.0")
    # no private figure before the reveal: 8.25 and 11.5 are private fids
    assert b"8.25" not in body(response) and b"11.5" not in body(response)
    # a CSV client is answered in CSV, and errors in JSON
    assert client_for(alice).get("/api/v1/competitions/wood/leaderboard.csv", HTTP_ACCEPT="text/csv").status_code == 200
    hidden = client_for(alice).get("/api/v1/competitions/wood/leaderboard.csv?split=private", HTTP_ACCEPT="text/csv")
    assert hidden.status_code == 403 and json.loads(hidden.content)["error"]["code"] == "private_leaderboard_hidden"


def test_hidden_metrics_are_left_out_of_the_csv_for_participants(client_for, phase, scored, alice, organizer):
    phase.metrics.filter(metric="lpips").update(shown=False)
    header = body(client_for(alice).get("/api/v1/competitions/wood/leaderboard.csv")).decode().splitlines()[0]
    assert "lpips" not in header
    header = body(client_for(organizer).get("/api/v1/competitions/wood/leaderboard.csv")).decode().splitlines()[0]
    assert "lpips" in header


def test_a_draft_competitions_board_does_not_exist_for_outsiders(client_for, competition, scored, alice, organizer):
    Competition.objects.filter(pk=competition.pk).update(visibility=Competition.Visibility.DRAFT)
    for client in (client_for(), client_for(alice)):
        response, error = get(client, "/api/v1/competitions/wood/leaderboard/")
        assert response.status_code == 404 and error["error"]["code"] == "not_found"
    assert client_for(organizer).get("/api/v1/competitions/wood/leaderboard/").status_code == 200


def test_a_score_landing_shows_on_the_next_read(client_for, phase, scored, alice, alice_team):
    _, board = get(client_for(alice), "/api/v1/competitions/wood/leaderboard/")
    better = scored_submission_create(phase=phase, team=alice_team, user=alice, public={"fid": 1.0})
    _, after = get(client_for(alice), "/api/v1/competitions/wood/leaderboard/")
    assert after["rows"][0]["submission_id"] == better.pk != board["rows"][0]["submission_id"]


# --- pages, my row, conditional requests -------------------------------------------------------


@pytest.fixture
def crowded(phase, competition, alice, alice_team):
    """Twelve other teams, then alice last (fid 99)."""
    from tests.factories import participant_join, user_create

    for index in range(12):
        user = user_create(f"team{index:02d}")
        team = participant_join(competition, user).team
        scored_hours_ago(5, phase=phase, team=team, user=user, public={"fid": float(index)})
    return scored_submission_create(phase=phase, team=alice_team, user=alice, public={"fid": 99.0})


def test_the_board_comes_in_pages_with_my_row_wherever_it_is(client_for, crowded, alice):
    response, board = get(client_for(alice), "/api/v1/competitions/wood/leaderboard/?page_size=5")
    assert response.status_code == 200
    assert (board["count"], board["page"], board["page_size"], board["pages"]) == (13, 1, 5, 3)
    assert [row["rank"] for row in board["rows"]] == [1, 2, 3, 4, 5]
    assert board["mine"] == {**board["mine"], "rank": 13, "position": 13, "page": 3, "is_mine": True}
    assert board["mine"]["submission_id"] == crowded.pk
    _, last = get(client_for(alice), "/api/v1/competitions/wood/leaderboard/?page_size=5&page=3")
    assert [row["rank"] for row in last["rows"]] == [11, 12, 13] and last["rows"][-1]["is_mine"] is True
    # an anonymous reader has no row of their own
    _, anonymous = get(client_for(), "/api/v1/competitions/wood/leaderboard/?page=2&page_size=5")
    assert anonymous["mine"] is None and [row["rank"] for row in anonymous["rows"]] == [6, 7, 8, 9, 10]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("page=0", "page: must be a whole number from 1; got '0'."),
        ("page=two", "page: must be a whole number from 1; got 'two'."),
        ("page_size=201", "page_size: must be a whole number from 1 to 200; got '201'."),
    ],
)
def test_bad_page_parameters_are_named_in_the_error(client_for, crowded, alice, query, message):
    response, error = get(client_for(alice), f"/api/v1/competitions/wood/leaderboard/?{query}")
    assert response.status_code == 400 and error["error"]["code"] == "validation_error"
    assert error["error"]["message"] == message


def test_a_page_after_the_last_is_not_found(client_for, crowded, alice):
    response, error = get(client_for(alice), "/api/v1/competitions/wood/leaderboard/?page=4&page_size=5")
    assert response.status_code == 404
    assert error["error"]["message"] == "page: the board has 3 page(s) of 5 rows; page 4 does not exist."


def test_an_unchanged_board_answers_304_and_a_new_score_changes_the_etag(client_for, phase, crowded, alice, alice_team):
    client = client_for(alice)
    first = client.get("/api/v1/competitions/wood/leaderboard/")
    etag = first["ETag"]
    assert first["Cache-Control"] == "private, no-cache"
    again = client.get("/api/v1/competitions/wood/leaderboard/", HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again.content == b"" and again["ETag"] == etag
    # another page is another entity
    assert client.get("/api/v1/competitions/wood/leaderboard/?page_size=5", HTTP_IF_NONE_MATCH=etag).status_code == 200
    # when a score lands, the same tag gets the new board
    scored_submission_create(phase=phase, team=alice_team, user=alice, public={"fid": -1.0})
    changed = client.get("/api/v1/competitions/wood/leaderboard/", HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed["ETag"] != etag
    assert json.loads(changed.content)["rows"][0]["team"] == "alice"


def test_anonymous_public_boards_may_be_shared_for_a_second(client_for, crowded):
    response = client_for().get("/api/v1/competitions/wood/leaderboard/")
    assert response["Cache-Control"] == "public, max-age=1" and "Cookie" in response["Vary"]


def test_the_etag_differs_per_viewer_and_the_private_split_stays_hidden(
    client_for, phase, crowded, alice, bob_team, bob
):
    alice_tag = client_for(alice).get("/api/v1/competitions/wood/leaderboard/")["ETag"]
    bob_tag = client_for(bob).get("/api/v1/competitions/wood/leaderboard/")["ETag"]
    assert alice_tag != bob_tag
    # a tag from the public board never opens the private one
    hidden = client_for(alice).get("/api/v1/competitions/wood/leaderboard/?split=private", HTTP_IF_NONE_MATCH=alice_tag)
    assert hidden.status_code == 403


def test_the_csv_export_is_streamed_and_complete(client_for, crowded, alice):
    response = client_for(alice).get("/api/v1/competitions/wood/leaderboard.csv")
    assert response.streaming
    rows = list(csv.DictReader(io.StringIO(body(response).decode())))
    assert [row["rank"] for row in rows] == [str(rank) for rank in range(1, 14)]


def test_a_teams_submission_list_comes_in_pages_with_its_total(client_for, phase, alice, alice_team):
    made = [
        scored_submission_create(
            phase=phase,
            team=alice_team,
            user=alice,
            public={"fid": 1.0},
            created_at=timezone.now() - timedelta(minutes=i),
        )
        for i in range(7)
    ]  # newest first: made[0]
    client = client_for(alice)
    first = client.get("/api/v1/competitions/wood/submissions/?page_size=3")
    assert first.status_code == 200 and first["X-Total-Count"] == "7"
    assert [item["id"] for item in json.loads(first.content)] == [s.pk for s in made[:3]]
    assert '?page_size=3&page=2>; rel="next"' in first["Link"] and 'rel="prev"' not in first["Link"]
    last = client.get("/api/v1/competitions/wood/submissions/?page_size=3&page=3")
    assert [item["id"] for item in json.loads(last.content)] == [made[6].pk] and 'rel="next"' not in last["Link"]
    assert json.loads(client.get("/api/v1/competitions/wood/submissions/?page_size=3&page=4").content) == []
    bad = client.get("/api/v1/competitions/wood/submissions/?page_size=500")
    assert bad.status_code == 400 and "page_size" in json.loads(bad.content)["error"]["message"]
