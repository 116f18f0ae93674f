"""Every page passes the accessibility smoke check, holds long names without overflowing the viewport,
on a desktop and on a phone screen, and logs no Content-Security-Policy violation."""

from __future__ import annotations

import pytest

from judging.models import JudgingConfig
from submissions.models import Submission
from submissions.standings import standings_submission_changed
from tests.browser.inspection import accessibility_problems, screenshot
from tests.browser.login import log_in
from tests.factories import competition_create_for_tests, participant_join, score_create, user_create

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LONG_TITLE = "Photographies transformées en gravures sur bois de la rive gauche et des faubourgs " * 2


# Runs before any script of each page; calls back into the test for each violation the page reports.
VIOLATION_LISTENER = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.atelierCspViolation(`${event.violatedDirective} blocked ${event.blockedURI || "inline"} `
    + `(${event.sourceFile || event.documentURI}:${event.lineNumber})`);
});
"""


@pytest.fixture
def csp_violations(page) -> list[str]:
    """Violations of the Content-Security-Policy on the pages ``page`` visits: events and console messages."""
    violations: list[str] = []
    page.expose_function("atelierCspViolation", lambda text: violations.append(text))
    page.add_init_script(VIOLATION_LISTENER)
    page.on(
        "console",
        lambda message: "Content Security Policy" in message.text and violations.append(f"console: {message.text}"),
    )
    return violations


def check(page, url: str, name: str, violations: list[str]) -> None:
    response = page.goto(url)
    assert response.status == 200, url
    assert "script-src 'self'" in response.headers["content-security-policy"], url
    page.wait_for_load_state("load")
    assert accessibility_problems(page) == [], url
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 1, f"{url} is {overflow}px wider than the viewport"
    screenshot(page, name)
    assert violations == [], f"{url} broke its Content-Security-Policy: {violations}"


@pytest.mark.parametrize(
    "viewport", [{"width": 1280, "height": 900}, {"width": 390, "height": 844}], ids=["desktop", "phone"]
)
def test_every_page_is_accessible_fits_the_screen_and_keeps_its_csp(page, viewport, csp_violations):
    page.set_viewport_size(viewport)
    suffix = "phone" if viewport["width"] < 600 else "desktop"
    organizer = user_create("olga", is_staff=True)
    competition = competition_create_for_tests(slug="woodcuts", title=LONG_TITLE.strip(), organizer=organizer)
    participant = user_create("participant-with-a-rather-long-user-name-" + "x" * 40)
    team = participant_join(competition, participant).team
    scored = Submission.objects.create(
        phase=competition.phases.get(), team=team, submitted_by=participant, original_name="g" * 120 + ".onnx",
        format="onnx", sha256="6" * 64, size=2048, state=Submission.State.SCORED, description="d" * 300,
    )  # fmt: skip
    score_create(scored, "fid", 12.5, interval=(11.0, 14.0))
    standings_submission_changed(submission_id=scored.pk)
    JudgingConfig.objects.create(phase=competition.phases.get(), enabled=True)
    failed = Submission.objects.create(
        phase=competition.phases.get(), team=team, submitted_by=participant, original_name="broken.onnx",
        format="onnx", sha256="7" * 64, size=10, state=Submission.State.FAILED, failure_code="wrong_channels",
        failure_message="Your generator returned 4 channels; it must return 3 (RGB).",
    )  # fmt: skip

    for url, name in [
        ("/", "home"),
        ("/accounts/login/", "login"),
        ("/accounts/signup/", "signup"),
        ("/accounts/password-reset/", "password-reset"),
        ("/c/woodcuts/", "overview"),
        ("/c/woodcuts/rules/", "rules"),
        ("/c/woodcuts/data/", "data"),
        ("/c/woodcuts/scoring/", "scoring"),
        ("/c/woodcuts/timeline/", "timeline"),
        ("/c/woodcuts/leaderboard/", "leaderboard-anonymous"),
    ]:
        check(page, url, f"page-{name}-{suffix}", csp_violations)

    log_in(page, participant.username)
    for url, name in [
        ("/c/woodcuts/submit/", "submit"),
        ("/c/woodcuts/submissions/", "mine"),
        (f"/submissions/{scored.pk}/", "submission-scored"),
        (f"/submissions/{failed.pk}/", "submission-failed"),
        ("/c/woodcuts/leaderboard/", "leaderboard-participant"),
        (f"/c/woodcuts/compare/?ids={scored.pk},{failed.pk}", "compare"),
        ("/accounts/token/", "token"),
        ("/c/woodcuts/vote/", "vote"),
    ]:
        check(page, url, f"page-{name}-{suffix}", csp_violations)

    page.context.clear_cookies()
    log_in(page, "olga")
    for url, name in [
        ("/organize/new/", "organizer-new"),
        ("/c/woodcuts/organize/", "organizer-dashboard"),
        ("/c/woodcuts/organize/edit/", "organizer-edit"),
        ("/c/woodcuts/organize/phases/main/", "organizer-phase"),
        ("/c/woodcuts/organize/data/", "organizer-data"),
        ("/c/woodcuts/organize/duplicate/", "organizer-duplicate"),
        ("/c/woodcuts/organize/judging/", "organizer-judging"),
        ("/c/woodcuts/leaderboard/?split=private", "leaderboard-private-organizer"),
    ]:
        check(page, url, f"page-{name}-{suffix}", csp_violations)
