"""The web tier never imports torch (nor torchvision, onnx, onnxruntime, numpy's array stack for
models): a web server starts without them. It may import gan_core's torch-free modules, which it
shares with the worker (``gan_core.formats``, ``gan_core.architectures``, ``gan_core.failures``): exactly those, listed here."""

from __future__ import annotations

import json

from tests.support.processes import python_run, real_settings_environment

TORCH_FREE = {
    "gan_core",
    "gan_core.architectures",
    "gan_core.failures",
    "gan_core.formats",
    "gan_core.metrics",
    "gan_core.metrics.registry",
    "gan_core.onnx_header",
    "gan_core.onnx_operators",
    "gan_core.pixels",
    "gan_core.ratings",
    "gan_core.version",
}
"""The gan_core modules the web side may import: torch-free by design (gan_core.formats says so)."""

PROBE = r"""
import importlib, json, pkgutil, sys
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
imported = []
import gan_platform.urls  # noqa: F401
imported.append("gan_platform.urls")
for app in ("accounts", "competitions", "submissions", "scoring", "judging"):
    package = importlib.import_module(app)
    for info in pkgutil.iter_modules(package.__path__):
        if info.name in {"tests", "management", "migrations"}:
            continue
        if info.name.startswith("worker"):
            continue  # worker-only modules (the scoring.worker package) run gan_core; tasks import them lazily
        importlib.import_module(f"{app}.{info.name}")
        imported.append(f"{app}.{info.name}")
from django.test import Client
response = Client().get("/", HTTP_HOST="localhost")
heavy = sorted(
    name for name in sys.modules
    if name.split(".")[0] in {"torch", "torchvision", "onnx", "onnxruntime", "safetensors", "scipy"}
)
shared = sorted(name for name in sys.modules if name.split(".")[0] == "gan_core")
print(json.dumps({"imported": imported, "heavy": heavy, "shared": shared, "status": response.status_code}))
"""


def test_importing_the_web_side_does_not_import_torch_only_gan_cores_torch_free_modules(tmp_path):
    result = python_run(PROBE, env=real_settings_environment(tmp_path), timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])

    assert "gan_platform.urls" in report["imported"]
    assert any(name.startswith("competitions.views") for name in report["imported"])
    assert report["status"] == 200, "the front page must render in the probe"
    assert report["heavy"] == [], f"the web side imported {report['heavy']}"
    assert set(report["shared"]) <= TORCH_FREE, f"the web side imported {set(report['shared']) - TORCH_FREE}"
    assert "gan_core.formats" in report["shared"]  # the upload runs the worker's header checks
    assert "gan_core.onnx_header" in report["shared"]  # and its ONNX operator checks
