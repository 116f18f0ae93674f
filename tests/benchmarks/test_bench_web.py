"""The web and standings benchmarks run end to end at a tiny size and print every figure."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def run(script: str, *argv: str) -> str:
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def test_bench_web_prints_every_endpoint_with_figures_and_the_freshness_and_stampede_runs():
    out = run(
        "bench_web.py", "--teams", "8", "--submissions", "2", "--duration", "1", "--clients", "2", "--rounds", "1"
    )
    for name in (
        "trivial endpoint (/healthz)",
        "leaderboard API, first page",
        "leaderboard API, deep page",
        "leaderboard API, my row (token)",
        "leaderboard HTML page",
        "team's submissions (token)",
        "leaderboard API during a 50 MB upload",
    ):
        line = next(line for line in out.splitlines() if line.startswith(name))
        figures = re.findall(r"\d+(?:\.\d+)?%?", line[len(name) :])
        assert len(figures) >= 8, line  # req/s, p50, p99, CPU ms, SQL, bytes, ratio, errors
        assert line.rstrip().endswith(" 0"), f"errors: {line}"
    assert re.search(r"score to visible on the public board \(\d+ trials\): p50 [\d.]+ ms", out), out
    assert re.search(r"stampede .*: \d+ requests, 0 errors", out), out


def test_bench_standings_prints_the_rebuild_and_the_reads():
    out = run("bench_standings.py", "--teams", "10", "--submissions", "2", "--repeat", "1")
    assert re.search(r"standings_rebuild \(whole phase\)\s+[\d.]+\s+[\d.]+\s+20 rows", out), out
    assert re.search(r"read: first page \(cached\)\s+[\d.]+\s+[\d.]+\s+\d+\s+page 1/1", out), out


def test_bench_scale_scores_a_backlog_with_one_then_two_workers_and_prints_the_ratio():
    out = run("bench_scale.py", "--submissions", "1", "--workers", "1,2", "--timeout", "240")
    rows = {
        int(match[0]): match
        for match in re.findall(r"^\s+(\d)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)x\s+(\d+)\s+(\d+)", out, re.M)
    }
    assert sorted(rows) == [1, 2], out
    assert all(row[4] == "0" and row[5] == "0" for row in rows.values()), f"lost or scored twice:\n{out}"
    assert float(rows[1][2]) > 0 and float(rows[2][2]) > 0, out
    assert re.search(r"ratio 2 : 1 workers = [\d.]+x", out) and "load average before" in out, out
