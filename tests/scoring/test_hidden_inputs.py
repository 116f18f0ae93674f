"""No participant-visible output depends on a hidden input, even with an adversarial generator.

The generators here are ONNX graphs built at test time that mix images across the batch axis, the
way an attacker would try to smuggle hidden content images into the preview outputs a team can
download: a roll (output i is input i + 1), a reversal, a batch mean and a batch maximum. On one
image alone each of them is the identity, so the preview outputs must equal the preview inputs
pixel for pixel; with the hidden images of the same batch mixed in, they would not.
"""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
from django.core.files.base import ContentFile
from PIL import Image

from competitions.models import DatasetImage
from gan_core.failures import FailureCode
from gan_core.sandbox import SandboxError, SandboxLimits
from gan_platform.storages import private_storage
from scoring.worker.pipeline import submission_process_run
from scoring.worker.runs import ParentClock, ParentCount, efficiency_measured, hidden_failure
from submissions.models import Score, Submission
from tests.factories import png_bytes
from tests.gan_core.sandbox_support import _onnx_model
from tests.scoring.conftest import submission_row

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

_INT64_MAX = np.iinfo(np.int64).max
_INT64_MIN = np.iinfo(np.int64).min


@pytest.fixture(autouse=True)
def small_runs(settings):
    settings.ATELIER_SANDBOX_THREADS = 1
    settings.ATELIER_SCORING_BOOTSTRAP_RESAMPLES = 0


def _constant(name: str, values) -> object:
    from onnx import numpy_helper

    return numpy_helper.from_array(np.array(values, dtype=np.int64), name)


def onnx_batch_roll() -> bytes:
    """Output i = input i + 1 of the same batch (the last gets the first)."""
    from onnx import helper

    return _onnx_model(
        [
            helper.make_node("Slice", ["input", "one", "end", "axis"], ["tail"]),
            helper.make_node("Slice", ["input", "zero", "one", "axis"], ["head"]),
            helper.make_node("Concat", ["tail", "head"], ["output"], axis=0),
        ],
        [_constant("zero", [0]), _constant("one", [1]), _constant("end", [_INT64_MAX]), _constant("axis", [0])],
    )


def onnx_batch_reverse() -> bytes:
    """Output i = input N - 1 - i (a Slice with step -1 along the batch axis)."""
    from onnx import helper

    return _onnx_model(
        [helper.make_node("Slice", ["input", "start", "end", "axis", "step"], ["output"])],
        [
            _constant("start", [-1]),
            _constant("end", [_INT64_MIN]),
            _constant("axis", [0]),
            _constant("step", [-1]),
        ],
    )


def _onnx_batch_reduce(operator: str) -> bytes:
    from onnx import helper, numpy_helper

    zero = numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero_f")
    return _onnx_model(
        [
            helper.make_node(operator, ["input"], ["reduced"], axes=[0], keepdims=1),
            helper.make_node("Mul", ["input", "zero_f"], ["nothing"]),
            helper.make_node("Add", ["nothing", "reduced"], ["output"]),
        ],
        [zero],
    )


def onnx_batch_mean() -> bytes:
    """Every output is the mean of the whole batch."""
    return _onnx_batch_reduce("ReduceMean")


def onnx_batch_max() -> bytes:
    """Every output is the pixel-wise maximum of the whole batch (a bright hidden image shows through)."""
    return _onnx_batch_reduce("ReduceMax")


MIXERS = {
    "roll": onnx_batch_roll,
    "reverse": onnx_batch_reverse,
    "mean": onnx_batch_mean,
    "max": onnx_batch_max,
}


def _onnx_submission(arena, data: bytes) -> Submission:
    return submission_row(
        arena["phase"], arena["team"], arena["user"], data, format=Submission.Format.ONNX, original_name="g.onnx"
    )


def _pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def _preview_outputs(submission: Submission, previews) -> dict[str, bytes]:
    outputs = {}
    for image in previews:
        with private_storage().open(submission.preview_output_name(image.name), "rb") as handle:
            outputs[image.name] = handle.read()
    return outputs


def _replace_hidden_images(competition, *, offset: int) -> int:
    """Give every non-preview content image other pixels (same names); returns how many changed."""
    hidden = list(DatasetImage.objects.filter(image_set__competition=competition, image_set__kind="content"))
    changed = 0
    for number, image in enumerate(hidden):
        if image.is_preview:
            continue
        data = png_bytes(offset + number, size=32, kind="content")
        storage = private_storage()
        storage.delete(image.file.name)
        stored = storage.save(image.file.name, ContentFile(data))
        assert stored == image.file.name
        DatasetImage.objects.filter(pk=image.pk).update(sha256=hashlib.sha256(data).hexdigest())
        changed += 1
    return changed


