"""Selectors of submissions: leaderboards (visibility, ranking, ties, finals, baselines, cache),
visible scores, submission visibility, queue positions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from competitions.models import Phase, PhaseMetric
from gan_platform.errors import ApplicationError
from submissions import leaderboards, selectors, services
from submissions.models import Submission
from submissions.standings import standings_rebuild, standings_submission_changed
from tests.factories import participant_join, user_create
from tests.submissions.helpers import scored_hours_ago, scored_submission_create

pytestmark = pytest.mark.django_db


def set_phase(phase: Phase, **fields) -> Phase:
    """Change the phase behind the services' back, then rebuild its standings as the task would."""
    Phase.objects.filter(pk=phase.pk).update(**fields)
    standings_rebuild(phase_id=phase.pk)
    phase.refresh_from_db()
    return phase


def end_phase(phase: Phase) -> Phase:
    now = timezone.now()
    return set_phase(phase, starts_at=now - timedelta(days=3), ends_at=now - timedelta(minutes=1))


def board(phase, viewer, split="public"):
    return leaderboards.leaderboard_get(phase=phase, split=split, viewer=viewer)


def ranked(result) -> list[tuple]:
    return [(row["rank"], row["team"], row["submission_id"]) for row in result["rows"]]


@pytest.fixture
def carol_team(competition):
    return participant_join(competition, user_create("carol")).team


# --- ranking ----------------------------------------------------------------------------------


def test_the_public_board_has_one_row_per_team_with_its_best_public_score(phase, alice, alice_team, bob, bob_team):
    a_worse = scored_hours_ago(3, phase=phase, team=alice_team, user=alice, public={"fid": 30.0})
    a_best = scored_hours_ago(2, phase=phase, team=alice_team, user=alice, public={"fid": 10.0})
    b_best = scored_hours_ago(1, phase=phase, team=bob_team, user=bob, public={"fid": 20.0})
    result = board(phase, alice)
    assert ranked(result) == [(1, "alice", a_best.pk), (2, "bob", b_best.pk)]
    assert a_worse.pk not in [row["submission_id"] for row in result["rows"]]
    assert result["ranking_metric"] == "fid" and result["direction"] == "lower"
    assert [row["is_mine"] for row in result["rows"]] == [True, False]
    assert result["rows"][0]["scores"]["fid"] == {"value": 10.0, "interval": None}


def test_ties_are_broken_by_the_earlier_submission(phase, alice, alice_team, bob, bob_team, carol_team):
    bob_sub = scored_hours_ago(5, phase=phase, team=bob_team, user=bob, public={"fid": 5.0})
    alice_sub = scored_hours_ago(1, phase=phase, team=alice_team, user=alice, public={"fid": 5.0})
    # and within a team, the earlier of two equal scores represents it
    alice_earlier = scored_hours_ago(2, phase=phase, team=alice_team, user=alice, public={"fid": 5.0})
    assert ranked(board(phase, alice)) == [(1, "bob", bob_sub.pk), (2, "alice", alice_earlier.pk)]
    assert alice_sub.pk not in [row["submission_id"] for row in board(phase, alice)["rows"]]


def test_a_higher_is_better_ranking_metric_ranks_descending(phase, alice, alice_team, bob, bob_team):
    PhaseMetric.objects.filter(phase=phase).update(is_ranking=False)
    PhaseMetric.objects.filter(phase=phase, metric="ssim").update(is_ranking=True, direction="higher")
    low = scored_submission_create(phase=phase, team=alice_team, user=alice, public={"fid": 1.0, "ssim": 0.2})
    high = scored_submission_create(phase=phase, team=bob_team, user=bob, public={"fid": 9.0, "ssim": 0.9})
    result = board(phase, alice)
    assert result["ranking_metric"] == "ssim" and result["direction"] == "higher"
    assert ranked(result) == [(1, "bob", high.pk), (2, "alice", low.pk)]


