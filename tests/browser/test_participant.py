"""A participant signs up, joins, uploads a checkpoint and watches it scored by a real worker, in a real
browser; another participant cannot reach it, nor the hidden images."""

from __future__ import annotations

import uuid

import pytest
from django.conf import settings

from competitions.models import DatasetImage
from submissions.models import Submission
from tests.browser.inspection import accessibility_problems, screenshot
from tests.factories import competition_create_for_tests, participant_join, user_create
from tests.scoring.conftest import SCORED_METRICS, checkpoint_bytes
from tests.scoring.helpers import scoring_worker

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-enough-passphrase-42"


def sign_up(page, username: str) -> None:
    page.goto("/accounts/signup/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Email").fill(f"{username}@example.org")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password confirmation").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    page.get_by_text(f"Welcome, {username}.").wait_for()


def test_a_participant_submits_from_the_browser_and_watches_it_scored_without_reloading(page, tmp_path, monkeypatch):
    competition = competition_create_for_tests(
        slug="woodcuts", title="Photos into woodcuts", metrics=SCORED_METRICS, ranking="fid"
    )
    checkpoint = tmp_path / "my-generator.safetensors"
    checkpoint.write_bytes(checkpoint_bytes(seed=5))
    queue = f"test-gpu-{uuid.uuid4().hex[:10]}"
    monkeypatch.setattr(settings, "ATELIER_GPU_QUEUE", queue)

    # sign up, read the rules, join
    sign_up(page, "ada")
    page.goto("/")
    page.get_by_role("link", name="Photos into woodcuts").click()
    assert accessibility_problems(page) == []
    screenshot(page, "competition-overview")
    page.get_by_role("link", name="Read the rules and join").click()
    page.get_by_label("I have read the rules and accept them.").check()
    page.get_by_role("button", name="Join Photos into woodcuts").click()

    # upload from the submit page
    page.get_by_role("heading", name="Submit a generator to Main").wait_for()
    assert accessibility_problems(page) == []
    page.get_by_label("Checkpoint file").set_input_files(str(checkpoint))
    page.get_by_label("Description (optional)").fill("TransformerNet, 8 channels")
    screenshot(page, "submit")
    with scoring_worker(queue):
        page.get_by_role("button", name="Upload and submit").click()
        page.wait_for_url("**/submissions/*/")
        submission = Submission.objects.get(phase__competition=competition)
        assert page.url.endswith(f"/submissions/{submission.pk}/")
        page.evaluate("window.__stayed = true")  # gone if the page were reloaded

        # the state changes live, to scored, without a reload
        page.get_by_text("Scored", exact=True).wait_for(timeout=240_000)
        page.get_by_role("heading", name="Scores").wait_for()
        page.locator("td", has_text="FID").first.wait_for(timeout=30_000)
        assert page.evaluate("window.__stayed === true"), "the page reloaded"

    submission.refresh_from_db()
    assert submission.state == Submission.State.SCORED and submission.description == "TransformerNet, 8 channels"
    # the gallery: each preview input next to this submission's output, both loaded
    outputs = page.locator('img[alt^="This submission\'s output for"]')
    assert outputs.count() == 2
    for index in range(2):
        assert page.evaluate("(img) => img.complete && img.naturalWidth === 32", outputs.nth(index).element_handle())
    assert page.get_by_text("Not calibrated").count() >= 1
    assert accessibility_problems(page) == []
    screenshot(page, "submission-scored")

    # the leaderboard row, highlighted as mine
    page.goto(f"/c/{competition.slug}/leaderboard/")
    mine = page.locator("tr.mine")
    assert mine.count() == 1 and "ada" in mine.inner_text()
    assert accessibility_problems(page) == []
    screenshot(page, "leaderboard")

    # my submissions: the row and the quota
    page.goto(f"/c/{competition.slug}/submissions/")
    assert "my-generator.safetensors" in page.locator("table.submissions").inner_text()
    assert accessibility_problems(page) == []
    screenshot(page, "my-submissions")


def test_a_participant_cannot_reach_another_submission_or_the_hidden_images_by_url(page):
    competition = competition_create_for_tests(slug="woodcuts")
    owner = user_create("owner")
    team = participant_join(competition, owner).team
    submission = Submission.objects.create(
        phase=competition.phases.get(), team=team, submitted_by=owner, original_name="secret.onnx",
        format="onnx", sha256="4" * 64, size=1, state=Submission.State.SCORED,
    )  # fmt: skip
    hidden = DatasetImage.objects.filter(
        image_set__competition=competition, image_set__kind="content", is_preview=False
    )
    assert hidden.exists()
    sign_up(page, "mallory")

    response = page.goto(f"/submissions/{submission.pk}/")
    assert response.status == 404
    assert "secret.onnx" not in page.content()
    for image in hidden:
        response = page.goto(f"/api/v1/competitions/{competition.slug}/images/{image.pk}.png")
        assert response.status == 404, image.name
    response = page.goto(f"/api/v1/submissions/{submission.pk}/outputs/")
    assert response.status == 404
