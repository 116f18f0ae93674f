"""The public scoring API: folders of images in, a JSON-able dictionary of scores out.

``score(...)`` scores a folder of generator outputs against a style (reference) folder and, for the
paired metrics, the content inputs the outputs were made from (matched by file name without its
suffix: ``cat.jpg`` -> ``cat.png``). The platform's worker splits the same work in two so each output
is processed once: ``output_features(...)`` computes the Inception features and the per-image paired
values of a submission's outputs, ``OutputFeatures.subset(...)`` picks a split (public, private), and
``score_features(...)`` turns features into scores against the cached reference set.

Metrics (``METRICS``), all lower-is-better except SSIM:

- ``fid``: FID of outputs vs style (``gan_core.metrics.fid``), Inception pool features.
- ``kid``: KID, 100 seeded subsets of ``min(1000, n)`` (``gan_core.metrics.kid``).
- ``mifid``: Kaggle's memorization-informed FID vs the style set (``gan_core.metrics.mifid``).
- ``lpips``: mean LPIPS (AlexNet v0.1) of each output to its content input.
- ``content``: mean VGG-19 ``conv4_2`` content distance of each output to its input.
- ``ssim``: mean SSIM (data range 255) of each output to its input (higher is better).
- ``gram``: mean Gram-matrix style distance of each output to the style set (VGG-19).
- ``artfid``: ``(1 + lpips) * (1 + fid)``, labelled with the FID network.

Every metric gets a seeded bootstrap interval over the outputs (``gan_core.metrics.bootstrap``) unless
``bootstrap=Bootstrap(resamples=0)``. ``calibrated`` is False whenever a random-initialised network
was used: such numbers are for tests and demos and compare with nothing else.
"""

# Over 500 lines: the scoring entry point and its per-metric steps; the split by metric family is issue 13.

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gan_core.features import WeightsMode, inception, lpips_alex, vgg19_taps
from gan_core.features.extractor import FeatureExtractor
from gan_core.features.lpips import LPIPS
from gan_core.features.vgg import VGGTaps
from gan_core.images import PreprocessMode, content_hash, iter_image_batches, list_images
from gan_core.memory import MemoryBudget
from gan_core.metrics.artfid import artfid
from gan_core.metrics.bootstrap import Interval, IntervalMethod, interval_from_samples, mean_interval, resample_indices
from gan_core.metrics.content import CONTENT_LAYER, check_pairs, content_distance
from gan_core.metrics.fid import fid_from_features, fid_resampler
from gan_core.metrics.kid import kid, kid_resampler
from gan_core.metrics.mifid import COSINE_EPS, FID_EPSILON, memorisation_distances, mifid_from_parts
from gan_core.metrics.ssim import ssim
from gan_core.metrics.style import STYLE_LAYERS, StyleGrams, gram_distances
from gan_core.stats import (
    CacheKey,
    FeatureStats,
    ReferenceCache,
    ReferenceFeatures,
    StatsMetadata,
    weights_identity,
)
from gan_core.version import __version__ as gan_core_version

METRICS: tuple[str, ...] = ("fid", "kid", "mifid", "lpips", "content", "ssim", "gram", "artfid")
DIRECTIONS: dict[str, str] = {name: "lower" for name in METRICS} | {"ssim": "higher"}
INCEPTION_METRICS = frozenset({"fid", "kid", "mifid", "artfid"})
PAIRED_METRICS = frozenset({"lpips", "content", "ssim", "artfid"})
PER_IMAGE_METRICS: tuple[str, ...] = ("lpips", "content", "ssim", "gram")
VGG_NAME = "vgg19-torchvision"
IMAGE_BATCH = 32
"""The most images decoded per step (fewer for large images, see ``decode_batch_size``); the networks
split a step further as the memory budget says."""
#: Copies of a decoded uint8 image alive per index of a step: the current and the prefetched batch,
#: of outputs and of their content inputs, and the stacked copy of each.
DECODED_COPIES = 8


class ScoringError(ValueError):
    """A scoring request that cannot run as asked; the message says what was wrong and what to do."""


