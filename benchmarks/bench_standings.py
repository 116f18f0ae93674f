"""Benchmark: leaderboard standings at Kaggle size (``make bench-standings``).

Seeds N teams x M scored submissions (5 metrics x 2 splits each, default 1,000 x 20 = 200,000
scores) through bulk inserts into a database of its own (SQLite under var/bench/, or PostgreSQL
``<name>_bench`` when ``DATABASE_URL`` points at one), then prints, in one run:

- the first version's read path, for reference: every scored submission loaded as Django objects
  with its scores and ranked in Python (what each cache miss cost before the standings);
- ``standings_rebuild`` of the whole phase (target: <= 2 s at 1,000 x 20);
- one event: a score written and its team's standings recomputed (``standings_submission_changed``);
- reads: the first page, a deep page, the viewer's row (queries each), uncached and cached.

Each figure is the median of ``--repeat`` runs (the fastest is printed beside it).

    .venv/bin/python benchmarks/bench_standings.py [--teams 1000] [--submissions 20] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

METRICS = ("fid", "kid", "lpips", "ssim", "content")


def configure() -> str:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gan_platform.settings")
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("postgres"):
        from benchmarks.scratch_database import postgres_scratch

        os.environ["DATABASE_URL"], bench = postgres_scratch(url, "bench")
        label = f"PostgreSQL ({bench})"
    else:
        folder = ROOT / "var" / "bench"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "standings.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        os.environ["DATABASE_URL"] = f"sqlite:///{path}"
        label = f"SQLite ({path.relative_to(ROOT)})"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return label


def seed(teams: int, per_team: int):
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from competitions.models import Competition, Participation, Phase, PhaseMetric, Team
    from submissions.models import Score, Submission

    rng = random.Random(7)
    now = timezone.now()
    User = get_user_model()
    owner = User.objects.create(username="bench-organizer", is_staff=True)
    competition = Competition.objects.create(slug="bench", title="Bench", summary="", rules="", visibility="public")
    competition.organizers.add(owner)
    phase = Phase.objects.create(
        competition=competition,
        slug="main",
        name="Main",
        starts_at=now - timedelta(days=30),
        ends_at=now + timedelta(days=1),
    )
    PhaseMetric.objects.bulk_create(
        PhaseMetric(phase=phase, metric=metric, is_ranking=metric == "fid", direction="higher" if metric == "ssim" else "lower", order=i)
        for i, metric in enumerate(METRICS)
    )  # fmt: skip
    users = User.objects.bulk_create(User(username=f"bench-{i:05d}") for i in range(teams))
    team_rows = Team.objects.bulk_create(
        Team(competition=competition, name=f"Team {i:05d}", created_by=user, join_code=f"code{i:08d}")
        for i, user in enumerate(users)
    )
    Participation.objects.bulk_create(
        Participation(competition=competition, user=user, team=team, accepted_rules_at=now)
        for user, team in zip(users, team_rows, strict=True)
    )
    submissions = Submission.objects.bulk_create(
        (
            Submission(
                phase=phase, team=team, submitted_by=user, file="submissions/bench/checkpoint", original_name="g.onnx",
                format="onnx", sha256="0" * 64, size=1, state=Submission.State.SCORED,
            )
            for team, user in zip(team_rows, users, strict=True)
            for _ in range(per_team)
        ),
        batch_size=2000,
    )  # fmt: skip
    Submission.objects.update(created_at=now - timedelta(days=1))
    scores = (
        Score(
            submission=submission, split=split, metric=metric, value=rng.uniform(1, 100), interval_low=0.5,
            interval_high=101.0, calibrated=False, preprocessing_mode="clean", gan_core_version="bench",
        )
        for submission in submissions
        for split in ("public", "private")
        for metric in METRICS
    )  # fmt: skip
    Score.objects.bulk_create(scores, batch_size=5000)
    return phase, owner, users[-1], team_rows[-1]


def first_version_read(phase) -> int:
    """Every scored submission as objects with its scores, the best per team ranked in Python."""
    from submissions.models import Submission

    rows = {}
    for submission in (
        Submission.objects.filter(phase=phase, state="scored").select_related("team").prefetch_related("scores")
    ):
        by_metric = {score.metric: score.value for score in submission.scores.all() if score.split == "public"}
        key = (by_metric.get("fid", float("inf")), submission.created_at, submission.pk)
        if submission.team_id not in rows or key < rows[submission.team_id][0]:
            rows[submission.team_id] = (key, submission.team.name, by_metric)
    return len(sorted(rows.values()))


def timed(function, repeat: int) -> tuple[float, float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--teams", type=int, default=1000)
    parser.add_argument("--submissions", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    label = configure()

    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from submissions import leaderboards
    from submissions.models import Score, Standing, Submission
    from submissions.standings import standings_rebuild, standings_submission_changed

    start = time.perf_counter()
    phase, organizer, viewer, team = seed(args.teams, args.submissions)
    seeded = time.perf_counter() - start
    print(f"database: {label}")
    print(
        f"seeded {args.teams} teams x {args.submissions} submissions, {Score.objects.count()} scores in {seeded:.1f} s"
    )
    results = []

    def row(name: str, figures: tuple[float, float, object], queries: int | None = None, note: str = "") -> None:
        median, best, _ = figures
        results.append((name, median, best, queries, note))

    row("first version's read (whole board)", timed(lambda: first_version_read(phase), args.repeat))
    rebuild = timed(lambda: standings_rebuild(phase_id=phase.pk), args.repeat)
    row("standings_rebuild (whole phase)", rebuild, note=f"{rebuild[2]} rows; target <= 2 s")
    submission = Submission.objects.filter(team=team).first()

    def event():
        Score.objects.filter(submission=submission, split="public", metric="fid").update(value=random.uniform(0, 1))
        standings_submission_changed(submission_id=submission.pk)

    with CaptureQueriesContext(connection) as captured:
        event()
    row("one event (a team's rows recomputed)", timed(event, max(args.repeat, 5)), len(captured.captured_queries))
    pages = max(1, Standing.objects.filter(phase=phase, split="public").count() // 50)
    for name, page in (("first page", 1), ("deep page", pages)):
        for cached in (False, True):

            def read(page=page, cached=cached):
                if not cached:
                    cache.clear()
                return leaderboards.leaderboard_get(phase=phase, split="public", viewer=viewer, page=page)

            read()
            with CaptureQueriesContext(connection) as captured:
                board = read()
            figures = timed(read, max(args.repeat, 5))
            row(
                f"read: {name}{' (cached)' if cached else ''}",
                figures,
                len(captured.captured_queries),
                f"page {page}/{board['pages']}, my rank {board['mine']['rank']}",
            )
    print(f"\n{'step':44} {'median ms':>10} {'best ms':>9} {'queries':>8}  note")
    reference = results[0][1]
    for name, median, best, queries, note in results:
        ratio = (
            f"{reference / median:,.0f}x faster than the first version's read"
            if median and name != results[0][0]
            else ""
        )
        text = ", ".join(part for part in (note, ratio) if part)
        print(f"{name:44} {median * 1000:10.1f} {best * 1000:9.1f} {'' if queries is None else queries:>8}  {text}")


if __name__ == "__main__":
    main()
