"""An organizer creates a competition through the pages and uploads its image sets, in a real browser."""

from __future__ import annotations

import pytest

from competitions.models import Competition, DatasetImage
from tests.browser.inspection import accessibility_problems, screenshot
from tests.browser.login import log_in
from tests.factories import images_zip, organizer_create

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_organizer_creates_a_competition_and_uploads_its_sets(page, tmp_path):
    organizer_create("olga")
    style_zip, content_zip, bad_zip = tmp_path / "style.zip", tmp_path / "content.zip", tmp_path / "bad.zip"
    style_zip.write_bytes(images_zip(4, kind="style", size=32))
    content_zip.write_bytes(images_zip(6, kind="content", size=32))
    bad_zip.write_bytes(images_zip(2, kind="content", size=32, extra={"notes.png": b"not an image at all"}))
    log_in(page, "olga")

    # the competition
    page.goto("/organize/new/")
    assert accessibility_problems(page) == []
    page.get_by_label("Slug").fill("woodcuts")
    page.get_by_label("Title").fill("Photos into woodcuts")
    page.get_by_label("Summary").fill("Carve your photos.")
    page.get_by_label("Rules").fill("Be kind.")
    page.get_by_label("Visibility").select_option("public")
    page.get_by_label("Feature weights").select_option("random")
    page.get_by_label("Image size").fill("32")
    page.get_by_label("ONNX (free architectures)").check()
    screenshot(page, "organizer-new-competition")
    page.get_by_role("button", name="Create the competition").click()

    # a phase, with its metrics
    page.get_by_role("heading", name="New phase").wait_for()
    assert accessibility_problems(page) == []
    page.get_by_label("Daily quota").fill("3")
    page.locator("#id_ranking_metric").select_option("fid")
    screenshot(page, "organizer-new-phase")
    page.get_by_role("button", name="Save the phase").click()
    page.get_by_role("heading", name="Photos into woodcuts: dashboard").wait_for()
    assert accessibility_problems(page) == []
    screenshot(page, "organizer-dashboard")

    # the image sets, with a bad file refused by name
    page.get_by_role("link", name="Data", exact=True).click()
    page.get_by_label("Zip of content images").set_input_files(str(bad_zip))
    page.get_by_role("button", name="Upload the content set").click()
    error = page.locator("[data-upload-status].field-error")
    error.wait_for()
    assert "notes.png" in error.inner_text()
    assert not DatasetImage.objects.exists(), "a refused upload writes nothing"

    page.get_by_label("Zip of style images").set_input_files(str(style_zip))
    page.get_by_role("button", name="Upload the style set").click()
    page.get_by_text("The style set now has 4 images.").wait_for()
    page.get_by_label("Zip of content images").set_input_files(str(content_zip))
    page.get_by_role("button", name="Upload the content set").click()
    page.get_by_text("The content set now has 6 images.").wait_for()

    page.get_by_label("Previews").fill("2")
    page.get_by_role("button", name="Split again").click()
    page.get_by_text("The content set is split again.").wait_for()
    assert accessibility_problems(page) == []
    screenshot(page, "organizer-data")

    competition = Competition.objects.get(slug="woodcuts")
    assert competition.title == "Photos into woodcuts" and competition.visibility == "public"
    assert sorted(competition.accepted_formats) == ["onnx", "safetensors"]
    phase = competition.phases.get()
    assert phase.daily_quota == 3
    assert phase.metrics.get(is_ranking=True).metric == "fid"
    content = competition.image_sets.get(kind="content")
    assert content.image_count == 6
    assert content.images.filter(is_preview=True).count() == 2
    assert competition.image_sets.get(kind="style").image_count == 4

    # what participants see: the previews, never the hidden images
    page.goto("/c/woodcuts/data/")
    assert page.locator("img[alt^='Preview content image']").count() == 2
    assert page.locator("img[alt^='Style image']").count() == 4
