"""gan_core.ratings: the Bradley-Terry fit against independent fits, anchoring, bootstrap over
voters, gold-pair weights, pair selection and rank agreement; the simulated voters of issue 15."""

from __future__ import annotations

import math

import choix
import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.stats import kendalltau, spearmanr

from gan_core.ratings import (
    ANCHOR,
    SCALE,
    Votes,
    anchor,
    bt_fit,
    pair_choose,
    rank_agreement,
    ratings_compute,
    voter_weights,
)
from gan_core.ratings_simulation import simulate


def _random_votes(seed: int, items: int = 12, count: int = 400, ties: bool = True) -> Votes:
    rng = np.random.default_rng(seed)
    truth = rng.normal(0, 1, items)
    rows = []
    for _ in range(count):
        i, j = rng.choice(items, 2, replace=False)
        p = 1 / (1 + math.exp(-(truth[i] - truth[j])))
        score = 0.5 if ties and rng.random() < 0.1 else float(rng.random() < p)
        rows.append((int(i), int(j), score))
    return Votes.from_rows(items, rows, voters=rng.integers(0, 30, count))


def _reference_scipy_fit(votes: Votes, alpha: float, weight=None) -> np.ndarray:
    """A direct maximum-likelihood fit with scipy's BFGS on the objective written out."""
    weight = votes.weight if weight is None else weight

    def objective(theta):
        d = theta[votes.first] - theta[votes.second]
        loglik = votes.score * -np.logaddexp(0, -d) + (1 - votes.score) * -np.logaddexp(0, d)
        return -(weight * loglik).sum() + alpha * (theta**2).sum()

    def gradient(theta):
        d = theta[votes.first] - theta[votes.second]
        residual = weight * (votes.score - 1 / (1 + np.exp(-d)))
        grad = 2 * alpha * theta
        np.add.at(grad, votes.first, -residual)
        np.add.at(grad, votes.second, residual)
        return grad

    result = minimize(objective, np.zeros(votes.n_items), jac=gradient, method="BFGS", options={"gtol": 1e-10})
    return result.x


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bt_fit_matches_choix_to_1e_6_on_votes_without_ties(seed):
    # given votes with a winner each, as choix's (winner, loser) pairs
    votes = _random_votes(seed, ties=False)
    data = [
        (int(i), int(j)) if s == 1 else (int(j), int(i))
        for i, j, s in zip(votes.first, votes.second, votes.score, strict=True)
    ]
    # when both fit with the same prior
    ours, _ = bt_fit(votes, alpha=0.01)
    reference = choix.opt_pairwise(votes.n_items, data, alpha=0.01, method="Newton-CG", tol=1e-12)
    # then the strengths agree to 1e-6
    assert np.max(np.abs(ours - reference)) < 1e-6
    assert abs(ours.sum()) < 1e-9  # the prior centres the strengths


def test_bt_fit_counts_a_tie_as_half_a_win_each_way_like_choix_on_doubled_votes():
    # given votes with ties; choix knows no ties: a win becomes two wins, a tie one win each way
    votes = _random_votes(3, ties=True)
    assert (votes.score == 0.5).sum() > 10
    data = []
    for i, j, s in zip(votes.first, votes.second, votes.score, strict=True):
        i, j = int(i), int(j)
        data += [(i, j), (i, j)] if s == 1 else [(j, i), (j, i)] if s == 0 else [(i, j), (j, i)]
    ours, _ = bt_fit(votes, alpha=0.01)
    reference = choix.opt_pairwise(votes.n_items, data, alpha=0.02, method="Newton-CG", tol=1e-12)
    assert np.max(np.abs(ours - reference)) < 1e-6


def test_bt_fit_with_weights_matches_a_direct_scipy_maximum_likelihood_fit():
    votes = _random_votes(4)
    weight = np.random.default_rng(4).uniform(0, 2, len(votes.first))
    ours, hessian = bt_fit(votes, alpha=0.05, weight=weight)
    reference = _reference_scipy_fit(votes, 0.05, weight)
    assert np.max(np.abs(ours - reference)) < 1e-6
    assert np.all(np.linalg.eigvalsh(hessian) > 0)


def test_bt_fit_stays_finite_when_an_item_won_every_vote_and_refuses_no_prior():
    votes = Votes.from_rows(3, [(0, 1, 1.0), (0, 2, 1.0), (1, 2, 1.0)] * 5)
    theta, _ = bt_fit(votes)
    assert np.all(np.isfinite(theta)) and theta[0] > theta[1] > theta[2]
    with pytest.raises(ValueError, match="alpha must be > 0"):
        bt_fit(votes, alpha=0)


def test_votes_refuse_bad_arrays_with_a_message():
    with pytest.raises(ValueError, match="scores must be 0, 0.5 or 1"):
        Votes.from_rows(2, [(0, 1, 0.7)])
    with pytest.raises(ValueError, match="compared with itself"):
        Votes.from_rows(2, [(1, 1, 1.0)])
    with pytest.raises(ValueError, match=r"item indices must be in \[0, 2\)"):
        Votes.from_rows(2, [(0, 2, 1.0)])


def test_anchor_puts_the_baselines_mean_at_the_anchor_in_elo_points():
    theta = np.array([0.5, -0.5, 1.0, 2.0])
    points = anchor(theta, baselines=[0, 1])
    assert points[0] + points[1] == pytest.approx(2 * ANCHOR)
    assert points[2] - points[0] == pytest.approx(SCALE * 0.5)
    assert SCALE * math.log(10) == pytest.approx(400)  # 400 points: odds of 10 to 1
    assert anchor(theta).mean() == pytest.approx(ANCHOR)  # no baseline: every item's mean


