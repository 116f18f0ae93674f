"""The vote page in Chromium, at desktop and phone widths: one click or key per vote, the next
pair already loaded, anonymous images only, no horizontal scrolling on a phone (issue 15)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from judging.models import Vote
from tests.browser.inspection import accessibility_problems, screenshot
from tests.browser.login import log_in
from tests.judging.conftest import board, config, isolated, no_broker, voter  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize(("width", "height"), [(1280, 900), (390, 844)], ids=["desktop", "phone"])
def test_voting_takes_one_click_or_key_per_pair_and_the_next_pair_is_preloaded(
    page,
    board,  # noqa: F811
    config,  # noqa: F811
    voter,  # noqa: F811
    width,
    height,
):
    page.set_viewport_size({"width": width, "height": height})
    pair_requests: list[str] = []
    page.on("request", lambda request: "/judging/pair/" in request.url and pair_requests.append(request.url))
    log_in(page, voter.username, next_url="/c/wood/vote/")

    left = page.get_by_role("button", name="Left is better")
    left.wait_for(state="visible")
    expect(left).to_be_enabled()
    # the images are the pair's, served by token: no submission id in any address
    sources = page.eval_on_selector_all("img[data-side]", "images => images.map((img) => img.src)")
    assert len(sources) == 3 and all("/api/v1/judging/pairs/" in src for src in sources)
    assert all(f"/submissions/{board[name].pk}/" not in src for src in sources for name in ("a", "b", "c", "d"))
    assert page.evaluate("[...document.querySelectorAll('img[data-side]')].every((img) => img.naturalWidth > 0)")
    page.wait_for_timeout(500)
    assert len(pair_requests) >= 2, "the next pair is fetched while the first is shown"
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth + 1")
    assert accessibility_problems(page) == []
    screenshot(page, f"vote-{width}")

    counter = page.locator("[data-vote-count]")
    first_token = page.get_attribute("[data-vote]", "data-token")
    left.click()
    expect(counter).to_have_text("1")
    assert page.get_attribute("[data-vote]", "data-token") != first_token
    expect(page.get_by_role("button", name="Right is better")).to_be_enabled()
    page.keyboard.press("ArrowRight")
    expect(counter).to_have_text("2")
    expect(page.get_by_role("button", name="Equally good")).to_be_enabled()
    page.keyboard.press("ArrowDown")
    expect(counter).to_have_text("3")
    assert counter.inner_text() == "3"
    choices = sorted(vote.choice for vote in Vote.objects.filter(voter=voter))
    assert len(choices) == 3 and "tie" in choices
    assert not Vote.objects.filter(voter=voter, submission_a__team__memberships__user=voter).exists()
