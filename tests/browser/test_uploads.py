"""The submit page's resumable upload in Chromium: it goes on by itself after a network error, and
after a reload when the same file is chosen again; it says why it cannot take a file and disables
the control when the quota is used."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

import pytest

from gan_platform.storages import private_storage
from submissions.models import Submission, UploadSession
from tests.browser.login import log_in
from tests.factories import competition_create_for_tests, participant_join, user_create
from tests.submissions.helpers import safetensors_bytes
from tests.support.local_storage import local_private_root  # noqa: F401 (the private_root fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHUNK = 64 * 1024
UPLOAD_SESSION = re.compile(r".*/api/v1/uploads/[^/]+/$")


@pytest.fixture
def setup(settings, tmp_path, private_root):
    settings.ATELIER_UPLOAD_CHUNK_BYTES = CHUNK
    settings.ATELIER_UPLOAD_SESSIONS_DIR = tmp_path / "upload-sessions"
    competition = competition_create_for_tests(slug="wood", image_size=16, content_images=4, style_images=2)
    participant_join(competition, user_create("ada"))
    return competition


def checkpoint(tmp_path, name: str, padding: int):
    path = tmp_path / name
    path.write_bytes(safetensors_bytes(header_padding=padding))
    return path


def patch_offsets(page) -> list[int]:
    """Upload-Offset of every chunk the page sends (recorded from the page's requests)."""
    offsets: list[int] = []
    page.on(
        "request",
        lambda request: request.method == "PATCH" and offsets.append(int(request.headers["upload-offset"])),
    )
    return offsets


def chunks_fail(page, error: str, *, when: Callable[[int], bool]) -> None:
    """From now on (until ``page.unroute(UPLOAD_SESSION)``) the page's chunks (PATCH requests, counted
    from 1) for which ``when(count)`` holds are aborted with the network ``error``."""
    count = 0

    def handle(route) -> None:
        nonlocal count
        if route.request.method == "PATCH":
            count += 1
            if when(count):
                route.abort(error)
                return
        route.continue_()

    page.route(UPLOAD_SESSION, handle)


def submit_until_the_connection_is_lost(page, path) -> None:
    page.goto("/c/wood/submit/")
    page.get_by_label("Checkpoint file").set_input_files(str(path))
    page.get_by_role("button", name="Upload and submit").click()
    page.get_by_text("The connection was lost").wait_for()


def stored(submission: Submission) -> bytes:
    with private_storage().open(submission.file.name, "rb") as f:
        return f.read()


def test_an_upload_resumes_after_a_network_error_and_after_a_reload(page, setup, tmp_path):
    log_in(page, "ada")
    offsets = patch_offsets(page)

    # a network error on the third chunk: the page tries again from the server's offset
    first = checkpoint(tmp_path, "first.safetensors", 400_000)
    chunks_fail(page, "connectionreset", when=lambda count: count == 3)
    submit_until_the_connection_is_lost(page, first)
    page.wait_for_url("**/submissions/*/", timeout=30_000)
    submission = Submission.objects.get(original_name="first.safetensors")
    assert stored(submission) == first.read_bytes()
    assert submission.sha256 == hashlib.sha256(first.read_bytes()).hexdigest()  # the page's own SHA-256 agreed
    assert offsets[:4] == [0, CHUNK, 2 * CHUNK, 2 * CHUNK]  # the lost chunk again, nothing before it
    page.unroute(UPLOAD_SESSION)

    # the link goes down for good after two chunks; the participant reloads and chooses the file again
    second = checkpoint(tmp_path, "second.safetensors", 500_000)
    chunks_fail(page, "internetdisconnected", when=lambda count: count > 2)
    submit_until_the_connection_is_lost(page, second)
    session = UploadSession.objects.get(filename="second.safetensors")
    assert session.offset == 2 * CHUNK
    page.unroute(UPLOAD_SESSION)
    page.reload()
    offsets.clear()
    page.get_by_label("Checkpoint file").set_input_files(str(second))
    page.get_by_text("an interrupted upload of this file was found").wait_for()
    page.get_by_role("button", name="Upload and submit").click()
    page.wait_for_url("**/submissions/*/", timeout=30_000)
    assert offsets[0] == 2 * CHUNK  # from where it stopped, not from 0
    assert stored(Submission.objects.get(original_name="second.safetensors")) == second.read_bytes()
    assert UploadSession.objects.filter(state="open").count() == 0
    assert page.evaluate("Object.keys(localStorage).filter((k) => k.startsWith('atelier-upload:')).length") == 0


def test_the_page_says_why_it_cannot_take_a_file_and_disables_the_control(page, setup):
    setup.phases.update(daily_quota=0)
    log_in(page, "ada")
    page.goto("/c/wood/submit/")
    alert = page.locator("#upload-blocked")
    assert "daily quota" in alert.inner_text()
    assert page.get_by_label("Checkpoint file").is_disabled()
    assert page.get_by_role("button", name="Upload and submit").is_disabled()
