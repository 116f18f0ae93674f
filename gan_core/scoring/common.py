"""What every part of scoring shares: the metric constants (from ``gan_core.metrics.registry``), the
request's settings and errors, the outputs' features, the networks used, metric names and pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gan_core.features.extractor import FeatureExtractor
from gan_core.features.lpips import LPIPS
from gan_core.features.vgg import VGGTaps
from gan_core.metrics import registry

METRICS: tuple[str, ...] = registry.core_metrics()
"""gan_core's metrics in report order (``gan_core.metrics.registry`` says what each is and needs)."""
DIRECTIONS: dict[str, str] = {name: registry.metric_get(name).direction for name in METRICS}
INCEPTION_METRICS = frozenset(name for name in METRICS if registry.INCEPTION in registry.metric_get(name).networks)
PAIRED_METRICS = frozenset(name for name in METRICS if registry.metric_get(name).paired)
PER_IMAGE_METRICS: tuple[str, ...] = tuple(name for name in METRICS if registry.metric_get(name).per_image)
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


DEFAULT_BOOTSTRAP = Bootstrap()
"""100 resamples, 95 % intervals."""


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
