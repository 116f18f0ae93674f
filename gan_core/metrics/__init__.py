"""Metrics: FID, KID, MiFID, content (VGG, LPIPS), SSIM, Gram style distance, ArtFID, bootstrap intervals.

Pure maths on features (``numpy`` float64) and feature maps; the networks are in ``gan_core.features``.
Each module's docstring states its formula.
"""

from gan_core.metrics.artfid import ArtFidResult, artfid
from gan_core.metrics.bootstrap import Interval, IntervalMethod, bootstrap_interval, mean_interval
from gan_core.metrics.content import CONTENT_LAYER, content_distance
from gan_core.metrics.errors import MetricError
from gan_core.metrics.fid import FidRoute, fid_from_features, fid_from_stats, fid_resampler, frechet_distance
from gan_core.metrics.kid import KidResult, kid, kid_resampler
from gan_core.metrics.mifid import MifidResult, memorisation_distances, mifid_from_parts, normalise_rows
from gan_core.metrics.ssim import ssim
from gan_core.metrics.style import STYLE_LAYERS, StyleGrams, gram_distances, gram_matrices

__all__ = [
    "CONTENT_LAYER",
    "STYLE_LAYERS",
    "ArtFidResult",
    "FidRoute",
    "Interval",
    "IntervalMethod",
    "KidResult",
    "MetricError",
    "MifidResult",
    "StyleGrams",
    "artfid",
    "bootstrap_interval",
    "content_distance",
    "fid_from_features",
    "fid_from_stats",
    "fid_resampler",
    "frechet_distance",
    "gram_distances",
    "gram_matrices",
    "kid",
    "kid_resampler",
    "mean_interval",
    "memorisation_distances",
    "mifid_from_parts",
    "normalise_rows",
    "ssim",
]
