"""The submit page's resumable upload to S3 in Chromium: the page PUTs the parts straight to the bucket
(a moto_server of this module's own) through presigned URLs, resumes after a network error, and the
server verifies the file in a task (a stand-in worker thread, tests/support/upload_verifier.py) while
the page polls; it ends on the submission's page, queued for scoring.

The bucket needs the CORS rule that ``manage.py upload_cors`` puts (``upload_bytes.cors_rules``).
moto_server answers every origin by default (flask-cors on the whole server); it is started here with
``MOTO_DISABLE_GLOBAL_CORS=true``, and then it does enforce the bucket's rule: a preflight from an
origin the rule does not name answers 403, and without any rule no ``Access-Control-Allow-Origin``
comes back, so Chromium blocks the PUT. moto does not check the preflight's method against the rule
(it answers the rule's ``AllowedMethods``; Chromium does that check). The last test shows the page
refused without the rule, so the first one passes because of it. The page itself reads no ETag (the
server lists the parts); ``ExposeHeaders: ETag`` is in the rule for clients that would.
"""

from __future__ import annotations

import re
import subprocess
import sys
import urllib.request

import pytest

from gan_platform.storages import private_storage
from submissions import upload_bytes
from submissions.models import Submission, UploadSession
from tests.browser.test_uploads import log_in
from tests.factories import competition_create_for_tests, participant_join, user_create
from tests.submissions.helpers import big_onnx
from tests.support.object_storage import bucket_create, object_keys, private_storage_settings, s3_client
from tests.support.processes import (
    REPO_ROOT,
    child_environment,
    dies_with_parent,
    free_port,
    stop_process_group,
    wait_until,
)
from tests.support.sending import sends_recorded
from tests.support.upload_verifier import upload_verifier  # noqa: F401 (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MIB = 1 << 20


@pytest.fixture(scope="module")
def cors_enforcing_s3():
    """The endpoint of a moto_server that applies buckets' CORS rules (its global CORS switched off)."""
    port = free_port()
    log_path = REPO_ROOT / "var" / f"test-moto-cors-{port}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            env=child_environment(MOTO_DISABLE_GLOBAL_CORS="true"),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=dies_with_parent(),
        )
    endpoint = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            with urllib.request.urlopen(endpoint + "/", timeout=2):
                return True
        except OSError:
            return process.poll() is not None and pytest.fail(log_path.read_text(errors="replace")[-2000:])

    try:
        wait_until(answers, timeout=30, message=f"moto_server on {endpoint}")
        yield endpoint
    finally:
        stop_process_group(process)


@pytest.fixture
def s3_site(settings, tmp_path, cors_enforcing_s3, upload_verifier, monkeypatch):  # noqa: F811
    """Private storage and uploads in a new bucket of the CORS-enforcing server; a joined participant."""
    name = bucket_create(cors_enforcing_s3)
    settings.STORAGES = {**settings.STORAGES, "private": private_storage_settings(cors_enforcing_s3, name, "private")}
    settings.ATELIER_S3_BUCKET = name
    settings.ATELIER_S3_PUBLIC_ENDPOINT_URL = cors_enforcing_s3
    settings.ATELIER_UPLOAD_CHUNK_BYTES = 5 * MIB
    settings.ATELIER_UPLOAD_SESSIONS_DIR = tmp_path / "upload-sessions"
    scored = sends_recorded(monkeypatch, "submission_send", "submission_id")
    competition = competition_create_for_tests(slug="wood", image_size=16, content_images=4, style_images=2)
    participant_join(competition, user_create("ada"))
    return {"endpoint": cors_enforcing_s3, "bucket": name, "verified": upload_verifier, "scored": scored}


def part_numbers_sent(page, endpoint: str) -> list[int]:
    """partNumber of every PUT the page sends to the bucket (recorded from the page's requests)."""
    numbers: list[int] = []

    def record(request) -> None:
        if request.method == "PUT" and request.url.startswith(endpoint):
            numbers.append(int(re.search(r"[?&]partNumber=(\d+)", request.url).group(1)))

    page.on("request", record)
    return numbers


