"""What browser tests look at: screenshots for review and an accessibility smoke check."""

from __future__ import annotations

from pathlib import Path

from tests.support.processes import REPO_ROOT

SCREENSHOTS = REPO_ROOT / "var" / "screenshots"
A11Y_SCRIPT = (Path(__file__).parent / "a11y.js").read_text()


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot under var/screenshots/NAME.png and return its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def accessibility_problems(page) -> list[str]:
    """Labels, accessible names, alt text, one h1 and no skipped heading level, lang, WCAG AA contrast."""
    return page.evaluate(A11Y_SCRIPT)
