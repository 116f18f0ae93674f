"""gan_core: Atelier's scoring library, usable alone.

Pure PyTorch, no Django: safe checkpoint loading, sandboxed generation, the
image pipeline, feature extractors and their weights, metrics. Participants
run it locally (``python -m gan_core ...``) to score themselves exactly as the
platform does.
"""

from gan_core.version import __version__

__all__ = ["__version__", "score"]


def __getattr__(name: str):
    # ``gan_core.score`` is imported on first use: importing ``gan_core`` (or
    # ``gan_core.stats``, which needs only numpy) must not pull in torch.
    if name == "score":
        from gan_core.scoring import score

        return score
    raise AttributeError(f"module 'gan_core' has no attribute {name!r}")
