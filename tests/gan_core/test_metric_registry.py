"""One truth per metric: ``gan_core.metrics.registry`` is what gan_core's scoring, the worker, the
models, the pages and the API all read."""

from __future__ import annotations

import json

import pytest

from gan_core.metrics import registry
from gan_core.scoring import DIRECTIONS, INCEPTION_METRICS, METRICS, PAIRED_METRICS, PER_IMAGE_METRICS, computes
from gan_core.scoring.metrics import _COMPUTE
from tests.support.processes import python_run


def test_every_metric_gan_core_scores_has_one_registered_function():
    assert tuple(_COMPUTE) != () and set(_COMPUTE) == set(METRICS) == set(registry.core_metrics())
    assert METRICS == ("fid", "kid", "mifid", "lpips", "content", "ssim", "gram", "artfid")


def test_scorings_constants_come_from_the_registry():
    assert DIRECTIONS == {name: ("higher" if name == "ssim" else "lower") for name in METRICS}
    assert INCEPTION_METRICS == {"fid", "kid", "mifid", "artfid"}
    assert PAIRED_METRICS == {"lpips", "content", "ssim", "artfid"}
    assert PER_IMAGE_METRICS == ("lpips", "content", "ssim", "gram")


@pytest.mark.parametrize(
    ("names", "networks", "per_image"),
    [
        (["fid"], {"inception"}, ()),
        (["artfid"], {"inception", "lpips"}, ("lpips",)),
        (["content", "gram"], {"vgg"}, ("content", "gram")),
        (["ssim"], set(), ("ssim",)),
        (["content_vgg", "latency"], {"vgg"}, ("content",)),  # stored names too
    ],
)
def test_what_a_request_needs(names, networks, per_image):
    assert registry.networks_for(names) == networks
    assert registry.per_image_for(names) == per_image


def test_unknown_metrics_are_refused_naming_the_known_ones():
    with pytest.raises(KeyError, match="unknown metric 'psnr'; known: fid, kid"):
        registry.metric_get("psnr")
    with pytest.raises(ValueError, match="'psnr' is not a gan_core metric"):
        computes("psnr")(lambda scoring, name: {})
    with pytest.raises(ValueError, match="direction must be 'lower' or 'higher'"):
        registry.Metric("x", "X", "sideways", 3, "")


def test_the_platforms_choices_defaults_and_worker_mapping_are_the_registrys(db):
    from competitions.models import PhaseMetric
    from scoring.worker.scores import EFFICIENCY_METRICS, GAN_CORE_METRICS

    assert PhaseMetric.Metric.choices == [(stored, metric.label) for stored, metric in registry.METRICS.items()]
    assert PhaseMetric.Metric.CONTENT_VGG == "content_vgg" and PhaseMetric.Metric.SSIM.label == "SSIM (content)"
    assert PhaseMetric.DEFAULT_DIRECTIONS["ssim"] == "higher" and PhaseMetric.DEFAULT_DECIMALS["parameters"] == 0
    assert GAN_CORE_METRICS["content_vgg"] == "content" and "latency" not in GAN_CORE_METRICS
    assert EFFICIENCY_METRICS == ("latency", "parameters")


def test_the_api_lists_every_metric(client):
    response = client.get("/api/v1/metrics/")
    assert response.status_code == 200
    rows = response.json()
    assert [row["metric"] for row in rows] == list(registry.METRICS)
    artfid = next(row for row in rows if row["metric"] == "artfid")
    assert artfid == {**artfid, "label": "ArtFID", "direction": "lower", "networks": ["inception", "lpips"]}
    assert next(row for row in rows if row["metric"] == "latency")["measured_by_run"] is True
    human = next(row for row in rows if row["metric"] == "human")
    assert human == {**human, "direction": "higher", "measured_by_run": False, "networks": []}


def test_the_human_rating_comes_from_votes_not_from_scoring_or_the_run():
    human = registry.metric_get("human")
    assert (human.source, human.core, human.direction) == ("votes", False, "higher")
    assert "human" not in registry.core_metrics()
    assert {metric.source for metric in registry.METRICS.values()} == {"scoring", "run", "votes"}
    with pytest.raises(ValueError, match="source must be"):
        registry.Metric("x", "X", "lower", 1, "x", source="guess")


def test_the_registry_loads_without_numpy_or_torch():
    probe = (
        "import json, sys; import gan_core.metrics.registry as r; "
        "print(json.dumps([len(r.METRICS), sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'numpy', 'scipy', 'torch'})]))"
    )
    result = python_run(probe)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [11, []]
