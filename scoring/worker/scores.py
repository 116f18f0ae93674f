"""The scores of a run's outputs, per split and metric, and the style set's reference statistics
(computed once by whichever worker needs them first, stored in private storage with a
``ReferenceStats`` row, mirrored into each worker's local ``ReferenceCache``)."""

from __future__ import annotations

import functools
import logging
import os
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from django.conf import settings
from django.core.files import File
from django.db import IntegrityError

from competitions.models import Competition, DatasetImage, ImageSet, PhaseMetric
from gan_core.devices import select_device
from gan_core.features import WeightsMode, inception, lpips_alex, vgg19_taps
from gan_core.images import PreprocessMode, content_hash
from gan_core.memory import MemoryBudgetError
from gan_core.metrics.registry import INCEPTION, LPIPS, VGG, metric_get, networks_for, per_image_for
from gan_core.metrics.registry import METRICS as METRIC_REGISTRY
from gan_core.scoring import (
    Bootstrap,
    Networks,
    ScoringError,
    gram_key,
    output_features,
    reference_features,
    reference_key,
    score_features,
    style_grams,
)
from gan_core.stats import CacheKey, ReferenceCache
from gan_platform.storages import private_storage
from scoring.models import ReferenceStats
from scoring.services import ScoreValue
from scoring.worker.cache import cache_root, cache_uses, copy_from_storage, file_name, image_set_materialise
from scoring.worker.database import db_retried
from scoring.worker.runs import Efficiency
from submissions.models import Score

logger = logging.getLogger(__name__)

#: Stored metric name -> gan_core metric name (efficiency figures come from the run itself).
GAN_CORE_METRICS: dict[str, str] = {stored: metric.name for stored, metric in METRIC_REGISTRY.items() if metric.core}
EFFICIENCY_METRICS = tuple(stored for stored, metric in METRIC_REGISTRY.items() if metric.source == "run")
#: Seed of random-initialised feature networks, KID subsets and bootstrap intervals.
SCORING_SEED = 0


class LeaseCheck(Protocol):
    """What scoring needs of a run's lease: ``check()`` raises once the lease is lost."""

    def check(self) -> None: ...


