"""``python -m gan_core --help``, ``--version`` and ``check --help`` answer without importing torch.

Each runs in a fresh interpreter with ``-X importtime``, which lists every module imported on stderr.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from gan_core.version import __version__
from tests.support.processes import REPO_ROOT

HEAVY = {"torch", "torchvision", "onnx", "onnxruntime", "safetensors"}


def run_cli(*argv: str) -> tuple[subprocess.CompletedProcess, set[str]]:
    """Run ``python -X importtime -m gan_core ARGV``; return the result and the imported modules."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "gan_core", *argv],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    imported = {
        line.rsplit("|", 1)[1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:") and line.count("|") == 2
    }
    return result, imported


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (("--help",), ["usage: python -m gan_core", "weights", "score", "stats", "export", "check", "train-demo"]),
        (("--version",), [f"gan_core {__version__}"]),
        (("check", "--help"), ["usage: python -m gan_core check", "--device"]),
    ],
)
def test_help_and_version_answer_without_importing_torch(argv, expected):
    result, imported = run_cli(*argv)
    assert result.returncode == 0, result.stderr[-3000:]
    for text in expected:
        assert text in result.stdout
    assert "gan_core.cli" in imported, "the import list was not read: -X importtime's format changed?"
    heavy = sorted(name for name in imported if name.split(".")[0] in HEAVY)
    assert heavy == [], f"{' '.join(argv)} imported {heavy[:5]}"


def test_the_version_line_is_the_whole_output():
    result, _ = run_cli("--version")
    assert result.stdout == f"gan_core {__version__}\n"
