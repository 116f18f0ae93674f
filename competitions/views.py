"""Participant pages of competitions: the list, a competition's page, joining, the leaderboard.

Views validate input, call one selector or service, and render; live parts
(state, sorting, local times) are small progressive enhancements in
static/js/atelier.js. Nothing here imports torch or gan_core.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from competitions.models import Competition, ImageSet, Phase
from competitions.selectors import (
    competition_get,
    competition_list,
    is_organizer,
    joined_competition_ids,
    participation_get,
    phase_current_in,
    preview_images,
    public_images,
    team_members,
)
from competitions.services import participation_join
from gan_platform.errors import ApplicationError
from submissions.charts import best_score_history, history_svg
from submissions.selectors import leaderboard_get, split_visible

SECTIONS = ("overview", "rules", "data", "scoring", "timeline")


def _competition_or_404(request: HttpRequest, slug: str) -> Competition:
    competition = competition_get(slug=slug, user=request.user)
    if competition is None:
        raise Http404(f"No competition {slug!r}.")
    return competition


def _phase_from_query(request: HttpRequest, phases: list[Phase]) -> Phase | None:
    wanted = request.GET.get("phase")
    if wanted:
        for phase in phases:
            if phase.slug == wanted:
                return phase
        raise Http404(f"No phase {wanted!r}.")
    now = timezone.now()
    current = phase_current_in(phases, at=now)
    if current is not None:
        return current
    started = [phase for phase in phases if phase.starts_at <= now]
    return started[-1] if started else (phases[0] if phases else None)


def home(request: HttpRequest) -> HttpResponse:
    competitions = list(competition_list(user=request.user))
    joined = joined_competition_ids(user=request.user)
    now = timezone.now()
    cards = []
    for competition in competitions:
        phases = list(competition.phases.all())
        current = phase_current_in(phases, at=now)
        upcoming = next((phase for phase in phases if phase.starts_at > now), None)
        cards.append(
            {"competition": competition, "current": current, "upcoming": upcoming, "joined": competition.pk in joined}
        )
    return render(request, "competitions/home.html", {"cards": cards})


def competition_detail(request: HttpRequest, slug: str, section: str = "overview") -> HttpResponse:
    if section not in SECTIONS:
        raise Http404(f"No section {section!r}.")
    competition = _competition_or_404(request, slug)
    phases = list(competition.phases.all())
    participation = participation_get(competition=competition, user=request.user)
    context = {
        "competition": competition,
        "section": section,
        "sections": SECTIONS,
        "phases": phases,
        "current_phase": phase_current_in(phases),
        "participation": participation,
        "team_members": team_members(team_id=participation.team_id) if participation else [],
        "organizer": is_organizer(competition=competition, user=request.user),
        "now": timezone.now(),
    }
    if section == "data":
        images = list(public_images(competition=competition))
        context["style_images"] = [image for image in images if image.image_set.kind == ImageSet.Kind.STYLE]
        context["preview_images"] = list(preview_images(competition=competition))
        content_set = competition.image_sets.filter(kind=ImageSet.Kind.CONTENT).first()
        context["content_count"] = content_set.image_count if content_set else 0
    if section == "scoring":
        context["phase_metrics"] = [
            (phase, [metric for metric in phase.metrics.all() if metric.shown or context["organizer"]])
            for phase in phases
        ]
    return render(request, "competitions/detail.html", context)


@login_required
@require_POST
def competition_join(request: HttpRequest, slug: str) -> HttpResponse:
    competition = _competition_or_404(request, slug)
    try:
        participation_join(
            competition=competition, user=request.user, accept_rules=request.POST.get("accept_rules") == "on"
        )
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("competitions:detail-section", slug=slug, section="rules")
    messages.success(request, f"You joined {competition.title}. Your team: {request.user.get_username()}.")
    return redirect("submissions:submit", slug=slug)


def leaderboard(request: HttpRequest, slug: str) -> HttpResponse:
    competition = _competition_or_404(request, slug)
    phases = list(competition.phases.all())
    phase = _phase_from_query(request, phases)
    split = request.GET.get("split", "public")
    if split not in ("public", "private"):
        raise Http404("The split is public or private.")
    context = {
        "competition": competition,
        "phases": phases,
        "phase": phase,
        "split": split,
        "private_visible": phase is not None and split_visible(phase=phase, split="private", user=request.user),
        "board": None,
        "hidden_message": "",
        "chart_svg": "",
    }
    if phase is not None:
        try:
            board = leaderboard_get(phase=phase, split=split, viewer=request.user)
        except ApplicationError as error:
            if error.code != "private_leaderboard_hidden":
                raise
            context["hidden_message"] = error.message
        else:
            context["board"] = board
            ranking = next((m for m in board["metrics"] if m["metric"] == board["ranking_metric"]), None)
            context["ranking_label"] = ranking["label"] if ranking else board["ranking_metric"]
            if ranking is not None:
                history = best_score_history(phase=phase, split=split, viewer=request.user, metric=ranking["metric"])
                context["chart_svg"] = history_svg(history, label=ranking["label"], decimals=ranking["decimals"])
    context["csv_url"] = (
        reverse("submissions_api:leaderboard-csv", kwargs={"slug": slug}) + f"?phase={phase.slug}&split={split}"
        if phase is not None and context["board"] is not None
        else ""
    )
    return render(request, "competitions/leaderboard.html", context)
