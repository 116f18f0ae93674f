"""Peak resident memory of one call, measured in a fresh child process (torch's allocations are not
Python's, so tracemalloc cannot see them; the child's ``ru_maxrss`` does).

``peak_growth_mib(setup, call)``: the child runs ``setup`` (imports, inputs, networks, a warm-up) and
records its peak RSS, then runs ``call`` and reports how far the peak rose. Both are Python source
run in one namespace.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_TEMPLATE = """
import json, resource, sys
sys.path.insert(0, {root!r})
import torch
torch.set_num_threads(1)
{setup}
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
{call}
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"growth_mib": (after - before) / 1024, "peak_mib": after / 1024}}))
"""


def peak_growth_mib(setup: str, call: str, *, timeout: float = 300) -> dict[str, float]:
    source = _TEMPLATE.format(root=str(ROOT), setup=textwrap.dedent(setup), call=textwrap.dedent(call))
    completed = subprocess.run(
        [sys.executable, "-c", source], capture_output=True, text=True, timeout=timeout, cwd=ROOT, check=False
    )
    if completed.returncode != 0:
        raise AssertionError(f"memory probe failed ({completed.returncode}):\n{completed.stderr[-4000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])
