"""Issue 14: the leaderboard's entries and last-submission columns, a submission's place on the
board, and the rough edges (one calibration banner, one container width, baseline short names,
a failed submission's texts, an organizer's breadcrumb)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from competitions.templatetags.atelier import compact_since
from submissions.leaderboards import baseline_short_name
from submissions.models import Submission
from tests.factories import DEFAULT_PASSWORD, submission_new, user_create
from tests.pages.test_participant_pages import scored_submission, two_teams_scored

pytestmark = pytest.mark.django_db

SENTENCE = (
    "Copies the content image through unchanged, as a floor every real model must beat; "
    "trained for zero epochs by the organizers"
)


@pytest.fixture
def board(client):
    made = two_teams_scored()
    competition = made["competition"]
    baseline = scored_submission(competition, made["bob_team"], made["bob"], value=40.0, private=41.0)
    Submission.objects.filter(pk=baseline.pk).update(is_baseline=True, team=None, description=SENTENCE)
    from submissions.standings import standings_rebuild

    standings_rebuild(phase_id=competition.phases.get().pk)
    return {**made, "baseline": baseline}


def login(client, user) -> None:
    assert client.login(username=user.username, password=DEFAULT_PASSWORD)


def test_the_leaderboard_shows_entries_and_a_compact_last_time_with_the_exact_time_on_hover(client, board):
    page = client.get("/c/wood/leaderboard/").content.decode()
    alice_row = re.search(rf"<tr[^>]*id=\"row-{board['best'].pk}\".*?</tr>", page, re.S).group(0)
    # alice's team has two scored entries, the last one just now
    cells = re.findall(r"<td[^>]*>(.*?)</td>", alice_row, re.S)
    assert cells[-2] == "2"
    assert re.search(
        r'<time datetime="[^"]+" data-relative title="\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC">now</time>', cells[-1]
    )
    bob_row = re.search(rf"<tr[^>]*id=\"row-{board['bobs'].pk}\".*?</tr>", page, re.S).group(0)
    assert re.findall(r"<td[^>]*>(.*?)</td>", bob_row, re.S)[-2] == "1"
    assert '<abbr title="Scored submissions of the team in this phase">Entries</abbr>' in page


def test_compact_relative_times_are_one_short_token():
    now = timezone.now()
    assert [
        compact_since(now - delta, now)
        for delta in (
            timedelta(seconds=5),
            timedelta(minutes=7),
            timedelta(hours=3),
            timedelta(days=2),
            timedelta(days=20),
        )
    ] == ["now", "7m", "3h", "2d", "2w"]
    assert compact_since(None) == "\u2014"


def test_a_baseline_has_a_short_name_and_its_description_on_hover(client, board):
    assert baseline_short_name(SENTENCE) == "Baseline: Copies the content image\u2026"
    assert baseline_short_name("Identity") == "Baseline: Identity"
    assert baseline_short_name("") == "Baseline"
    page = client.get("/c/wood/leaderboard/").content.decode()
    assert f'title="{SENTENCE}">Baseline: Copies the content image\u2026</a>' in page
    assert f">Baseline: {SENTENCE}" not in page
    api = client.get("/api/v1/competitions/wood/leaderboard/").json()
    row = next(row for row in api["rows"] if row["is_baseline"])
    assert (row["team"], row["description"], row["entries"]) == (
        "Baseline: Copies the content image\u2026",
        SENTENCE,
        1,
    )


def test_the_not_calibrated_banner_appears_once_and_the_board_uses_the_common_width(client, board):
    page = client.get("/c/wood/leaderboard/").content.decode()
    assert page.count("Not calibrated:") == 1
    assert '<main id="content" class="">' in page
    login(client, board["alice"])
    detail = client.get(f"/submissions/{board['best'].pk}/").content.decode()
    assert detail.count("Not calibrated:") <= 1


def test_a_submission_page_shows_its_rank_with_a_link_to_its_row(client, board):
    login(client, board["alice"])
    page = client.get(f"/submissions/{board['best'].pk}/").content.decode()
    assert "Public leaderboard: ranked <strong>1</strong>." in page
    assert "/c/wood/leaderboard/?phase=main&amp;split=public&amp;page=1#mine" in page
    # the team's other submission does not hold the row: it says so and links the team's row
    other = client.get(f"/submissions/{board['first'].pk}/").content.decode()
    assert "not on the board itself. Another submission of the team scores better" in other
    assert f"See the team&#x27;s row (rank 1, submission {board['best'].pk})" in other or (
        f"See the team's row (rank 1, submission {board['best'].pk})" in other
    )


def test_a_baseline_page_says_baselines_are_not_ranked_and_links_its_row(client, board):
    page = client.get(f"/submissions/{board['baseline'].pk}/").content.decode()
    assert "Baselines are shown on the board for comparison; they are not ranked." in page
    assert f"#row-{board['baseline'].pk}" in page


def test_a_failed_submission_says_it_failed_instead_of_waiting_for_scores(client, board):
    failed = scored_submission(board["competition"], board["bobs"].team, board["bob"], value=1.0, private=1.0)
    failed.scores.all().delete()
    Submission.objects.filter(pk=failed.pk).update(
        state=Submission.State.FAILED, failure_code="bad_output", failure_message="The output has 1 channel."
    )
    login(client, board["bob"])
    page = client.get(f"/submissions/{failed.pk}/").content.decode()
    assert "Scores appear here when the submission is scored" not in page
    assert "No output yet" not in page
    assert "No scores: the submission failed (see why above)." in page
    assert "No output (failed)" in page
    assert "Public leaderboard: no rank. It failed, so it has no score and no place on the board." in page


def test_an_organizer_viewing_a_participants_submission_gets_an_organizer_breadcrumb(client, board):
    client.force_login(board["competition"].organizers.get())
    page = client.get(f"/submissions/{board['bobs'].pk}/").content.decode()
    assert "Organizer dashboard</a>" in page
    assert "Submission of team" in page
    assert ">My submissions</a></p>" not in page


def test_my_submissions_shows_the_ranking_score_with_its_interval_filters_and_orders(client, board):
    login(client, board["alice"])
    page = client.get("/c/wood/submissions/?order=best").content.decode()
    # the ranking metric's column with the interval, then the other shown metrics
    assert 'FID <span class="badge badge-muted">ranking</span></th>' in page
    assert '20.000<br><span class="interval">[19.000, 21.000]</span>' in page
    ids = [int(found) for found in re.findall(r'<td class="num" data-value="(\d+)"><a href="/submissions/', page)]
    assert ids == [board["best"].pk, board["first"].pk]
    # private figures (21.0, 31.0) never show while the phase runs
    assert "21.000</" not in page.replace("21.000]", "")
    oldest = client.get("/c/wood/submissions/?order=oldest").content.decode()
    ids = [int(found) for found in re.findall(r'<td class="num" data-value="(\d+)"><a href="/submissions/', oldest)]
    assert ids == [board["first"].pk, board["best"].pk]
    none = client.get("/c/wood/submissions/?state=failed").content.decode()
    assert "No submission in the state “failed” in Main." in none
    assert '<option value="failed" selected>' in none
    assert client.get("/c/wood/submissions/?state=winning").status_code == 404


def test_before_joining_the_submit_and_mine_tabs_lead_to_the_join_step(client, board):
    carol = user_create("carol")
    login(client, carol)
    overview = client.get("/c/wood/").content.decode()
    assert ">Join to submit</a>" in overview and ">My submissions</a>" not in overview
    board_page = client.get("/c/wood/leaderboard/").content.decode()
    assert ">Join to submit</a>" in board_page
    mine = client.get("/c/wood/submissions/")
    assert mine.status_code == 302 and mine["Location"].endswith("/c/wood/rules/?next=mine#join")
    assert client.get("/c/wood/submit/").status_code == 302
    rules = client.get("/c/wood/rules/").content.decode()
    assert 'id="join"' in rules
    # once joined, the tabs are back
    login(client, board["alice"])
    assert ">My submissions</a>" in client.get("/c/wood/leaderboard/").content.decode()


def test_my_submissions_pages_fifty_at_a_time_and_answers_a_page_past_the_last_empty(client, board):
    # given alice's team with 2 + 49 submissions: two pages
    phase = board["competition"].phases.get()
    Submission.objects.bulk_create(
        [submission_new(phase, board["first"].team, board["alice"], state=Submission.State.FAILED) for _ in range(49)]
    )
    login(client, board["alice"])
    # when
    first = client.get("/c/wood/submissions/").content.decode()
    second = client.get("/c/wood/submissions/?page=2").content.decode()
    past = client.get("/c/wood/submissions/?page=3")
    # then
    assert '<li aria-current="page">Page 1 of 2 (51 submissions)</li>' in first
    assert 'rel="next" href="?phase=main&amp;state=&amp;order=newest&amp;page=2">Next</a>' in first
    assert 'rel="prev"' not in first
    assert '<li aria-current="page">Page 2 of 2 (51 submissions)</li>' in second
    assert 'rel="prev" href="?phase=main&amp;state=&amp;order=newest&amp;page=1">Previous</a>' in second
    assert 'rel="next"' not in second
    assert past.status_code == 200 and 'class="num" data-value=' not in past.content.decode()
