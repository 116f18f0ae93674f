"""The demo bundle builds reproducibly; load_demo imports it and queues baselines (DEBUG only)."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile

import pytest
import yaml
from django.core.management import CommandError, call_command
from PIL import Image

from competitions.bundles import manifest_parse
from competitions.demo import DEMO_IMAGE_SIZE, DEMO_SLUG, PHOTOS, SOURCE_FOLDER, TEXTURES, demo_bundle_build
from tests.support.processes import REPO_ROOT

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def demo_bundle() -> tuple[str, bytes]:
    buffer = io.BytesIO()
    digest = demo_bundle_build(buffer)
    return digest, buffer.getvalue()


def test_the_demo_bundle_builds_the_same_bytes_twice(demo_bundle):
    digest, data = demo_bundle
    again = io.BytesIO()

    assert demo_bundle_build(again) == digest and again.getvalue() == data
    assert len(digest) == 64


def test_the_demo_bundle_is_small_uncalibrated_and_valid(demo_bundle):
    _, data = demo_bundle
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        manifest = manifest_parse(archive.read("competition.yaml"))
        raw = yaml.safe_load(archive.read("competition.yaml"))
        sizes = {Image.open(io.BytesIO(archive.read(name))).size for name in names if name.endswith(".png")}
        modes = {Image.open(io.BytesIO(archive.read(name))).mode for name in names if name.endswith(".png")}

    assert manifest.competition["feature_weights"] == "random" and "not calibrated" in raw["rules"]
    assert sizes == {(DEMO_IMAGE_SIZE, DEMO_IMAGE_SIZE)} and modes == {"RGB"}
    content = [name for name in names if name.startswith("content/")]
    style = [name for name in names if name.startswith("style/")]
    assert len(content) == 21 and len(style) == 13


def test_the_demo_images_ship_in_the_repository_each_with_its_source_and_licence():
    readme = (SOURCE_FOLDER / "README.md").read_text()
    rows = {line.split("|")[1].strip().strip("`"): line for line in readme.splitlines() if line.startswith("| `")}

    # every image the demo uses is a file there, small, with a table row naming a licence; nothing else is
    shipped = {path.stem for path in SOURCE_FOLDER.glob("*.png")}
    assert shipped == set(PHOTOS) | set(TEXTURES)
    assert set(rows) == {f"{name}.png" for name in shipped}
    assert all(("CC0" in row or "public domain" in row or "CC BY 2.0" in row) for row in rows.values())
    assert sum(path.stat().st_size for path in SOURCE_FOLDER.glob("*.png")) < 2 * 1024 * 1024
    for name in shipped:
        with Image.open(SOURCE_FOLDER / f"{name}.png") as image:
            assert min(image.size) == 256, name


def test_the_demo_bundle_builds_without_scikit_image_or_scikit_learn():
    # given a fresh interpreter in which importing either package fails
    code = (
        "import io, sys\n"
        "sys.modules.update(skimage=None, sklearn=None)\n"
        "from competitions.demo import demo_bundle_build\n"
        "print(demo_bundle_build(io.BytesIO()))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)

    # then the bundle still builds
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.strip()) == 64


def test_load_demo_refuses_to_run_without_debug(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="only with DJANGO_DEBUG=1"):
        call_command("load_demo")


def test_load_demo_creates_accounts_the_competition_and_queued_baselines_once(settings, client):
    from django.contrib.auth import get_user_model

    from competitions.models import Competition, Participation
    from submissions.models import Submission

    settings.DEBUG = True
    out = io.StringIO()

    call_command("load_demo", stdout=out)
    call_command("load_demo", stdout=out)

    # then the accounts exist and can log in, and alice joined
    users = get_user_model().objects
    assert set(users.values_list("username", flat=True)) == {"admin", "alice", "bob"}
    assert client.login(username="alice", password="atelier-demo")
    assert "Demo participant account: bob / atelier-demo" in out.getvalue()
    competition = Competition.objects.get(slug=DEMO_SLUG)
    assert competition.visibility == "public" and not competition.calibrated
    assert list(Participation.objects.values_list("user__username", flat=True)) == ["alice"]
    assert competition.image_sets.get(kind="content").images.filter(is_preview=True).count() == 4
    # and the baselines are queued once, as the organizer's, with no team
    baselines = Submission.objects.filter(phase__competition=competition)
    assert baselines.count() == 3
    assert set(baselines.values_list("state", "is_baseline", "team", "format")) == {
        ("queued", True, None, "safetensors")
    }
    assert "NOT calibrated" in out.getvalue() and "Demo baselines: already submitted." in out.getvalue()


def test_the_identity_like_baseline_keeps_the_content(tmp_path):
    import torch

    from competitions.demo import BASELINES, baseline_checkpoints
    from gan_core.checkpoints import inspect_checkpoint
    from gan_core.generators import build_generator

    # given the baselines written as checkpoints, then gan_core accepts each for its architecture
    paths = baseline_checkpoints(tmp_path)
    assert [path.name for path, _ in paths] == [baseline["name"] for baseline in BASELINES]
    architectures = [inspect_checkpoint(path, value_range="-1,1").architecture for path, _ in paths]
    assert architectures == ["unet_small", "transformer_net", "resnet"]

    # and the identity-like one maps an image to tanh(0.8 * its standardised self)

    from safetensors.torch import load_file

    module = build_generator(BASELINES[0]["config"])
    module.load_state_dict(load_file(paths[0][0]))
    module.eval()
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        y = module(x)
    standardised = (x - x.mean((2, 3), keepdim=True)) / x.std((2, 3), keepdim=True)
    assert torch.allclose(y, torch.tanh(0.8 * standardised), atol=1e-3)