def test_baselines_are_shown_and_marked_but_not_ranked(phase, organizer, alice, alice_team, bob, bob_team):
    alice_sub = scored_submission_create(phase=phase, team=alice_team, user=alice, public={"fid": 10.0})
    bob_sub = scored_submission_create(phase=phase, team=bob_team, user=bob, public={"fid": 30.0})
    baseline = scored_submission_create(phase=phase, team=None, user=organizer, public={"fid": 20.0}, is_baseline=True)
    rows = board(phase, alice)["rows"]
    assert [(row["rank"], row["submission_id"], row["is_baseline"]) for row in rows] == [
        (1, alice_sub.pk, False),
        (None, baseline.pk, True),
        (2, bob_sub.pk, False),
    ]
    assert rows[1]["team"] == "Baseline"


def test_hidden_metrics_are_shown_to_organizers_only(phase, organizer, alice, alice_team):
    PhaseMetric.objects.filter(phase=phase, metric="lpips").update(shown=False)
    scored_submission_create(phase=phase, team=alice_team, user=alice, public={"fid": 1.0, "lpips": 0.3, "ssim": 0.5})
    participant_view = board(phase, alice)
    organizer_view = board(phase, organizer)
    assert [m["metric"] for m in participant_view["metrics"]] == ["fid", "ssim"]
    assert set(participant_view["rows"][0]["scores"]) == {"fid", "ssim"}
    assert [m["metric"] for m in organizer_view["metrics"]] == ["fid", "lpips", "ssim"]
    assert organizer_view["rows"][0]["scores"]["lpips"]["value"] == 0.3


def test_intervals_and_the_calibrated_flag_are_reported(phase, alice, alice_team):
    scored_submission_create(
        phase=phase, team=alice_team, user=alice, public={"fid": 12.5}, interval=(11.0, 14.0), calibrated=False
    )
    result = board(phase, alice)
    assert result["rows"][0]["scores"]["fid"] == {"value": 12.5, "interval": [11.0, 14.0]}
    # the competition uses random feature networks: never calibrated
    assert result["calibrated"] is False


def test_unscored_and_failed_submissions_are_not_on_the_board(phase, alice, alice_team):
    scored = scored_submission_create(phase=phase, team=alice_team, user=alice, public={"fid": 1.0})
    failed = scored_submission_create(phase=phase, team=alice_team, user=alice, public={"fid": 0.5})
    Submission.objects.filter(pk=failed.pk).update(state=Submission.State.FAILED)
    standings_submission_changed(submission_id=failed.pk)
    assert [row["submission_id"] for row in board(phase, alice)["rows"]] == [scored.pk]


# --- visibility -------------------------------------------------------------------------------


def test_the_private_board_is_hidden_from_participants_while_the_phase_runs(phase, organizer, alice, alice_team):
    scored_submission_create(phase=phase, team=alice_team, user=alice, public={"fid": 3.0}, private={"fid": 4.25})
    for viewer in (alice, AnonymousUser()):
        with pytest.raises(ApplicationError) as caught:
            board(phase, viewer, "private")
        assert (caught.value.code, caught.value.status) == ("private_leaderboard_hidden", 403)
        assert "4.25" not in caught.value.message
    # organizers see it always
    assert board(phase, organizer, "private")["rows"][0]["scores"]["fid"]["value"] == 4.25


def test_the_private_board_appears_when_the_phase_ends(phase, alice, alice_team):
    scored_submission_create(phase=phase, team=alice_team, user=alice, public={"fid": 3.0}, private={"fid": 4.25})
    end_phase(phase)
    assert board(phase, alice, "private")["rows"][0]["scores"]["fid"]["value"] == 4.25
    assert board(phase, AnonymousUser(), "private")["rows"][0]["rank"] == 1
    # the public board stays visible after the end
    assert board(phase, alice, "public")["rows"][0]["scores"]["fid"]["value"] == 3.0


