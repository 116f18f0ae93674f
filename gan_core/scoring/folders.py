""":func:`score`: folders of images in, a JSON-able report out (what ``python -m gan_core score``
prints): builds the networks the metrics need, the reference, the features, then the scores.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from gan_core.features import WeightsMode, inception, lpips_alex, vgg19_taps
from gan_core.images import PreprocessMode, content_hash, list_images
from gan_core.memory import MemoryBudget
from gan_core.metrics import registry
from gan_core.scoring.common import (
    DEFAULT_BOOTSTRAP,
    PAIRED_METRICS,
    Bootstrap,
    Networks,
    ScoringError,
    match_pairs,
    parse_metrics,
)
from gan_core.scoring.features import (
    output_features,
    reference_features,
    style_grams,
)
from gan_core.scoring.metrics import score_features
from gan_core.stats import (
    ReferenceCache,
)


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
    bootstrap: Bootstrap = DEFAULT_BOOTSTRAP,
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
    wanted_per_image = set(registry.per_image_for(names))
    needed = registry.networks_for(names)
    content_paths = None
    if any(registry.metric_get(name).paired for name in wanted_per_image):
        if content is None:
            paired = ", ".join(sorted(set(names) & PAIRED_METRICS))
            raise ScoringError(f"{paired} compare outputs with their inputs; pass the content folder (--content DIR)")
        content_paths = match_pairs(output_paths, list_images(Path(content)))
    needs_style = any(registry.metric_get(name).style for name in names)
    style_paths = list_images(Path(style)) if needs_style else []  # paired-only scores never read it
    style_hash = content_hash(style_paths) if needs_style else ""
    cache = ReferenceCache(Path(cache_dir)) if cache_dir is not None else None
    networks = Networks()
    cache_report: dict[str, str] = {}
    reference = None
    if registry.INCEPTION in needed:
        networks.inception = inception(
            mode=mode, dims=dims, weights=weights, seed=network_seed, device=device, budget=budget
        )
        say(f"style set: {len(style_paths)} images")
        reference, cache_report["reference"] = reference_features(
            style_paths, networks.inception, seed=network_seed, cache=cache, dataset_hash=style_hash
        )
    style_means = None
    if registry.VGG in needed:
        networks.vgg = vgg19_taps(weights=weights, seed=network_seed, device=device, budget=budget)
    if "gram" in wanted_per_image:
        assert networks.vgg is not None
        style_means, cache_report["gram"] = style_grams(
            style_paths, networks.vgg, seed=network_seed, cache=cache, dataset_hash=style_hash
        )
    if registry.LPIPS in needed:
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
