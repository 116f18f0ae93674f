"""Issue 14's views in a real browser: the board's entries and relative times, My submissions'
scores, filter and order, a submission's link to its row, the overview's figures, joining first,
and the dashboard's confirmations (dismissed: nothing happens; accepted: the action runs)."""

from __future__ import annotations

import pytest

from submissions.models import Submission
from submissions.standings import standings_submission_changed
from tests.browser.inspection import accessibility_problems, screenshot
from tests.browser.login import log_in
from tests.factories import user_create
from tests.pages.test_participant_pages import scored_submission, two_teams_scored

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def wood():
    made = two_teams_scored()
    failed = scored_submission(made["competition"], made["best"].team, made["alice"], value=1.0, private=1.0)
    failed.scores.all().delete()
    Submission.objects.filter(pk=failed.pk).update(state=Submission.State.FAILED, failure_message="Bad output.")
    standings_submission_changed(submission_id=failed.pk)
    return {**made, "failed": failed}


def test_a_participant_reads_the_board_their_submissions_and_a_submissions_rank(page, wood):
    log_in(page, "alice")

    # the board: entries and a compact relative time, the exact time on hover
    page.goto("/c/wood/leaderboard/")
    mine = page.locator("tr#mine")
    assert mine.locator("td").nth(-2).inner_text() == "2"  # two scored entries (the failed one does not count)
    when = mine.locator("time[data-relative]")
    assert when.inner_text() == "now"
    assert "20" in when.get_attribute("title")  # the visitor's local date and time (year 20xx)
    box = when.bounding_box()
    assert box is not None and box["height"] < 30, "the time stays on one line"
    assert accessibility_problems(page) == []
    screenshot(page, "views-leaderboard")

    # My submissions: the ranking score with its interval, ordered best first, filtered by state
    page.goto("/c/wood/submissions/")
    page.get_by_label("Order").select_option("best")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**order=best**")
    first_row = page.locator("table.submissions tbody tr").first
    assert first_row.locator("td").first.inner_text() == str(wood["best"].pk)
    assert "20.000" in first_row.inner_text() and "[19.000, 21.000]" in first_row.inner_text()
    page.get_by_label("State").select_option("failed")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**state=failed**")
    assert page.locator("table.submissions tbody tr").count() == 1
    assert accessibility_problems(page) == []
    screenshot(page, "views-my-submissions")

    # a submission's rank, and its link to the row
    page.goto(f"/submissions/{wood['best'].pk}/")
    assert "ranked 1" in page.locator("#board-place").inner_text()
    page.locator("#board-place").get_by_role("link", name="See its row").click()
    page.wait_for_url("**/leaderboard/**#mine")
    assert page.locator("tr#mine").is_visible()

    # a failed one says why it has no rank and no scores
    page.goto(f"/submissions/{wood['failed'].pk}/")
    assert "It failed, so it has no score" in page.locator("#board-place").inner_text()
    assert page.get_by_text("No output yet").count() == 0


def test_a_visitor_sees_the_overview_figures_and_joins_before_submitting(page, wood):
    user_create("carol")
    log_in(page, "carol")
    page.goto("/c/wood/")
    stats = page.locator("#overview-stats")
    assert "Participants" in stats.inner_text() and "alice" in stats.inner_text()
    assert accessibility_problems(page) == []
    screenshot(page, "views-overview")
    page.get_by_role("link", name="Join to submit").click()
    page.wait_for_url("**/rules/#join")
    page.get_by_label("I have read the rules and accept them.").check()
    page.get_by_role("button", name="Join").click()
    page.wait_for_url("**/submit/")
    assert page.get_by_role("link", name="My submissions").is_visible()


def test_the_dashboards_rerun_cancel_and_reveal_ask_first(page, wood):
    queued = wood["bobs"]
    Submission.objects.filter(pk=queued.pk).update(state=Submission.State.QUEUED)
    organizer = wood["competition"].organizers.get()
    log_in(page, organizer.username)
    page.goto("/c/wood/organize/")
    assert page.locator(f'form[action$="/submissions/{queued.pk}/rerun/"]').count() == 0
    messages: list[str] = []

    # dismissed: nothing happens
    def dismiss(dialog):
        messages.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    page.locator(f'form[action$="/submissions/{wood["best"].pk}/rerun/"] button').click()
    page.wait_for_timeout(300)
    assert "This cannot be undone" in messages[-1] and "marked rerunning" in messages[-1]
    assert Submission.objects.get(pk=wood["best"].pk).state == Submission.State.SCORED

    # accepted: the rerun runs
    def accept(dialog):
        messages.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    page.locator(f'form[action$="/submissions/{wood["best"].pk}/rerun/"] button').click()
    page.get_by_text(f"Submission {wood['best'].pk} is queued again.").wait_for()
    assert Submission.objects.get(pk=wood["best"].pk).state == Submission.State.QUEUED

    page.once("dialog", accept)
    page.locator(f'form[action$="/submissions/{queued.pk}/cancel/"] button').click()
    page.get_by_text(f"Submission {queued.pk} is cancelled.").wait_for()
    assert "Its run stops and it gets no score; this cannot be undone" in messages[-1]

    page.once("dialog", dismiss)
    page.get_by_role("button", name="Reveal private leaderboard").click()
    page.wait_for_timeout(300)
    assert "Every participant sees the private scores at once; this cannot be undone." in messages[-1]
    assert wood["competition"].phases.get().private_revealed_at is None
    screenshot(page, "views-dashboard")


def test_a_participant_compares_submissions_and_downloads_the_starter_kit(page, wood):
    log_in(page, "alice")
    page.goto("/c/wood/")
    page.get_by_role("link", name="Compare", exact=True).click()
    page.get_by_label(f"#{wood['best'].pk}", exact=False).check()
    page.get_by_label(f"#{wood['first'].pk}", exact=False).check()
    assert page.get_by_label(f"#{wood['bobs'].pk}", exact=False).count() == 0, "another team's is not offered"
    page.get_by_role("button", name="Compare").click()
    page.wait_for_url("**/compare/?**ids=**")
    header = page.locator("#compare-scores thead").inner_text()
    assert f"#{wood['best'].pk}" in header and f"#{wood['first'].pk}" in header
    fid = page.locator("#compare-scores tbody tr").first.inner_text()
    assert "20.000" in fid and "30.000" in fid
    assert page.locator("#compare-gallery tbody tr").count() == 2, "one row per public preview image"
    assert accessibility_problems(page) == []
    screenshot(page, "views-compare")

    page.goto("/c/wood/data/")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download the starter kit").click()
    assert download_info.value.suggested_filename == "wood-main-starter-kit.zip"


def test_an_organizer_duplicates_the_competition_as_a_draft(page, wood):
    from competitions.models import Competition

    log_in(page, wood["competition"].organizers.get().username)
    page.goto("/c/wood/organize/")
    page.get_by_role("link", name="Duplicate").click()
    page.get_by_label("Slug").fill("wood-2027")
    page.get_by_role("button", name="Create the copy as a draft").click()
    page.get_by_text("is copied to /c/wood-2027/ as a draft").wait_for()
    assert Competition.objects.get(slug="wood-2027").visibility == "draft"
