"""Issue 14, organizer side: the create link, confirmations that say what cannot be undone, no
rerun while queued or running, phase sizes in MB, the ended phase said everywhere, the overview."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from competitions.models import Phase
from competitions.templatetags.atelier import megabytes
from submissions.models import Submission
from tests.factories import competition_create_for_tests, participant_join, user_create
from tests.pages.test_participant_pages import scored_submission

pytestmark = pytest.mark.django_db


@pytest.fixture
def wood():
    return competition_create_for_tests()


def test_staff_see_a_link_to_create_a_competition_and_participants_do_not(client, wood):
    client.force_login(wood.organizers.get())
    assert '<a href="/organize/new/">Create a competition</a>' in client.get("/").content.decode()
    client.force_login(user_create("alice"))
    assert "Create a competition" not in client.get("/").content.decode()


def test_the_dashboard_confirms_rerun_cancel_and_reveal_and_offers_no_rerun_while_queued(client, wood):
    alice = user_create("alice")
    team = participant_join(wood, alice).team
    scored = scored_submission(wood, team, alice, value=3.0, private=4.0)
    queued = scored_submission(wood, team, alice, value=5.0, private=6.0)
    Submission.objects.filter(pk=queued.pk).update(state=Submission.State.QUEUED)
    client.force_login(wood.organizers.get())
    page = client.get("/c/wood/organize/").content.decode()

    def actions(submission_id: int) -> str:
        row = re.search(rf'<td><a href="/submissions/{submission_id}/">.*?</tr>', page, re.S).group(0)
        return row

    assert "/rerun/" in actions(scored.pk) and "/cancel/" not in actions(scored.pk)
    assert "/rerun/" not in actions(queued.pk) and "/cancel/" in actions(queued.pk)
    assert (
        f"data-confirm=\"Rerun submission {scored.pk}? Its current scores are replaced by the new run's; the "
        "leaderboard shows them, marked rerunning, until the new run is scored, and loses them if the rerun fails "
        "or is cancelled. This cannot be undone." in page
    )
    assert (
        f'data-confirm="Cancel submission {queued.pk} (queued)? Its run stops and it gets no score; this cannot be undone'
        in page
    )
    assert 'data-confirm="Reveal the private leaderboard of Main to everyone now?' in page
    assert 'this cannot be undone.">' in page


def test_phase_sizes_are_typed_in_mb_and_labelled_truthfully(client, wood):
    assert megabytes(20_000_000) == "20 MB"
    assert megabytes(209_715_200) == "209.7 MB"
    assert megabytes(1_500) == "1.5 kB"
    client.force_login(wood.organizers.get())
    phase = wood.phases.get()
    Phase.objects.filter(pk=phase.pk).update(upload_size_limit=20_000_000)
    form = client.get("/c/wood/organize/phases/main/").content.decode()
    assert "Upload size limit (MB)" in form
    assert re.search(r'name="upload_size_limit"[^>]*value="20"', form)
    overview = client.get("/c/wood/timeline/").content.decode() + client.get("/c/wood/rules/").content.decode()
    rendered = client.get("/c/wood/scoring/").content.decode() + overview
    assert "19.1 MB" not in rendered


def test_a_phase_saved_in_mb_is_stored_in_bytes(client, wood):
    client.force_login(wood.organizers.get())
    phase = wood.phases.get()
    form = client.get("/c/wood/organize/phases/main/").content.decode()
    fields = dict(re.findall(r'name="([a-z_]+)"[^>]*value="([^"]*)"', form))
    fields.update({"upload_size_limit": "12.5", "ranking_metric": "fid", "metric_fid": "on", "metric_fid_shown": "on"})
    fields.pop("csrfmiddlewaretoken", None)
    response = client.post("/c/wood/organize/phases/main/", fields)
    assert response.status_code == 302, response.content.decode()[:2000]
    phase.refresh_from_db()
    assert phase.upload_size_limit == 12_500_000


def test_an_ended_phase_says_so_on_the_overview_the_board_and_the_dashboard(client):
    wood = competition_create_for_tests(phase_open=False)
    alice = user_create("alice")
    participant_join(wood, alice)
    client.force_login(alice)
    overview = client.get("/c/wood/").content.decode()
    assert "Main ended" in overview and "no new submissions are accepted" in overview
    board = client.get("/c/wood/leaderboard/").content.decode()
    assert "Be the first" not in board
    assert "No submission was scored in Main; the phase has ended." in board
    assert "Main has ended" in board
    mine = client.get("/c/wood/submissions/").content.decode()
    assert "which has ended" in mine and "Submit a generator</a>" not in mine
    client.force_login(wood.organizers.get())
    dashboard = client.get("/c/wood/organize/").content.decode()
    assert "appears at the end" not in dashboard and "revealed at the end" in dashboard


def test_the_overview_shows_participants_teams_submissions_scored_today_time_left_and_the_leader(client, wood):
    alice, bob = user_create("alice"), user_create("bob")
    alice_team = participant_join(wood, alice).team
    bob_team = participant_join(wood, bob).team
    scored_submission(wood, alice_team, alice, value=20.0, private=21.0)
    Submission.objects.filter(team=alice_team).update(finished_at=timezone.now())
    old = scored_submission(wood, bob_team, bob, value=30.0, private=31.0)
    Submission.objects.filter(pk=old.pk).update(finished_at=timezone.now() - timedelta(days=2))
    page = client.get("/c/wood/").content.decode()
    stats = dict(re.findall(r'<dt>([^<]+)</dt><dd class="stat-value">(.*?)</dd>', page, re.S))
    assert (stats["Participants"], stats["Teams"], stats["Submissions"], stats["Scored today"]) == ("2", "2", "2", "1")
    assert re.fullmatch(r"[67]d \d+h", stats["Time left"])
    assert ">alice</a>" in stats["Leader (public)"] and "FID 20.000" in stats["Leader (public)"]


def test_duplicate_this_competition_copies_it_as_a_draft(client, wood, settings, tmp_path):
    from competitions.models import Competition

    client.force_login(wood.organizers.get())
    form = client.get("/c/wood/organize/duplicate/").content.decode()
    assert "starts as a <strong>draft</strong>" in form and 'value="wood-2"' in form
    taken = client.post("/c/wood/organize/duplicate/", {"slug": "wood"}).content.decode()
    assert "&#x27;wood&#x27; is taken by another competition; choose another slug." in taken
    response = client.post("/c/wood/organize/duplicate/", {"slug": "wood-2027"})
    assert response.status_code == 302 and response["Location"] == "/c/wood-2027/organize/"
    copy = Competition.objects.get(slug="wood-2027")
    assert copy.visibility == "draft" and copy.phases.count() == 1
    assert copy.image_sets.get(kind="content").image_count == 6
    client.logout()
    assert client.get("/c/wood-2027/").status_code == 404


def _report(hostname: str, *, verified: bool, hours_ago: float = 0) -> None:
    from competitions.models import FeatureWeightsReport
    from competitions.services import feature_weights_report_record

    files = [
        {"name": "inception-v3-fid", "filename": "pt_inception.pth", "state": "verified"},
        {"name": "vgg19", "filename": "vgg19.pth", "state": "verified" if verified else "missing"},
    ]
    feature_weights_report_record(hostname=hostname, files=files)
    FeatureWeightsReport.objects.filter(hostname=hostname).update(
        reported_at=timezone.now() - timedelta(hours=hours_ago)
    )


def _new_competition_page(client, wood) -> tuple[str, str, str]:
    client.force_login(wood.organizers.get())
    page = client.get("/organize/new/").content.decode()
    notice = re.search(r'<div class="notice" id="feature-weights-status" data-state="(\w+)">(.*?)</div>', page, re.S)
    selected = re.search(r'<option value="(\w+)" selected>', page.split('name="feature_weights"', 1)[1])
    text = html.unescape(re.sub(r"<[^>]+>", "", notice.group(2)))
    return notice.group(1), " ".join(text.split()), selected.group(1)


@pytest.mark.parametrize(
    ("reports", "state", "default", "says"),
    [
        ([], "unknown", "random", "No scoring worker has reported in the last 24 hours"),
        ([("old", True, 30)], "unknown", "random", "No scoring worker has reported in the last 24 hours"),
        (
            [("gpu1", True, 0), ("gpu2", True, 2)],
            "all",
            "pretrained",
            "All 2 scoring worker(s) seen in the last 24 hours have the pretrained feature weights, verified",
        ),
        (
            [("gpu1", True, 0), ("gpu2", False, 1), ("old", False, 48)],
            "some",
            "random",
            "Only 1 of the 2 scoring workers seen in the last 24 hours have the pretrained feature weights "
            "(missing or corrupt: vgg19)",
        ),
        (
            [("gpu1", False, 0), ("old", True, 25)],
            "none",
            "random",
            "None of the 1 scoring worker(s) seen in the last 24 hours has the pretrained feature weights "
            "(missing or corrupt: vgg19)",
        ),
    ],
)
def test_the_new_competition_page_says_whether_workers_have_the_weights_and_defaults_from_it(
    client, wood, reports, state, default, says
):
    for hostname, verified, hours_ago in reports:
        _report(hostname, verified=verified, hours_ago=hours_ago)
    shown_state, notice, selected = _new_competition_page(client, wood)
    assert (shown_state, selected) == (state, default)
    assert says in notice
    assert "they rank this competition's submissions among themselves only" in notice
    assert "every page marks them Not calibrated" in notice