@dataclass(frozen=True)
class Bootstrap:
    """Bootstrap settings: ``resamples`` (0 switches intervals off) and the two-sided ``confidence``.

    Cost on 2 CPU cores with 2048-d features: per FID-family resample about one ``(n, n)`` Gram and its
    eigenvalues (``n <= 2048``), some 0.3 s for n = 1000; per-image means cost microseconds.
    """

    resamples: int = 100
    confidence: float = 0.95


@dataclass
class OutputFeatures:
    """What scoring needs from a set of outputs, computed once.

    ``names``: output file names (sorted); ``inception``: ``(N, D)`` float64 features or None;
    ``per_image``: name of a per-image metric -> ``(N,)`` float64, aligned with ``names``.
    """

    names: list[str]
    inception: np.ndarray | None = None
    per_image: dict[str, np.ndarray] = field(default_factory=dict)

    def subset(self, names: Sequence[str]) -> OutputFeatures:
        """The rows of ``names`` (e.g. one split), in the order given."""
        position = {name: index for index, name in enumerate(self.names)}
        missing = [name for name in names if name not in position]
        if missing:
            raise ScoringError(f"{len(missing)} requested outputs were not scored, e.g. {missing[:3]}")
        rows = np.array([position[name] for name in names], dtype=np.int64)
        return OutputFeatures(
            names=list(names),
            inception=None if self.inception is None else self.inception[rows],
            per_image={key: values[rows] for key, values in self.per_image.items()},
        )


@dataclass
class Networks:
    """The networks a score used; any of them None when not needed."""

    inception: FeatureExtractor | None = None
    vgg: VGGTaps | None = None
    lpips: LPIPS | None = None

    def describe(self) -> dict[str, dict[str, Any]]:
        described: dict[str, dict[str, Any]] = {}
        if self.inception is not None:
            described["inception"] = _network_entry(self.inception.name, self.inception)
        if self.vgg is not None:
            described["vgg"] = _network_entry(VGG_NAME, self.vgg)
        if self.lpips is not None:
            described["lpips"] = _network_entry(getattr(self.lpips, "name", "lpips-alex-v0.1"), self.lpips)
        return described

    @property
    def calibrated(self) -> bool:
        used = [network for network in (self.inception, self.vgg, self.lpips) if network is not None]
        return all(bool(network.calibrated) for network in used)


def _network_entry(name: str, network: Any) -> dict[str, Any]:
    return {"name": name, "weights_sha256": network.weights_sha256, "calibrated": bool(network.calibrated)}


def parse_metrics(metrics: str | Sequence[str]) -> list[str]:
    """Validated metric names in ``METRICS`` order, from a comma-separated string or a sequence."""
    names = [part.strip().lower() for part in (metrics.split(",") if isinstance(metrics, str) else metrics)]
    names = [name for name in names if name]
    unknown = sorted(set(names) - set(METRICS))
    if unknown or not names:
        raise ScoringError(
            f"unknown metric(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(METRICS)}"
        )
    return [name for name in METRICS if name in names]


def match_pairs(output_paths: Sequence[Path], content_paths: Sequence[Path]) -> list[Path]:
    """For each output, the content input with the same file name without suffix; refuse what does not pair."""
    by_stem: dict[str, Path] = {}
    for path in content_paths:
        if path.stem in by_stem:
            raise ScoringError(
                f"content images {by_stem[path.stem].name} and {path.name} have the same name without suffix; "
                "rename one so every output pairs with exactly one input"
            )
        by_stem[path.stem] = path
    stems = [path.stem for path in output_paths]
    duplicated = sorted({stem for stem in stems if stems.count(stem) > 1})
    if duplicated:
        raise ScoringError(
            f"several outputs are named {duplicated[0]!r} (without suffix); keep one output per content image"
        )
    missing = [path.name for path in output_paths if path.stem not in by_stem]
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise ScoringError(
            f"{len(missing)} output(s) have no content image of the same name: {shown}; "
            "name each output like the input it was generated from (the suffix may differ)"
        )
    return [by_stem[path.stem] for path in output_paths]


