"""From features to scores: one function per metric, registered with :func:`computes` under its
name in ``gan_core.metrics.registry``, and :func:`score_features`, which runs them with a shared
bootstrap and one FID for fid, mifid and artfid.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gan_core.images import PreprocessMode
from gan_core.metrics.artfid import artfid
from gan_core.metrics.bootstrap import Interval, IntervalMethod, interval_from_samples, mean_interval, resample_indices
from gan_core.metrics.content import CONTENT_LAYER
from gan_core.metrics.fid import fid_from_features, fid_resampler
from gan_core.metrics.kid import kid, kid_resampler
from gan_core.metrics.mifid import COSINE_EPS, FID_EPSILON, memorisation_distances, mifid_from_parts
from gan_core.metrics.style import STYLE_LAYERS
from gan_core.scoring.common import (
    DEFAULT_BOOTSTRAP,
    DIRECTIONS,
    INCEPTION_METRICS,
    METRICS,
    PER_IMAGE_METRICS,
    Bootstrap,
    Networks,
    OutputFeatures,
    ScoringError,
    parse_metrics,
)
from gan_core.stats import (
    ReferenceFeatures,
)
from gan_core.version import __version__ as gan_core_version


def _interval_dict(interval: Interval | None) -> dict[str, Any] | None:
    return None if interval is None else interval.to_dict()


@dataclass
class _Scoring:
    """What every metric's computation of one :func:`score_features` call shares: the outputs, the
    style set's reference, the bootstrap rows, and the FID that fid, mifid and artfid all start from
    (computed once, on first use)."""

    outputs: OutputFeatures
    reference: ReferenceFeatures | None
    networks: Networks
    names: list[str]
    seed: int
    bootstrap: Bootstrap
    kid_subsets: int
    kid_subset_size: int
    indices: np.ndarray | None = None
    _fid: tuple[float, np.ndarray | None] | None = None

    def interval(self, samples: np.ndarray, point: float) -> dict[str, Any]:
        return interval_from_samples(
            samples,
            point=point,
            confidence=self.bootstrap.confidence,
            seed=self.seed,
            method=IntervalMethod.RECENTRED_PERCENTILE,
        ).to_dict()

    def inception_pair(self) -> tuple[np.ndarray, ReferenceFeatures]:
        if self.outputs.inception is None or self.reference is None:
            raise ScoringError("FID, KID, MiFID and ArtFID need Inception features of the outputs and the style set")
        return self.outputs.inception, self.reference

    def fid(self) -> tuple[float, np.ndarray | None]:
        """``(FID, its bootstrap samples or None)``."""
        if self._fid is None:
            features, reference = self.inception_pair()
            samples = None
            if self.indices is not None:
                fid_of = fid_resampler(features, reference)
                samples = np.array([fid_of(row) for row in self.indices])
            self._fid = (fid_from_features(features, reference), samples)
        return self._fid

    @property
    def network_name(self) -> str:
        if self.networks.inception is not None:
            return self.networks.inception.name
        if self.reference is not None and self.reference.metadata:
            return self.reference.metadata.network
        return "unknown"

    def per_image(self, name: str) -> np.ndarray:
        if name not in self.outputs.per_image:
            raise ScoringError(f"{name} needs per-image values of the outputs; compute them with output_features()")
        return self.outputs.per_image[name]


_COMPUTE: dict[str, Callable[[_Scoring], dict[str, Any]]] = {}


def computes(*names: str) -> Callable[[Callable[[_Scoring, str], dict[str, Any]]], Callable]:
    """Register the function that scores the metric(s) ``names`` (each an entry of
    ``gan_core.metrics.registry``): it gets the shared :class:`_Scoring` and the name, and returns
    the metric's entry (``value``, ``interval`` and its own parts)."""

    def register(function: Callable[[_Scoring, str], dict[str, Any]]) -> Callable:
        for name in names:
            if name not in METRICS:
                raise ValueError(f"{name!r} is not a gan_core metric of gan_core.metrics.registry")
            _COMPUTE[name] = lambda scoring, name=name: function(scoring, name)
        return function

    return register


@computes("fid")
def _score_fid(scoring: _Scoring, name: str) -> dict[str, Any]:
    value, samples = scoring.fid()
    interval = None if samples is None else scoring.interval(samples, value)
    return {"value": value, "interval": interval, "network": scoring.network_name}


@computes("kid")
def _score_kid(scoring: _Scoring, name: str) -> dict[str, Any]:
    features, reference = scoring.inception_pair()
    if reference.features is None:
        raise ScoringError("KID needs the style set's features; compute the reference with reference_features()")
    result = kid(
        features,
        reference.features,
        subsets=scoring.kid_subsets,
        subset_size=scoring.kid_subset_size,
        seed=scoring.seed,
    )
    kid_interval = None
    if scoring.indices is not None:
        mmd_of, rows = kid_resampler(features, reference.features, seed=scoring.seed)
        n = len(scoring.outputs.names)
        resamples = scoring.bootstrap.resamples
        kid_indices = scoring.indices if rows == n else resample_indices(rows, resamples=resamples, seed=scoring.seed)
        kid_interval = scoring.interval(np.array([mmd_of(row) for row in kid_indices]), result.mean)
    return {
        "value": result.mean,
        "std": result.std,
        "subsets": result.subsets,
        "subset_size": result.subset_size,
        "seed": result.seed,
        "interval": kid_interval,
        "network": scoring.network_name,
    }


