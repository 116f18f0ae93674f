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

The package: ``common`` (constants, settings, errors), ``features`` (reference statistics and the
outputs' features), ``metrics`` (one registered function per metric, ``score_features``),
``folders`` (``score``). What a metric is and needs: ``gan_core.metrics.registry``.
"""

from gan_core.scoring.common import (
    DECODED_COPIES,
    DIRECTIONS,
    IMAGE_BATCH,
    INCEPTION_METRICS,
    METRICS,
    PAIRED_METRICS,
    PER_IMAGE_METRICS,
    VGG_NAME,
    Bootstrap,
    Networks,
    OutputFeatures,
    ScoringError,
    match_pairs,
    parse_metrics,
)
from gan_core.scoring.features import (
    compute_features,
    compute_stats,
    decode_batch_size,
    gram_key,
    output_features,
    reference_features,
    reference_key,
    style_grams,
)
from gan_core.scoring.folders import score
from gan_core.scoring.metrics import computes, score_features

__all__ = [
    "DECODED_COPIES",
    "DIRECTIONS",
    "IMAGE_BATCH",
    "INCEPTION_METRICS",
    "METRICS",
    "PAIRED_METRICS",
    "PER_IMAGE_METRICS",
    "VGG_NAME",
    "Bootstrap",
    "Networks",
    "OutputFeatures",
    "ScoringError",
    "compute_features",
    "compute_stats",
    "computes",
    "decode_batch_size",
    "gram_key",
    "match_pairs",
    "output_features",
    "parse_metrics",
    "reference_features",
    "reference_key",
    "score",
    "score_features",
    "style_grams",
]
