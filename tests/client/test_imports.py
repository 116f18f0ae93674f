"""The client is a small installable program: no Django, no torch, and an `atelier` console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

CLIENT_ROOT = Path(__file__).resolve().parents[2] / "client"

PROBE = r"""
import json, pkgutil, importlib, sys
import atelier_client
modules = ["atelier_client"] + [
    "atelier_client." + info.name for info in pkgutil.iter_modules(atelier_client.__path__) if info.name != "__main__"
]
for name in modules:
    importlib.import_module(name)
from atelier_client.cli import main
code = main(["--help"])
heavy = sorted(
    name for name in sys.modules
    if name.split(".")[0] in {"django", "torch", "torchvision", "numpy", "gan_core", "gan_platform", "requests", "rest_framework"}
)
print(json.dumps({"modules": modules, "heavy": heavy, "help_code": code, "file": atelier_client.__file__}))
"""


def test_importing_every_client_module_imports_no_django_torch_or_project_code(tmp_path):
    # given a fresh interpreter started outside the repository, with the client's source first on the path
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(CLIENT_ROOT), "DJANGO_SETTINGS_MODULE": ""},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert {
        "atelier_client.api",
        "atelier_client.arguments",
        "atelier_client.cli",
        "atelier_client.commands",
        "atelier_client.config",
        "atelier_client.exit_codes",
        "atelier_client.follow",
        "atelier_client.progress",
        "atelier_client.render",
    } <= set(report["modules"])
    assert report["heavy"] == []
    assert report["help_code"] == 0
    assert Path(report["file"]).is_relative_to(CLIENT_ROOT)


def test_the_atelier_console_script_is_installed_next_to_this_python():
    # `make test` installs the client (requirements-dev.txt: `-e ./client`), so scripts can call `atelier`.
    script = Path(sys.executable).parent / "atelier"
    assert script.exists(), (
        f"{script} is missing: install the client with `pip install -e ./client` "
        "(requirements-dev.txt should carry the line `-e ./client`)"
    )

    result = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, timeout=60, check=False, cwd="/"
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "atelier-client 0.1.0"


def test_python_dash_m_runs_the_same_command_and_exit_codes(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "atelier_client", "status", "not-a-number"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(CLIENT_ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    assert "is not a submission id" in result.stderr


def test_the_distribution_is_named_atelier_client_with_the_atelier_script():
    import tomllib

    project = tomllib.loads((CLIENT_ROOT / "pyproject.toml").read_text())["project"]

    assert project["name"] == "atelier-client"
    assert project["scripts"] == {"atelier": "atelier_client.cli:main"}
    assert project["dependencies"] == []


def test_the_readme_documents_every_exit_code():
    from atelier_client.cli import ExitCode

    readme = (CLIENT_ROOT / "README.md").read_text()

    for code in ExitCode:
        assert f"\n| {int(code)} | " in readme, f"exit code {int(code)} ({code.name}) is missing from client/README.md"