@computes("mifid")
def _score_mifid(scoring: _Scoring, name: str) -> dict[str, Any]:
    features, reference = scoring.inception_pair()
    fid_value, fid_samples = scoring.fid()
    distances = memorisation_distances(features, reference.normalised_features())
    result = mifid_from_parts(fid_value, distances)
    mifid_interval = None
    if fid_samples is not None and scoring.indices is not None:
        samples = np.empty(len(scoring.indices))
        for position, row in enumerate(scoring.indices):
            d = float(np.nanmean(distances[row]))
            samples[position] = fid_samples[position] / ((d if d < COSINE_EPS else 1.0) + FID_EPSILON)
        mifid_interval = scoring.interval(samples, result.value)
    return {
        "value": result.value,
        "fid": result.fid,
        "distance": result.distance,
        "thresholded_distance": result.thresholded_distance,
        "eps": COSINE_EPS,
        "interval": mifid_interval,
        "network": scoring.network_name,
    }


_PER_IMAGE_PARTS: dict[str, dict[str, Any]] = {
    "ssim": {"data_range": 255.0},
    "content": {"layer": CONTENT_LAYER},
    "gram": {"layers": list(STYLE_LAYERS)},
}


@computes(*PER_IMAGE_METRICS)
def _score_mean(scoring: _Scoring, name: str) -> dict[str, Any]:
    """A per-image metric: the mean of its values, the mean's bootstrap interval."""
    values = scoring.per_image(name)
    mean_ci = None
    if scoring.indices is not None:
        mean_ci = mean_interval(
            values, resamples=scoring.bootstrap.resamples, confidence=scoring.bootstrap.confidence, seed=scoring.seed
        )
    return {"value": float(values.mean()), "interval": _interval_dict(mean_ci), **_PER_IMAGE_PARTS.get(name, {})}


@computes("artfid")
def _score_artfid(scoring: _Scoring, name: str) -> dict[str, Any]:
    fid_value, fid_samples = scoring.fid()
    if "lpips" not in scoring.outputs.per_image:
        raise ScoringError("ArtFID needs per-image LPIPS of the outputs; compute them with output_features()")
    lpips_values = scoring.outputs.per_image["lpips"]
    result = artfid(lpips=float(lpips_values.mean()), fid=fid_value, fid_network=scoring.network_name)
    art_interval = None
    if fid_samples is not None and scoring.indices is not None:
        samples = (1.0 + lpips_values[scoring.indices].mean(axis=1)) * (1.0 + fid_samples)
        art_interval = scoring.interval(samples, result.value)
    return {
        "value": result.value,
        "lpips": result.lpips,
        "fid": result.fid,
        "interval": art_interval,
        "network": scoring.network_name,
    }


def score_features(
    outputs: OutputFeatures,
    *,
    metrics: Sequence[str],
    reference: ReferenceFeatures | None = None,
    networks: Networks | None = None,
    mode: PreprocessMode = PreprocessMode.CLEAN,
    seed: int = 0,
    bootstrap: Bootstrap = DEFAULT_BOOTSTRAP,
    kid_subsets: int = 100,
    kid_subset_size: int = 1000,
) -> dict[str, Any]:
    """Scores from already computed features: the worker's path (outputs processed once, reference cached).

    ``reference``: the style set (``reference_features``), needed for fid, kid, mifid and artfid.
    Returns the same dictionary as ``score`` (see there), without its ``cache`` entry. Each metric
    is computed by the function registered for it with :func:`computes`.
    """
    names = parse_metrics(metrics)
    networks = networks or Networks()
    n = len(outputs.names)
    scoring = _Scoring(
        outputs=outputs,
        reference=reference,
        networks=networks,
        names=names,
        seed=seed,
        bootstrap=bootstrap,
        kid_subsets=kid_subsets,
        kid_subset_size=kid_subset_size,
    )
    if bootstrap.resamples > 0 and n >= 2:  # with fewer outputs, the metrics themselves say what is missing
        scoring.indices = resample_indices(n, resamples=bootstrap.resamples, seed=seed)
    if INCEPTION_METRICS & set(names):
        scoring.inception_pair()  # the same refusal whichever of them comes first
    results: dict[str, dict[str, Any]] = {}
    for name in names:
        results[name] = _COMPUTE[name](scoring) | {"direction": DIRECTIONS[name]}
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
        "metrics": results,
        "per_image": {"names": list(outputs.names)}
        | {name: [float(v) for v in values] for name, values in outputs.per_image.items()},
    }
    if not calibrated:
        report["note"] = (
            "computed with random-initialised feature networks: for tests and demos only, "
            "not comparable with any other score"
        )
    return report
