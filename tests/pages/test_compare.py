"""Compare: only what the requester may see, scores and outputs on the same public inputs."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile

from competitions import services as competition_services
from competitions.models import DatasetImage
from gan_platform.storages import private_storage
from submissions.models import Submission
from tests.factories import DEFAULT_PASSWORD
from tests.pages.test_participant_pages import scored_submission, two_teams_scored

pytestmark = pytest.mark.django_db


@pytest.fixture
def field(private_root):
    made = two_teams_scored(private_offset=1.5)
    competition = made["competition"]
    baseline = scored_submission(competition, made["bob_team"], made["bob"], value=40.0, private=41.5)
    Submission.objects.filter(pk=baseline.pk).update(is_baseline=True, team=None, description="Identity")
    preview = DatasetImage.objects.filter(image_set__competition=competition, is_preview=True).order_by("name").first()
    private_storage().save(made["best"].preview_output_name(preview.name), ContentFile(b"png"))
    return {**made, "mine": made["best"], "other": made["first"], "baseline": baseline, "preview": preview}


def test_a_participant_compares_their_submissions_with_a_baseline(client, field):
    assert client.login(username="alice", password=DEFAULT_PASSWORD)
    ids = f"{field['mine'].pk},{field['baseline'].pk},{field['other'].pk}"
    page = client.get(f"/c/wood/compare/?ids={ids}").content.decode()
    # scores side by side, public split only while the phase runs
    assert "20.000" in page and "40.000" in page and "30.000" in page
    assert "21.500" not in page and "41.500" not in page and "(private," not in page
    # the outputs on the same public preview inputs; no output yet shows as such
    stem = field["preview"].name.rsplit(".", 1)[0]
    assert f'src="/api/v1/submissions/{field["mine"].pk}/outputs/{stem}.png"' in page
    assert f'aria-label="No output of #{field["baseline"].pk} for {field["preview"].name}"' in page
    hidden = DatasetImage.objects.filter(image_set__kind="content", is_preview=False).values_list("name", flat=True)
    assert not any(name in page for name in hidden), "no hidden input appears"
    # the picker offers one's own scored submissions and the baselines, not other teams'
    assert f'id="pick-{field["bobs"].pk}"' not in page and f'id="pick-{field["baseline"].pk}"' in page


def test_another_teams_submission_is_not_found_in_a_comparison(client, field):
    assert client.login(username="alice", password=DEFAULT_PASSWORD)
    response = client.get(f"/c/wood/compare/?ids={field['mine'].pk},{field['bobs'].pk}")
    assert response.status_code == 404
    api = client.get(f"/api/v1/competitions/wood/compare/?ids={field['mine'].pk},{field['bobs'].pk}")
    assert api.status_code == 404
    assert (
        api.json()["error"]["message"] == f"Submission {field['bobs'].pk} is not one you can see in this competition."
    )


def test_one_id_is_refused_with_what_to_do(client, field):
    assert client.login(username="alice", password=DEFAULT_PASSWORD)
    response = client.get(f"/c/wood/compare/?ids={field['mine'].pk}")
    assert response.status_code == 400
    assert "pick 2 to 6 different submissions to compare (1 given)." in response.content.decode()


def test_the_compare_api_gives_scores_and_outputs_and_private_scores_only_after_the_reveal(client, field):
    assert client.login(username="alice", password=DEFAULT_PASSWORD)
    url = f"/api/v1/competitions/wood/compare/?ids={field['mine'].pk},{field['baseline'].pk}"
    body = client.get(url).json()
    assert [row["id"] for row in body["submissions"]] == [field["mine"].pk, field["baseline"].pk]
    fid = next(row for row in body["metrics"] if row["metric"] == "fid" and row["split"] == "public")
    assert [cell["value"] for cell in fid["values"]] == [20.0, 40.0] and fid["label"] == "FID"
    assert all(row["split"] == "public" for row in body["metrics"])
    first = body["previews"][0]
    assert first["output_urls"][0].endswith(f"/api/v1/submissions/{field['mine'].pk}/outputs/{first['image']}.png")
    assert first["output_urls"][1] is None
    # after the reveal, the private split shows too
    phase = field["competition"].phases.get()
    competition_services.phase_private_reveal(phase=phase, actor=field["competition"].organizers.get())
    body = client.get(url).json()
    private = next(row for row in body["metrics"] if row["metric"] == "fid" and row["split"] == "private")
    assert [cell["value"] for cell in private["values"]] == [21.5, 41.5]
