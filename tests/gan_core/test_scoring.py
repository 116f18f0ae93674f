"""The score API and the score/stats commands end to end, on tiny image folders with random weights."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

import gan_core
import gan_core.scoring as scoring
import gan_core.scoring.folders as scoring_folders
from gan_core.cli import main
from gan_core.features import WeightsMode
from gan_core.images import PreprocessMode
from gan_core.scoring import METRICS, Bootstrap, ScoringError, score
from gan_core.stats import load_stats

FAST = {
    "weights": WeightsMode.RANDOM,
    "seed": 3,
    "network_seed": 3,
    "dims": 64,
    "device": "cpu",
    "bootstrap": Bootstrap(resamples=20),
}


def _write(folder, names, size, seed, transform=None) -> None:
    folder.mkdir()
    rng = np.random.default_rng(seed)
    for name in names:
        pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        if transform is not None:
            pixels = transform(pixels)
        Image.fromarray(pixels).save(folder / name, quality=95)


def score_folders(root, metrics, *, outputs="outputs", **options) -> dict:
    """``score`` with ``FAST`` (``options`` override it) on ``root``'s outputs (or the folder named),
    style/ and content/."""
    return score(
        outputs=root / outputs, style=root / "style", content=root / "content", metrics=metrics, **(FAST | options)
    )


@pytest.fixture
def folders(tmp_path):
    """content/ (4 inputs, one JPEG), outputs/ (one PNG per input: the input darkened), style/ (3 images)."""
    names = ["a.png", "b.png", "c.jpg", "d.png"]
    _write(tmp_path / "content", names, 40, seed=0)
    (tmp_path / "outputs").mkdir()
    for path in sorted((tmp_path / "content").iterdir()):
        pixels = np.asarray(Image.open(path).convert("RGB")) // 2
        Image.fromarray(pixels).save(tmp_path / "outputs" / f"{path.stem}.png")
    _write(tmp_path / "style", ["s1.png", "s2.png", "s3.png"], 36, seed=1)
    return tmp_path


class _CountingExtractor:
    """Wraps an extractor and counts the images it is given."""

    def __init__(self, inner) -> None:
        self.inner, self.images = inner, 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def __call__(self, images):
        self.images += len(images)
        return self.inner(images)


def test_score_reports_every_metric_uncalibrated_and_hits_the_cache_the_second_time(folders, monkeypatch) -> None:
    # given a spy on the Inception extractor and an empty cache folder
    made: list[_CountingExtractor] = []
    real_inception = scoring_folders.inception
    monkeypatch.setattr(
        scoring_folders, "inception", lambda **kw: made.append(_CountingExtractor(real_inception(**kw))) or made[-1]
    )
    cache = folders / "cache"
    # when scoring every metric twice with the same cache
    first = score_folders(folders, ",".join(METRICS), cache_dir=cache)
    second = score_folders(folders, list(METRICS), cache_dir=cache)
    # then the JSON has every metric with a finite value, an interval and a direction
    assert list(first["metrics"]) == list(METRICS)
    for name, entry in first["metrics"].items():
        assert math.isfinite(entry["value"]), name
        assert entry["direction"] == ("higher" if name == "ssim" else "lower")
        assert entry["interval"]["resamples"] == 20 and entry["interval"]["seed"] == 3
        assert entry["interval"]["low"] <= entry["interval"]["high"]
    # and says the networks were random, which mode was used and how many images it saw
    assert first["calibrated"] is False and "not comparable" in first["note"]
    assert first["mode"] == "clean" and first["gan_core_version"] == gan_core.__version__
    assert first["networks"]["inception"] == {
        "name": "inception-v3-fid-64",
        "weights_sha256": None,
        "calibrated": False,
    }
    assert set(first["networks"]) == {"inception", "vgg", "lpips"}
    assert first["counts"] == {"outputs": 4, "style": 3, "pairs": 4}
    assert first["metrics"]["artfid"]["network"] == "inception-v3-fid-64"
    assert first["metrics"]["kid"]["seed"] == 3 and first["metrics"]["kid"]["subset_size"] == 3
    # and the second run read the style set from the cache: only the 4 outputs went through Inception
    assert (first["cache"], second["cache"]) == (
        {"reference": "miss", "gram": "miss"},
        {"reference": "hit", "gram": "hit"},
    )
    assert [spy.images for spy in made] == [4 + 3, 4]
    assert len(list(cache.glob("*.npz"))) == 2
    # and gave the same numbers
    assert second["metrics"] == first["metrics"]


def test_per_image_values_are_kept_in_output_order_and_artfid_is_built_from_them(folders) -> None:
    report = score_folders(folders, "fid,lpips,ssim,artfid")
    per_image = report["per_image"]
    assert per_image["names"] == ["a.png", "b.png", "c.png", "d.png"]
    assert report["metrics"]["ssim"]["value"] == pytest.approx(np.mean(per_image["ssim"]), rel=1e-12)
    assert all(0 < value < 1 for value in per_image["ssim"])  # darkened copies: similar, not identical
    # the LPIPS values are those of the seeded random LPIPS network on each (output, input) pair
    from gan_core.features import lpips_alex
    from gan_core.images import load_image

    network = lpips_alex(weights=WeightsMode.RANDOM, seed=3, device="cpu")
    outputs = torch.stack([load_image(folders / "outputs" / name) for name in per_image["names"]])
    inputs = torch.stack([load_image(path) for path in sorted((folders / "content").iterdir())])
    np.testing.assert_allclose(per_image["lpips"], network(outputs, inputs).numpy(), rtol=1e-12)
    lpips, fid = report["metrics"]["lpips"]["value"], report["metrics"]["fid"]["value"]
    assert report["metrics"]["artfid"]["value"] == pytest.approx((1 + lpips) * (1 + fid), rel=1e-12)


def test_identical_outputs_and_inputs_give_perfect_paired_scores(folders) -> None:
    report = score_folders(folders, "lpips,content,ssim", outputs="content")
    assert report["metrics"]["ssim"]["value"] == pytest.approx(1.0, abs=1e-12)
    assert report["metrics"]["content"]["value"] == 0.0
    assert report["metrics"]["lpips"]["value"] == pytest.approx(0.0, abs=1e-7)


def test_paired_metrics_without_a_content_folder_are_refused_with_the_flag_to_add(folders) -> None:
    with pytest.raises(ScoringError, match=r"lpips, ssim compare outputs with their inputs; pass .*--content DIR"):
        score(outputs=folders / "outputs", style=folders / "style", metrics="ssim,lpips", **FAST)


def test_an_output_without_a_matching_input_is_named(folders) -> None:
    Image.new("RGB", (40, 40)).save(folders / "outputs" / "zzz.png")
    with pytest.raises(ScoringError, match=r"1 output\(s\) have no content image of the same name: zzz.png"):
        score_folders(folders, "ssim")


def test_an_unknown_metric_is_refused_with_the_list_of_known_ones(folders) -> None:
    with pytest.raises(ScoringError, match="unknown metric\\(s\\) fidd; choose from fid, kid"):
        score(outputs=folders / "outputs", style=folders / "style", metrics="fidd", **FAST)


def test_the_worker_path_scores_a_split_from_features_computed_once(folders) -> None:
    # given output features computed once for the whole set
    extractor = scoring_folders.inception(dims=64, weights=WeightsMode.RANDOM, seed=3, device="cpu")
    outputs = scoring_folders.list_images(folders / "outputs")
    features = scoring.output_features(outputs, inception_extractor=extractor)
    reference, state = scoring.reference_features(
        scoring_folders.list_images(folders / "style"), extractor, seed=3, cache=None
    )
    # when scoring one split of it
    split = features.subset(["d.png", "a.png"])
    report = scoring.score_features(
        split,
        metrics=["fid"],
        reference=reference,
        networks=scoring.Networks(inception=extractor),
        bootstrap=Bootstrap(resamples=0),
    )
    # then only those rows count, and the value equals FID of their features
    from gan_core.metrics import fid_from_features

    assert state == "off" and report["counts"]["outputs"] == 2
    np.testing.assert_array_equal(split.inception, features.inception[[3, 0]])
    assert report["metrics"]["fid"]["value"] == fid_from_features(features.inception[[3, 0]], reference)
    assert report["metrics"]["fid"]["interval"] is None and report["calibrated"] is False


def test_the_score_command_prints_json_with_the_mode_and_the_calibrated_flag(folders, capsys) -> None:
    code = main(
        [
            "score",
            "--outputs",
            str(folders / "outputs"),
            "--style",
            str(folders / "style"),
            "--content",
            str(folders / "content"),
            "--metrics",
            "fid,kid,mifid,ssim",
            "--random-weights",
            "--seed",
            "3",
            "--network-seed",
            "3",
            "--dims",
            "64",
            "--mode",
            "legacy-pytorch",
            "--bootstrap",
            "10",
            "--cache",
            str(folders / "cache"),
            "--device",
            "cpu",
        ]
    )
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert list(report["metrics"]) == ["fid", "kid", "mifid", "ssim"]
    assert report["mode"] == "legacy-pytorch" and report["calibrated"] is False
    assert "per_image" not in report and report["cache"] == {"reference": "miss"}


def test_the_stats_command_writes_statistics_with_their_metadata(folders, capsys) -> None:
    target = folders / "style.npz"
    code = main(
        ["stats", str(folders / "style"), "-o", str(target), "--random-weights", "--dims", "64", "--device", "cpu"]
    )
    assert code == 0 and "3 images" in capsys.readouterr().out
    stats, metadata = load_stats(target)
    assert stats.count == 3 and stats.dims == 64
    assert (metadata.network, metadata.mode, metadata.calibrated, metadata.weights_sha256) == (
        "inception-v3-fid-64",
        PreprocessMode.CLEAN.value,
        False,
        None,
    )
    assert len(metadata.content_hash) == 64
    # the streamed statistics equal those of the features computed in one go
    extractor = scoring_folders.inception(dims=64, weights=WeightsMode.RANDOM, seed=0, device="cpu")
    features = scoring.compute_features(scoring_folders.list_images(folders / "style"), extractor)
    np.testing.assert_allclose(stats.covariance(), np.cov(features, rowvar=False), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["score", "--outputs", "{missing}", "--style", "{style}", "--random-weights"], "not a folder"),
        (
            ["score", "--outputs", "{style}", "--style", "{style}", "--metrics", "fid,nope", "--random-weights"],
            "unknown metric(s) nope",
        ),
        (["stats", "{one}", "-o", "{tmp}/x.npz", "--random-weights", "--dims", "64"], "at least 2 images, got 1"),
    ],
)
def test_command_errors_are_one_line_with_a_non_zero_exit(folders, capsys, arguments, message) -> None:
    (folders / "one").mkdir()
    Image.new("RGB", (20, 20)).save(folders / "one" / "x.png")
    values = {"missing": folders / "nowhere", "style": folders / "style", "one": folders / "one", "tmp": folders}
    code = main([argument.format(**values) for argument in arguments])
    error = capsys.readouterr().err
    assert code == 2
    assert error.startswith("error: ") and message in error and error.count("\n") == 1


def test_scoring_without_pretrained_weights_says_how_to_get_them(folders, capsys, monkeypatch) -> None:
    monkeypatch.setenv("ATELIER_WEIGHTS_DIR", str(folders / "no-weights"))
    monkeypatch.setenv("TORCH_HOME", str(folders / "no-torch-home"))
    code = main(["score", "--outputs", str(folders / "outputs"), "--style", str(folders / "style")])
    error = capsys.readouterr().err
    assert code == 2 and error.startswith("error: ") and error.count("\n") == 1
    assert "weights" in error.lower()


def test_the_bootstrap_seed_varies_alone_and_the_network_seed_changes_the_networks(folders) -> None:
    def run(**seeds) -> dict:
        return score_folders(folders, "fid,lpips", **seeds)

    base = run(seed=3, network_seed=3)
    # given a new bootstrap seed with the same network seed: the same values, other intervals
    redrawn = run(seed=4, network_seed=3)
    assert redrawn["metrics"]["fid"]["value"] == base["metrics"]["fid"]["value"]
    assert redrawn["per_image"]["lpips"] == base["per_image"]["lpips"]
    assert redrawn["metrics"]["lpips"]["interval"] != base["metrics"]["lpips"]["interval"]
    assert (redrawn["seed"], redrawn["network_seed"]) == (4, 3)
    # given a new network seed with the same bootstrap seed: other networks, other values
    other = run(seed=3, network_seed=4)
    assert other["metrics"]["fid"]["value"] != base["metrics"]["fid"]["value"]
    assert other["per_image"]["lpips"] != base["per_image"]["lpips"]


def test_the_score_command_takes_the_two_seeds_and_a_memory_budget(folders, capsys) -> None:
    common = ["score", "--outputs", str(folders / "outputs"), "--style", str(folders / "style")]
    common += ["--content", str(folders / "content"), "--metrics", "ssim,lpips", "--random-weights"]
    common += ["--device", "cpu", "--bootstrap", "10"]
    assert main([*common, "--seed", "5", "--network-seed", "2", "--memory-mb", "64"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["seed"], report["network_seed"], report["bootstrap"]["seed"]) == (5, 2, 5)
    # a budget too small for one 40 x 40 image is refused with what to do
    assert main([*common, "--memory-mb", "8"]) == 2
    assert "budget of 8 MiB is too small; give at least 16 MiB" in capsys.readouterr().err


def test_a_phase_whose_images_cannot_fit_at_batch_size_one_is_refused_for_the_organizer(tmp_path) -> None:
    from gan_core.memory import MemoryBudgetError

    # given 1,600 x 1,600 content images, whose VGG-19 pass needs far more than 64 MiB for one image
    _write(tmp_path / "content", ["a.png"], 1600, seed=0)
    _write(tmp_path / "style", ["s.png"], 40, seed=1)
    with pytest.raises(MemoryBudgetError) as raised:
        score_folders(tmp_path, "content", outputs="content", budget=64)
    message = str(raised.value)
    assert "VGG-19 at 1600x1600 needs about 3,906 MiB for one image" in message
    assert "budget of 64 MiB (ATELIER_SCORING_MEMORY_MB); raise the budget or use smaller content images" in message


def test_content_and_gram_values_do_not_depend_on_how_the_vgg_batches_are_cut(folders) -> None:
    from gan_core.features import vgg19_taps
    from gan_core.metrics.content import content_distance
    from gan_core.metrics.style import gram_distances

    # given VGG taps that run one image per pass, and the same network run on all four at once
    one_at_a_time = vgg19_taps(weights=WeightsMode.RANDOM, seed=3, device="cpu", batch_size=1)
    outputs = scoring_folders.list_images(folders / "outputs")
    inputs = scoring.match_pairs(outputs, scoring_folders.list_images(folders / "content"))
    style_means, _ = scoring.style_grams(
        scoring_folders.list_images(folders / "style"), one_at_a_time, seed=3, cache=None
    )
    streamed = scoring.output_features(
        outputs, content_paths=inputs, vgg=one_at_a_time, style_means=style_means, per_image=["content", "gram"]
    )
    # then the per-image values equal those of the whole batch's taps
    from gan_core.images import load_image

    whole = vgg19_taps(weights=WeightsMode.RANDOM, seed=3, device="cpu")
    out_taps = whole(torch.stack([load_image(path) for path in outputs]))
    in_taps = whole(torch.stack([load_image(path) for path in inputs]))
    np.testing.assert_allclose(streamed.per_image["content"], content_distance(out_taps, in_taps).numpy(), rtol=1e-5)
    np.testing.assert_allclose(streamed.per_image["gram"], gram_distances(out_taps, style_means).numpy(), rtol=1e-5)
    assert bool((streamed.per_image["content"] > 0).all())


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--bootstrap", "-5"], "--bootstrap must be 0 (no intervals) or a positive number of resamples, not -5"),
        (["--confidence", "1.5"], "--confidence must lie strictly between 0 and 1 (for example 0.95), not 1.5"),
        (["--confidence", "0"], "--confidence must lie strictly between 0 and 1"),
        (["-o", "{tmp}/nowhere/report.json"], "the folder {tmp}/nowhere does not exist; create it first"),
        (["-o", "{tmp}"], "is a folder: pass a file name such as"),
        (["--device", "cuda:3"], "Device 'cuda:3' was requested but"),
        (["--device", "tpu"], "Use cpu, cuda, cuda:N or auto"),
        (["--metrics", "fid,nope"], "unknown metric(s) nope"),
        (["--memory-mb", "0"], "--memory-mb must be a positive number of MiB, not 0.0"),
    ],
)
def test_score_validates_every_argument_before_any_work(folders, capsys, monkeypatch, extra, message) -> None:
    # given a score function that fails the test if it is ever reached
    import gan_core.scoring

    def no_work(**kwargs):
        raise AssertionError("score() ran although an argument was invalid")

    monkeypatch.setattr(gan_core.scoring, "score", no_work)
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    common = ["score", "--outputs", str(folders / "outputs"), "--style", str(folders / "style"), "--random-weights"]
    # when the command runs with one bad argument
    code = main([*common, *[part.format(tmp=folders) for part in extra]])
    # then it stops at once with one line saying what to do and status 2
    error = capsys.readouterr().err
    assert code == 2
    assert error.startswith("error: ") and error.count("\n") == 1
    assert message.format(tmp=folders) in error


def test_score_writes_its_report_into_an_existing_folder(folders, capsys) -> None:
    report = folders / "report.json"
    common = ["score", "--outputs", str(folders / "outputs"), "--style", str(folders / "style")]
    common += ["--content", str(folders / "content"), "--metrics", "ssim", "--random-weights", "--device", "cpu"]
    assert main([*common, "--bootstrap", "0", "-o", str(report)]) == 0
    assert json.loads(report.read_text())["metrics"]["ssim"]["interval"] is None
