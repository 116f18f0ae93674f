"""Where the client keeps its server address and API tokens.

The file is ``$XDG_CONFIG_HOME/atelier/config.json`` (``~/.config/atelier/config.json``
when ``XDG_CONFIG_HOME`` is unset), created with mode 0600 in a 0700 folder::

    {"url": "https://atelier.example.org",
     "servers": {"https://atelier.example.org": {"token": "...", "username": "ada"}}}

A token is kept per server address and sent only to that address. The
environment overrides the file: ``ATELIER_URL`` the server, ``ATELIER_TOKEN``
the token (for CI jobs that keep no file); the ``--url`` option overrides both.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from atelier_client.api import normalize_url

__all__ = ["Config", "ConfigError", "Credentials", "NoServerError", "config_path", "credentials_resolve"]


class ConfigError(Exception):
    """The configuration file or the environment is unusable; the message says how to fix it."""


class NoServerError(ConfigError):
    """No server address is known: nobody logged in, and neither ``--url`` nor ``ATELIER_URL`` names one."""


def config_path() -> Path:
    """``$XDG_CONFIG_HOME/atelier/config.json``, or ``~/.config/atelier/config.json`` (XDG base directory rules)."""
    base = os.environ.get("XDG_CONFIG_HOME", "")
    folder = Path(base) if base and os.path.isabs(base) else Path.home() / ".config"
    return folder / "atelier" / "config.json"


@dataclass
class Config:
    """The file's content: the default server and one entry (token, username) per server."""

    url: str | None = None
    servers: dict[str, dict[str, str]] = field(default_factory=dict)
    path: Path = field(default_factory=config_path)

    @classmethod
    def load(cls, path: Path | None = None) -> Config:
        """Read the file; an absent file is an empty configuration."""
        path = path or config_path()
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls(path=path)
        except OSError as error:
            raise ConfigError(f"Cannot read {path}: {error.strerror or error}.") from error
        try:
            data: Any = json.loads(text)
        except json.JSONDecodeError as error:
            raise ConfigError(
                f"{path} is not valid JSON ({error.msg}, line {error.lineno}): delete it and run `atelier login` again."
            ) from error
        if not isinstance(data, dict) or not isinstance(data.get("servers", {}), dict):
            raise ConfigError(f"{path} does not hold an atelier configuration: delete it and run `atelier login`.")
        servers = {
            str(url): {str(key): str(value) for key, value in entry.items()}
            for url, entry in data.get("servers", {}).items()
            if isinstance(entry, dict)
        }
        url = data.get("url")
        return cls(url=str(url) if url else None, servers=servers, path=path)

    def save(self) -> None:
        """Write atomically, readable by the owner only (file 0600, folder 0700 when this creates it)."""
        folder = self.path.parent
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        data = {"url": self.url, "servers": self.servers}
        descriptor, temporary = tempfile.mkstemp(prefix=".config-", suffix=".json", dir=folder)
        try:
            os.fchmod(descriptor, stat.S_IRUSR | stat.S_IWUSR)
            with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
                json.dump(data, stream, indent=2, sort_keys=True)
                stream.write("\n")
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def login_store(self, *, url: str, token: str, username: str) -> None:
        """Remember ``token`` for ``url`` and make ``url`` the default server."""
        url = normalize_url(url)
        self.servers[url] = {"token": token, "username": username}
        self.url = url

    def logout(self, *, url: str) -> bool:
        """Forget the token of ``url``; True when there was one."""
        return self.servers.pop(normalize_url(url), None) is not None

    def is_private(self) -> bool:
        """True when the file is absent or neither group nor others may read it."""
        try:
            mode = self.path.stat().st_mode
        except FileNotFoundError:
            return True
        return not mode & (stat.S_IRWXG | stat.S_IRWXO)


@dataclass(frozen=True)
class Credentials:
    """What a command talks to: the server address, the token (None: anonymous) and where each came from."""

    url: str
    token: str | None
    username: str | None
    url_source: str
    token_source: str | None


def credentials_resolve(config: Config, *, url_option: str | None = None) -> Credentials:
    """Pick the server (``--url`` > ``ATELIER_URL`` > the file's default) and its token (``ATELIER_TOKEN`` > file).

    Raises ConfigError when no server is known or an address is malformed.
    """
    candidates = [
        (url_option, "--url"),
        (os.environ.get("ATELIER_URL"), "ATELIER_URL"),
        (config.url, str(config.path)),
    ]
    for value, source in candidates:
        if value:
            try:
                url = normalize_url(value)
            except ValueError as error:
                raise ConfigError(f"{error} (from {source}).") from error
            break
    else:
        raise NoServerError("No server address: run `atelier login --url URL`, or set ATELIER_URL.")
    environment_token = os.environ.get("ATELIER_TOKEN")
    if environment_token:
        return Credentials(url, environment_token, None, source, "ATELIER_TOKEN")
    entry = config.servers.get(url, {})
    token = entry.get("token") or None
    return Credentials(url, token, entry.get("username"), source, str(config.path) if token else None)
