"""Feature networks for scoring: FID Inception-v3, VGG-19 taps, LPIPS (AlexNet v0.1).

Pretrained weights come from :mod:`gan_core.weights` (verified digests); random weights only
when asked for with ``WeightsMode.RANDOM``, and then every extractor says ``calibrated=False``.
"""

from gan_core.features.extractor import FeatureExtractor, WeightsMode
from gan_core.features.inception import FIDInceptionV3, InceptionExtractor, inception
from gan_core.features.lpips import LPIPS, lpips_alex
from gan_core.features.vgg import VGGTaps, vgg19_taps

__all__ = [
    "LPIPS",
    "FIDInceptionV3",
    "FeatureExtractor",
    "InceptionExtractor",
    "VGGTaps",
    "WeightsMode",
    "inception",
    "lpips_alex",
    "vgg19_taps",
]