def test_ratings_compute_gives_bootstrap_intervals_over_voters_around_the_fit():
    votes = _random_votes(5, count=600)
    ratings = ratings_compute(votes, baselines=[0], resamples=100, seed=1)
    assert ratings.value[0] == pytest.approx(ANCHOR)
    assert np.all(ratings.low <= ratings.value + 1e-9) and np.all(ratings.value <= ratings.high + 1e-9)
    assert ratings.high[0] == ratings.low[0] == ANCHOR  # the only baseline is the fixed point
    assert np.all(ratings.high[1:] - ratings.low[1:] > 10)
    # the same seed gives the same intervals; four times the votes narrow them
    again = ratings_compute(votes, baselines=[0], resamples=100, seed=1)
    assert np.array_equal(again.low, ratings.low)
    more = _random_votes(5, count=2400)
    wide = ratings_compute(more, baselines=[0], resamples=100, seed=1)
    assert np.mean(wide.high - wide.low) < 0.7 * np.mean(ratings.high - ratings.low)


def test_ratings_compute_without_two_voters_has_no_interval():
    votes = Votes.from_rows(2, [(0, 1, 1.0)], voters=[7])
    ratings = ratings_compute(votes)
    assert ratings.resamples == 0 and np.all(np.isnan(ratings.low))


def test_voter_weights_drop_or_downweight_careless_voters_from_their_gold_answers():
    gold = {1: (5, 5), 2: (2, 5), 3: (1, 2), 4: (4, 5)}
    assert voter_weights(gold, policy="drop", min_answers=3, min_accuracy=0.7) == {1: 1.0, 2: 0.0, 3: 1.0, 4: 1.0}
    down = voter_weights(gold, policy="downweight", min_answers=3)
    assert down[1] == 1.0 and down[2] == 0.0 and down[3] == 1.0 and down[4] == pytest.approx(0.6)
    assert set(voter_weights(gold, policy="off").values()) == {1.0}
    with pytest.raises(ValueError, match="policy must be"):
        voter_weights(gold, policy="maybe")


def test_pair_choose_serves_new_items_first_and_never_an_excluded_pair():
    rng = np.random.default_rng(0)
    theta = np.array([0.0, 1.0, 2.0, 3.0])
    variance = np.full(4, 0.1)
    comparisons = np.array([50.0, 50.0, 0.0, 50.0])
    chosen = {pair_choose(theta, variance, comparisons, rng=rng) for _ in range(50)}
    assert all(2 in pair for pair in chosen)
    excluded = {(1, 2), (2, 3)}
    chosen = {pair_choose(theta, variance, comparisons, rng=rng, excluded=excluded) for _ in range(50)}
    assert chosen == {(0, 2)}
    everything = {(i, j) for i in range(4) for j in range(i + 1, 4)}
    assert pair_choose(theta, variance, comparisons, rng=rng, excluded=everything) is None


def test_pair_choose_prefers_pairs_whose_order_is_uncertain():
    rng = np.random.default_rng(0)
    theta = np.array([0.0, 0.05, 3.0, 6.0])  # 0 and 1 are close, the rest far apart
    counts = [pair_choose(theta, np.full(4, 0.05), np.full(4, 40.0), rng=rng) for _ in range(200)]
    assert counts.count((0, 1)) > 180


def test_rank_agreement_matches_scipy_and_signs_by_direction():
    rng = np.random.default_rng(0)
    human = rng.normal(size=15)
    fid = -human + rng.normal(scale=0.5, size=15)  # lower FID is better: agrees with people
    result = rank_agreement(human, fid, direction="lower", resamples=300)
    assert result.spearman == pytest.approx(spearmanr(human, -fid).statistic)
    assert result.kendall == pytest.approx(kendalltau(human, -fid).statistic)
    assert result.spearman > 0.5 and result.spearman_low <= result.spearman <= result.spearman_high
    assert result.kendall_low <= result.kendall <= result.kendall_high
    assert rank_agreement(human, fid, direction="higher").kendall == pytest.approx(-result.kendall)
    assert rank_agreement([1.0, 2.0], [1.0, 2.0], direction="higher") is None
    with_nan = rank_agreement([1.0, 2.0, 3.0, 4.0], [1.0, float("nan"), 3.0, 5.0], direction="higher")
    assert with_nan.count == 3 and with_nan.kendall == pytest.approx(1.0)


# --- simulated voters (issue 15) ---------------------------------------------------------------


@pytest.mark.parametrize("rule", ["active", "uniform"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_2000_votes_with_10_percent_careless_voters_recover_the_order_with_tau_at_least_0_9(rule, seed):
    run = simulate(rule=rule, votes=2000, items=20, careless=0.1, seed=seed)
    assert run.checkpoints[-1] == 2000
    assert run.taus[-1] >= 0.9


def test_active_sampling_reaches_tau_0_9_with_fewer_votes_than_uniform_sampling():
    seeds = range(8)
    active = [simulate(rule="active", votes=2000, seed=seed).votes_to_reach(0.9) or 10**6 for seed in seeds]
    uniform = [simulate(rule="uniform", votes=2000, seed=seed).votes_to_reach(0.9) or 10**6 for seed in seeds]
    assert np.median(active) < np.median(uniform), (active, uniform)
