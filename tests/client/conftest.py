"""Fixtures of the ``atelier`` client tests: a fake API, a private config folder, fast polling."""

from __future__ import annotations

import importlib.util
import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.client.fake_api import FakeApi

CLIENT_ROOT = Path(__file__).resolve().parents[2] / "client"
if importlib.util.find_spec("atelier_client") is None:
    # Not installed (`pip install -e ./client`): import it from the source tree; test_imports checks the install.
    sys.path.insert(0, str(CLIENT_ROOT))

TOKEN = "0123456789abcdef0123456789abcdef01234567"


class TerminalStream(io.StringIO):
    """A stderr that says it is a terminal, to see what a person sees."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private XDG_STATE_HOME: saved uploads (``--resume``) go there, never to the real home."""
    home = tmp_path / "xdg-state"
    monkeypatch.setenv("XDG_STATE_HOME", str(home))
    return home


@pytest.fixture
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private XDG_CONFIG_HOME and no ATELIER_* variables: every test starts logged out."""
    home = tmp_path / "xdg-config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in ("ATELIER_URL", "ATELIER_TOKEN", "ATELIER_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def fake_api(tmp_path: Path) -> Iterator[FakeApi]:
    with FakeApi(tmp_path / "fake-api") as api:
        yield api


@pytest.fixture
def logged_in(config_home: Path, fake_api: FakeApi) -> FakeApi:
    """A config file holding a token for the fake API, as `atelier login` writes it."""
    path = config_home / "atelier" / "config.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"url": fake_api.url, "servers": {fake_api.url: {"token": TOKEN, "username": "ada"}}}))
    path.chmod(0o600)
    return fake_api


@pytest.fixture
def fast_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    """Poll a followed submission every few milliseconds instead of every second."""
    from atelier_client import follow

    monkeypatch.setattr(follow, "POLL_INITIAL_S", 0.005)
    monkeypatch.setattr(follow, "POLL_MAX_S", 0.02)
