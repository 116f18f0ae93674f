"""``needs_real_weights(name)``: skip a test, saying what to fetch, unless real pretrained weights are there."""

from __future__ import annotations

import os

import pytest

from gan_core import weights


def _present(name: str) -> bool:
    if not os.environ.get("ATELIER_WEIGHTS_DIR"):
        return False
    try:
        weights.resolve(name)
    except weights.WeightsError:
        return False
    return True


def needs_real_weights(name: str) -> pytest.MarkDecorator:
    """A skip mark unless ``ATELIER_WEIGHTS_DIR`` holds the registry's file ``name`` (digest checked)."""
    return pytest.mark.skipif(
        not _present(name),
        reason=f"needs the real {weights.REGISTRY[name].filename} in ATELIER_WEIGHTS_DIR "
        f"(python -m gan_core weights fetch {name})",
    )
