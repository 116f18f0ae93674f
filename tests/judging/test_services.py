"""Judging rules: who may vote, what a voter sees, one vote per pair and image, rate limits, gold
pairs, the ratings written as the human metric and the debounced recompute (issue 15)."""

from __future__ import annotations

import numpy as np
import pytest
from django.db import IntegrityError, transaction

from competitions.models import PhaseMetric
from competitions.selectors import preview_images
from gan_platform.errors import ApplicationError
from judging import services
from judging.models import Assignment, Choice, GoldPair, JudgingConfig, Vote
from judging.ratings import HUMAN, ratings_update
from judging.selectors import pool_get
from submissions.leaderboards import leaderboard_get
from submissions.models import Score
from tests.factories import user_create


def test_the_pool_is_the_public_board_and_a_voter_never_sees_their_own_team(board, config, phase):
    pool = {entry.submission_id for entry in pool_get(phase=phase)}
    assert pool == {board[name].pk for name in ("a", "b", "c", "d", "baseline")}
    assert board["a-worse"].pk not in pool
    rng = np.random.default_rng(0)
    seen = set()
    served = 0
    with pytest.raises(ApplicationError) as raised:
        while True:
            assignment = services.assignment_create(phase=phase, user=board["user-a"], rng=rng)
            seen |= {assignment.left_id, assignment.right_id}
            assert assignment.image.is_preview and assignment.image.split == "public"
            services.vote_create(token=assignment.token, choice="equal", user=board["user-a"])
            served += 1
    assert raised.value.code == "no_pair" and served == 6 * 2  # 4 others: 6 pairs, 2 images each
    assert board["a"].pk not in seen and board["a-worse"].pk not in seen
    assert seen == {board[name].pk for name in ("b", "c", "d", "baseline")}


def test_left_and_right_come_in_random_order(board, config, phase, voter):
    rng = np.random.default_rng(1)
    served = [services.assignment_create(phase=phase, user=voter, rng=rng) for _ in range(20)]
    lower_on_the_left = sum(assignment.left_id < assignment.right_id for assignment in served)
    assert 3 < lower_on_the_left < 17


@pytest.mark.parametrize(
    ("voters", "who", "code"),
    [
        ("participants", "outsider", "voting_not_allowed"),
        ("raters", "participant", "voting_not_allowed"),
        ("participants", "anonymous", "not_authenticated"),
    ],
)
def test_only_the_voters_the_phase_admits_may_vote(board, config, phase, voter, voters, who, code):
    from django.contrib.auth.models import AnonymousUser

    config.voters = voters
    config.save()
    user = {"outsider": user_create("mallory"), "participant": voter, "anonymous": AnonymousUser()}[who]
    with pytest.raises(ApplicationError) as raised:
        services.assignment_create(phase=phase, user=user)
    assert raised.value.code == code


def test_logged_in_users_and_invited_raters_may_vote_when_the_phase_says_so(board, config, phase):
    outsider = user_create("mallory")
    config.voters = JudgingConfig.Voters.LOGGED_IN
    config.save()
    assert services.assignment_create(phase=phase, user=outsider).voter == outsider
    config.voters = JudgingConfig.Voters.RATERS
    config.save()
    config.raters.add(outsider)
    assert services.assignment_create(phase=phase, user=outsider).voter == outsider


def test_judging_off_answers_not_found(board, config, phase, voter):
    config.enabled = False
    config.save()
    with pytest.raises(ApplicationError) as raised:
        services.assignment_create(phase=phase, user=voter)
    assert raised.value.code == "not_found" and raised.value.status == 404


def test_a_vote_is_stored_canonically_and_only_once_per_pair_and_image(board, config, phase, voter):
    assignment = services.assignment_create(phase=phase, user=voter, rng=np.random.default_rng(2))
    vote = services.vote_create(token=assignment.token, choice="left", user=voter)
    a, b = sorted((assignment.left_id, assignment.right_id))
    assert (vote.submission_a_id, vote.submission_b_id) == (a, b)
    assert vote.choice == (Choice.A if assignment.left_id == a else Choice.B)
    assert vote.a_was_left == (assignment.left_id == a)
    # the token is spent
    with pytest.raises(ApplicationError) as raised:
        services.vote_create(token=assignment.token, choice="right", user=voter)
    assert raised.value.code == "not_found"
    # the same pair and image served again (by a forged assignment) is refused by the database
    again = Assignment.objects.create(
        token="again", phase=phase, voter=voter, image=assignment.image, left_id=b, right_id=a,
        expires_at=assignment.created_at.replace(year=2999),
    )  # fmt: skip
    with pytest.raises(ApplicationError) as raised:
        services.vote_create(token=again.token, choice="equal", user=voter)
    assert raised.value.code == "already_voted"
    assert Vote.objects.count() == 1
    with pytest.raises(IntegrityError), transaction.atomic():
        Vote.objects.create(phase=phase, voter=voter, image=assignment.image, submission_a_id=a, submission_b_id=b,
                            choice=Choice.TIE, a_was_left=True)  # fmt: skip


