"""The metrics, one entry each: what they are called and shown as, which way is better, how many
decimals they are shown with, what they need (feature networks, the style set, content pairs).

The one place that knows: gan_core's scoring (``gan_core.scoring``: the metric names it accepts,
their directions, which networks a request builds), the platform's worker (which networks and
reference statistics a phase needs, which stored name maps to which score), the platform's models
(``PhaseMetric.Metric`` choices and default directions) and so its pages, the API (labels,
directions and decimals on every leaderboard and ``GET /api/v1/metrics/``) and through it the
command-line client. Adding a metric is one entry here and one function registered with
``gan_core.scoring.computes`` (efficiency figures are measured by the platform's runs instead).

Torch-free and numpy-free: the web side imports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["METRICS", "Metric", "core_metrics", "metric_get", "networks_for", "per_image_for", "stored_names"]

INCEPTION, VGG, LPIPS = "inception", "vgg", "lpips"


@dataclass(frozen=True)
class Metric:
    """One metric.

    ``name``: what gan_core calls it (``python -m gan_core score --metrics ...``); ``stored``:
    what the platform stores and shows in its API (the same but for ``content``, stored as
    ``content_vgg`` since the first version). ``networks``: the feature networks it needs;
    ``style``: whether it compares with the style set (Inception statistics or Gram means);
    ``paired``: whether each output is compared with its content input; ``per_image``: whether it
    is a mean of per-image values (its interval is a mean's); ``core``: False for the efficiency
    figures that the platform measures while running the generator, not gan_core's scoring.
    """

    name: str
    label: str
    direction: str  # "lower" or "higher" is better
    decimals: int
    description: str
    networks: frozenset[str] = frozenset()
    style: bool = False
    paired: bool = False
    per_image: bool = False
    core: bool = True
    stored: str = ""
    source: str = ""

    def __post_init__(self) -> None:
        if self.direction not in ("lower", "higher"):
            raise ValueError(f"{self.name}: direction must be 'lower' or 'higher', not {self.direction!r}")
        if not self.stored:
            object.__setattr__(self, "stored", self.name)
        if not self.source:
            object.__setattr__(self, "source", "scoring" if self.core else "run")
        if self.source not in ("scoring", "run", "votes"):
            raise ValueError(f"{self.name}: source must be 'scoring', 'run' or 'votes', not {self.source!r}")


_ALL = (
    Metric("fid", "FID", "lower", 3, "Fréchet distance of Inception pool features to the style set.",
           networks=frozenset({INCEPTION}), style=True),
    Metric("kid", "KID", "lower", 3, "Kernel Inception distance to the style set (seeded subsets).",
           networks=frozenset({INCEPTION}), style=True),
    Metric("mifid", "MiFID", "lower", 3, "Memorization-informed FID (Kaggle's): FID divided by the "
           "thresholded nearest-neighbour cosine distance to the style set.", networks=frozenset({INCEPTION}), style=True),
    Metric("lpips", "LPIPS (content)", "lower", 3, "Mean LPIPS (AlexNet v0.1) of each output to its content input.",
           networks=frozenset({LPIPS}), paired=True, per_image=True),
    Metric("content", "VGG content distance", "lower", 3, "Mean VGG-19 conv4_2 feature distance of each output "
           "to its content input.", networks=frozenset({VGG}), paired=True, per_image=True, stored="content_vgg"),
    Metric("ssim", "SSIM (content)", "higher", 3, "Mean SSIM (data range 255) of each output to its content input.",
           paired=True, per_image=True),
    Metric("gram", "Gram style distance", "lower", 3, "Mean Gram-matrix distance (VGG-19) of each output to the "
           "style set's mean Gram matrices.", networks=frozenset({VGG}), style=True, per_image=True),
    Metric("artfid", "ArtFID", "lower", 3, "(1 + LPIPS) x (1 + FID): content kept and style reached at once.",
           networks=frozenset({INCEPTION, LPIPS}), style=True, paired=True),
    Metric("latency", "Latency per image (ms)", "lower", 1, "Wall time of the generator per image, measured "
           "in the sandbox on the scoring hardware.", core=False),
    Metric("parameters", "Parameters", "lower", 0, "Number of parameters of the generator.", core=False),
    Metric("human", "Human rating", "higher", 0, "Bradley-Terry rating (Elo-like points, baselines' mean "
           "1000) from pairwise votes of people on the public preview outputs.", core=False, source="votes"),
)  # fmt: skip

METRICS: MappingProxyType[str, Metric] = MappingProxyType({metric.stored: metric for metric in _ALL})
"""Every metric by its stored name, in the order pages and reports list them."""

_BY_NAME = {metric.name: metric for metric in _ALL}


def metric_get(name: str) -> Metric:
    """The metric called ``name`` (gan_core's name or the stored one).

    Raises:
        KeyError: naming the known metrics.
    """
    found = METRICS.get(name) or _BY_NAME.get(name)
    if found is None:
        raise KeyError(f"unknown metric {name!r}; known: {', '.join(METRICS)}")
    return found


def core_metrics() -> tuple[str, ...]:
    """gan_core's metric names, in order (what ``gan_core.scoring`` computes)."""
    return tuple(metric.name for metric in _ALL if metric.core)


def stored_names() -> tuple[str, ...]:
    """The platform's stored names, in order."""
    return tuple(METRICS)


def networks_for(names: list[str] | tuple[str, ...] | set[str] | frozenset[str]) -> frozenset[str]:
    """The feature networks scoring ``names`` needs."""
    needed: set[str] = set()
    for name in names:
        needed |= metric_get(name).networks
    return frozenset(needed)


def per_image_for(names: list[str] | tuple[str, ...] | set[str] | frozenset[str]) -> tuple[str, ...]:
    """The per-image values (gan_core names, in order) scoring ``names`` computes: its own for the
    per-image metrics, LPIPS for ArtFID."""
    wanted = {metric_get(name).name for name in names}
    if "artfid" in wanted:
        wanted.add("lpips")
    return tuple(metric.name for metric in _ALL if metric.per_image and metric.name in wanted)
