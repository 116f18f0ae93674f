"""The uploads benchmark runs end to end at a tiny size and prints every figure."""

from __future__ import annotations

import re

import pytest

from tests.benchmarks.test_bench_web import run

pytestmark = pytest.mark.slow


def test_bench_uploads_cuts_resumes_and_measures_the_board_with_and_without_uploads():
    out = run(
        "bench_uploads.py", "--size", "12", "--rate", "20", "--duration", "1", "--rounds", "1", "--concurrent-size", "6"
    )
    sent = re.search(r"bytes sent\s+([\d.]+) MB\s+\+([\d.]+)% over the file", out)
    assert sent and float(sent.group(2)) <= 55, out
    assert re.search(r"web RSS growth\s+-?[\d.]+ MB", out), out
    assert re.search(r"without uploads\s+[\d.]+\s+[\d.]+\s+[\d.]+", out), out
    assert re.search(r"during 4 uploads\s+[\d.]+\s+[\d.]+\s+[\d.]+", out), out
    assert "errors: none" in out, out
