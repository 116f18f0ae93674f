"""The vote page, the organizers' judging page and the votes' export."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
from django.test import Client

from judging import services
from judging.models import JudgingConfig
from judging.ratings import ratings_update
from judging.selectors import voter_pseudonym
from tests.factories import user_create


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_vote_page_is_served_to_voters_and_says_why_to_others(board, config, voter):
    page = _client(voter).get("/c/wood/vote/")
    assert page.status_code == 200
    assert b"data-vote" in page.content and b"/api/v1/competitions/wood/judging/pair/?phase=main" in page.content
    refused = _client(user_create("mallory")).get("/c/wood/vote/")
    assert refused.status_code == 403 and b"Only participants of this competition may vote" in refused.content
    assert Client().get("/c/wood/vote/").status_code == 302  # to the login page


def _votes(board, phase, voter, count=6):
    rng = np.random.default_rng(0)
    for _ in range(count):
        services.vote_create(
            token=services.assignment_create(phase=phase, user=voter, rng=rng).token, choice="left", user=voter
        )


def test_the_organizers_judging_page_sets_the_rules_and_shows_ratings_and_agreement(
    board, config, phase, organizer, voter, settings
):
    settings.ATELIER_RATINGS_BOOTSTRAP_RESAMPLES = 20
    _votes(board, phase, voter, count=12)
    ratings_update(phase_id=phase.pk)
    client = _client(organizer)
    page = client.get("/c/wood/organize/judging/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "12 votes" in text and "data-ratings" in text and "data-agreement" in text and "FID" in text
    rater = user_create("rita")
    saved = client.post(
        "/c/wood/organize/judging/?phase=main",
        {"enabled": "on", "voters": "raters", "votes_per_hour": "50", "votes_per_day": "500", "gold_every": "5",
         "gold_policy": "downweight", "gold_min_answers": "3", "gold_min_accuracy": "0.8", "rater_usernames": "rita"},
    )  # fmt: skip
    assert saved.status_code == 302
    config.refresh_from_db()
    assert (config.voters, config.votes_per_hour, config.gold_policy) == ("raters", 50, "downweight")
    assert list(config.raters.all()) == [rater]
    wrong = client.post(
        "/c/wood/organize/judging/?phase=main",
        {"voters": "raters", "votes_per_hour": "5", "votes_per_day": "5", "gold_every": "0", "gold_policy": "drop",
         "gold_min_answers": "3", "gold_min_accuracy": "0.7", "rater_usernames": "nobody-here"},
    )  # fmt: skip
    assert wrong.status_code == 200 and "No user named nobody-here" in wrong.content.decode()
    assert _client(voter).get("/c/wood/organize/judging/").status_code == 404


def test_the_export_lists_every_vote_with_the_voter_pseudonymised(board, config, phase, organizer, voter):
    _votes(board, phase, voter, count=4)
    client = _client(organizer)
    response = client.get("/c/wood/organize/judging/votes.csv?phase=main")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 4
    assert {row["voter"] for row in rows} == {voter_pseudonym(voter.pk)}
    assert voter.username not in json.dumps(rows) and str(voter.pk) != rows[0]["voter"]
    # the header organizers' scripts read: these columns in this order
    assert text.splitlines()[0] == "voter,phase,submission_a,submission_b,image,choice,shown_left,gold,created_at"
    assert all(
        int(row["submission_a"]) < int(row["submission_b"])
        and row["choice"] == ("a" if row["shown_left"] == "a" else "b")
        for row in rows
    )
    as_json = json.loads(b"".join(client.get("/c/wood/organize/judging/votes.json?phase=main").streaming_content))
    assert [row["voter"] for row in as_json] == [row["voter"] for row in rows] and as_json[0]["gold"] is False
    assert _client(voter).get("/c/wood/organize/judging/votes.csv").status_code == 404
    assert JudgingConfig.objects.count() == 1


def test_the_vote_page_of_a_phase_without_judging_says_so(board, phase, voter):
    page = _client(voter).get("/c/wood/vote/")
    assert page.status_code == 404 and b"This phase does not collect votes." in page.content