def forged_assignment(phase, voter, left, right, *, token: str) -> Assignment:
    """An assignment of the pair (left, right) on the first preview image, one the service never served:
    what a forged vote request names."""
    image = preview_images(competition=phase.competition).first()
    return Assignment.objects.create(
        token=token, phase=phase, voter=voter, image=image, left=left, right=right,
        expires_at=image.image_set.updated_at.replace(year=2999),
    )  # fmt: skip


def test_a_pair_with_the_voters_own_team_is_never_counted(board, config, phase):
    alice = board["user-a"]
    forged = forged_assignment(phase, alice, board["a"], board["b"], token="forged")
    with pytest.raises(ApplicationError) as raised:
        services.vote_create(token=forged.token, choice="left", user=alice)
    assert raised.value.code == "pair_not_votable" and Vote.objects.count() == 0


def test_a_submission_that_left_the_board_is_not_voted_on(board, config, phase, voter):
    forged = forged_assignment(phase, voter, board["a-worse"], board["b"], token="off-board")
    with pytest.raises(ApplicationError) as raised:
        services.vote_create(token=forged.token, choice="left", user=voter)
    assert raised.value.code == "pair_not_votable"


def test_votes_past_the_hourly_limit_are_refused_with_the_wait(board, config, phase, voter):
    config.votes_per_hour = 2
    config.save()
    rng = np.random.default_rng(3)
    for _ in range(2):
        services.vote_create(
            token=services.assignment_create(phase=phase, user=voter, rng=rng).token, choice="left", user=voter
        )
    with pytest.raises(ApplicationError) as raised:
        services.assignment_create(phase=phase, user=voter, rng=rng)
    assert raised.value.code == "throttled" and raised.value.status == 429
    assert "2 votes in the last hour" in raised.value.message and 3000 < raised.value.extra["wait"] <= 3601


def test_a_voter_runs_out_of_pairs_after_voting_on_every_pair_and_image(board, config, phase, voter):
    rng = np.random.default_rng(4)
    count = 0
    with pytest.raises(ApplicationError) as raised:
        for _ in range(100):
            assignment = services.assignment_create(phase=phase, user=voter, rng=rng)
            services.vote_create(token=assignment.token, choice="equal", user=voter)
            count += 1
    assert raised.value.code == "no_pair"
    assert count == 10 * 2  # 5 submissions: 10 pairs, 2 preview images each


def test_a_vote_asks_for_one_recompute_per_debounce_window(
    board, config, phase, voter, no_broker, django_capture_on_commit_callbacks
):
    rng = np.random.default_rng(5)
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(3):
            assignment = services.assignment_create(phase=phase, user=voter, rng=rng)
            services.vote_create(token=assignment.token, choice="left", user=voter)
    assert no_broker == [("judging.ratings_update", {"args": [phase.pk], "queue": "default"})]


def _vote(phase, voter, image, winner, loser, gold=None):
    a, b = sorted((winner.pk, loser.pk))
    Vote.objects.create(phase=phase, voter=voter, image=image, submission_a_id=a, submission_b_id=b,
                        choice=Choice.A if winner.pk == a else Choice.B, a_was_left=True, gold=gold)  # fmt: skip


def test_ratings_become_the_human_metric_on_both_splits_and_the_board_can_rank_by_it(
    board, config, phase, voter, settings
):
    settings.ATELIER_RATINGS_BOOTSTRAP_RESAMPLES = 50
    images = list(preview_images(competition=phase.competition))
    order = [board[name] for name in ("d", "c", "baseline", "b", "a")]  # people prefer d, then c ...
    voters = [user_create(f"rater-{k}") for k in range(6)]
    for user in voters:
        for i, better in enumerate(order):
            for worse in order[i + 1 :]:
                for image in images:
                    _vote(phase, user, image, better, worse)
    assert ratings_update(phase_id=phase.pk) == 5
    human = {row.submission_id: row for row in Score.objects.filter(metric=HUMAN, split="public")}
    assert Score.objects.filter(metric=HUMAN, split="private").count() == 5
    assert human[board["baseline"].pk].value == pytest.approx(1000.0)
    values = [human[submission.pk].value for submission in order]
    assert values == sorted(values, reverse=True)
    assert all(row.interval_low - 1e-6 <= row.value <= row.interval_high + 1e-6 for row in human.values())
    config.refresh_from_db()
    assert set(config.agreement) == {"fid"} and config.agreement["fid"]["count"] == 5
    assert config.agreement["fid"]["kendall"] == pytest.approx(-1.0)  # people prefer high FID here
    # the organizer shows it as a column, then ranks by it
    PhaseMetric.objects.create(phase=phase, metric=HUMAN, shown=True, direction="higher", decimals=0, order=9)
    board_rows = leaderboard_get(phase=phase, split="public", viewer=voter)["rows"]
    assert board_rows[0]["scores"][HUMAN]["value"] == pytest.approx(human[board_rows[0]["submission_id"]].value)
    PhaseMetric.objects.filter(phase=phase).update(is_ranking=False)
    PhaseMetric.objects.filter(phase=phase, metric=HUMAN).update(is_ranking=True)
    ratings_update(phase_id=phase.pk)
    ranked = [row["submission_id"] for row in leaderboard_get(phase=phase, split="public", viewer=voter)["rows"]]
    assert ranked == [submission.pk for submission in order]


