"""gan_core: Atelier's scoring library, usable alone.

Pure PyTorch, no Django: safe checkpoint loading, sandboxed generation, the
image pipeline, feature extractors and their weights, metrics. Participants
run it locally (``python -m gan_core ...``) to score themselves exactly as the
platform does.
"""

__version__ = "0.1.0"