def test_without_reveal_at_end_the_private_board_waits_for_the_organizers_reveal(phase, alice, alice_team):
    scored_submission_create(phase=phase, team=alice_team, user=alice, public={"fid": 3.0}, private={"fid": 4.25})
    end_phase(phase)
    set_phase(phase, reveal_private_at_end=False)
    with pytest.raises(ApplicationError) as caught:
        board(phase, alice, "private")
    assert "when the organizers reveal it" in caught.value.message
    set_phase(phase, private_revealed_at=timezone.now())
    assert board(phase, alice, "private")["rows"][0]["scores"]["fid"]["value"] == 4.25


def test_an_unknown_split_is_a_validation_error(phase, alice):
    with pytest.raises(ApplicationError) as caught:
        board(phase, alice, "secret")
    assert caught.value.code == "validation_error"


def test_private_scores_of_a_submission_are_visible_to_participants_only_after_the_reveal(
    phase, organizer, alice, alice_team
):
    submission = scored_submission_create(
        phase=phase, team=alice_team, user=alice, public={"fid": 3.0}, private={"fid": 4.0}
    )

    def splits(user) -> set[str]:
        loaded = selectors.submission_get(submission_id=submission.pk, user=user)
        return {score.split for score in selectors.submission_scores_visible(submission=loaded, user=user)}

    assert splits(alice) == {"public"}
    assert splits(organizer) == {"public", "private"}
    end_phase(phase)
    assert splits(alice) == {"public", "private"}


def test_a_submission_is_visible_to_its_team_and_organizers_and_baselines_to_everyone(
    phase, organizer, alice, alice_team, bob, bob_team
):
    mine = scored_submission_create(phase=phase, team=alice_team, user=alice, public={"fid": 1.0})
    baseline = scored_submission_create(phase=phase, team=None, user=organizer, public={"fid": 2.0}, is_baseline=True)
    assert selectors.submission_get(submission_id=mine.pk, user=alice) is not None
    assert selectors.submission_get(submission_id=mine.pk, user=organizer) is not None
    assert selectors.submission_get(submission_id=mine.pk, user=bob) is None
    assert selectors.submission_get(submission_id=mine.pk, user=AnonymousUser()) is None
    assert selectors.submission_get(submission_id=baseline.pk, user=AnonymousUser()) is not None


# --- final selection on the private board -----------------------------------------------------


@pytest.fixture
def two_alice_submissions(phase, alice, alice_team):
    """Alice's best public submission is her worse private one."""
    public_best = scored_hours_ago(
        2, phase=phase, team=alice_team, user=alice, public={"fid": 1.0}, private={"fid": 9.0}
    )
    private_best = scored_hours_ago(
        1, phase=phase, team=alice_team, user=alice, public={"fid": 2.0}, private={"fid": 3.0}
    )
    return public_best, private_best


def private_row(phase, organizer):
    rows = board(phase, organizer, "private")["rows"]
    assert len(rows) == 1
    return rows[0]["submission_id"], rows[0]["scores"]["fid"]["value"]


def test_without_selection_the_private_board_uses_the_best_public_submission(phase, organizer, two_alice_submissions):
    public_best, _ = two_alice_submissions
    set_phase(phase, final_selection_limit=1)
    assert private_row(phase, organizer) == (public_best.pk, 9.0)


def test_without_selection_the_best_of_the_top_k_public_submissions_counts(phase, organizer, two_alice_submissions):
    _, private_best = two_alice_submissions
    set_phase(phase, final_selection_limit=2)
    assert private_row(phase, organizer) == (private_best.pk, 3.0)


def test_a_selected_final_replaces_the_automatic_choice_on_the_private_board(
    phase, organizer, alice, two_alice_submissions, django_capture_on_commit_callbacks
):
    public_best, private_best = two_alice_submissions
    set_phase(phase, final_selection_limit=1)
    assert private_row(phase, organizer) == (public_best.pk, 9.0)
    # when alice selects her other submission (the service invalidates the cached board on commit)
    with django_capture_on_commit_callbacks(execute=True):
        services.submission_select_final(submission=private_best, user=alice, selected=True)
    # then the private board shows the selected one, and the public board is unchanged
    assert private_row(phase, organizer) == (private_best.pk, 3.0)
    assert board(phase, organizer)["rows"][0]["submission_id"] == public_best.pk


