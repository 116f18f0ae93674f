"""Participant pages of submissions: submit, my submissions, one submission.

Uploads, cancelling and final selection go through the REST API from the page
(one code path for browser, CLI and scripts); these views render.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from competitions.selectors import competition_get, is_organizer, participation_get
from gan_platform.errors import ApplicationError
from submissions.leaderboards import leaderboard_place
from submissions.models import Score
from submissions.selectors import (
    finals_selected,
    phase_resolve,
    queue_positions,
    quota_get,
    submission_get,
    submission_list,
    submission_preview_outputs,
    submission_queue_position,
    submission_scores_visible,
)

EFFICIENCY_METRICS = ("latency", "parameters")


def _competition_or_404(request: HttpRequest, slug: str):
    competition = competition_get(slug=slug, user=request.user)
    if competition is None:
        raise Http404(f"No competition {slug!r}.")
    return competition


def _phase_or_404(competition, slug: str | None):
    try:
        return phase_resolve(competition=competition, slug=slug)
    except ApplicationError as error:
        raise Http404(error.message) from error


@login_required
def submit(request: HttpRequest, slug: str) -> HttpResponse:
    competition = _competition_or_404(request, slug)
    participation = participation_get(competition=competition, user=request.user)
    if participation is None:
        return redirect("competitions:detail-section", slug=slug, section="rules")
    phase = _phase_or_404(competition, request.GET.get("phase"))
    return render(
        request,
        "submissions/submit.html",
        {
            "competition": competition,
            "phase": phase,
            "participation": participation,
            "quota": quota_get(phase=phase, team=participation.team),
            "upload_api": reverse("submissions_api:submissions", kwargs={"slug": slug}),
            "accepted_formats": competition.accepted_formats,
        },
    )


@login_required
def my_submissions(request: HttpRequest, slug: str) -> HttpResponse:
    competition = _competition_or_404(request, slug)
    participation = participation_get(competition=competition, user=request.user)
    phase = _phase_or_404(competition, request.GET.get("phase"))
    try:
        page = int(request.GET.get("page") or 1)
        if page < 1:
            raise ValueError
        listed = submission_list(competition=competition, phase=phase, user=request.user, page=page)
    except (ValueError, ApplicationError) as error:
        raise Http404("No such page of submissions.") from error
    submissions = listed.items
    positions = queue_positions(submissions)
    return render(
        request,
        "submissions/mine.html",
        {
            "competition": competition,
            "phase": phase,
            "phases": list(competition.phases.all()),
            "participation": participation,
            "quota": quota_get(phase=phase, team=participation.team) if participation else None,
            "rows": [(submission, positions.get(submission.pk)) for submission in submissions],
            "finals_used": finals_selected(competition=competition, phase=phase, user=request.user),
            "listed": listed,
        },
    )


def submission_detail(request: HttpRequest, submission_id: int) -> HttpResponse:
    submission = submission_get(submission_id=submission_id, user=request.user)
    if submission is None:
        raise Http404("No such submission.")
    phase = submission.phase
    competition = phase.competition
    participation = participation_get(competition=competition, user=request.user)
    metrics = {metric.metric: metric for metric in phase.metrics.all()}
    scores = submission_scores_visible(submission=submission, user=request.user)
    table: dict[str, dict[str, Score]] = {}
    efficiency = {}
    for score in scores:
        if score.metric in EFFICIENCY_METRICS:
            efficiency.setdefault(score.metric, score)
            continue
        table.setdefault(score.metric, {})[score.split] = score
    metric_rows = [
        (metrics.get(name), name, splits)
        for name, splits in sorted(
            table.items(), key=lambda item: (getattr(metrics.get(item[0]), "order", 99), item[0])
        )
    ]
    splits_shown = sorted({score.split for score in scores if score.metric not in EFFICIENCY_METRICS}, reverse=True)
    gallery = [
        (image, image.name.rsplit(".", 1)[0], exists)
        for image, _name, exists in submission_preview_outputs(submission=submission)
    ]
    organizer = is_organizer(competition=competition, user=request.user)
    return render(
        request,
        "submissions/detail.html",
        {
            "place": leaderboard_place(submission=submission, viewer=request.user),
            "board_url": reverse("competitions:leaderboard", kwargs={"slug": competition.slug}),
            "own": submission.team_id is not None
            and participation is not None
            and participation.team_id == submission.team_id,
            "submission": submission,
            "competition": competition,
            "phase": phase,
            "metric_rows": metric_rows,
            "splits_shown": splits_shown,
            "efficiency": efficiency,
            "gallery": gallery,
            "queue_position": submission_queue_position(submission),
            "organizer": organizer,
            "calibrated": all(score.calibrated for score in scores) and competition.calibrated,
        },
    )