def test_the_page_puts_parts_to_the_bucket_resumes_after_a_network_error_and_ends_queued(
    page, live_server, s3_site, tmp_path
):
    # given the bucket's CORS rule for this site, as `manage.py upload_cors --origin <site>` puts it
    rules = upload_bytes.bucket_cors_set([live_server.url])
    assert rules["CORSRules"][0]["ExposeHeaders"] == ["ETag"]
    checkpoint = tmp_path / "generator.onnx"
    checkpoint.write_bytes(big_onnx(11))  # three parts: 5 + 5 + the rest (MiB)
    log_in(page, "ada")
    sent = part_numbers_sent(page, s3_site["endpoint"])

    # the connection breaks the first time part 2 is sent
    broken = {"count": 0}

    def break_part_two_once(route):
        if route.request.method == "PUT" and "partNumber=2" in route.request.url and broken["count"] == 0:
            broken["count"] += 1
            route.abort("connectionreset")
            return
        route.continue_()

    page.route(re.compile(re.escape(s3_site["endpoint"]) + r"/.*"), break_part_two_once)

    # when ada uploads on the submit page
    page.goto("/c/wood/submit/")
    page.get_by_label("Checkpoint file").set_input_files(str(checkpoint))
    page.get_by_role("button", name="Upload and submit").click()
    page.get_by_text("The connection was lost").wait_for()
    page.wait_for_url("**/submissions/*/", timeout=60_000)

    # then the parts went to the bucket, part 2 twice, and the verified file is the queued submission
    assert sent == [1, 2, 2, 3]
    submission = Submission.objects.get()
    assert page.url.rstrip("/").endswith(f"/submissions/{submission.pk}")
    assert submission.state == Submission.State.QUEUED and s3_site["scored"] == [submission.pk]
    with private_storage().open(submission.file.name, "rb") as stored:
        assert stored.read() == checkpoint.read_bytes()
    session = UploadSession.objects.get()
    assert (session.backend, session.state, session.submission_id) == ("s3", "completed", submission.pk)
    assert s3_site["verified"] == [str(session.pk)]
    assert s3_client(s3_site["endpoint"]).list_multipart_uploads(Bucket=s3_site["bucket"]).get("Uploads", []) == []
    assert page.evaluate("Object.keys(localStorage).filter((k) => k.startsWith('atelier-upload:')).length") == 0


def test_without_the_cors_rule_the_browser_cannot_put_a_part(browser, live_server, s3_site, tmp_path):
    # given a bucket with no CORS rule (a page of its own: the blocked requests log console errors)
    checkpoint = tmp_path / "generator.onnx"
    checkpoint.write_bytes(big_onnx(6))
    context = browser.new_context(base_url=live_server.url)
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        log_in(page, "ada")
        console: list[str] = []
        page.on("console", lambda message: console.append(message.text))

        page.goto("/c/wood/submit/")
        page.get_by_label("Checkpoint file").set_input_files(str(checkpoint))
        page.get_by_role("button", name="Upload and submit").click()

        # then Chromium blocks the PUT: the page retries as after a network error, and no part arrives
        page.get_by_text("The connection was lost").wait_for()
        assert any("CORS policy" in text for text in console), console
        session = UploadSession.objects.get()
        assert (session.state, session.backend) == ("open", "s3")
        key = upload_bytes.s3_key(session.s3_key)
        parts = s3_client(s3_site["endpoint"]).list_parts(
            Bucket=s3_site["bucket"], Key=key, UploadId=session.s3_upload_id
        )
        assert parts.get("Parts", []) == []
        assert Submission.objects.count() == 0
        assert object_keys(s3_site["endpoint"], s3_site["bucket"], "private/submissions/") == []
    finally:
        context.close()
