"""The worker glue, run in this process: claim, validate, generate in the sandbox, score, finish."""

from __future__ import annotations

import io
import time
import uuid

import pytest
from django.utils import timezone
from PIL import Image

from gan_platform.storages import private_storage
from scoring.models import ReferenceStats
from scoring.services import submission_claim
from scoring.worker.pipeline import LeaseKeeper, LeaseLost, submission_process_run
from submissions.models import Score, Standing, Submission
from tests.scoring.conftest import GENERATOR_CONFIG, SCORED_METRICS, checkpoint_bytes

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture(autouse=True)
def small_runs(settings):
    settings.ATELIER_SANDBOX_THREADS = 1
    settings.ATELIER_SCORING_BOOTSTRAP_RESAMPLES = 20


@pytest.fixture
def stages(monkeypatch):
    """The stages a run moves through, in order."""
    import scoring.worker.pipeline

    seen: list[str] = []
    original = scoring.worker.pipeline.submission_advance

    def recording(**kwargs):
        seen.append(str(kwargs["to_state"]))
        return original(**kwargs)

    monkeypatch.setattr(scoring.worker.pipeline, "submission_advance", recording)
    return seen


def test_a_submission_is_validated_generated_and_scored_and_the_reference_statistics_are_reused(
    arena, make_submission, stages, monkeypatch
):
    from gan_core.generators import parameter_count

    first = make_submission(checkpoint_bytes(seed=1))

    # when a worker processes it
    outcome = submission_process_run(submission_id=first.pk, worker="gpu@test")

    # then it went through every stage and is scored on both splits with every phase metric
    first.refresh_from_db()
    assert outcome == "scored", (first.failure_code, first.failure_message, first.failure_detail[-2000:])
    assert stages == ["generating", "scoring"]
    assert first.state == Submission.State.SCORED
    assert (first.attempts, first.progress_done, first.progress_total) == (1, 6, 6)
    assert first.lease_token is None
    scores = {(score.split, score.metric): score for score in Score.objects.filter(submission=first)}
    assert set(scores) == {(split, metric) for split in ("public", "private") for metric in SCORED_METRICS}
    assert all(score.calibrated is False for score in scores.values()), "random feature networks are not calibrated"
    assert all(score.preprocessing_mode == "clean" for score in scores.values())
    assert scores["public", "parameters"].value == parameter_count(GENERATOR_CONFIG) == 34275
    assert scores["public", "latency"].value > 0
    assert scores["public", "fid"].value > 0 and scores["public", "fid"].interval_low is not None
    assert scores["public", "fid"].value != scores["private", "fid"].value, "splits are scored separately"
    assert 0 < scores["public", "lpips"].value
    assert -1 <= scores["public", "ssim"].value <= 1
    assert scores["public", "fid"].network_digests["inception"]["calibrated"] is False
    # and its standings were written in the same transaction as the scores
    standing = Standing.objects.get(phase=arena["phase"], split="public", submission=first)
    assert standing.values["fid"][0] == scores["public", "fid"].value

    # and the outputs of the public preview images are in private storage, as PNGs of the input's size
    previews = list(arena["competition"].image_sets.get(kind="content").images.filter(is_preview=True))
    assert len(previews) == 2
    for image in previews:
        with private_storage().open(first.preview_output_name(image.name), "rb") as handle:
            assert Image.open(io.BytesIO(handle.read())).size == (32, 32)

    # and the style set's statistics were computed once, stored, and reused by the next submission
    stored = list(ReferenceStats.objects.all())
    assert [(row.kind, row.calibrated, row.image_count) for row in stored] == [("reference", False, 4)]
    assert private_storage().exists(stored[0].file.name)
    second = make_submission(checkpoint_bytes(seed=2))
    assert submission_process_run(submission_id=second.pk, worker="gpu@test") == "scored"
    assert list(ReferenceStats.objects.values_list("pk", flat=True)) == [stored[0].pk]
    second_fid = Score.objects.get(submission=second, split="public", metric="fid").value
    assert second_fid != scores["public", "fid"].value, "another generator scores differently"


def test_a_checkpoint_that_does_not_match_its_architecture_fails_as_the_participants_fault(make_submission, stages):
    wrong = checkpoint_bytes(
        weights_of={"architecture": "transformer_net", "hyperparameters": {"channels": 16, "n_residual": 1}}
    )
    submission = make_submission(wrong)

    outcome = submission_process_run(submission_id=submission.pk, worker="gpu@test")

    submission.refresh_from_db()
    assert outcome == "failed"
    assert submission.state == Submission.State.FAILED
    assert submission.failure_code == "shape_mismatch", submission.failure_message
    assert submission.failure_message and "/work" not in submission.failure_message
    assert submission.counts_against_quota is True
    assert stages == [], "validation failed before generation"
    assert not Score.objects.filter(submission=submission).exists()


