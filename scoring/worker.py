# Over 500 lines: the lease-holding pipeline, its local copies of stored files and its reference
# statistics; the split into those three is still to do (issue 13).
"""The worker side of scoring: one submission through validate, generate and score with gan_core.

Only worker processes import this module (``scoring.tasks`` imports it inside the task bodies):
it imports torch through gan_core. Everything it reads or writes goes through Django's storage
API (``private_storage()``), so a worker on another machine works against S3-compatible object
storage as well as against local disk; it keeps local copies in ``ATELIER_WORKER_CACHE_DIR``:

- ``checkpoints/<sha256>``: the submission's file, verified against its SHA-256;
- ``datasets/<key>/``: an image set's files under their names, ``key`` = SHA-256 of the sorted
  ``name:sha256`` lines of the set's images (so a changed set is a new folder); written in a
  temporary folder and renamed into place, so concurrent workers never see half a set;
- ``reference-stats/``: gan_core's ``ReferenceCache`` of style-set statistics, mirrored from the
  ``ReferenceStats`` rows and their files in private storage (computed once, by whichever worker
  needs them first);
- ``work/<submission>-<token>/``: one attempt's outputs (``preview/`` of the preview run, ``outputs/`` of the
  hidden run; see :mod:`scoring.worker_runs`), removed when the attempt ends.

Outcomes: a ``GeneratorFailure`` from gan_core (bad checkpoint, broken output contract, out of
memory, timeout...) is the participant's and final (counts against the quota), except
``sandbox_unavailable``, which is the platform's and retried like every other error (storage,
database, missing weights, worker limits): back to the queue, failing without counting against
the quota once ``Submission.MAX_ATTEMPTS`` attempts are spent.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import shutil
import threading
import traceback
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files import File
from django.db import IntegrityError, connection

from competitions.models import Competition, DatasetImage, ImageSet, PhaseMetric
from gan_core.checkpoints import CheckpointFormat
from gan_core.contract import GeneratorContract
from gan_core.devices import select_device
from gan_core.failures import FailureCode, GeneratorFailure
from gan_core.features import WeightsMode, inception, lpips_alex, vgg19_taps
from gan_core.images import PreprocessMode, content_hash
from gan_core.memory import MemoryBudgetError
from gan_core.metrics.registry import INCEPTION, LPIPS, VGG, metric_get, networks_for, per_image_for
from gan_core.metrics.registry import METRICS as METRIC_REGISTRY
from gan_core.metrics.style import STYLE_LAYERS
from gan_core.sandbox import SandboxLimits, validate_checkpoint
from gan_core.scoring import (
    VGG_NAME,
    Bootstrap,
    Networks,
    ScoringError,
    output_features,
    reference_features,
    score_features,
    style_grams,
)
from gan_core.stats import CacheKey, ReferenceCache, StatisticsError, weights_identity
from gan_platform.storages import private_storage
from scoring.models import ReferenceStats
from scoring.services import (
    ScoreValue,
    submission_advance,
    submission_claim,
    submission_fail,
    submission_finish,
    submission_heartbeat,
    submission_release_for_retry,
)
from scoring.worker_runs import Efficiency, efficiency_measured, hidden_run, preview_run
from submissions.models import Score, Submission

logger = logging.getLogger(__name__)

#: Stored metric name -> gan_core metric name (efficiency figures come from the run itself).
GAN_CORE_METRICS: dict[str, str] = {stored: metric.name for stored, metric in METRIC_REGISTRY.items() if metric.core}
EFFICIENCY_METRICS = tuple(stored for stored, metric in METRIC_REGISTRY.items() if metric.source == "run")
#: Seed of random-initialised feature networks, KID subsets and bootstrap intervals.
SCORING_SEED = 0
#: Failure code of a submission whose metrics the competition's configuration makes impossible.
SCORING_ERROR = "scoring_error"
_CHUNK = 1024 * 1024


class LeaseLost(Exception):
    """The run's lease token no longer holds the submission (cancelled, taken back): stop quietly."""


