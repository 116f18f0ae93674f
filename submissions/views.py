"""Participant pages of submissions: submit, my submissions, one submission.

Uploads, cancelling and final selection go through the REST API from the page
(one code path for browser, CLI and scripts); these views render.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode

from competitions.selectors import is_organizer, participation_get
from competitions.shortcuts import competition_or_http404
from gan_platform.errors import ApplicationError, refused_as_page_not_found
from submissions import upload_bytes
from submissions.comparisons import comparison_candidates, comparison_get, comparison_ids_parse
from submissions.leaderboards import leaderboard_place
from submissions.models import Score, Submission
from submissions.selectors import (
    finals_selected,
    metric_display,
    phase_resolve,
    queue_positions,
    quota_get,
    submission_get,
    submission_list,
    submission_preview_outputs,
    submission_queue_position,
    submission_scores_visible,
)
from submissions.services import submission_precheck
from submissions.starter_kits import starter_kit_zip

EFFICIENCY_METRICS = ("latency", "parameters")


def _phase_or_404(competition, slug: str | None):
    with refused_as_page_not_found():
        return phase_resolve(competition=competition, slug=slug)


@login_required
def submit(request: HttpRequest, slug: str) -> HttpResponse:
    competition = competition_or_http404(request, slug)
    participation = participation_get(competition=competition, user=request.user)
    if participation is None:
        return redirect("competitions:detail-section", slug=slug, section="rules")
    phase = _phase_or_404(competition, request.GET.get("phase"))
    # Why no file can be accepted now (rules, phase window, quota, running limit): the upload's own checks,
    # so the page says it and disables the control instead of taking a useless upload.
    try:
        submission_precheck(phase=phase, user=request.user)
        blocked = None
    except ApplicationError as error:
        blocked = {"code": error.code, "message": error.message}
    response = render(
        request,
        "submissions/submit.html",
        {
            "competition": competition,
            "active": "submit",
            "phase": phase,
            "participation": participation,
            "quota": quota_get(phase=phase, team=participation.team),
            "upload_api": reverse("submissions_api:submissions", kwargs={"slug": slug}),
            "session_api": reverse("submissions_api:upload-sessions", kwargs={"slug": slug}),
            "accepted_formats": competition.accepted_formats,
            "blocked": blocked,
        },
    )
    if upload_bytes.uses_s3():  # the page PUTs parts straight to the bucket (its CORS rule: manage.py upload_cors)
        response._csp_update = {"connect-src": ["'self'", upload_bytes.s3_upload_origin()]}
    return response


def _score_columns(phase, user, organizer: bool) -> list:
    """The phase metrics a My submissions row shows: the ranking metric first, then the others in
    the display order; hidden metrics only for organizers."""
    display = metric_display(phase=phase)
    metrics = [metric for metric in phase.metrics.all() if metric.shown or organizer]
    return sorted(metrics, key=lambda metric: (not metric.is_ranking, display.position(metric.metric)))


def _public_scores(submission, *, user, organizer: bool) -> dict:
    return {
        score.metric: score
        for score in submission_scores_visible(submission=submission, user=user, organizer=organizer)
        if score.split == Score.Split.PUBLIC
    }


@login_required
def my_submissions(request: HttpRequest, slug: str) -> HttpResponse:
    competition = competition_or_http404(request, slug)
    participation = participation_get(competition=competition, user=request.user)
    if participation is None and not is_organizer(competition=competition, user=request.user):
        return redirect(f"{reverse('competitions:detail-section', args=[slug, 'rules'])}?next=mine#join")
    phase = _phase_or_404(competition, request.GET.get("phase"))
    state = request.GET.get("state") or ""
    order = request.GET.get("order") or "newest"
    try:
        page = int(request.GET.get("page") or 1)
        if page < 1:
            raise ValueError
    except ValueError as error:
        raise Http404("No such page of submissions.") from error
    with refused_as_page_not_found():
        listed = submission_list(
            competition=competition, phase=phase, user=request.user, page=page, state=state or None, order=order
        )
    submissions = listed.items
    positions = queue_positions(submissions)
    organizer = is_organizer(competition=competition, user=request.user)
    return render(
        request,
        "submissions/mine.html",
        {
            "competition": competition,
            "active": "mine",
            "phase": phase,
            "participation": participation,
            "quota": quota_get(phase=phase, team=participation.team) if participation else None,
            "columns": _score_columns(phase, request.user, organizer),
            "rows": [
                (
                    submission,
                    positions.get(submission.pk),
                    _public_scores(submission, user=request.user, organizer=organizer),
                )
                for submission in submissions
            ],
            "finals_used": finals_selected(competition=competition, phase=phase, user=request.user),
            "listed": listed,
            "pager_query": urlencode({"phase": phase.slug, "state": state, "order": order}),
            "state": state,
            "order": order,
            "states": Submission.State.choices,
            "orders": [("newest", "Newest first"), ("oldest", "Oldest first"), ("best", "Best score first")],
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


def starter_kit(request: HttpRequest, slug: str) -> StreamingHttpResponse:
    """The phase's starter kit (``?phase=``, default the open one): public data, constraints,
    commands and the baseline checkpoint, as a streamed zip. Anyone who sees the competition."""
    competition = competition_or_http404(request, slug)
    phase = _phase_or_404(competition, request.GET.get("phase"))
    response = StreamingHttpResponse(
        starter_kit_zip(competition=competition, phase=phase), content_type="application/zip"
    )
    response["Content-Disposition"] = f'attachment; filename="{competition.slug}-{phase.slug}-starter-kit.zip"'
    response["Cache-Control"] = "private, no-cache"
    return response


def compare(request: HttpRequest, slug: str) -> HttpResponse:
    """Two or more submissions side by side (``?ids=3,5``): scores, then outputs on the same public
    preview inputs; without ids, the picker of what the visitor may compare."""
    competition = competition_or_http404(request, slug)
    phase = _phase_or_404(competition, request.GET.get("phase"))
    comparison, problem = None, ""
    if request.GET.getlist("ids"):
        try:
            ids = comparison_ids_parse(request.GET.getlist("ids"))
            comparison = comparison_get(competition=competition, ids=ids, user=request.user)
        except ApplicationError as error:
            if error.status == 404:
                raise Http404(error.message) from error
            problem = error.message
        else:
            phase = comparison.submissions[0].phase
    return render(
        request,
        "submissions/compare.html",
        {
            "competition": competition,
            "active": "compare",
            "phase": phase,
            "comparison": comparison,
            "problem": problem,
            "candidates": comparison_candidates(competition=competition, phase=phase, user=request.user),
            "chosen": [submission.pk for submission in comparison.submissions] if comparison else [],
            "organizer": is_organizer(competition=competition, user=request.user),
            "participation": participation_get(competition=competition, user=request.user),
        },
        status=400 if problem else 200,
    )
