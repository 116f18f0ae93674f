"""Benchmark: how many human votes rank 20 submissions, active pair selection against uniform
(``make bench-votes``; issue 15).

Simulated voters (``gan_core.ratings_simulation``): 20 submissions with known Bradley-Terry
strengths evenly spaced over 5 logits, 100 voters with a personal noise of 0.3 logits, 10 % of
them careless (left or right at random), every tenth vote of a voter a gold pair (careless voters
are dropped by it), the ratings refitted every 25 votes. For each seed it prints the votes each
rule needed to first reach Kendall's tau >= 0.9 to the true order and the tau after 2,000 votes;
then the medians side by side.

    .venv/bin/python benchmarks/bench_votes.py [--seeds 20] [--votes 2000] [--target 0.9]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gan_core.ratings_simulation import simulate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--votes", type=int, default=2000)
    parser.add_argument("--target", type=float, default=0.9)
    parser.add_argument("--items", type=int, default=20)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    needed: dict[str, list[float]] = {"uniform": [], "active": []}
    final: dict[str, list[float]] = {"uniform": [], "active": []}
    print(
        f"{'seed':>4} {'uniform: votes to tau':>22} {'active: votes to tau':>21} {'tau@' + str(args.votes) + ' u/a':>14}"
    )
    for seed in range(args.seeds):
        row = {}
        for rule in ("uniform", "active"):
            run = simulate(rule=rule, votes=args.votes, items=args.items, seed=seed)
            reached = run.votes_to_reach(args.target)
            needed[rule].append(float(reached) if reached is not None else float("inf"))
            final[rule].append(run.taus[-1])
            row[rule] = (reached, run.taus[-1])
        show = {rule: str(value[0]) if value[0] is not None else f">{args.votes}" for rule, value in row.items()}
        print(f"{seed:>4} {show['uniform']:>22} {show['active']:>21} {row['uniform'][1]:>8.3f}/{row['active'][1]:.3f}")
    print()
    print(
        f"votes to reach Kendall tau >= {args.target} ({args.items} submissions, 10 % careless voters), median of {args.seeds} seeds:"
    )
    for rule in ("uniform", "active"):
        reached = sum(value != float("inf") for value in needed[rule])
        print(
            f"  {rule:<8} {statistics.median(needed[rule]):>7.0f} votes   reached in {reached}/{args.seeds}   "
            f"tau after {args.votes} votes: median {statistics.median(final[rule]):.3f}, min {min(final[rule]):.3f}"
        )
    ratio = statistics.median(needed["active"]) / statistics.median(needed["uniform"])
    print(f"  active / uniform: {ratio:.2f}   ({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
