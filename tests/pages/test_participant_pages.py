"""Participant pages render what the visitor may see, and nothing hidden."""

from __future__ import annotations

import pytest

from competitions.models import DatasetImage
from submissions.models import Submission
from submissions.standings import standings_submission_changed
from tests.factories import (
    competition_create_for_tests,
    organizer_create,
    participant_join,
    score_create,
    submission_create,
    user_create,
)

pytestmark = pytest.mark.django_db


def scored_submission(competition, team, user, *, value: float, private: float, name="gen.safetensors"):
    submission = submission_create(
        competition.phases.get(), team, user, original_name=name, format="safetensors", size=1234, state="scored"
    )
    for split, figure in (("public", value), ("private", private)):
        score_create(submission, "fid", figure, split=split, interval=(figure - 1, figure + 1))
    standings_submission_changed(submission_id=submission.pk)
    return submission


def test_the_home_page_lists_public_competitions_with_their_open_phase(client):
    competition_create_for_tests(slug="wood", title="Photos into woodcuts")
    competition_create_for_tests(slug="secret", title="A draft", visibility="draft")

    page = client.get("/").content.decode()

    assert "Photos into woodcuts" in page
    assert "A draft" not in page
    assert "Open</span> Main phase" in page or "Open</span>" in page


def test_the_competition_page_renders_markdown_safely(client):
    competition = competition_create_for_tests()
    competition.description = "# Welcome\n\n**Bold** <script>alert(1)</script> [link](https://example.org)"
    competition.save()

    page = client.get(f"/c/{competition.slug}/").content.decode()

    assert "<h2>Welcome</h2>" in page and "<strong>Bold</strong>" in page
    assert "<script>alert(1)</script>" not in page
    assert 'rel="noopener noreferrer nofollow"' in page


def test_the_data_page_shows_style_and_preview_images_but_never_hidden_ones(client):
    competition = competition_create_for_tests(content_images=6, preview=2)
    hidden = DatasetImage.objects.filter(
        image_set__competition=competition, image_set__kind="content", is_preview=False
    )
    previews = DatasetImage.objects.filter(image_set__competition=competition, is_preview=True)

    page = client.get(f"/c/{competition.slug}/data/").content.decode()

    assert all(f"/images/{image.pk}.png" in page for image in previews)
    assert hidden.exists()
    assert not any(f"/images/{image.pk}.png" in page for image in hidden)
    assert "Not calibrated" in page


def test_joining_needs_the_rules_accepted(client):
    competition = competition_create_for_tests()
    user = user_create("ada")
    client.force_login(user)

    refused = client.post(f"/c/{competition.slug}/join/", {}, follow=True)
    assert "rules" in refused.content.decode().lower()
    assert not competition.participations.filter(user=user).exists()

    response = client.post(f"/c/{competition.slug}/join/", {"accept_rules": "on"})
    assert response.status_code == 302 and response["Location"] == f"/c/{competition.slug}/submit/"
    assert competition.participations.filter(user=user).exists()


def test_the_submit_page_states_formats_limits_and_quota(client):
    competition = competition_create_for_tests()
    user = user_create("ada")
    participant_join(competition, user)
    client.force_login(user)

    page = client.get(f"/c/{competition.slug}/submit/").content.decode()

    assert 'data-upload-api="/api/v1/competitions/wood/submissions/"' in page
    assert "safetensors" in page and "ONNX" in page
    assert "left today" in page
    assert f'data-max-bytes="{competition.phases.get().upload_size_limit}"' in page


def test_the_leaderboard_highlights_my_row_and_hides_the_private_split_while_the_phase_runs(client):
    competition = competition_create_for_tests()
    ada, bob = user_create("ada"), user_create("bob")
    ada_team = participant_join(competition, ada).team
    bob_team = participant_join(competition, bob).team
    scored_submission(competition, ada_team, ada, value=10.0, private=31.4159)
    scored_submission(competition, bob_team, bob, value=12.0, private=27.1828)
    client.force_login(ada)

    page = client.get(f"/c/{competition.slug}/leaderboard/").content.decode()

    assert '<tr class="mine" id="mine" aria-label="Your team\'s row">' in page
    assert "10.000" in page and "12.000" in page
    assert "31.416" not in page and "27.183" not in page, "no private figure before the reveal"
    assert "<svg" in page, "the best-score chart"
    private = client.get(f"/c/{competition.slug}/leaderboard/?split=private").content.decode()
    assert "hidden until it is revealed" in private
    assert "31.416" not in private


def test_another_teams_submission_page_is_not_found(client):
    competition = competition_create_for_tests()
    ada, bob = user_create("ada"), user_create("bob")
    submission = scored_submission(competition, participant_join(competition, ada).team, ada, value=1, private=7)
    participant_join(competition, bob)

    client.force_login(bob)
    assert client.get(f"/submissions/{submission.pk}/").status_code == 404
    client.force_login(ada)
    page = client.get(f"/submissions/{submission.pk}/").content.decode()
    assert "1.000" in page and "7.000" not in page, "the private figure stays hidden until the reveal"