class StorageMismatch(RuntimeError):
    """A stored file's bytes do not match the SHA-256 recorded for it (infrastructure: retried)."""


# --------------------------------------------------------------------------- the task body


def submission_process_run(*, submission_id: int, worker: str) -> str:
    """Claim ``submission_id`` and run it; returns ``scored``, ``failed``, ``requeued``, ``not_claimed`` or ``lease_lost``."""
    token = submission_claim(submission_id=submission_id, worker=worker)
    if token is None:
        logger.info("submission %s: not claimable (held elsewhere, finished or out of attempts)", submission_id)
        return "not_claimed"
    try:
        with LeaseKeeper(submission_id=submission_id, token=token) as lease:
            scores = submission_pipeline(submission_id=submission_id, token=token, lease=lease)
    except LeaseLost:
        logger.info("submission %s: lease lost (cancelled or taken back); stopping", submission_id)
        return "lease_lost"
    except GeneratorFailure as failure:
        if failure.code == FailureCode.SANDBOX_UNAVAILABLE:
            return _release(submission_id, token, failure)
        detail = getattr(failure, "log_tail", "") or ""
        done = submission_fail(
            submission_id=submission_id,
            token=token,
            code=failure.code,
            message=failure.message,
            detail=detail,
            participant_fault=True,
        )
        logger.info("submission %s failed: %s", submission_id, failure.code)
        return "failed" if done else "lease_lost"
    except (ScoringError, StatisticsError) as error:
        # The outputs are valid images (the contract checked them), so a metric that cannot be
        # computed is the competition's configuration (e.g. a split of one image), not the
        # participant's fault; retrying would fail the same way.
        done = submission_fail(
            submission_id=submission_id,
            token=token,
            code=SCORING_ERROR,
            message=(
                "The platform could not compute the scores of this competition "
                f"({error}). The organizers are told; this does not count against your quota."
            ),
            detail="".join(traceback.format_exception(error))[-20000:],
            participant_fault=False,
        )
        logger.error("submission %s: scoring error, failed without retry: %s", submission_id, error)
        return "failed" if done else "lease_lost"
    except Exception as error:  # infrastructure: storage, database, weights, worker limits
        return _release(submission_id, token, error)
    if submission_finish(submission_id=submission_id, token=token, scores=scores):
        return "scored"
    return "lease_lost"


def _release(submission_id: int, token: uuid.UUID, error: BaseException) -> str:
    detail = "".join(traceback.format_exception(error))[-20000:]
    logger.warning("submission %s: infrastructure error, releasing for retry: %r", submission_id, error)
    try:
        return submission_release_for_retry(submission_id=submission_id, token=token, detail=detail)
    except Exception:  # the database itself is down: the lease expires and the reconciler takes it back
        logger.exception("submission %s: could not release it; the reconciler will take it back", submission_id)
        return "lease_expires"


