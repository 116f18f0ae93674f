"""Features of image folders, computed once: the style set's reference statistics (cached), Gram
means, and the outputs' Inception features and per-image values, within a memory budget.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

from gan_core.features.extractor import FeatureExtractor
from gan_core.features.lpips import LPIPS
from gan_core.features.vgg import VGGTaps
from gan_core.images import PreprocessMode, content_hash, iter_image_batches
from gan_core.memory import MemoryBudget
from gan_core.metrics.content import CONTENT_LAYER, check_pairs, content_distance
from gan_core.metrics.ssim import ssim
from gan_core.metrics.style import STYLE_LAYERS, StyleGrams, gram_distances
from gan_core.scoring.common import (
    DECODED_COPIES,
    IMAGE_BATCH,
    PER_IMAGE_METRICS,
    VGG_NAME,
    OutputFeatures,
    ScoringError,
)
from gan_core.stats import (
    CacheKey,
    FeatureStats,
    ReferenceCache,
    ReferenceFeatures,
    StatsMetadata,
    weights_identity,
)


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


def reference_key(extractor: FeatureExtractor, *, dataset_hash: str, seed: int) -> CacheKey:
    """The cache key of a style set's Inception reference (:func:`reference_features`): the set's content
    hash, the network, its weights (the seed of a random one) and the preprocessing mode."""
    weights = weights_identity(extractor.weights_sha256, seed=seed)
    return CacheKey(dataset_hash, extractor.name, weights, str(PreprocessMode(extractor.mode).value))


def gram_key(vgg: VGGTaps, *, dataset_hash: str, seed: int) -> CacheKey:
    """The cache key of a style set's mean Gram matrices (:func:`style_grams`)."""
    weights = weights_identity(vgg.weights_sha256, seed=seed)
    return CacheKey(dataset_hash, VGG_NAME, weights, "gram-" + "-".join(STYLE_LAYERS))


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
    key = reference_key(extractor, dataset_hash=dataset_hash, seed=seed)
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
    key = gram_key(vgg, dataset_hash=dataset_hash, seed=seed)
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
