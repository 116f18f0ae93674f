"""Metrics: FID, KID, MiFID, content (VGG, LPIPS), SSIM, Gram style distance, ArtFID, bootstrap intervals.

Pure maths on features (``numpy`` float64) and feature maps; the networks are in ``gan_core.features``.
Each module's docstring states its formula. What each metric is called, which way is better and
what it needs: ``gan_core.metrics.registry``.
"""

import importlib
import sys
import types
from typing import Any

_HOMES = {
    "ArtFidResult": "gan_core.metrics.artfid",
    "artfid": "gan_core.metrics.artfid",
    "Interval": "gan_core.metrics.bootstrap",
    "IntervalMethod": "gan_core.metrics.bootstrap",
    "bootstrap_interval": "gan_core.metrics.bootstrap",
    "mean_interval": "gan_core.metrics.bootstrap",
    "CONTENT_LAYER": "gan_core.metrics.content",
    "content_distance": "gan_core.metrics.content",
    "MetricError": "gan_core.metrics.errors",
    "FidRoute": "gan_core.metrics.fid",
    "fid_from_features": "gan_core.metrics.fid",
    "fid_from_stats": "gan_core.metrics.fid",
    "fid_resampler": "gan_core.metrics.fid",
    "frechet_distance": "gan_core.metrics.fid",
    "KidResult": "gan_core.metrics.kid",
    "kid": "gan_core.metrics.kid",
    "kid_resampler": "gan_core.metrics.kid",
    "MifidResult": "gan_core.metrics.mifid",
    "memorisation_distances": "gan_core.metrics.mifid",
    "mifid_from_parts": "gan_core.metrics.mifid",
    "normalise_rows": "gan_core.metrics.mifid",
    "ssim": "gan_core.metrics.ssim",
    "STYLE_LAYERS": "gan_core.metrics.style",
    "StyleGrams": "gan_core.metrics.style",
    "gram_distances": "gan_core.metrics.style",
    "gram_matrices": "gan_core.metrics.style",
}


def __getattr__(name: str) -> Any:
    # Imported on first use, so that ``gan_core.metrics.registry`` (what the web side reads) does
    # not load numpy, scipy and torch with the maths.
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'gan_core.metrics' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


class _Package(types.ModuleType):
    """Importing ``gan_core.metrics.kid`` (or ``ssim``, ``artfid``) sets the package's attribute
    of that name to the submodule; the functions of the same name stay what the package exports."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and name in _HOMES:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


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