def test_my_submissions_shows_live_state_hooks_and_failure_messages(client):
    competition = competition_create_for_tests()
    ada = user_create("ada")
    team = participant_join(competition, ada).team
    phase = competition.phases.get()
    submission_create(
        phase,
        team,
        ada,
        original_name="broken.onnx",
        state=Submission.State.FAILED,
        failure_code="wrong_channels",
        failure_message="Your generator returned 4 channels; it must return 3 (RGB).",
    )
    queued = submission_create(phase, team, ada, original_name="next.onnx")
    client.force_login(ada)

    page = client.get(f"/c/{competition.slug}/submissions/").content.decode()

    assert "Your generator returned 4 channels; it must return 3 (RGB)." in page
    assert f'data-live-submission="/api/v1/submissions/{queued.pk}/"' in page
    assert "position 1 in the queue" in page


def test_organizer_pages_are_not_found_for_participants(client):
    competition = competition_create_for_tests()
    client.force_login(user_create("ada"))

    for url in ("organize/", "organize/edit/", "organize/data/", "organize/phases/new/"):
        assert client.get(f"/c/{competition.slug}/{url}").status_code == 404, url


def test_the_organizer_dashboard_counts_queue_and_failures(client):
    organizer = organizer_create()
    competition = competition_create_for_tests(organizer=organizer)
    ada = user_create("ada")
    team = participant_join(competition, ada).team
    for code in ("wrong_channels", "wrong_channels", "timeout"):
        submission_create(competition.phases.get(), team, ada, state=Submission.State.FAILED, failure_code=code)
    client.force_login(organizer)

    page = client.get(f"/c/{competition.slug}/organize/").content.decode()

    assert "<code>wrong_channels</code>: 2" in page and "<code>timeout</code>: 1" in page
    assert "Reveal private leaderboard" in page


def test_a_long_leaderboard_page_shows_one_page_and_a_link_to_my_row(client):
    competition = competition_create_for_tests()
    for index in range(7):
        user = user_create(f"p{index}")
        scored_submission(competition, participant_join(competition, user).team, user, value=float(index), private=1.0)
    ada = user_create("ada")
    scored_submission(competition, participant_join(competition, ada).team, ada, value=50.0, private=1.0)
    client.force_login(ada)

    response = client.get(f"/c/{competition.slug}/leaderboard/?page_size=3")
    page = response.content.decode()

    assert page.count("<tr class=") == 3, "one page of three rows"
    assert "Page 1 of 3 (8 rows)" in page
    assert "Your team is ranked <strong>8</strong> of 8." in page
    assert '?phase=main&amp;split=public&amp;page=3&amp;page_size=3#mine">Go to your row (page 3)</a>' in page
    last = client.get(f"/c/{competition.slug}/leaderboard/?page_size=3&page=3").content.decode()
    assert 'id="mine"' in last and "Go to your row" not in last
    # unchanged: 304; an unknown page: 404
    again = client.get(f"/c/{competition.slug}/leaderboard/?page_size=3", HTTP_IF_NONE_MATCH=response["ETag"])
    assert again.status_code == 304
    assert client.get(f"/c/{competition.slug}/leaderboard/?page_size=3&page=9").status_code == 404


def test_the_chart_draws_the_top_teams_with_a_legend(client):
    competition = competition_create_for_tests()
    for index in range(7):
        user = user_create(f"team-{index}")
        team = participant_join(competition, user).team
        scored_submission(competition, team, user, value=10.0 + index, private=1.0)
        scored_submission(competition, team, user, value=5.0 + index, private=1.0)
    page = client.get(f"/c/{competition.slug}/leaderboard/").content.decode()
    chart = page[page.index("<svg") : page.index("</svg>")]
    assert chart.count('class="series"') == 10, "five teams: a line and a legend swatch each"
    assert all(f"team-{index}" in chart for index in range(5)) and "team-5" not in chart
    assert "team-0: 2 improvements, best 5.000" in chart


def two_teams_scored(*, private_offset: float = 1.0) -> dict:
    """A competition ``wood`` where alice's team has two scored submissions (``first`` 30,
    ``best`` 20) and bob's one (``bobs`` 25), public FID; private = public + ``private_offset``."""
    competition = competition_create_for_tests()
    alice, bob = user_create("alice"), user_create("bob")
    alice_team = participant_join(competition, alice).team
    bob_team = participant_join(competition, bob).team
    made = {
        name: scored_submission(competition, team, user, value=value, private=value + private_offset)
        for name, team, user, value in (
            ("first", alice_team, alice, 30.0),
            ("best", alice_team, alice, 20.0),
            ("bobs", bob_team, bob, 25.0),
        )
    }
    return {"competition": competition, "alice": alice, "bob": bob, "bob_team": bob_team, **made}
