"""Private files through the real S3 protocol: a submission scored by a real worker process whose only
copy of the checkpoint, the hidden set and the reference statistics is a bucket on an S3-protocol
server (moto's, on 127.0.0.1), and nothing in that bucket reachable by a URL.

Runs in every pass (it brings its own bucket); the object-storage pass of ``.ci/run`` also runs the
storage, pipeline and end-to-end tests with every private file in a bucket."""

from __future__ import annotations

import uuid

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from scoring.models import ReferenceStats
from submissions import sending
from submissions.models import Submission
from tests.scoring.conftest import SCORED_METRICS, checkpoint_bytes
from tests.scoring.helpers import WORKER_ENVIRONMENT, score_keys, wait_until_finished
from tests.support.object_storage import (
    anonymous_get_status,
    object_keys,
    public_grants,
    s3_client,
    s3_environment,
)
from tests.support.processes import celery_worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_a_worker_scores_from_the_bucket_alone_and_no_private_object_has_a_url(
    private_bucket, arena, make_submission, monkeypatch, tmp_path
):
    endpoint, name, prefix = private_bucket["endpoint"], private_bucket["name"], private_bucket["prefix"]
    queue = f"test-gpu-{uuid.uuid4().hex[:10]}"
    monkeypatch.setattr(settings, "ATELIER_GPU_QUEUE", queue)
    # given a submission and the competition's image sets stored in the bucket only
    submission = make_submission(checkpoint_bytes(seed=11))
    stored = set(object_keys(endpoint, name))
    assert f"{prefix}/{submission.file.name}" in stored
    hidden = arena["competition"].image_sets.get(kind="content").images.filter(is_preview=False)
    assert hidden.exists() and all(f"{prefix}/{image.file.name}" in stored for image in hidden)

    # when a worker with an empty cache of its own and only the bucket's address scores it
    environment = {
        **WORKER_ENVIRONMENT,
        **s3_environment(endpoint, name, prefix),
        "ATELIER_GPU_QUEUE": queue,
        "ATELIER_WORKER_CACHE_DIR": str(tmp_path / "worker-cache"),
    }
    with celery_worker(queues=[queue], **environment):
        Submission.objects.filter(pk=submission.pk).update(enqueued_at=timezone.now())
        sending.submission_send(submission_id=submission.pk)
        done = wait_until_finished(submission.pk, timeout=300)

    # then it is scored once, from copies it fetched through the S3 protocol
    assert done.attempts == 1
    assert score_keys(submission.pk) == sorted((split, m) for split in ("public", "private") for m in SCORED_METRICS)
    cache = tmp_path / "worker-cache"
    assert (cache / "checkpoints" / submission.sha256).is_file(), sorted(cache.rglob("*"))[:20]
    # and the bucket now also holds the preview outputs and the style set's reference statistics
    stored = set(object_keys(endpoint, name))
    previews = arena["competition"].image_sets.get(kind="content").images.filter(is_preview=True)
    outputs = [f"{prefix}/{done.preview_output_name(image.name)}" for image in previews]
    assert outputs and all(key in stored for key in outputs), sorted(stored)
    statistics = ReferenceStats.objects.filter(image_set__competition=arena["competition"])
    assert statistics.exists() and all(f"{prefix}/{row.file.name}" in stored for row in statistics)
    assert all(key.startswith(f"{prefix}/") for key in stored), "nothing outside the private prefix"

    # and no object is public: no grant to all or to authenticated users, and an unsigned GET is refused
    assert {key: public_grants(endpoint, name, key) for key in stored if public_grants(endpoint, name, key)} == {}
    statuses = {anonymous_get_status(endpoint, name, key) for key in stored}
    assert statuses == {403}, statuses

    # and what the participant is given (API and pages) never names the storage; outputs are streamed
    client = Client()
    client.force_login(arena["user"])
    host = endpoint.split("://", 1)[1]
    pages = {
        "detail": client.get(f"/api/v1/submissions/{done.pk}/"),
        "outputs": client.get(f"/api/v1/submissions/{done.pk}/outputs/"),
        "page": client.get(f"/submissions/{done.pk}/"),
    }
    for label, response in pages.items():
        assert response.status_code == 200, (label, response.status_code)
        body = response.content.decode()
        for leak in (host, name, "X-Amz-", "AWSAccessKeyId", "Signature="):
            assert leak not in body, f"{label} mentions {leak!r}"
    listed = pages["outputs"].json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    assert rows and all(row["output_url"] and row["output_url"].startswith("http://testserver/api/v1/") for row in rows)
    image = client.get(rows[0]["output_url"])
    assert image.status_code == 200 and image["Content-Type"] == "image/png"
    key = f"{prefix}/{done.preview_output_name(rows[0]['image'] + '.png')}"
    assert b"".join(image.streaming_content) == s3_client(endpoint).get_object(Bucket=name, Key=key)["Body"].read()
    assert "Location" not in image, "outputs are streamed, never redirected to the storage"
