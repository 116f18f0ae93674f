"""The votes benchmark runs end to end at a tiny size and prints both counts."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_votes_prints_the_votes_each_rule_needs():
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_votes.py"), "--seeds", "2", "--votes", "400"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env={"OMP_NUM_THREADS": "2", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert re.search(r"uniform\s+\S+ votes\s+reached in \d/2", result.stdout), result.stdout
    assert re.search(r"active\s+\S+ votes\s+reached in \d/2", result.stdout), result.stdout
    assert "active / uniform:" in result.stdout