def _groups_by_size(images: Sequence[torch.Tensor]) -> Iterator[tuple[list[int], torch.Tensor]]:
    """Indices and a stacked ``(k, 3, H, W)`` batch per distinct image size."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for index, image in enumerate(images):
        groups.setdefault(tuple(image.shape), []).append(index)
    for indices in groups.values():
        yield indices, torch.stack([images[index] for index in indices])


def decode_batch_size(paths: Sequence[Path], budget: MemoryBudget) -> int:
    """Images decoded per step: ``IMAGE_BATCH``, fewer when the first image is so large that a quarter
    of the budget would not hold ``DECODED_COPIES`` copies of that many."""
    if not paths:
        return IMAGE_BATCH
    from PIL import Image

    try:
        with Image.open(paths[0]) as image:
            width, height = image.size
    except OSError:  # the decoder reports it with the file's name
        return IMAGE_BATCH
    per_image = DECODED_COPIES * 3 * width * height
    return max(1, min(IMAGE_BATCH, budget.bytes // 4 // per_image))


def compute_stats(paths: Sequence[Path], extractor: FeatureExtractor, *, batch_size: int = IMAGE_BATCH) -> FeatureStats:
    """Streamed float64 statistics of ``extractor`` features over image files; memory independent of count."""
    stats = FeatureStats.empty(extractor.dims)
    for batch in iter_image_batches(paths, batch_size):
        stats.update(extractor(batch))
    return stats


def compute_features(
    paths: Sequence[Path], extractor: FeatureExtractor, *, batch_size: int = IMAGE_BATCH
) -> np.ndarray:
    """``(N, D)`` float64 features of image files, in order."""
    parts = [extractor(batch).numpy() for batch in iter_image_batches(paths, batch_size)]
    return np.concatenate(parts) if parts else np.zeros((0, extractor.dims))


def reference_features(
    style_paths: Sequence[Path],
    extractor: FeatureExtractor,
    *,
    seed: int,
    cache: ReferenceCache | None,
    dataset_hash: str | None = None,
) -> tuple[ReferenceFeatures, str]:
    """The style set's features, statistics and covariance root, from the cache when there.

    Returns the reference and ``"hit"``, ``"miss"`` (computed and stored) or ``"off"`` (no cache).
    """
    dataset_hash = dataset_hash or content_hash(style_paths)
    key = CacheKey(dataset_hash, extractor.name, weights_identity(extractor.weights_sha256, seed=seed), extractor.mode)
    if cache is not None:
        cached = cache.load(key)
        if cached is not None:
            return cached, "hit"
    features = compute_features(style_paths, extractor)
    metadata = StatsMetadata(
        network=extractor.name,
        weights_sha256=extractor.weights_sha256,
        mode=str(PreprocessMode(extractor.mode).value),
        count=len(style_paths),
        content_hash=dataset_hash,
        calibrated=bool(extractor.calibrated),
    )
    reference = ReferenceFeatures.from_features(features, metadata)
    if cache is None:
        return reference, "off"
    cache.store(key, reference)
    return reference, "miss"


def style_grams(
    style_paths: Sequence[Path],
    vgg: VGGTaps,
    *,
    seed: int,
    cache: ReferenceCache | None,
    dataset_hash: str | None = None,
) -> tuple[dict[str, torch.Tensor], str]:
    """The style set's mean Gram matrix per style layer, from the cache when there (``"hit"``/``"miss"``/``"off"``)."""
    dataset_hash = dataset_hash or content_hash(style_paths)
    key = CacheKey(
        dataset_hash, VGG_NAME, weights_identity(vgg.weights_sha256, seed=seed), "gram-" + "-".join(STYLE_LAYERS)
    )
    if cache is not None:
        arrays = cache.load_arrays(key, kind="gram")
        if arrays is not None:
            return StyleGrams.from_arrays(arrays), "hit"
    grams = StyleGrams()
    budget = MemoryBudget.resolve(vgg.budget, device=vgg.device)
    for batch in iter_image_batches(style_paths, decode_batch_size(style_paths, budget)):
        for _indices, stacked in _groups_by_size(batch):
            for _start, taps in vgg.iter_taps(stacked):
                grams.update(taps)
    if cache is None:
        return grams.means(), "off"
    cache.store_arrays(key, grams.to_arrays(), kind="gram")
    return grams.means(), "miss"


