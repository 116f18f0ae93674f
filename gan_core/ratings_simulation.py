"""Simulated voters for :mod:`gan_core.ratings`: how many votes rank a field, with which pair rule.

A known latent ranking (Bradley-Terry strengths) of ``items`` submissions; voters arrive one vote
at a time; each voter is careless with probability ``careless`` (answers left or right at random)
or else answers by Bradley-Terry on the true strengths with a personal noise (its strengths
jittered by ``voter_noise`` logits), saying "equally good" when its two probabilities are within
``tie_margin``. Pairs come from :func:`gan_core.ratings.pair_choose` (``"active"``) or uniformly
from all pairs (``"uniform"``); the ratings are refitted every ``refit_every`` votes, as the
platform's task does between votes. Every ``gold_every``-th vote of a voter is a gold pair (two
items far apart, known answer) that measures the voter, not the items.

Used by ``benchmarks/bench_votes.py`` and the tests; numpy only (scipy for Kendall's tau).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gan_core.ratings import Votes, bt_fit, kendall_tau, pair_choose, voter_weights

__all__ = ["Run", "simulate"]


@dataclass(frozen=True)
class Run:
    """A simulation: Kendall's tau of the fit to the truth after each checkpoint (``taus[k]`` after
    ``checkpoints[k]`` votes), and the votes needed to first reach each target."""

    checkpoints: list[int]
    taus: list[float]

    def votes_to_reach(self, target: float) -> int | None:
        for count, tau in zip(self.checkpoints, self.taus, strict=True):
            if tau >= target:
                return count
        return None


def simulate(
    *,
    rule: str,
    votes: int,
    items: int = 20,
    seed: int = 0,
    careless: float = 0.1,
    voter_noise: float = 0.3,
    voters: int = 100,
    spread: float = 5.0,
    refit_every: int = 25,
    gold_every: int = 10,
    gold_policy: str = "drop",
    tie_margin: float = 0.02,
) -> Run:
    """Simulate ``votes`` counted votes (gold answers not included) under ``rule``; see the module.

    The true strengths are ``items`` values evenly spaced over ``[-spread/2, spread/2]`` logits,
    shuffled by the seed.
    """
    if rule not in ("active", "uniform"):
        raise ValueError(f"rule must be 'active' or 'uniform', not {rule!r}")
    rng = np.random.default_rng(seed)
    truth = rng.permutation(np.linspace(-spread / 2, spread / 2, items))
    is_careless = rng.random(voters) < careless
    jitter = rng.normal(0.0, voter_noise, size=(voters, items))
    order = np.argsort(truth)
    far = [(int(order[k]), int(order[-1 - k])) for k in range(max(1, items // 4))]

    def answer(voter: int, i: int, j: int) -> float:
        if is_careless[voter]:
            return float(rng.integers(0, 2))
        p = 1.0 / (1.0 + np.exp(-(truth[i] + jitter[voter, i] - truth[j] - jitter[voter, j])))
        if abs(p - 0.5) < tie_margin:
            return 0.5
        return 1.0 if rng.random() < p else 0.0

    rows: list[tuple[int, int, float]] = []
    who: list[int] = []
    gold: dict[int, list[int]] = {}
    seen: dict[int, int] = {}
    pair_counts: dict[tuple[int, int], float] = {}
    theta = np.zeros(items)
    variance = np.full(items, 1.0 / (2 * 0.01))
    comparisons = np.zeros(items)
    checkpoints: list[int] = []
    taus: list[float] = []
    while len(rows) < votes:
        voter = int(rng.integers(0, voters))
        seen[voter] = seen.get(voter, 0) + 1
        if gold_every and seen[voter] % gold_every == 1:
            low, high = far[int(rng.integers(0, len(far)))]
            correct = answer(voter, high, low) == 1.0
            record = gold.setdefault(voter, [0, 0])
            record[0] += int(correct)
            record[1] += 1
            continue
        if rule == "uniform":
            i, j = rng.choice(items, size=2, replace=False)
        else:
            i, j = pair_choose(theta, variance, comparisons, rng=rng, pair_counts=pair_counts)
        i, j = int(min(i, j)), int(max(i, j))
        rows.append((i, j, answer(voter, i, j)))
        who.append(voter)
        pair_counts[(i, j)] = pair_counts.get((i, j), 0.0) + 1.0
        if len(rows) % refit_every == 0 or len(rows) == votes:
            weights = voter_weights({v: (c, a) for v, (c, a) in gold.items()}, policy=gold_policy)
            fitted = Votes.from_rows(items, rows, weights=[weights.get(v, 1.0) for v in who], voters=who)
            theta, hessian = bt_fit(fitted, start=theta)
            variance = np.diag(np.linalg.inv(hessian))
            comparisons = fitted.comparisons()
            checkpoints.append(len(rows))
            taus.append(kendall_tau(theta, truth))
    return Run(checkpoints=checkpoints, taus=taus)
