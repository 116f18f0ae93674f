"""Ratings from pairwise human judgements: a Bradley-Terry fit, bootstrap intervals over voters,
anchoring on baselines, active pair selection and rank agreement with automatic metrics.

Model: item ``i`` has a strength ``theta[i]`` (logits); a voter prefers ``i`` to ``j`` with
probability ``sigma(theta[i] - theta[j])``. A vote is ``(i, j, s)`` with ``s`` the score of ``i``:
1 (``i`` better), 0 (``j`` better) or 0.5 (equally good: a tie counts as half a win each way).
Each vote has a weight (a careless voter's votes weigh less, or nothing). The fit minimises

    -sum_k w_k [s_k log sigma(d_k) + (1 - s_k) log sigma(-d_k)] + alpha * sum_i theta_i^2,

``d_k = theta[i_k] - theta[j_k]`` (choix's ``opt_pairwise`` objective when every weight is 1 and
every score 0 or 1; ``alpha`` is a Gaussian prior that keeps the fit finite when an item won or
lost every vote, and centres it on 0). Newton's method on this strictly convex objective converges
to machine precision in a few steps for hundreds of items.

Shown values are Elo-like points: ``ANCHOR + SCALE * (theta - mean(theta of the baselines))``
(the mean of all items when there is no baseline), so a difference of 400 points means 10:1 odds
and the baselines keep their place on the scale while submissions come and go.

numpy only at import time (the web side imports :func:`pair_choose`); scipy is imported inside
:func:`rank_agreement`, which only the ratings task calls.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "ALPHA",
    "ANCHOR",
    "SCALE",
    "Agreement",
    "Ratings",
    "Votes",
    "anchor",
    "bt_fit",
    "kendall_tau",
    "pair_choose",
    "rank_agreement",
    "ratings_compute",
    "voter_weights",
]

SCALE = 400.0 / math.log(10.0)
"""Points per logit: 400 points are odds of 10 to 1 (the Elo convention)."""
ANCHOR = 1000.0
"""The points of the baselines' mean (of every item's mean without baselines)."""
ALPHA = 0.01
"""Default prior strength (choix's ``alpha``): a Gaussian prior of variance ``1 / (2 alpha)`` logits^2."""


@dataclass(frozen=True)
class Votes:
    """Pairwise votes on ``n_items`` items: arrays of one length, one entry per vote.

    ``first``, ``second``: int item indices (different); ``score``: float, the score of ``first``
    (1, 0 or 0.5); ``weight``: float >= 0; ``voter``: int voter index (the bootstrap resamples
    voters, not votes: one voter's votes are not independent).
    """

    n_items: int
    first: np.ndarray
    second: np.ndarray
    score: np.ndarray
    weight: np.ndarray
    voter: np.ndarray

    @classmethod
    def from_rows(cls, n_items: int, rows: Sequence[tuple[int, int, float]], *, weights=None, voters=None) -> Votes:
        """Votes from ``(first, second, score of first)`` rows; weights 1 and one voter per vote by default."""
        array = np.asarray(rows, dtype=np.float64).reshape(-1, 3)
        count = len(array)
        votes = cls(
            n_items=n_items,
            first=array[:, 0].astype(np.int64),
            second=array[:, 1].astype(np.int64),
            score=array[:, 2].copy(),
            weight=np.ones(count) if weights is None else np.asarray(weights, dtype=np.float64),
            voter=np.arange(count) if voters is None else np.asarray(voters, dtype=np.int64),
        )
        votes.check()
        return votes

    def check(self) -> None:
        """Raise ValueError naming what is wrong with the arrays."""
        count = len(self.first)
        for name in ("second", "score", "weight", "voter"):
            if len(getattr(self, name)) != count:
                raise ValueError(f"votes: {name} has {len(getattr(self, name))} entries, first has {count}")
        if count and (
            self.first.min() < 0 or self.second.min() < 0 or max(self.first.max(), self.second.max()) >= self.n_items
        ):
            raise ValueError(f"votes: item indices must be in [0, {self.n_items})")
        if np.any(self.first == self.second):
            raise ValueError("votes: an item cannot be compared with itself")
        if not np.all(np.isin(self.score, (0.0, 0.5, 1.0))):
            raise ValueError("votes: scores must be 0, 0.5 or 1")
        if np.any(self.weight < 0) or not np.all(np.isfinite(self.weight)):
            raise ValueError("votes: weights must be finite and >= 0")

    def comparisons(self) -> np.ndarray:
        """``(n_items,)`` float: the weighted number of votes each item took part in."""
        counts = np.bincount(self.first, weights=self.weight, minlength=self.n_items)
        return counts + np.bincount(self.second, weights=self.weight, minlength=self.n_items)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _objective(theta, votes: Votes, weight, alpha):
    d = theta[votes.first] - theta[votes.second]
    # -[s log sigma(d) + (1 - s) log sigma(-d)] = logaddexp(0, -d) + (1 - s) d
    loss = weight * (np.logaddexp(0.0, -d) + (1.0 - votes.score) * d)
    return float(loss.sum() + alpha * np.dot(theta, theta))


def _gradient_hessian(theta, votes: Votes, weight, alpha):
    n = votes.n_items
    d = theta[votes.first] - theta[votes.second]
    p = _sigmoid(d)
    g = weight * (p - votes.score)  # d(loss)/d(d)
    gradient = np.bincount(votes.first, weights=g, minlength=n) - np.bincount(votes.second, weights=g, minlength=n)
    gradient += 2.0 * alpha * theta
    h = weight * p * (1.0 - p)
    off = np.bincount(votes.first * n + votes.second, weights=h, minlength=n * n).reshape(n, n)
    off += off.T
    hessian = -off
    hessian[np.diag_indices(n)] = off.sum(axis=1) + 2.0 * alpha
    return gradient, hessian


def bt_fit(
    votes: Votes, *, alpha: float = ALPHA, weight: np.ndarray | None = None, start: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The Bradley-Terry strengths (logits, ``(n_items,)`` float64) maximising the penalised
    likelihood of ``votes``, and the Hessian of the objective there (its inverse approximates the
    strengths' covariance). ``weight`` replaces ``votes.weight`` (the bootstrap's resampled weights).

    Raises:
        ValueError: ``alpha`` not positive (without a prior the fit diverges when an item won every vote).
    """
    if alpha <= 0:
        raise ValueError(f"alpha must be > 0 (got {alpha}): without a prior an unbeaten item has no finite strength")
    weight = votes.weight if weight is None else weight
    theta = np.zeros(votes.n_items) if start is None else np.array(start, dtype=np.float64)
    value = _objective(theta, votes, weight, alpha)
    for _ in range(100):
        gradient, hessian = _gradient_hessian(theta, votes, weight, alpha)
        step = np.linalg.solve(hessian, gradient)
        size = 1.0
        while True:  # damped Newton: halve the step until the objective does not grow
            candidate = theta - size * step
            candidate_value = _objective(candidate, votes, weight, alpha)
            if candidate_value <= value + 1e-12 * abs(value) or size < 1e-6:
                break
            size /= 2
        theta, value = candidate, candidate_value
        if np.max(np.abs(size * step)) < 1e-12:
            break
    _, hessian = _gradient_hessian(theta, votes, weight, alpha)
    return theta, hessian


def anchor(theta: np.ndarray, baselines: Sequence[int] = ()) -> np.ndarray:
    """Points from strengths: the baselines' mean (every item's without baselines) at :data:`ANCHOR`."""
    theta = np.asarray(theta, dtype=np.float64)
    if theta.ndim == 1:
        origin = theta[list(baselines)].mean() if len(baselines) else theta.mean()
        return ANCHOR + SCALE * (theta - origin)
    origin = theta[:, list(baselines)].mean(axis=1) if len(baselines) else theta.mean(axis=1)
    return ANCHOR + SCALE * (theta - origin[:, None])


@dataclass(frozen=True)
class Ratings:
    """A fit: per item, ``theta`` (logits), ``value``, ``low``, ``high`` (points; the interval is the
    bootstrap's over voters, NaN without resamples), ``variance`` (logits^2, from the Hessian) and
    ``comparisons`` (weighted votes it took part in)."""

    theta: np.ndarray
    value: np.ndarray
    low: np.ndarray
    high: np.ndarray
    variance: np.ndarray
    comparisons: np.ndarray
    resamples: int
    confidence: float


def ratings_compute(
    votes: Votes,
    *,
    baselines: Sequence[int] = (),
    alpha: float = ALPHA,
    resamples: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
) -> Ratings:
    """Fit ``votes``, anchor on ``baselines`` and bootstrap an interval per item over voters.

    Each resample draws as many voters as there are, with replacement (``default_rng(seed)``); a
    voter drawn ``k`` times weighs ``k`` times. The interval is the percentile interval of the
    anchored points.
    """
    theta, hessian = bt_fit(votes, alpha=alpha)
    variance = np.diag(np.linalg.inv(hessian)).copy()
    value = anchor(theta, baselines)
    low = np.full(votes.n_items, np.nan)
    high = np.full(votes.n_items, np.nan)
    voters, index = np.unique(votes.voter, return_inverse=True)
    if resamples > 0 and len(voters) >= 2:
        rng = np.random.default_rng(seed)
        draws = np.empty((resamples, votes.n_items))
        for row in range(resamples):
            times = np.bincount(rng.integers(0, len(voters), size=len(voters)), minlength=len(voters))
            draws[row] = bt_fit(votes, alpha=alpha, weight=votes.weight * times[index], start=theta)[0]
        points = anchor(draws, baselines)
        tail = (1.0 - confidence) / 2.0 * 100.0
        low, high = np.percentile(points, [tail, 100.0 - tail], axis=0)
    return Ratings(
        theta=theta,
        value=value,
        low=low,
        high=high,
        variance=variance,
        comparisons=votes.comparisons(),
        resamples=resamples if len(voters) >= 2 else 0,
        confidence=confidence,
    )


def voter_weights(
    gold: dict[int, tuple[int, int]], *, policy: str, min_answers: int = 3, min_accuracy: float = 0.7
) -> dict[int, float]:
    """The weight of each voter's votes from their gold-pair answers ``{voter: (correct, answered)}``.

    ``policy``: ``"drop"`` (weight 0 for a voter with at least ``min_answers`` gold answers and an
    accuracy under ``min_accuracy``, 1 otherwise), ``"downweight"`` (from ``min_answers`` answers on,
    ``(accuracy - 1/2) / (1/2)`` clipped to [0, 1]: a voter answering at random between left and
    right is right half the time and weighs about nothing) or ``"off"`` (1 for everyone). Voters not
    in ``gold`` weigh 1.
    """
    if policy not in ("drop", "downweight", "off"):
        raise ValueError(f"policy must be 'drop', 'downweight' or 'off', not {policy!r}")
    weights = {}
    for voter, (correct, answered) in gold.items():
        if policy == "off" or answered < max(min_answers, 1):
            weights[voter] = 1.0
            continue
        accuracy = correct / answered
        if policy == "drop":
            weights[voter] = 0.0 if accuracy < min_accuracy else 1.0
        else:
            weights[voter] = float(min(max((accuracy - 0.5) / 0.5, 0.0), 1.0))
    return weights


def pair_choose(
    theta: np.ndarray,
    variance: np.ndarray,
    comparisons: np.ndarray,
    *,
    rng: np.random.Generator,
    excluded: set[tuple[int, int]] | frozenset = frozenset(),
    pair_counts: dict[tuple[int, int], float] | None = None,
    new_below: float = 4.0,
) -> tuple[int, int] | None:
    """The next pair to vote on, ``(i, j)`` with ``i < j``, or None when every pair is excluded.

    New items first: while an item has fewer than ``new_below`` comparisons, the least-compared one
    is paired (with an item of close strength). Then pairs whose order is most uncertain: a pair is
    drawn with probability proportional to ``P(order wrong)^2 / (1 + votes on the pair)``, where
    ``P(order wrong) = Phi(-|theta_i - theta_j| / sqrt(var_i + var_j))`` under the fit's normal
    approximation. Drawing, not taking the maximum, spreads the voters who arrive between two fits.
    ``excluded`` holds pairs ``(i, j)``, ``i < j``, that must not be chosen (the voter's own team,
    pairs they voted on).
    """
    n = len(theta)
    if n < 2:
        return None
    theta = np.asarray(theta, dtype=np.float64)
    spread = np.sqrt(np.add.outer(variance, variance))
    gap = np.abs(np.subtract.outer(theta, theta))
    wrong = 0.5 * _erfc(gap / np.maximum(spread, 1e-12) / math.sqrt(2.0))
    weight = wrong**2
    if pair_counts:
        for (i, j), count in pair_counts.items():
            weight[i, j] /= 1.0 + count
            weight[j, i] /= 1.0 + count
    allowed = np.triu(np.ones((n, n), dtype=bool), k=1)
    for i, j in excluded:
        allowed[i, j] = False
        allowed[j, i] = False
    allowed = allowed | allowed.T
    usable = allowed.any(axis=1)
    if not usable.any():
        return None
    comparisons = np.asarray(comparisons, dtype=np.float64)
    fresh = usable & (comparisons < new_below)
    if fresh.any():
        fewest = np.flatnonzero(fresh & (comparisons == comparisons[fresh].min()))
        i = int(rng.choice(fewest))
        row = np.where(allowed[i], weight[i] + 1e-12, 0.0)
        j = int(rng.choice(n, p=row / row.sum()))
    else:
        upper = np.where(np.triu(allowed, k=1), weight + 1e-12, 0.0).ravel()
        flat = int(rng.choice(upper.size, p=upper / upper.sum()))
        i, j = divmod(flat, n)
    return (i, j) if i < j else (j, i)


_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def kendall_tau(a: Sequence[float], b: Sequence[float]) -> float:
    """Kendall's tau-b of two score vectors (scipy's, imported here: the tasks and benchmarks use it)."""
    from scipy.stats import kendalltau

    return float(kendalltau(a, b).statistic)


@dataclass(frozen=True)
class Agreement:
    """Rank agreement of the human rating with one metric over ``count`` items, signed so that 1 is
    full agreement whatever the metric's direction; intervals are bootstrap percentiles over items."""

    count: int
    spearman: float
    spearman_low: float
    spearman_high: float
    kendall: float
    kendall_low: float
    kendall_high: float

    def to_dict(self) -> dict[str, float | int]:
        return dict(self.__dict__)


def rank_agreement(
    human: Sequence[float],
    metric: Sequence[float],
    *,
    direction: str,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Agreement | None:
    """Spearman's rho and Kendall's tau-b between the human points (higher is better) and a metric
    (``direction`` ``"lower"`` or ``"higher"`` is better), on the items where both are finite, with
    percentile bootstrap intervals (resampling items; resamples where a side is constant are
    skipped). None with fewer than 3 such items."""
    from scipy.stats import kendalltau, spearmanr

    if direction not in ("lower", "higher"):
        raise ValueError(f"direction must be 'lower' or 'higher', not {direction!r}")
    human = np.asarray(human, dtype=np.float64)
    metric = np.asarray(metric, dtype=np.float64)
    if direction == "lower":
        metric = -metric
    keep = np.isfinite(human) & np.isfinite(metric)
    human, metric = human[keep], metric[keep]
    if len(human) < 3:
        return None

    def both(x, y):
        if np.ptp(x) == 0 or np.ptp(y) == 0:
            return math.nan, math.nan
        return float(spearmanr(x, y).statistic), float(kendalltau(x, y).statistic)

    rho, tau = both(human, metric)
    rng = np.random.default_rng(seed)
    samples = np.array(
        [both(human[index], metric[index]) for index in rng.integers(0, len(human), (resamples, len(human)))]
    )
    samples = samples[np.all(np.isfinite(samples), axis=1)]
    tail = (1.0 - confidence) / 2.0 * 100.0
    if len(samples):
        (rho_low, tau_low), (rho_high, tau_high) = np.percentile(samples, [tail, 100.0 - tail], axis=0)
    else:
        rho_low = rho_high = tau_low = tau_high = math.nan
    return Agreement(
        count=int(len(human)),
        spearman=rho,
        spearman_low=float(rho_low),
        spearman_high=float(rho_high),
        kendall=tau,
        kendall_low=float(tau_low),
        kendall_high=float(tau_high),
    )