class LeaseKeeper:
    """Extends a run's lease every ``ATELIER_HEARTBEAT_SECONDS`` in a background thread while the
    sandbox runs; ``check()`` and ``progress()`` raise ``LeaseLost`` once the token stopped holding it."""

    def __init__(self, *, submission_id: int, token: uuid.UUID, interval: float | None = None) -> None:
        self.submission_id = submission_id
        self.token = token
        self.interval = float(interval if interval is not None else settings.ATELIER_HEARTBEAT_SECONDS)
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"lease-{submission_id}", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 30)

    def _beat(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                try:
                    held = submission_heartbeat(submission_id=self.submission_id, token=self.token)
                except Exception:  # a database hiccup: try again next beat; the lease covers two beats
                    logger.warning("submission %s: heartbeat failed", self.submission_id, exc_info=True)
                    continue
                if not held:
                    self.lost.set()
                    return
        finally:
            connection.close()

    def check(self) -> None:
        if self.lost.is_set():
            raise LeaseLost(self.submission_id)

    def advance(self, to_state: Submission.State) -> None:
        self.check()
        if not submission_advance(submission_id=self.submission_id, token=self.token, to_state=to_state):
            self.lost.set()
            raise LeaseLost(self.submission_id)

    def progress(self, done: int, total: int) -> None:
        """Record generation progress (images done of total); stops the sandbox when the lease is lost."""
        self.check()
        if not submission_heartbeat(submission_id=self.submission_id, token=self.token, progress=(done, total)):
            self.lost.set()
            raise LeaseLost(self.submission_id)


def submission_pipeline(*, submission_id: int, token: uuid.UUID, lease: LeaseKeeper) -> list[ScoreValue]:
    """Validate, generate and score a claimed submission; returns the scores to finish it with."""
    submission = Submission.objects.select_related("phase__competition").get(pk=submission_id)
    phase = submission.phase
    competition = phase.competition
    contract = GeneratorContract(value_range=competition.input_value_range, size_multiple=competition.size_multiple)
    limits = SandboxLimits(
        wall_seconds=float(phase.execution_time_limit),
        threads=max(1, int(settings.ATELIER_SANDBOX_THREADS)),
        max_file_bytes=64 * 1024**2,
    )
    allowed_formats = frozenset(CheckpointFormat(name) for name in (competition.accepted_formats or ["safetensors"]))
    allowed_architectures = frozenset(competition.accepted_architectures) or None

    # Validate: header checks here, the probe image in the sandbox.
    checkpoint = checkpoint_materialise(submission)
    probe_size = max(competition.size_multiple, 64 - 64 % competition.size_multiple)
    report = validate_checkpoint(
        checkpoint,
        contract=contract,
        limits=limits,
        allowed_formats=allowed_formats,
        allowed_architectures=allowed_architectures,
        probe_size=probe_size,
    )
    if not report.ok:
        raise GeneratorFailure(report.code or FailureCode.CRASHED, report.message or "The checkpoint was refused.")

    # Generate, in two sandboxed runs kept apart (scoring/worker_runs.py): the preview images alone,
    # whose outputs a participant sees, then every content image, whose outputs are only scored.
    lease.advance(Submission.State.GENERATING)
    content_set = ImageSet.objects.get(competition=competition, kind=ImageSet.Kind.CONTENT)
    content_images = list(content_set.images.order_by("name"))
    if not content_images:
        raise RuntimeError(f"competition {competition.slug} has no content images to run submissions on")
    content_dir = image_set_materialise(content_images)
    content_paths = [content_dir / _file_name(image) for image in content_images]
    preview_images = [image for image in content_images if image.is_preview]
    device = str(select_device())
    with work_folder(submission_id, token) as work:
        clock = None
        if preview_images:
            preview, clock = preview_run(
                checkpoint=checkpoint,
                preview_paths=[content_dir / _file_name(image) for image in preview_images],
                output_dir=work / "preview",
                contract=contract,
                limits=limits,
                device=device,
                info=report.info,
                check=lease.check,
            )
            preview_outputs_store(submission, preview_images, {path.stem: path for path in preview.outputs})
        efficiency = efficiency_measured(preview=clock, validation=report, info=report.info)
        run = hidden_run(
            checkpoint=checkpoint,
            content_paths=content_paths,
            output_dir=work / "outputs",
            contract=contract,
            limits=limits,
            device=device,
            info=report.info,
            report_progress=lease.progress,
        )
        outputs_by_stem = {path.stem: path for path in run.outputs}

        # Score: per split, against the cached reference statistics of the style set.
        lease.advance(Submission.State.SCORING)
        return submission_scores(
            competition=competition,
            phase_metrics=list(phase.metrics.all()),
            content_images=content_images,
            content_paths=content_paths,
            outputs_by_stem=outputs_by_stem,
            efficiency=efficiency,
            lease=lease,
        )


def _file_name(image: DatasetImage) -> str:
    name = Path(image.name).name
    if not name or name != image.name or name.startswith("."):
        raise RuntimeError(
            f"dataset image {image.pk} has an unusable name {image.name!r}; names must be plain file names"
        )
    return name


@contextlib.contextmanager
def work_folder(submission_id: int, token: uuid.UUID) -> Iterator[Path]:
    folder = cache_root() / "work" / f"{submission_id}-{token.hex}"
    folder.mkdir(parents=True, exist_ok=True)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def preview_outputs_store(submission: Submission, images: Sequence[DatasetImage], outputs: dict[str, Path]) -> None:
    """Copy the preview run's outputs (``outputs``: stem -> file) of the public preview images to private
    storage, replacing an earlier attempt's. Only the preview run's outputs may come here: the hidden
    run's never leave the worker."""
    storage = private_storage()
    for image in images:
        if not image.is_preview:
            continue
        name = submission.preview_output_name(image.name)
        source = outputs[Path(image.name).stem]
        if storage.exists(name):
            storage.delete(name)
        with open(source, "rb") as handle:
            stored = storage.save(name, File(handle, name=Path(name).name))
        if stored != name:
            raise RuntimeError(f"preview output stored as {stored!r} instead of {name!r}")


# --------------------------------------------------------------------------- scores


def submission_scores(
    *,
    competition: Competition,
    phase_metrics: Sequence[PhaseMetric],
    content_images: Sequence[DatasetImage],
    content_paths: Sequence[Path],
    outputs_by_stem: dict[str, Path],
    efficiency: Efficiency,
    lease: LeaseKeeper | None = None,
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
            style_images = list(
                DatasetImage.objects.filter(
                    image_set__competition=competition, image_set__kind=ImageSet.Kind.STYLE
                ).order_by("name")
            )
            if not style_images:
                raise RuntimeError(f"competition {competition.slug} has no style images to score against")
            style_dir = image_set_materialise(style_images)
            style_paths = [style_dir / _file_name(image) for image in style_images]
            style_hash = content_hash(style_paths)
            style_set = style_images[0].image_set
        if INCEPTION in needed:
            networks.inception = feature_network(
                "inception", weights=weights, device=str(device), mode=mode, budget_mb=budget_mb
            )
            reference = reference_stats_cached(
                image_set=style_set, style_paths=style_paths, dataset_hash=style_hash, extractor=networks.inception
            )
        per_image = sorted(per_image_for(names))
        if VGG in needed:
            networks.vgg = feature_network("vgg", weights=weights, device=str(device), budget_mb=budget_mb)
        if "gram" in per_image:
            try:
                style_means = gram_stats_cached(
                    image_set=style_set, style_paths=style_paths, dataset_hash=style_hash, vgg=networks.vgg
                )
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


# --------------------------------------------------------------------------- local copies of stored files


def cache_root() -> Path:
    root = Path(settings.ATELIER_WORKER_CACHE_DIR)
    root.mkdir(parents=True, exist_ok=True)
    return root


def _copy_from_storage(name: str, target: Path) -> str:
    """Copy private-storage file ``name`` to ``target`` (a new file); returns its SHA-256."""
    digest = hashlib.sha256()
    with private_storage().open(name, "rb") as source, open(target, "wb") as sink:
        while chunk := source.read(_CHUNK):
            digest.update(chunk)
            sink.write(chunk)
    os.chmod(target, 0o644)
    return digest.hexdigest()


def checkpoint_materialise(submission: Submission) -> Path:
    """The submission's checkpoint as a local file ``checkpoints/<sha256>``, copied once and verified."""
    folder = cache_root() / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / submission.sha256
    if target.is_file():
        return target
    temporary = folder / f".{submission.sha256}.{uuid.uuid4().hex}"
    try:
        digest = _copy_from_storage(submission.file.name, temporary)
        if digest != submission.sha256:
            raise StorageMismatch(
                f"stored checkpoint {submission.file.name} has SHA-256 {digest}, the submission says {submission.sha256}"
            )
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return target


def dataset_key(images: Sequence[DatasetImage]) -> str:
    """SHA-256 of the sorted ``name:sha256`` lines of a set's images: the local folder's name."""
    lines = sorted(f"{image.name}:{image.sha256}" for image in images)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def image_set_materialise(images: Sequence[DatasetImage]) -> Path:
    """A local folder holding ``images`` under their names, keyed by content; copied once per machine.

    The copy goes to a temporary folder renamed into place: a concurrent worker either finds the
    complete folder or makes its own and discards it when it loses the rename.
    """
    root = cache_root() / "datasets"
    root.mkdir(parents=True, exist_ok=True)
    key = dataset_key(images)
    target = root / key
    if target.is_dir():
        return target
    temporary = root / f".{key}.{uuid.uuid4().hex}"
    temporary.mkdir()
    try:
        for image in images:
            digest = _copy_from_storage(image.file.name, temporary / _file_name(image))
            if digest != image.sha256:
                raise StorageMismatch(
                    f"stored image {image.file.name} has SHA-256 {digest}, its row says {image.sha256}"
                )
        os.chmod(temporary, 0o755)
        try:
            os.rename(temporary, target)
        except OSError:
            if not target.is_dir():
                raise
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    return target


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
    row = ReferenceStats.objects.filter(**lookup).first()
    if row is not None and not local.is_file():
        temporary = local.with_name(f".{local.name}.{uuid.uuid4().hex}")
        try:
            _copy_from_storage(row.file.name, temporary)
            os.replace(temporary, local)
        except FileNotFoundError:
            logger.warning("reference statistics file %s is missing from storage; recomputing", row.file.name)
            ReferenceStats.objects.filter(pk=row.pk).delete()
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
            candidate.save()
        except IntegrityError:  # another worker stored the same statistics first
            private_storage().delete(candidate.file.name)
    logger.info("reference statistics %s %s: %s", kind, key.network, outcome)
    return value


def reference_stats_cached(*, image_set: ImageSet | None, style_paths: Sequence[Path], dataset_hash: str, extractor):
    """The style set's Inception reference (features, statistics, covariance root), computed once and stored."""
    key = CacheKey(
        dataset_hash,
        extractor.name,
        weights_identity(extractor.weights_sha256, seed=SCORING_SEED),
        str(PreprocessMode(extractor.mode).value),
    )
    return _cached_in_storage(
        image_set=image_set,
        key=key,
        kind=ReferenceStats.Kind.REFERENCE,
        count=len(style_paths),
        calibrated=bool(extractor.calibrated),
        compute=lambda cache: reference_features(
            style_paths, extractor, seed=SCORING_SEED, cache=cache, dataset_hash=dataset_hash
        ),
    )


def gram_stats_cached(*, image_set: ImageSet | None, style_paths: Sequence[Path], dataset_hash: str, vgg):
    """The style set's mean Gram matrices per VGG-19 style layer, computed once and stored."""
    key = CacheKey(
        dataset_hash,
        VGG_NAME,
        weights_identity(vgg.weights_sha256, seed=SCORING_SEED),
        "gram-" + "-".join(STYLE_LAYERS),
    )
    return _cached_in_storage(
        image_set=image_set,
        key=key,
        kind=ReferenceStats.Kind.GRAM,
        count=len(style_paths),
        calibrated=bool(vgg.calibrated),
        compute=lambda cache: style_grams(style_paths, vgg, seed=SCORING_SEED, cache=cache, dataset_hash=dataset_hash),
    )


def reference_stats_compute_for_set(*, image_set_id: int) -> list[int]:
    """Compute (or find) the statistics every phase of the set's competition needs; returns ReferenceStats ids."""
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
    paths = [folder / _file_name(image) for image in images]
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
    reference_stats_cached(image_set=image_set, style_paths=paths, dataset_hash=dataset_hash, extractor=extractor)
    if PhaseMetric.Metric.GRAM in metrics:
        vgg = feature_network("vgg", weights=weights, device=str(device))
        gram_stats_cached(image_set=image_set, style_paths=paths, dataset_hash=dataset_hash, vgg=vgg)
    return list(ReferenceStats.objects.filter(content_hash=dataset_hash).values_list("id", flat=True))