def test_a_storage_error_gives_the_submission_back_to_the_queue(make_submission, sent):
    submission = make_submission(b"missing-" + uuid.uuid4().bytes)
    private_storage().delete(submission.file.name)

    outcome = submission_process_run(submission_id=submission.pk, worker="gpu@test")

    submission.refresh_from_db()
    assert outcome == "requeued"
    assert submission.state == Submission.State.QUEUED
    assert (submission.attempts, submission.lease_token, submission.failure_code) == (1, None, "storage_error")
    assert "FileNotFoundError" in submission.failure_detail
    assert sent == [], "a storage error is the platform's: the reconciler re-sends it after its grace period"


def test_the_lease_keeper_extends_the_lease_and_notices_a_cancellation(make_submission, settings):
    settings.ATELIER_LEASE_SECONDS = 60
    submission = make_submission()
    token = submission_claim(submission_id=submission.pk, worker="gpu@test")
    Submission.objects.filter(pk=submission.pk).update(lease_expires_at=timezone.now())

    with LeaseKeeper(submission_id=submission.pk, token=token, interval=0.2) as lease:
        deadline = time.monotonic() + 20
        while Submission.objects.get(pk=submission.pk).lease_expires_at < timezone.now() + timezone.timedelta(
            seconds=30
        ):
            assert time.monotonic() < deadline, "the background heartbeat never extended the lease"
            time.sleep(0.1)
        lease.progress(3, 6)
        # when the participant cancels
        Submission.objects.filter(pk=submission.pk).update(
            state=Submission.State.CANCELLED, lease_token=None, lease_expires_at=None
        )
        # then the next progress report stops the run
        with pytest.raises(LeaseLost):
            lease.progress(4, 6)
    assert Submission.objects.get(pk=submission.pk).progress_done == 3


def test_a_message_for_a_cancelled_submission_is_dropped_without_a_claim(make_submission):
    submission = make_submission(state=Submission.State.CANCELLED)

    assert submission_process_run(submission_id=submission.pk, worker="gpu@test") == "not_claimed"

    submission.refresh_from_db()
    assert (submission.state, submission.attempts, submission.lease_token) == (Submission.State.CANCELLED, 0, None)


def test_reference_statistics_of_a_style_set_are_computed_once(arena):
    from scoring.worker.scores import reference_stats_compute_for_set

    style_set = arena["competition"].image_sets.get(kind="style")
    content_set = arena["competition"].image_sets.get(kind="content")

    first = reference_stats_compute_for_set(image_set_id=style_set.pk)
    again = reference_stats_compute_for_set(image_set_id=style_set.pk)

    assert len(first) == 1 and again == first
    row = ReferenceStats.objects.get(pk=first[0])
    assert (row.image_set_id, row.kind, row.image_count, row.calibrated) == (style_set.pk, "reference", 4, False)
    assert row.network.startswith("inception") and row.mode == "clean" and row.weights_digest == "random-seed-0"
    with pytest.raises(ValueError, match="reference statistics are of style sets"):
        reference_stats_compute_for_set(image_set_id=content_set.pk)


def test_a_split_too_small_for_fid_fails_once_as_the_platforms_fault(make_submission, sent):
    # given a content set whose public split holds one image: FID needs two
    from competitions.models import DatasetImage

    submission = make_submission(checkpoint_bytes(seed=2))
    content = DatasetImage.objects.filter(
        image_set__competition=submission.phase.competition, image_set__kind="content"
    )
    keep = content.filter(split="public").order_by("name").first()
    content.filter(split="public").exclude(pk=keep.pk).update(split="private", is_preview=False)

    # when a worker processes it
    outcome = submission_process_run(submission_id=submission.pk, worker="gpu@test")

    # then it fails at once, without a retry, and does not count against the quota
    submission.refresh_from_db()
    assert outcome == "failed"
    assert submission.state == Submission.State.FAILED and submission.failure_code == "scoring_error"
    assert submission.attempts == 1 and sent == []
    assert submission.counts_against_quota is False
    assert "could not compute the scores" in submission.failure_message
    assert "does not count against your quota" in submission.failure_message


def test_a_memory_budget_too_small_for_one_image_fails_with_a_message_for_the_organizers(
    make_submission, sent, settings
):
    # given a worker whose scoring budget cannot hold one image through the Inception network (48 MiB)
    settings.ATELIER_SCORING_MEMORY_MB = 16
    submission = make_submission(checkpoint_bytes(seed=2))

    # when it processes a submission
    outcome = submission_process_run(submission_id=submission.pk, worker="gpu@test")

    # then the submission fails once, as the platform's fault, saying what needs how much memory
    submission.refresh_from_db()
    assert outcome == "failed" and sent == []
    assert submission.failure_code == "scoring_error" and submission.counts_against_quota is False
    assert "the Inception network (299x299 inputs) needs about 48 MiB for one image" in submission.failure_message
    assert "budget of 16 MiB (ATELIER_SCORING_MEMORY_MB); raise the budget" in submission.failure_message