def output_features(
    output_paths: Sequence[Path],
    *,
    inception_extractor: FeatureExtractor | None = None,
    content_paths: Sequence[Path] | None = None,
    vgg: VGGTaps | None = None,
    lpips: LPIPS | None = None,
    style_means: dict[str, torch.Tensor] | None = None,
    per_image: Sequence[str] = (),
    budget: MemoryBudget | float | None = None,
) -> OutputFeatures:
    """Inception features and per-image values (``per_image`` from ``PER_IMAGE_METRICS``) of outputs.

    ``content_paths``: the input of each output, aligned (``match_pairs``); needed for lpips, content
    and ssim. ``style_means``: the style set's mean Grams (``style_grams``), needed for gram.
    ``budget``: memory for SSIM's planes and the decode batch (``gan_core.memory``; the networks have
    their own, given when built); each step holds one network batch of feature maps at a time, so
    memory does not grow with the number of outputs. Raises ``MemoryBudgetError`` when an image
    cannot be scored even one at a time.
    """
    wanted = set(per_image)
    if wanted & {"lpips", "content", "ssim"} and content_paths is None:
        raise ScoringError("LPIPS, content and SSIM compare outputs with their inputs; pass --content DIR")
    if wanted & {"content", "gram"} and vgg is None:
        raise ScoringError("content and gram distances need VGG-19 taps; pass vgg=vgg19_taps(...)")
    if "gram" in wanted and style_means is None:
        raise ScoringError("the gram distance needs the style set's mean Grams; pass style_means=style_grams(...)[0]")
    if "lpips" in wanted and lpips is None:
        raise ScoringError("LPIPS needs its network; pass lpips=lpips_alex(...)")
    features: list[np.ndarray] = []
    values: dict[str, list[np.ndarray]] = {name: [] for name in PER_IMAGE_METRICS if name in wanted}
    budget = MemoryBudget.resolve(budget)
    step = decode_batch_size(output_paths, budget)
    inputs_iter = iter_image_batches(content_paths, step) if content_paths is not None and values else None
    offset = 0
    for batch in iter_image_batches(output_paths, step):
        start, offset = offset, offset + len(batch)
        if inception_extractor is not None:
            features.append(inception_extractor(batch).numpy())
        if not values:
            continue
        inputs = next(inputs_iter) if inputs_iter is not None else None
        batch_values = {name: np.empty(len(batch)) for name in values}
        for indices, outputs in _groups_by_size(batch):
            targets = None
            if inputs is not None:
                targets_list = [inputs[index] for index in indices]
                for index, target in zip(indices, targets_list, strict=True):
                    if target.shape != outputs.shape[1:]:
                        raise ScoringError(
                            f"output {output_paths[start + index]} is {tuple(outputs.shape[2:])} (H, W) but its input "
                            f"{content_paths[start + index]} is {tuple(target.shape[1:])}; outputs must keep the "
                            "input's height and width"
                        )
                targets = torch.stack(targets_list)
                check_pairs(outputs, targets)
            if vgg is not None and {"content", "gram"} & set(values):
                input_steps = vgg.iter_taps(targets) if "content" in values and targets is not None else None
                for chunk_start, output_taps in vgg.iter_taps(outputs):
                    rows = indices[chunk_start : chunk_start + next(iter(output_taps.values())).shape[0]]
                    if "content" in values:
                        assert input_steps is not None
                        _, input_taps = next(input_steps)
                        batch_values["content"][rows] = content_distance(
                            output_taps, input_taps, layer=CONTENT_LAYER
                        ).numpy()
                        del input_taps
                    if "gram" in values:
                        assert style_means is not None
                        batch_values["gram"][rows] = gram_distances(output_taps, style_means).numpy()
                    del output_taps
            if "lpips" in values:
                assert lpips is not None and targets is not None
                batch_values["lpips"][indices] = lpips(outputs, targets).numpy()
            if "ssim" in values:
                assert targets is not None
                batch_values["ssim"][indices] = ssim(outputs, targets, data_range=255.0, budget=budget).numpy()
        for name in values:
            values[name].append(batch_values[name])
    return OutputFeatures(
        names=[path.name for path in output_paths],
        inception=np.concatenate(features) if features else None,
        per_image={name: np.concatenate(parts) for name, parts in values.items()},
    )


