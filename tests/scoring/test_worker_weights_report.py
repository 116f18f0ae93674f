"""A worker reports its pretrained feature weights (gan_core's registry, verified by digest) to the
database when it starts and periodically; the web side reads the reports of the last 24 hours."""

from __future__ import annotations

import hashlib
import time
import uuid
from datetime import timedelta
from types import SimpleNamespace

import pytest
from celery.signals import worker_ready
from django.utils import timezone

from competitions.models import FeatureWeightsReport
from competitions.selectors import feature_weights_availability
from gan_core import weights
from scoring.tasks import worker_feature_weights_report_on_start
from scoring.worker.weights_report import feature_weights_refresher_start, feature_weights_refresher_stop


@pytest.fixture
def registry(monkeypatch, tmp_path, settings):
    """Two registered files whose digests are those of bytes the test writes (or not) into
    ``$ATELIER_WEIGHTS_DIR``; the torch hub cache is an empty folder."""
    settings.ATELIER_WORKER_WEIGHTS_REPORT_S = 0
    settings.ATELIER_WORKER_CACHE_DIR = tmp_path / "cache"
    folder = tmp_path / "weights"
    folder.mkdir()
    monkeypatch.setenv(weights.WEIGHTS_DIR_ENVIRONMENT_VARIABLE, str(folder))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    contents = {"net-a": b"weights of a", "net-b": b"weights of b"}
    entries = {
        name: weights.WeightsFile(
            name=name,
            filename=f"{name}.pth",
            url=f"https://example.invalid/{name}.pth",
            sha256=hashlib.sha256(data).hexdigest(),
        )
        for name, data in contents.items()
    }
    monkeypatch.setattr(weights, "REGISTRY", entries)
    return SimpleNamespace(folder=folder, contents=contents)


@pytest.mark.django_db
def test_the_start_handler_records_each_file_verified_missing_or_corrupt(registry):
    (registry.folder / "net-a.pth").write_bytes(registry.contents["net-a"])
    (registry.folder / "net-b.pth").write_bytes(b"not the weights of b")

    worker_feature_weights_report_on_start(sender=SimpleNamespace(hostname="gpu1@box"))

    report = FeatureWeightsReport.objects.get()
    assert report.hostname == "gpu1@box"
    assert report.files == [
        {"name": "net-a", "filename": "net-a.pth", "state": "verified"},
        {"name": "net-b", "filename": "net-b.pth", "state": "corrupt"},
    ]
    assert report.verified is False and report.missing == ["net-b"]
    assert (timezone.now() - report.reported_at) < timedelta(seconds=30)

    (registry.folder / "net-b.pth").unlink()
    worker_feature_weights_report_on_start(sender=SimpleNamespace(hostname="gpu1@box"))
    assert FeatureWeightsReport.objects.get().files[1]["state"] == "missing"
    assert feature_weights_availability().state == "none"


@pytest.mark.django_db
def test_worker_ready_reports_and_a_complete_set_is_verified(registry):
    for name, data in registry.contents.items():
        (registry.folder / f"{name}.pth").write_bytes(data)

    class Consumer:  # what Celery sends worker_ready with: the worker's consumer, carrying its hostname
        hostname = "gpu2@box"

    worker_ready.send(sender=Consumer())

    report = FeatureWeightsReport.objects.get(hostname="gpu2@box")
    assert report.verified is True and report.missing == []
    availability = feature_weights_availability()
    assert (availability.state, availability.workers, availability.pretrained_default) == ("all", ["gpu2@box"], True)


@pytest.mark.django_db
def test_a_worker_of_the_default_queue_only_does_not_report(registry, settings):
    def consumer(*queues: str) -> SimpleNamespace:
        return SimpleNamespace(
            hostname=f"{'-'.join(queues)}@box",
            app=SimpleNamespace(amqp=SimpleNamespace(queues=SimpleNamespace(consume_from=dict.fromkeys(queues)))),
        )

    worker_feature_weights_report_on_start(sender=consumer("default"))
    assert not FeatureWeightsReport.objects.exists()
    worker_feature_weights_report_on_start(sender=consumer("default", settings.ATELIER_GPU_QUEUE))
    assert list(FeatureWeightsReport.objects.values_list("hostname", flat=True)) == [
        f"default-{settings.ATELIER_GPU_QUEUE}@box"
    ]


@pytest.mark.django_db(transaction=True)
def test_the_refresher_reports_again_after_its_interval(registry):
    worker_feature_weights_report_on_start(sender=SimpleNamespace(hostname="gpu3@box"))
    first = FeatureWeightsReport.objects.get()
    assert first.verified is False
    for name, data in registry.contents.items():
        (registry.folder / f"{name}.pth").write_bytes(data)
    feature_weights_refresher_stop()  # one refresher per process: not one another test started
    try:
        feature_weights_refresher_start(hostname="gpu3@box", interval_s=0.2)
        deadline = time.monotonic() + 10
        while not FeatureWeightsReport.objects.get().verified and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        feature_weights_refresher_stop()
    refreshed = FeatureWeightsReport.objects.get()
    assert refreshed.verified is True
    assert refreshed.reported_at > first.reported_at


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_process_reports_its_weights_when_it_starts(tmp_path, monkeypatch):
    from tests.support.processes import celery_worker, wait_until

    environment = {
        weights.WEIGHTS_DIR_ENVIRONMENT_VARIABLE: str(tmp_path / "weights"),
        "TORCH_HOME": str(tmp_path / "torch-home"),
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    expected = [{"name": row["name"], "filename": row["filename"], "state": row["state"]} for row in weights.status()]
    assert any(row["state"] == "missing" for row in expected)  # the empty folders hold none of the networks

    queue = f"test-weights-{uuid.uuid4().hex[:8]}"
    with celery_worker(queues=[queue], hostname="weights-report-test@%h", ATELIER_GPU_QUEUE=queue, **environment):
        report = wait_until(
            lambda: FeatureWeightsReport.objects.filter(hostname__startswith="weights-report-test@").first(),
            timeout=120,
            message="the worker's weights report",
        )
    assert report.files == expected
    assert [row["name"] for row in report.files] == list(weights.REGISTRY)
    assert report.verified is False
    assert feature_weights_availability().state == "none"