def test_gold_pairs_drop_careless_voters(board, config, phase, settings):
    settings.ATELIER_RATINGS_BOOTSTRAP_RESAMPLES = 0
    first, second = list(preview_images(competition=phase.competition))
    # a gold pair: d is plainly better than a
    gold = GoldPair.objects.create(
        phase=phase, image=first, submission_a=board["a"], submission_b=board["d"], answer=Choice.B
    )
    careful, careless = user_create("careful"), user_create("careless")
    _vote(phase, careful, first, board["d"], board["a"], gold=gold)  # right
    _vote(phase, careless, first, board["a"], board["d"], gold=gold)  # wrong
    config.gold_min_answers = 1
    config.save()
    # the careful voter prefers b to c once; the careless one c to b twice
    _vote(phase, careful, first, board["b"], board["c"])
    _vote(phase, careless, first, board["c"], board["b"])
    _vote(phase, careless, second, board["c"], board["b"])

    def human():
        ratings_update(phase_id=phase.pk)
        return dict(Score.objects.filter(metric=HUMAN, split="public").values_list("submission_id", "value"))

    dropped = human()
    assert dropped[board["b"].pk] > dropped[board["c"].pk]
    assert board["a"].pk not in dropped  # gold answers measure voters; they are not votes on the pair
    config.gold_policy = JudgingConfig.GoldPolicy.OFF
    config.save()
    counted = human()
    assert counted[board["b"].pk] < counted[board["c"].pk]


def test_a_gold_pair_is_served_every_nth_pair_once_and_its_answer_is_recorded(board, config, phase, voter):
    image = preview_images(competition=phase.competition).first()
    gold = GoldPair.objects.create(
        phase=phase, image=image, submission_a=board["a"], submission_b=board["d"], answer=Choice.B
    )
    config.gold_every = 2
    config.save()
    rng = np.random.default_rng(6)
    served = [services.assignment_create(phase=phase, user=voter, rng=rng) for _ in range(2)]
    assert served[0].gold is None and served[1].gold == gold
    assert {served[1].left_id, served[1].right_id} == {board["a"].pk, board["d"].pk} and served[1].image == image
    vote = services.vote_create(
        token=served[1].token, choice="left" if served[1].left_id == board["d"].pk else "right", user=voter
    )
    assert vote.gold == gold and vote.choice == Choice.B
    later = [services.assignment_create(phase=phase, user=voter, rng=rng) for _ in range(4)]
    assert all(assignment.gold is None for assignment in later)


def test_when_the_board_ranks_by_votes_each_teams_newest_scored_submission_joins_the_pool(board, config, phase):
    PhaseMetric.objects.filter(phase=phase).update(is_ranking=False)
    PhaseMetric.objects.create(phase=phase, metric=HUMAN, shown=True, is_ranking=True, direction="higher", order=9)
    from submissions.standings import standings_rebuild

    standings_rebuild(phase_id=phase.pk)
    pool = {entry.submission_id for entry in pool_get(phase=phase)}
    # nothing is rated yet, so no team is on the board: each team's newest scored submission is in
    # the pool (team a's is its worse one), and the baseline, which is on the board unranked
    assert pool == {board[name].pk for name in ("a-worse", "b", "c", "d", "baseline")}


def test_only_organizers_set_the_rules_and_bad_values_are_named(phase, organizer, voter):
    config = services.judging_config_set(
        phase=phase, actor=organizer, fields={"enabled": True, "voters": "raters"}, raters=[voter]
    )
    assert config.enabled and list(config.raters.all()) == [voter]
    with pytest.raises(ApplicationError) as raised:
        services.judging_config_set(phase=phase, actor=organizer, fields={"voters": "everyone"}, raters=[])
    assert raised.value.code == "validation_error" and "voters" in raised.value.message
    with pytest.raises(ApplicationError) as raised:
        services.judging_config_set(phase=phase, actor=voter, fields={"enabled": False}, raters=[])
    assert raised.value.code == "not_found"
    assert JudgingConfig.objects.get(phase=phase).enabled


def test_a_pair_held_unanswered_is_not_served_again(board, config, phase, voter):
    # 5 submissions on the board: 10 pairs x 2 images; holding them all leaves nothing to serve
    rng = np.random.default_rng(7)
    held = [services.assignment_create(phase=phase, user=voter, rng=rng) for _ in range(20)]
    keys = {(min(a.left_id, a.right_id), max(a.left_id, a.right_id), a.image_id) for a in held}
    assert len(keys) == 20
    with pytest.raises(ApplicationError) as raised:
        services.assignment_create(phase=phase, user=voter, rng=rng)
    assert raised.value.code == "no_pair"