# --- cache ------------------------------------------------------------------------------------


def test_boards_come_from_the_standings_and_a_change_shows_on_the_next_read(phase, alice, alice_team, bob, bob_team):
    scored_submission_create(phase=phase, team=alice_team, user=alice, public={"fid": 5.0})
    first = board(phase, alice)
    # given a score written behind the standings' back (no event)
    newer = scored_submission_create(phase=phase, team=bob_team, user=bob, public={"fid": 1.0}, update_standings=False)
    # then the board is unchanged: reads never recompute it
    assert board(phase, alice) == first
    # when the event reaches the standings (nothing touches any cache)
    standings_submission_changed(submission_id=newer.pk)
    # then the next read shows it, under a new version
    after = board(phase, alice)
    assert after["rows"][0]["submission_id"] == newer.pk and after["version"] > first["version"]
    assert after["mine"]["rank"] == 2


def test_a_cached_page_costs_a_bounded_number_of_queries_and_no_score_reads(phase, alice, alice_team, competition):
    for index in range(30):
        team = participant_join(competition, user_create(f"t{index}")).team
        scored_submission_create(phase=phase, team=team, user=alice, public={"fid": float(index)})
    scored_submission_create(phase=phase, team=alice_team, user=alice, public={"fid": 99.0})
    board(phase, alice)
    with CaptureQueriesContext(connection) as queries:
        result = board(phase, alice)
    assert len(result["rows"]) == 31 and result["mine"]["rank"] == 31
    assert not any("submissions_score" in query["sql"] for query in queries.captured_queries)
    # metrics, organizer check, standings version, viewer team, the viewer's row and its rank
    assert len(queries.captured_queries) <= 7, [query["sql"] for query in queries.captured_queries]


def test_changing_the_metric_configuration_changes_the_cached_board(phase, organizer, alice, alice_team):
    scored_submission_create(phase=phase, team=alice_team, user=alice, public={"fid": 1.0, "lpips": 0.3})
    assert "lpips" in board(phase, alice)["rows"][0]["scores"]
    PhaseMetric.objects.filter(phase=phase, metric="lpips").update(shown=False)
    assert "lpips" not in board(phase, alice)["rows"][0]["scores"]


# --- queue ------------------------------------------------------------------------------------


def test_queue_positions_count_every_queued_submission_created_before(phase, alice, alice_team, bob, bob_team):
    now = timezone.now()
    subs = []
    for hours, (team, user) in enumerate([(alice_team, alice), (bob_team, bob), (alice_team, alice)]):
        sub = scored_submission_create(
            phase=phase, team=team, user=user, public={}, created_at=now + timedelta(hours=hours)
        )
        Submission.objects.filter(pk=sub.pk).update(state=Submission.State.QUEUED)
        sub.refresh_from_db()
        subs.append(sub)
    Submission.objects.filter(pk=subs[0].pk).update(state=Submission.State.SCORED)
    subs[0].refresh_from_db()
    assert selectors.queue_positions(subs) == {subs[1].pk: 1, subs[2].pk: 2}
    assert selectors.submission_queue_position(subs[2]) == 2
    assert selectors.submission_queue_position(subs[0]) is None


def test_the_dashboard_histogram_is_counted_by_the_database(phase, alice, alice_team):
    import math as _math

    from competitions.organizer_views import score_histogram
    from submissions.models import Score

    for value in (0.0, 1.0, 1.0, 5.9, 12.0, _math.inf):
        scored_submission_create(phase=phase, team=alice_team, user=alice, public={"fid": value})
    histogram = score_histogram(Score.objects.filter(submission__phase=phase, split="public", metric="fid"), bins=12)
    # the infinite one left out; 12 bins of width 1 from 0 to 12; the maximum goes in the last bin
    assert (histogram.low, histogram.high, histogram.total) == (0.0, 12.0, 5)
    assert histogram.counts == {0: 1, 1: 2, 5: 1, 11: 1}