def submission_scores(
    *,
    competition: Competition,
    phase_metrics: Sequence[PhaseMetric],
    content_images: Sequence[DatasetImage],
    content_paths: Sequence[Path],
    outputs_by_stem: dict[str, Path],
    efficiency: Efficiency,
    lease: LeaseCheck | None = None,
) -> list[ScoreValue]:
    """Scores per split (public, private) of one run's outputs, for the phase's metrics."""
    wanted = [metric.metric for metric in phase_metrics]
    names = [GAN_CORE_METRICS[metric] for metric in wanted if metric in GAN_CORE_METRICS]
    weights = (
        WeightsMode.RANDOM
        if competition.feature_weights == Competition.FeatureWeights.RANDOM
        else WeightsMode.PRETRAINED
    )
    mode = PreprocessMode(competition.preprocessing_mode)
    calibrated_competition = competition.calibrated
    import gan_core

    version = gan_core.__version__
    results: dict[str, dict[str, Any]] = {}
    budget_mb = int(settings.ATELIER_SCORING_MEMORY_MB) or None  # None: $ATELIER_SCORING_MEMORY_MB or auto
    if names:
        device = select_device()
        networks = Networks()
        reference = style_means = None
        style_dir = style_paths = None
        style_hash = ""
        needed = networks_for(names)
        needs_style = any(metric_get(name).style for name in names)
        if needs_style:
            style_images = db_retried(
                lambda: list(
                    DatasetImage.objects.filter(image_set__competition=competition, image_set__kind=ImageSet.Kind.STYLE)
                    .select_related("image_set")
                    .order_by("name")
                ),
                what=f"competition {competition.slug}: style images",
            )
            if not style_images:
                raise RuntimeError(f"competition {competition.slug} has no style images to score against")
            style_dir = image_set_materialise(style_images)
            style_paths = [style_dir / file_name(image) for image in style_images]
            style_hash = content_hash(style_paths)
            style = {"image_set": style_images[0].image_set, "style_paths": style_paths, "dataset_hash": style_hash}
        if INCEPTION in needed:
            networks.inception = feature_network(
                "inception", weights=weights, device=str(device), mode=mode, budget_mb=budget_mb
            )
            reference = style_stats_cached(kind=ReferenceStats.Kind.REFERENCE, network=networks.inception, **style)
        per_image = sorted(per_image_for(names))
        if VGG in needed:
            networks.vgg = feature_network("vgg", weights=weights, device=str(device), budget_mb=budget_mb)
        if "gram" in per_image:
            try:
                style_means = style_stats_cached(kind=ReferenceStats.Kind.GRAM, network=networks.vgg, **style)
            except MemoryBudgetError as error:  # the style images' size: the organizers' to change
                raise ScoringError(str(error)) from error
        if LPIPS in needed:
            networks.lpips = feature_network("lpips", weights=weights, device=str(device), budget_mb=budget_mb)
        if lease is not None:
            lease.check()
        output_paths = [outputs_by_stem[Path(image.name).stem] for image in content_images]
        try:
            features = output_features(
                output_paths,
                inception_extractor=networks.inception,
                content_paths=list(content_paths),
                vgg=networks.vgg,
                lpips=networks.lpips,
                style_means=style_means,
                per_image=per_image,
                budget=budget_mb,
            )
        except MemoryBudgetError as error:  # the phase's image size, not the submission: the organizers' to fix
            raise ScoringError(str(error)) from error
        bootstrap = Bootstrap(resamples=max(0, int(settings.ATELIER_SCORING_BOOTSTRAP_RESAMPLES)))
        for split in (Score.Split.PUBLIC, Score.Split.PRIVATE):
            subset = [
                path.name for image, path in zip(content_images, output_paths, strict=True) if image.split == split
            ]
            if not subset:
                continue
            if lease is not None:
                lease.check()
            results[split] = score_features(
                features.subset(subset),
                metrics=names,
                reference=reference,
                networks=networks,
                mode=mode,
                seed=SCORING_SEED,
                bootstrap=bootstrap,
            )
    splits = sorted({image.split for image in content_images if image.split} or {Score.Split.PUBLIC})
    scores: list[ScoreValue] = []
    for split in splits:
        report = results.get(split)
        calibrated = calibrated_competition and (report is None or bool(report["calibrated"]))
        digests = report["networks"] if report is not None else {}
        for metric in wanted:
            if metric in GAN_CORE_METRICS:
                if report is None:
                    continue
                entry = report["metrics"][GAN_CORE_METRICS[metric]]
                interval = entry.get("interval") or {}
                scores.append(
                    ScoreValue(
                        split=split,
                        metric=metric,
                        value=float(entry["value"]),
                        interval_low=interval.get("low"),
                        interval_high=interval.get("high"),
                        calibrated=calibrated,
                        preprocessing_mode=mode.value,
                        gan_core_version=version,
                        network_digests=digests,
                    )
                )
            elif metric == PhaseMetric.Metric.LATENCY:
                scores.append(
                    ScoreValue(
                        split,
                        metric,
                        efficiency.seconds_per_image * 1000.0,
                        None,
                        None,
                        calibrated,
                        mode.value,
                        version,
                    )
                )
            elif metric == PhaseMetric.Metric.PARAMETERS:
                scores.append(
                    ScoreValue(
                        split, metric, float(efficiency.parameter_count), None, None, calibrated, mode.value, version
                    )
                )
    return scores


@functools.lru_cache(maxsize=6)
def feature_network(
    name: str, *, weights: WeightsMode, device: str, mode: PreprocessMode | None = None, budget_mb: int | None = None
) -> Any:
    """A feature network (``inception``, ``vgg``, ``lpips``), built once per worker process and reused by every
    submission it scores (loading or initialising Inception takes seconds). The networks are in eval mode and
    keep no state between calls; a worker runs one task at a time. ``budget_mb``: the memory one batch may
    take (``ATELIER_SCORING_MEMORY_MB``; None: that variable from the environment, else a quarter of free memory)."""
    if name == "inception":
        return inception(
            mode=mode or PreprocessMode.CLEAN, weights=weights, seed=SCORING_SEED, device=device, budget=budget_mb
        )
    if name == "vgg":
        return vgg19_taps(weights=weights, seed=SCORING_SEED, device=device, budget=budget_mb)
    if name == "lpips":
        return lpips_alex(weights=weights, seed=SCORING_SEED, device=device, budget=budget_mb)
    raise ValueError(f"unknown feature network {name!r}; use inception, vgg or lpips")


# --------------------------------------------------------------------------- reference statistics


