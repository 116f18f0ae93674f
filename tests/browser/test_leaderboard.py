"""The leaderboard holds up with 1,000 rows and long names: sortable, accessible, the visitor's row marked."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from competitions.models import Participation, Team
from submissions.models import Score, Submission
from submissions.standings import standings_rebuild
from tests.browser.inspection import accessibility_problems, screenshot
from tests.browser.login import log_in
from tests.factories import competition_create_for_tests, score_new, submission_new, user_create

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LONG = "Ateliers-de-gravure-sur-bois-et-de-linogravure-de-la-rive-gauche-" * 3


def many_scored_teams(competition, count: int) -> None:
    phase = competition.phases.get()
    users = get_user_model().objects.bulk_create(
        [get_user_model()(username=f"user{index:04d}", email=f"u{index}@example.org") for index in range(count)]
    )
    teams = Team.objects.bulk_create(
        [
            Team(competition=competition, name=f"{LONG[: 40 + index % 76]}{index:04d}", created_by=user)
            for index, user in enumerate(users)
        ]
    )
    now = timezone.now()
    Participation.objects.bulk_create(
        [
            Participation(competition=competition, user=user, team=team, accepted_rules_at=now)
            for user, team in zip(users, teams, strict=True)
        ]
    )
    submissions = Submission.objects.bulk_create(
        [
            submission_new(phase, team, user, state=Submission.State.SCORED)
            for user, team in zip(users, teams, strict=True)
        ]
    )
    Score.objects.bulk_create(
        [
            score_new(submission, metric, value, interval=(value - 0.5, value + 0.5))
            for index, submission in enumerate(submissions)
            for metric, value in (("fid", 10 + (index * 7919) % 1000 / 10), ("ssim", (index % 97) / 100))
        ]
    )
    standings_rebuild(phase_id=phase.pk)


def test_a_long_leaderboard_with_long_names_pages_sorts_and_stays_accessible(page):
    competition = competition_create_for_tests(slug="long", metrics=("fid", "ssim"), ranking="fid")
    many_scored_teams(competition, 1000)
    me = user_create("me-" + LONG[:60])
    log_in(page, me.username)

    page.goto("/c/long/leaderboard/")
    rows = page.locator("table.leaderboard tbody tr")
    assert rows.count() == 50, "one page of the 1,000 rows"
    assert page.get_by_text("Page 1 of 20 (1000 rows)").is_visible()
    ssim_cells = [rows.nth(i).locator("td").nth(3).inner_text().split("\n")[0] for i in range(50)]
    first_ranks = [rows.nth(i).locator("td").first.inner_text() for i in range(3)]
    assert first_ranks == ["1", "2", "3"]
    assert accessibility_problems(page) == []
    # long names wrap inside the table instead of widening the page past the viewport
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth + 1")
    screenshot(page, "leaderboard-1000-rows")

    # sorting by SSIM (higher is better) puts the highest first
    page.get_by_role("button", name="SSIM (content)").click()
    page.get_by_role("button", name="SSIM (content)").click()
    top = rows.nth(0).locator("td").nth(3).inner_text().split("\n")[0]
    assert top == max(ssim_cells, key=float), "the page sorted by SSIM"
    # the pager reaches the last page, ranks continue there
    page.get_by_role("link", name="Last").click()
    page.wait_for_url("**page=20**")
    assert rows.count() == 50 and rows.nth(49).locator("td").first.inner_text() == "1000"
    assert accessibility_problems(page) == []

    # a narrow phone screen
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/c/long/leaderboard/")
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth + 1")
    screenshot(page, "leaderboard-phone")