def _interval_dict(interval: Interval | None) -> dict[str, Any] | None:
    return None if interval is None else interval.to_dict()


def score_features(
    outputs: OutputFeatures,
    *,
    metrics: Sequence[str],
    reference: ReferenceFeatures | None = None,
    networks: Networks | None = None,
    mode: PreprocessMode = PreprocessMode.CLEAN,
    seed: int = 0,
    bootstrap: Bootstrap = Bootstrap(),
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
) -> dict[str, Any]:
    """Scores from already computed features: the worker's path (outputs processed once, reference cached).

    ``reference``: the style set (``reference_features``), needed for fid, kid, mifid and artfid.
    Returns the same dictionary as ``score`` (see there), without its ``cache`` entry.
    """
    names = parse_metrics(metrics)
    networks = networks or Networks()
    n = len(outputs.names)
    results: dict[str, dict[str, Any]] = {}
    indices = None
    if bootstrap.resamples > 0 and n >= 2:  # with fewer outputs, the metrics themselves say what is missing
        indices = resample_indices(n, resamples=bootstrap.resamples, seed=seed)

    def interval(samples: np.ndarray, point: float, method: IntervalMethod) -> Interval:
        return interval_from_samples(samples, point=point, confidence=bootstrap.confidence, seed=seed, method=method)

    recentred = IntervalMethod.RECENTRED_PERCENTILE
    fid_value = fid_samples = None
    if INCEPTION_METRICS & set(names):
        if outputs.inception is None or reference is None:
            raise ScoringError("FID, KID, MiFID and ArtFID need Inception features of the outputs and the style set")
        fid_value = fid_from_features(outputs.inception, reference)
        if indices is not None and ({"fid", "mifid", "artfid"} & set(names)):
            fid_of = fid_resampler(outputs.inception, reference)
            fid_samples = np.array([fid_of(row) for row in indices])
    network_name = (
        networks.inception.name
        if networks.inception is not None
        else (reference.metadata.network if reference is not None and reference.metadata else "unknown")
    )
    if "fid" in names:
        assert fid_value is not None
        results["fid"] = {
            "value": fid_value,
            "interval": _interval_dict(None if fid_samples is None else interval(fid_samples, fid_value, recentred)),
            "network": network_name,
        }
    if "kid" in names:
        assert outputs.inception is not None and reference is not None
        if reference.features is None:
            raise ScoringError("KID needs the style set's features; compute the reference with reference_features()")
        result = kid(outputs.inception, reference.features, subsets=kid_subsets, subset_size=kid_subset_size, seed=seed)
        kid_interval = None
        if indices is not None:
            mmd_of, rows = kid_resampler(outputs.inception, reference.features, seed=seed)
            kid_indices = indices if rows == n else resample_indices(rows, resamples=bootstrap.resamples, seed=seed)
            kid_interval = interval(np.array([mmd_of(row) for row in kid_indices]), result.mean, recentred)
        results["kid"] = {
            "value": result.mean,
            "std": result.std,
            "subsets": result.subsets,
            "subset_size": result.subset_size,
            "seed": result.seed,
            "interval": _interval_dict(kid_interval),
            "network": network_name,
        }
    if "mifid" in names:
        assert outputs.inception is not None and reference is not None and fid_value is not None
        distances = memorisation_distances(outputs.inception, reference.normalised_features())
        result = mifid_from_parts(fid_value, distances)
        mifid_interval = None
        if fid_samples is not None and indices is not None:
            samples = np.empty(len(indices))
            for position, row in enumerate(indices):
                d = float(np.nanmean(distances[row]))
                samples[position] = fid_samples[position] / ((d if d < COSINE_EPS else 1.0) + FID_EPSILON)
            mifid_interval = interval(samples, result.value, recentred)
        results["mifid"] = {
            "value": result.value,
            "fid": result.fid,
            "distance": result.distance,
            "thresholded_distance": result.thresholded_distance,
            "eps": COSINE_EPS,
            "interval": _interval_dict(mifid_interval),
            "network": network_name,
        }
    for name in PER_IMAGE_METRICS:
        if name not in names:
            continue
        if name not in outputs.per_image:
            raise ScoringError(f"{name} needs per-image values of the outputs; compute them with output_features()")
        values = outputs.per_image[name]
        mean_ci = None
        if indices is not None:
            mean_ci = mean_interval(values, resamples=bootstrap.resamples, confidence=bootstrap.confidence, seed=seed)
        results[name] = {"value": float(values.mean()), "interval": _interval_dict(mean_ci)}
        if name == "ssim":
            results[name]["data_range"] = 255.0
        if name == "content":
            results[name]["layer"] = CONTENT_LAYER
        if name == "gram":
            results[name]["layers"] = list(STYLE_LAYERS)
    if "artfid" in names:
        assert fid_value is not None
        if "lpips" not in outputs.per_image:
            raise ScoringError("ArtFID needs per-image LPIPS of the outputs; compute them with output_features()")
        lpips_values = outputs.per_image["lpips"]
        result = artfid(lpips=float(lpips_values.mean()), fid=fid_value, fid_network=network_name)
        art_interval = None
        if fid_samples is not None and indices is not None:
            samples = (1.0 + lpips_values[indices].mean(axis=1)) * (1.0 + fid_samples)
            art_interval = interval(samples, result.value, recentred)
        results["artfid"] = {
            "value": result.value,
            "lpips": result.lpips,
            "fid": result.fid,
            "interval": _interval_dict(art_interval),
            "network": network_name,
        }
    for name, entry in results.items():
        entry["direction"] = DIRECTIONS[name]
    calibrated = networks.calibrated
    if reference is not None and reference.metadata is not None and not reference.metadata.calibrated:
        calibrated = False
    report: dict[str, Any] = {
        "gan_core_version": gan_core_version,
        "mode": str(PreprocessMode(mode).value),
        "calibrated": calibrated,
        "seed": seed,
        "bootstrap": {"resamples": bootstrap.resamples, "confidence": bootstrap.confidence, "seed": seed},
        "counts": {"outputs": n, "style": reference.stats.count if reference is not None else None},
        "networks": networks.describe(),
        "metrics": {name: results[name] for name in names},
        "per_image": {"names": list(outputs.names)}
        | {name: [float(v) for v in values] for name, values in outputs.per_image.items()},
    }
    if not calibrated:
        report["note"] = (
            "computed with random-initialised feature networks: for tests and demos only, "
            "not comparable with any other score"
        )
    return report