def _cached_in_storage(
    *,
    image_set: ImageSet | None,
    key: CacheKey,
    kind: str,
    count: int,
    calibrated: bool,
    compute: Callable[[ReferenceCache], tuple[Any, str]],
) -> Any:
    """Run ``compute`` against the local ReferenceCache after mirroring the stored file of ``key`` into it;
    store what it computed (a miss) in private storage with a ReferenceStats row."""
    cache = ReferenceCache(cache_root() / "reference-stats")
    cache.directory.mkdir(parents=True, exist_ok=True)
    local = cache.path(key, kind=kind)
    lookup = {
        "content_hash": key.content_hash,
        "kind": kind,
        "network": key.network,
        "weights_digest": key.weights_digest,
        "mode": str(key.mode),
    }
    row = db_retried(lambda: ReferenceStats.objects.filter(**lookup).first(), what=f"reference statistics {kind}")
    if row is not None and not local.is_file():
        temporary = local.with_name(f".{local.name}.{uuid.uuid4().hex}")
        try:
            copy_from_storage(row.file.name, temporary)
            os.replace(temporary, local)
        except FileNotFoundError:
            logger.warning("reference statistics file %s is missing from storage; recomputing", row.file.name)
            db_retried(lambda: ReferenceStats.objects.filter(pk=row.pk).delete(), what=f"reference statistics {kind}")
            row = None
        finally:
            temporary.unlink(missing_ok=True)
    value, outcome = compute(cache)
    if row is None and local.is_file():
        import gan_core

        with open(local, "rb") as handle:
            candidate = ReferenceStats(
                image_set=image_set,
                calibrated=calibrated,
                gan_core_version=gan_core.__version__,
                image_count=count,
                **lookup,
            )
            candidate.file.save(local.name, File(handle, name=local.name), save=False)
        try:
            # computing them may take minutes, long enough for the database to have restarted meanwhile
            db_retried(candidate.save, what=f"reference statistics {kind}: store")
        except IntegrityError:
            stored = db_retried(
                lambda: ReferenceStats.objects.filter(**lookup).values_list("file", flat=True).first(),
                what=f"reference statistics {kind}",
            )
            if stored != candidate.file.name:  # another worker stored the same statistics first
                private_storage().delete(candidate.file.name)
            # else: our own insert, committed before its answer was lost; the retry found its row
    logger.info("reference statistics %s %s: %s", kind, key.network, outcome)
    return value


def style_stats_cached(
    *, kind: ReferenceStats.Kind, image_set: ImageSet | None, style_paths: Sequence[Path], dataset_hash: str, network
):
    """The style set's statistics of ``kind``, computed once by ``network`` and stored: the Inception reference
    (features, statistics, covariance root) or the mean Gram matrices per VGG-19 style layer."""
    gram = kind == ReferenceStats.Kind.GRAM  # the cache key and the computation of each kind, in gan_core
    key_of, compute = (gram_key, style_grams) if gram else (reference_key, reference_features)
    return _cached_in_storage(
        image_set=image_set,
        key=key_of(network, dataset_hash=dataset_hash, seed=SCORING_SEED),
        kind=kind,
        count=len(style_paths),
        calibrated=bool(network.calibrated),
        compute=lambda cache: compute(style_paths, network, seed=SCORING_SEED, cache=cache, dataset_hash=dataset_hash),
    )


def reference_stats_compute_for_set(*, image_set_id: int) -> list[int]:
    """Compute (or find) the statistics every phase of the set's competition needs; returns ReferenceStats ids."""
    with cache_uses():
        return _reference_stats_compute_for_set(image_set_id=image_set_id)


def _reference_stats_compute_for_set(*, image_set_id: int) -> list[int]:
    image_set = ImageSet.objects.select_related("competition").filter(pk=image_set_id).first()
    if image_set is None:  # deleted since the message was sent: nothing to compute
        return []
    if image_set.kind != ImageSet.Kind.STYLE:
        raise ValueError(f"image set {image_set_id} is a {image_set.kind} set; reference statistics are of style sets")
    competition = image_set.competition
    images = list(image_set.images.order_by("name"))
    if not images:
        return []
    folder = image_set_materialise(images)
    paths = [folder / file_name(image) for image in images]
    dataset_hash = content_hash(paths)
    weights = (
        WeightsMode.RANDOM
        if competition.feature_weights == Competition.FeatureWeights.RANDOM
        else WeightsMode.PRETRAINED
    )
    metrics = set(PhaseMetric.objects.filter(phase__competition=competition).values_list("metric", flat=True))
    device = select_device()
    extractor = feature_network(
        "inception", weights=weights, device=str(device), mode=PreprocessMode(competition.preprocessing_mode)
    )
    style = {"image_set": image_set, "style_paths": paths, "dataset_hash": dataset_hash}
    style_stats_cached(kind=ReferenceStats.Kind.REFERENCE, network=extractor, **style)
    if PhaseMetric.Metric.GRAM in metrics:
        vgg = feature_network("vgg", weights=weights, device=str(device))
        style_stats_cached(kind=ReferenceStats.Kind.GRAM, network=vgg, **style)
    return list(ReferenceStats.objects.filter(content_hash=dataset_hash).values_list("id", flat=True))
