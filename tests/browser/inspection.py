"""What browser tests look at: screenshots for review and an accessibility smoke check."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

from tests.support.processes import REPO_ROOT

SCREENSHOTS = REPO_ROOT / "var" / "screenshots"
A11Y_SCRIPT = (Path(__file__).parent / "a11y.js").read_text()
SCREENSHOT_TIMEOUT_MS = 5_000

logger = logging.getLogger(__name__)


def screenshot(page, name: str) -> Path | None:
    """Save a full-page screenshot under var/screenshots/NAME.png and return its path.

    Screenshots are for review, never a test's verdict: one that times out (after
    ``SCREENSHOT_TIMEOUT_MS``) or fails is a warning, and the test goes on; None is returned then.
    """
    from playwright.sync_api import Error as PlaywrightError  # TimeoutError is one too

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    try:
        page.screenshot(path=str(path), full_page=True, timeout=SCREENSHOT_TIMEOUT_MS)
    except PlaywrightError as error:
        message = f"no review screenshot {name!r}: {type(error).__name__}: {error}"
        logger.warning(message)
        warnings.warn(message, stacklevel=2)
        return None
    return path


def accessibility_problems(page) -> list[str]:
    """Labels, accessible names, alt text, one h1 and no skipped heading level, lang, WCAG AA contrast."""
    return page.evaluate(A11Y_SCRIPT)
