"""Standings kept up to date event by event equal the board recomputed from scratch.

The reference below recomputes a board straight from the submissions and scores with the rules of
the first version (written out again here, independently of ``submissions.standings``); random
sequences of events (scores written, reruns, cancels, final selections, baseline toggles, ranking
direction and metric changes, the number of automatic finals, the reveal) go through the real
services, and after each one both splits of the board, as an organizer reads them page by page,
must equal the reference.
"""

from __future__ import annotations

import math
import random
from datetime import timedelta

import pytest
from django.utils import timezone

from competitions import services as competition_services
from competitions.models import PhaseMetric
from submissions import leaderboards, services
from submissions.models import Score, Standing, StandingsState, Submission
from submissions.standings import standings_rebuild, standings_stale_phases
from tests.factories import participant_join, score_create, score_new, user_create
from tests.submissions.helpers import scored_submission_create

pytestmark = pytest.mark.django_db


def _iso(moment) -> str:
    return leaderboards._iso(moment)


def reference_board(phase, split: str) -> list[tuple[int | None, int, int, str]]:
    """``[(rank, submission id, entries, last submitted)]`` of the board, recomputed from every
    scored submission (entries: the team's scored submissions; a baseline's are its own)."""
    metrics = list(PhaseMetric.objects.filter(phase=phase))
    ranking = next((metric for metric in metrics if metric.is_ranking), None)
    submissions = list(Submission.objects.filter(phase=phase, state=Submission.State.SCORED).order_by("id"))
    scores: dict[int, dict[str, dict[str, float]]] = {s.pk: {"public": {}, "private": {}} for s in submissions}
    for score in Score.objects.filter(submission__in=submissions):
        scores[score.submission_id][score.split][score.metric] = score.value
    # a submission being rerun keeps the scores it had until the rerun finishes
    for rerun in Submission.objects.filter(phase=phase, state__in=Submission.UNFINISHED_STATES).exclude(
        previous_scores={}
    ):
        submissions.append(rerun)
        scores[rerun.pk] = {"public": {}, "private": {}}
        for held_split, by_metric in rerun.previous_scores.items():
            for held_metric, (held_value, *_rest) in by_metric.items():
                scores[rerun.pk][held_split][held_metric] = held_value
    submissions.sort(key=lambda s: s.pk)

    def value(submission, on_split):
        if ranking is None:
            return None
        found = scores[submission.pk][on_split].get(ranking.metric)
        return found if found is not None and math.isfinite(found) else None

    def key(submission, on_split):
        found = value(submission, on_split)
        signed = 0.0 if found is None else (found if ranking.direction == "lower" else -found)
        return (found is None, signed, submission.created_at, submission.pk)

    teams: dict[int, list[Submission]] = {}
    for submission in submissions:
        if not submission.is_baseline:
            teams.setdefault(submission.team_id, []).append(submission)
    chosen = []
    for own in teams.values():
        if split == "public":
            pool = own
        else:
            pool = [s for s in own if s.is_final] or sorted(own, key=lambda s: key(s, "public"))[
                : max(1, phase.final_selection_limit)
            ]
        pool = [s for s in pool if scores[s.pk][split] and (ranking is None or value(s, split) is not None)]
        if pool:
            chosen.append(min(pool, key=lambda s: key(s, split)))
    baselines = [s for s in submissions if s.is_baseline and scores[s.pk][split]]
    board, rank = [], 0
    for submission in sorted(chosen + baselines, key=lambda s: key(s, split)):
        ranked = ranking is not None and not submission.is_baseline
        rank += ranked
        own = [submission] if submission.is_baseline else teams[submission.team_id]
        last = max(other.created_at for other in own)
        board.append((rank if ranked else None, submission.pk, len(own), _iso(last)))
    return board