@pytest.mark.needs_bwrap
@pytest.mark.parametrize("mixer", sorted(MIXERS))
def test_a_generator_mixing_the_batch_cannot_put_hidden_images_into_preview_outputs(arena, mixer):
    competition = arena["competition"]
    previews = list(competition.image_sets.get(kind="content").images.filter(is_preview=True).order_by("name"))
    hidden = competition.image_sets.get(kind="content").images.filter(is_preview=False)
    assert len(previews) == 2 and hidden.count() == 4, "the arena's batch holds previews and hidden images"

    # given an ONNX generator that mixes images across the batch axis
    first = _onnx_submission(arena, MIXERS[mixer]())
    # when it is scored
    assert submission_process_run(submission_id=first.pk, worker="gpu@test") == "scored", Submission.objects.get(
        pk=first.pk
    ).failure_detail[-2000:]
    outputs = _preview_outputs(first, previews)

    # then each preview output is what the generator gives for that preview image alone (the identity)
    for image in previews:
        with private_storage().open(image.file.name, "rb") as handle:
            expected = _pixels(handle.read())
        assert np.array_equal(_pixels(outputs[image.name]), expected), f"{mixer}: {image.name} was mixed"
    # and no preview output equals any hidden image
    for image in hidden:
        with private_storage().open(image.file.name, "rb") as handle:
            secret = _pixels(handle.read())
        assert all(not np.array_equal(_pixels(data), secret) for data in outputs.values())

    # when the hidden images are replaced by others and the same generator is scored again
    assert _replace_hidden_images(competition, offset=500) == 4
    second = _onnx_submission(arena, MIXERS[mixer]())
    assert submission_process_run(submission_id=second.pk, worker="gpu@test") == "scored"
    # then the preview outputs are byte-identical, while the scores (which must depend on them) moved
    assert _preview_outputs(second, previews) == outputs
    if mixer != "max":
        first_fid = Score.objects.get(submission=first, split="private", metric="fid").value
        second_fid = Score.objects.get(submission=second, split="private", metric="fid").value
        assert first_fid != second_fid


@pytest.mark.needs_bwrap
def test_the_latency_shown_is_measured_by_the_parent_not_reported_by_the_child(arena, monkeypatch):
    import gan_core.sandbox.runs

    # given a child that claims to need 1000 s per image (a forged or modulated figure)
    original = gan_core.sandbox.runs.outcome_result

    def lying(outcome, *, limits):
        result = dict(original(outcome, limits=limits))
        result["seconds_per_image"] = 1000.0
        return result

    monkeypatch.setattr(gan_core.sandbox.runs, "outcome_result", lying)
    submission = _onnx_submission(arena, onnx_batch_roll())
    # when it is scored
    assert submission_process_run(submission_id=submission.pk, worker="gpu@test") == "scored"
    # then the latency figure is the parent's measurement of the preview run, nowhere near the claim
    latency_ms = Score.objects.get(submission=submission, split="public", metric="latency").value
    assert 0 < latency_ms < 30_000


@pytest.mark.needs_bwrap
def test_a_failure_on_hidden_images_shows_a_fixed_message_and_keeps_the_childs_words_for_organizers(arena, monkeypatch):
    import scoring.worker.runs

    original = scoring.worker.runs.run_generator

    def compromised(**kwargs):
        if len(kwargs["inputs"]) > 2:  # the hidden run: a child that tries to write hidden pixels into its message
            raise SandboxError(FailureCode.NON_FINITE, "pixels 17,42,99 of private-003.png", log_tail="stderr tail")
        return original(**kwargs)

    monkeypatch.setattr(scoring.worker.runs, "run_generator", compromised)
    submission = _onnx_submission(arena, onnx_batch_roll())

    assert submission_process_run(submission_id=submission.pk, worker="gpu@test") == "failed"

    submission.refresh_from_db()
    assert submission.failure_code == "non_finite"
    assert "17,42,99" not in submission.failure_message and "private-003" not in submission.failure_message
    assert "failed on the hidden content images" in submission.failure_message
    assert "pixels 17,42,99 of private-003.png" in submission.failure_detail
    assert "stderr tail" in submission.failure_detail
    assert submission.counts_against_quota is True
    # the preview run had succeeded: its outputs are stored, they depend on no hidden image
    previews = submission.phase.competition.image_sets.get(kind="content").images.filter(is_preview=True)
    assert all(private_storage().exists(submission.preview_output_name(image.name)) for image in previews)


# --------------------------------------------------------------------------- the pieces, without a sandbox


def test_hidden_failure_keeps_only_a_known_run_code_and_writes_its_own_message():
    limits = SandboxLimits(memory_bytes=2 * 1024**3, wall_seconds=60)
    known = hidden_failure(SandboxError(FailureCode.OUT_OF_MEMORY, "secret 1 2 3"), limits=limits)
    assert known.code == "out_of_memory"
    assert "secret" not in known.message
    assert "more memory than the phase allows" in known.message and "2 GiB" in known.message
    assert "secret 1 2 3" in known.log_tail
    # a code a run cannot end with (a child inventing header codes to signal bits) becomes crashed
    odd = hidden_failure(SandboxError(FailureCode.BAD_DTYPE, "x"), limits=limits)
    assert odd.code == "crashed"
    assert "it crashed" in odd.message


def test_hidden_progress_counts_events_not_the_childs_numbers():
    reported: list[tuple[int, int]] = []
    counter = ParentCount(total=10, batch_size=4, report=lambda done, total: reported.append((done, total)))
    # the child claims absurd figures
    for claimed in (0, 999, -5, 3):
        counter(claimed, 12345)
    assert reported == [(0, 10), (4, 10), (8, 10), (9, 10)], "capped below the total until trusted code ends it"


def test_efficiency_uses_the_parent_clock_gaps_or_the_probe_without_previews(monkeypatch):
    import scoring.worker.runs

    times = iter([100.0, 100.5, 100.75, 101.5])
    monkeypatch.setattr(scoring.worker.runs.time, "monotonic", lambda: next(times))
    clock = ParentClock()
    for _ in range(4):
        clock(0, 0)
    assert clock.seconds_per_event() == 0.5  # median of 0.5, 0.25, 0.75

    class Info:
        parameter_count = 1234

    class Probe:
        wall_seconds = 4.0
        startup_seconds = 1.0

    class Report:
        run = Probe()

    measured = efficiency_measured(preview=clock, validation=Report(), info=Info())
    assert (measured.seconds_per_image, measured.parameter_count) == (0.5, 1234)
    without_previews = efficiency_measured(preview=None, validation=Report(), info=Info())
    assert without_previews.seconds_per_image == 1.0  # (4 - 1) s over the probe's three passes
