"""The starter kit: public data only, the phase's constraints, the exact commands, the baseline."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from django.core.files.base import ContentFile

from competitions.models import DatasetImage
from gan_platform.storages import private_storage
from submissions.models import Submission
from tests.factories import competition_create_for_tests, user_create
from tests.pages.test_participant_pages import scored_submission

pytestmark = pytest.mark.django_db


def kit(client, url: str = "/c/wood/starter-kit.zip") -> zipfile.ZipFile:
    response = client.get(url)
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Disposition"] == 'attachment; filename="wood-main-starter-kit.zip"'
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def test_the_starter_kit_holds_public_images_constraints_and_the_exact_commands(client):
    competition = competition_create_for_tests(upload_size_limit=20_000_000)
    archive = kit(client)
    names = set(archive.namelist())
    previews = set(
        DatasetImage.objects.filter(image_set__competition=competition, is_preview=True).values_list("name", flat=True)
    )
    hidden = set(
        DatasetImage.objects.filter(
            image_set__competition=competition, image_set__kind="content", is_preview=False
        ).values_list("name", flat=True)
    )
    assert {f"preview/{name}" for name in previews} <= names and len(previews) == 2
    assert not any(name.split("/")[-1] in hidden for name in names), "a hidden input is never in the kit"
    assert len([name for name in names if name.startswith("style/")]) == 4
    constraints = json.loads(archive.read("constraints.json"))
    assert constraints["upload_size_limit_bytes"] == 20_000_000
    assert (constraints["image_size"], constraints["ranking_metric"], constraints["calibrated"]) == (32, "fid", False)
    readme = archive.read("README.md").decode()
    assert (
        "python -m gan_core check generator.safetensors --value-range -1,1 --formats safetensors,onnx "
        "--max-bytes 20000000" in readme
    )
    assert (
        "python -m gan_core score --outputs outputs --style style --content preview --metrics fid,lpips,ssim "
        "--mode clean --random-weights" in readme
    )
    assert "python -m gan_core train-demo" in readme, "without a baseline it says how to train one"


def test_the_starter_kit_carries_the_phases_scored_baseline(client, private_root):
    competition = competition_create_for_tests()
    owner = user_create("alice")
    from tests.factories import participant_join

    team = participant_join(competition, owner).team
    baseline = scored_submission(competition, team, owner, value=40.0, private=41.0, name="identity.safetensors")
    stored = private_storage().save(f"submissions/test/{baseline.pk}/checkpoint", ContentFile(b"checkpoint bytes"))
    Submission.objects.filter(pk=baseline.pk).update(is_baseline=True, team=None, file=stored)
    page = client.get("/c/wood/data/").content.decode()
    assert "the organizers&#x27; baseline checkpoint, which passes the checks" in page or (
        "the organizers' baseline checkpoint, which passes the checks" in page
    )
    assert 'href="/c/wood/starter-kit.zip?phase=main" download' in page
    archive = kit(client, "/c/wood/starter-kit.zip?phase=main")
    assert archive.read("baseline/identity.safetensors") == b"checkpoint bytes"
    assert "python -m gan_core check baseline/identity.safetensors" in archive.read("README.md").decode()


def test_a_draft_competitions_kit_is_not_found_for_outsiders(client):
    competition_create_for_tests(visibility="draft")
    assert client.get("/c/wood/starter-kit.zip").status_code == 404