def served_board(phase, organizer, split: str, page_size: int = 3) -> list[tuple[int | None, int, int, str]]:
    """The board as an organizer reads it through the selectors, every page of ``page_size``."""
    phase.refresh_from_db()
    first = leaderboards.leaderboard_get(phase=phase, split=split, viewer=organizer, page_size=page_size)
    rows = list(first["rows"])
    for page in range(2, first["pages"] + 1):
        rows += leaderboards.leaderboard_get(
            phase=phase, split=split, viewer=organizer, page=page, page_size=page_size
        )["rows"]
    assert len(rows) == first["count"]
    return [(row["rank"], row["submission_id"], row["entries"], row["last_submitted_at"]) for row in rows]


def assert_mine_rows(phase, field, board: list[tuple], page_size: int = 3) -> bool:
    """Each player's ``mine`` (rank, place among all rows, page) is their team's row in ``board``."""
    team_of = dict(Submission.objects.filter(phase=phase).values_list("pk", "team_id"))
    for user, team in field:
        expected = next(
            (
                {"rank": rank, "position": place + 1, "page": place // page_size + 1, "submission_id": submission_id}
                for place, (rank, submission_id, *_activity) in enumerate(board)
                if rank is not None and team_of[submission_id] == team.pk
            ),
            None,
        )
        mine = leaderboards.leaderboard_get(phase=phase, split="public", viewer=user, page_size=page_size)["mine"]
        got = None if mine is None else {key: mine[key] for key in ("rank", "position", "page", "submission_id")}
        assert got == expected, user.username
    return True


@pytest.fixture
def field(competition, phase, organizer):
    users = [user_create(f"player{index}") for index in range(4)]
    teams = [participant_join(competition, user).team for user in users]
    return list(zip(users, teams, strict=True))


@pytest.fixture
def rebuilds_run(monkeypatch):
    """The rebuild task, run at once when a service sends it (as a worker would)."""
    sent: list[int] = []

    def run(*, phase_id: int) -> None:
        sent.append(phase_id)
        standings_rebuild(phase_id=phase_id)

    monkeypatch.setattr("submissions.standings.standings_rebuild_enqueue", run)
    return sent


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_incremental_standings_equal_a_recompute_after_random_events(
    seed, phase, organizer, field, rebuilds_run, django_capture_on_commit_callbacks
):
    rng = random.Random(seed)
    competition_services.phase_update(phase=phase, actor=organizer, final_selection_limit=2)
    start = timezone.now() - timedelta(days=1)
    made: list[Submission] = []
    events: list[str] = []

    def score(team_index: int | None) -> None:
        user, team = field[team_index] if team_index is not None else (organizer, None)
        value = rng.choice([1.0, 2.0, 2.0, 3.5, 5.0, float("inf"), 7.0])  # ties and a non-finite score
        private = {"fid": rng.choice([1.5, 2.0, 4.0, 6.0]), "ssim": rng.random()} if rng.random() < 0.8 else {}
        made.append(
            scored_submission_create(
                phase=phase,
                team=team,
                user=user,
                public={"fid": value, "lpips": rng.random(), "ssim": rng.random()},
                private=private,
                is_baseline=team is None,
                created_at=start + timedelta(minutes=len(made) // 2),  # pairs share a moment
            )
        )

    for step in range(60):
        kind = rng.choice(
            ["score"] * 6 + ["rerun", "rescore", "cancel", "final", "unfinal", "baseline", "direction", "ranking"]
            + ["limit", "reveal", "baseline-new"]
        )  # fmt: skip
        with django_capture_on_commit_callbacks(execute=True):
            if kind == "score" or not made:
                score(rng.randrange(len(field)))
            elif kind == "baseline-new":
                score(None)
            elif kind == "rerun":
                target = rng.choice(made)
                if target.state in Submission.FINISHED_STATES:
                    services.submission_rerun(submission=target, user=organizer)
            elif kind == "rescore":
                queued = [s for s in made if s.state == Submission.State.QUEUED]
                if queued:
                    target = rng.choice(queued)
                    Score.objects.bulk_create(
                        [
                            score_new(target, "fid", rng.choice([0.5, 2.0, 9.0]), split=split)
                            for split in ("public", "private")
                        ]
                    )  # fmt: skip
                    token = _claim(target)
                    from scoring.services import standings_for_scores

                    Submission.objects.filter(pk=target.pk, lease_token=token).update(
                        state=Submission.State.SCORED, lease_token=None
                    )
                    standings_for_scores(submission_id=target.pk)
            elif kind == "cancel":
                queued = [s for s in made if s.state == Submission.State.QUEUED]
                if queued:
                    services.submission_cancel(submission=rng.choice(queued), user=organizer)
            elif kind in ("final", "unfinal"):
                mine = [s for s in made if s.team_id is not None and not s.is_baseline and s.state == "scored"]
                if mine:
                    target = rng.choice(mine)
                    member = next(user for user, team in field if team.pk == target.team_id)
                    try:
                        services.submission_select_final(submission=target, user=member, selected=kind == "final")
                    except Exception as error:  # the limit of two finals: refused, nothing changes
                        assert getattr(error, "code", "") == "final_selection_limit", error
            elif kind == "baseline":
                teamed = [s for s in made if s.team_id is not None]
                if teamed:
                    target = rng.choice(teamed)
                    services.submission_baseline_set(
                        submission=target, user=organizer, is_baseline=not target.is_baseline
                    )
            elif kind in ("direction", "ranking"):
                current = {m.metric: m for m in PhaseMetric.objects.filter(phase=phase)}
                ranking = next(name for name, m in current.items() if m.is_ranking)
                if kind == "ranking":
                    ranking = rng.choice([name for name in current if name != ranking])
                direction = rng.choice(["lower", "higher"])
                competition_services.phase_metrics_set(
                    phase=phase,
                    actor=organizer,
                    metrics=[
                        {
                            "metric": name,
                            "ranking": name == ranking,
                            "direction": direction if name == ranking else None,
                        }
                        for name in current
                    ],
                )
            elif kind == "limit":
                competition_services.phase_update(
                    phase=phase, actor=organizer, final_selection_limit=rng.choice([0, 1, 2, 3])
                )
            elif kind == "reveal":
                competition_services.phase_private_reveal(phase=phase, actor=organizer)
        for submission in made:
            submission.refresh_from_db()
        events.append(kind)
        for split in ("public", "private"):
            assert served_board(phase, organizer, split) == reference_board(phase, split), (step, events)
        assert_mine_rows(phase, field, reference_board(phase, "public")), (step, events)
    assert {"score", "rerun", "final", "baseline"} <= set(events), events
    assert standings_stale_phases() == []


def _claim(submission: Submission):
    import uuid

    token = uuid.uuid4()
    Submission.objects.filter(pk=submission.pk, state=Submission.State.QUEUED).update(
        state=Submission.State.SCORING, lease_token=token
    )
    return token


def test_a_ranking_change_rebuilds_after_the_commit_and_serves_the_old_rows_until_then(
    phase, organizer, field, django_capture_on_commit_callbacks, monkeypatch
):
    (alice, alice_team), (bob, bob_team), *_ = field
    low = scored_submission_create(phase=phase, team=alice_team, user=alice, public={"fid": 1.0, "ssim": 0.1})
    high = scored_submission_create(phase=phase, team=bob_team, user=bob, public={"fid": 9.0, "ssim": 0.9})
    sent: list[int] = []
    monkeypatch.setattr("submissions.standings.standings_rebuild_enqueue", lambda *, phase_id: sent.append(phase_id))
    with django_capture_on_commit_callbacks(execute=True):
        competition_services.phase_metrics_set(
            phase=phase,
            actor=organizer,
            metrics=[{"metric": "fid"}, {"metric": "ssim", "ranking": True}],
        )
    # the rebuild was sent once; until it runs the old order is served, and the phase is stale
    assert sent == [phase.pk]
    assert [row[1] for row in served_board(phase, organizer, "public")] == [low.pk, high.pk]
    assert standings_stale_phases() == [phase.pk]
    # when it runs (the task)
    from submissions.tasks import standings_rebuild as task

    assert task.run(phase.pk) == 2
    assert [row[1] for row in served_board(phase, organizer, "public")] == [high.pk, low.pk]
    assert standings_stale_phases() == []


def test_the_sweep_rebuilds_a_phase_changed_behind_the_services_back(phase, organizer, field):
    (alice, alice_team), (bob, bob_team), *_ = field
    first = scored_submission_create(phase=phase, team=alice_team, user=alice, public={"fid": 1.0})
    second = scored_submission_create(phase=phase, team=bob_team, user=bob, public={"fid": 2.0})
    PhaseMetric.objects.filter(phase=phase, metric="fid").update(direction="higher")  # the admin, say
    from submissions.tasks import standings_sweep

    assert standings_sweep.run() == [phase.pk]
    assert [row[1] for row in served_board(phase, organizer, "public")] == [second.pk, first.pk]


def test_every_change_bumps_the_version_in_the_database(phase, organizer, field, django_capture_on_commit_callbacks):
    (alice, alice_team), *_ = field
    scored_submission_create(phase=phase, team=alice_team, user=alice, public={"fid": 1.0})
    before = StandingsState.objects.get(phase=phase).version
    competition_services.phase_private_reveal(phase=phase, actor=organizer)
    assert StandingsState.objects.get(phase=phase).version == before + 1
    assert Standing.objects.filter(phase=phase).count() == 1  # the public row; no private score


def test_standings_from_before_this_version_are_built_on_first_read(phase, organizer, field):
    (alice, alice_team), *_ = field
    submission = scored_submission_create(phase=phase, team=alice_team, user=alice, public={"fid": 1.0})
    StandingsState.objects.all().delete()
    Standing.objects.all().delete()
    assert served_board(phase, organizer, "public") == [(1, submission.pk, 1, leaderboards._iso(submission.created_at))]


def test_a_rerun_keeps_the_previous_score_on_the_board_marked_until_the_new_one_lands(
    phase, organizer, field, django_capture_on_commit_callbacks
):
    user, team = field[0]
    submission = scored_submission_create(phase=phase, team=team, user=user, public={"fid": 3.0}, private={"fid": 4.0})
    # when the organizer reruns the team's only scored submission
    with django_capture_on_commit_callbacks(execute=False):
        services.submission_rerun(submission=submission, user=organizer)
    # then its row stays, with the previous score, marked as rerunning
    row = leaderboards.leaderboard_get(phase=phase, split="public", viewer=organizer)["rows"][0]
    assert (row["submission_id"], row["scores"]["fid"]["value"], row["rerunning"]) == (submission.pk, 3.0, True)
    assert Score.objects.filter(submission=submission).count() == 0, "the scores themselves are replaced"
    # and the participant's submission API shows no stale score meanwhile
    submission.refresh_from_db()
    assert submission.state == Submission.State.QUEUED and submission.previous_scores["public"]["fid"][0] == 3.0
    # when the new score lands, it replaces the previous one and the mark goes
    score_create(submission, "fid", 2.5)
    token = _claim(submission)
    from scoring.services import standings_for_scores

    Submission.objects.filter(pk=submission.pk, lease_token=token).update(
        state=Submission.State.SCORED, lease_token=None
    )
    standings_for_scores(submission_id=submission.pk)
    row = leaderboards.leaderboard_get(phase=phase, split="public", viewer=organizer)["rows"][0]
    assert (row["scores"]["fid"]["value"], row["rerunning"]) == (2.5, False)


def test_a_cancelled_rerun_takes_the_previous_score_off_the_board(phase, organizer, field):
    user, team = field[0]
    submission = scored_submission_create(phase=phase, team=team, user=user, public={"fid": 3.0})
    services.submission_rerun(submission=submission, user=organizer)
    services.submission_cancel(submission=submission, user=organizer)
    assert leaderboards.leaderboard_get(phase=phase, split="public", viewer=organizer)["rows"] == []
