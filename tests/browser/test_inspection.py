"""A review screenshot that fails or times out is a warning, never a test failure (no browser needed)."""

from __future__ import annotations

import pytest

from tests.browser import inspection

playwright_api = pytest.importorskip("playwright.sync_api")


class FakePage:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.calls: list[dict] = []

    def screenshot(self, **options) -> None:
        self.calls.append(options)
        if self.error is not None:
            raise self.error


@pytest.fixture(autouse=True)
def screenshots_in_tmp(monkeypatch, tmp_path):
    monkeypatch.setattr(inspection, "SCREENSHOTS", tmp_path)


def test_a_screenshot_is_full_page_with_a_bounded_timeout(tmp_path):
    page = FakePage()
    assert inspection.screenshot(page, "home") == tmp_path / "home.png"
    assert page.calls == [{"path": str(tmp_path / "home.png"), "full_page": True, "timeout": 5_000}]


@pytest.mark.parametrize(
    "error", [playwright_api.TimeoutError("Timeout 5000ms exceeded."), playwright_api.Error("boom")]
)
def test_a_failed_screenshot_warns_and_the_test_goes_on(error, caplog):
    with pytest.warns(UserWarning, match="no review screenshot 'home'"):
        assert inspection.screenshot(FakePage(error), "home") is None
    assert "no review screenshot 'home'" in caplog.text