def score(
    *,
    outputs: Path,
    style: Path,
    content: Path | None = None,
    metrics: str | Sequence[str] = ("fid",),
    mode: PreprocessMode = PreprocessMode.CLEAN,
    weights: WeightsMode = WeightsMode.PRETRAINED,
    seed: int = 0,
    network_seed: int = 0,
    cache_dir: Path | None = None,
    device: torch.device | str | None = None,
    bootstrap: Bootstrap = Bootstrap(),
    dims: int = 2048,
    budget: MemoryBudget | float | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Score a folder of outputs against a style folder (and their content inputs for paired metrics).

    ``outputs``, ``style``, ``content``: folders of images (``gan_core.images.list_images``); outputs
    pair with content images by file name without suffix; ``style`` is read only by fid, kid, mifid,
    artfid and gram. ``metrics``: names from ``METRICS`` (a
    sequence or ``"fid,kid"``). ``mode``: Inception preprocessing. ``weights``: ``RANDOM`` only for tests
    and demos, initialised from ``network_seed``. ``seed``: the KID subsets and the bootstrap
    resamples only, so intervals can be redrawn with the same networks. ``cache_dir``:
    where the style set's statistics, covariance root, features and Grams are kept between calls.
    ``budget``: memory for one step of every metric (``gan_core.memory.MemoryBudget`` or MiB; default
    ``$ATELIER_SCORING_MEMORY_MB``, else a quarter of free memory); ``MemoryBudgetError`` when an
    image cannot be scored even one at a time.

    Returns a JSON-able dict: ``metrics`` (per metric ``value``, ``interval`` (``low``, ``high``,
    ``confidence``, ``resamples``, ``seed``, ``method``) or None, ``direction``, and metric-specific
    parts), ``mode``, ``networks`` (name, ``weights_sha256``, ``calibrated`` each), ``calibrated``,
    ``gan_core_version``, ``seed``, ``bootstrap``, ``counts``, ``per_image`` (names and per-image
    values), ``network_seed`` and ``cache`` (``hit``/``miss``/``off`` per cached item).
    """
    names = parse_metrics(metrics)
    budget = MemoryBudget.resolve(budget)
    mode = PreprocessMode(mode)
    weights = WeightsMode(weights)
    say = progress or (lambda message: None)
    output_paths = list_images(Path(outputs))
    wanted_per_image = set(names) & set(PER_IMAGE_METRICS)
    if "artfid" in names:
        wanted_per_image.add("lpips")
    content_paths = None
    if wanted_per_image & {"lpips", "content", "ssim"}:
        if content is None:
            paired = ", ".join(sorted(set(names) & PAIRED_METRICS))
            raise ScoringError(f"{paired} compare outputs with their inputs; pass the content folder (--content DIR)")
        content_paths = match_pairs(output_paths, list_images(Path(content)))
    needs_style = bool(INCEPTION_METRICS & set(names)) or "gram" in wanted_per_image
    style_paths = list_images(Path(style)) if needs_style else []  # paired-only scores never read it
    style_hash = content_hash(style_paths) if needs_style else ""
    cache = ReferenceCache(Path(cache_dir)) if cache_dir is not None else None
    networks = Networks()
    cache_report: dict[str, str] = {}
    reference = None
    if INCEPTION_METRICS & set(names):
        networks.inception = inception(
            mode=mode, dims=dims, weights=weights, seed=network_seed, device=device, budget=budget
        )
        say(f"style set: {len(style_paths)} images")
        reference, cache_report["reference"] = reference_features(
            style_paths, networks.inception, seed=network_seed, cache=cache, dataset_hash=style_hash
        )
    style_means = None
    if wanted_per_image & {"content", "gram"}:
        networks.vgg = vgg19_taps(weights=weights, seed=network_seed, device=device, budget=budget)
    if "gram" in wanted_per_image:
        assert networks.vgg is not None
        style_means, cache_report["gram"] = style_grams(
            style_paths, networks.vgg, seed=network_seed, cache=cache, dataset_hash=style_hash
        )
    if "lpips" in wanted_per_image:
        networks.lpips = lpips_alex(weights=weights, seed=network_seed, device=device, budget=budget)
    say(f"outputs: {len(output_paths)} images")
    features = output_features(
        output_paths,
        inception_extractor=networks.inception,
        content_paths=content_paths,
        vgg=networks.vgg,
        lpips=networks.lpips,
        style_means=style_means,
        per_image=sorted(wanted_per_image),
        budget=budget,
    )
    report = score_features(
        features, metrics=names, reference=reference, networks=networks, mode=mode, seed=seed, bootstrap=bootstrap
    )
    report["counts"]["style"] = len(style_paths) if needs_style else None
    report["counts"]["pairs"] = len(content_paths) if content_paths is not None else 0
    report["network_seed"] = network_seed
    report["cache"] = cache_report
    return report
