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
from competitions.shortcuts import competition_or_http404
from gan_platform.errors import ApplicationError, refused_as_page_not_found
from submissions.charts import history_chart_svg
from submissions.leaderboards import (
    etag_matches,
    leaderboard_etag,
    leaderboard_history,
    leaderboard_leader,
    leaderboard_page,
    leaderboard_view,
    page_params,
)
from submissions.selectors import competition_activity, split_visible
from submissions.starter_kits import starter_kit_baseline

SECTIONS = ("overview", "rules", "data", "scoring", "timeline")


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
    competition = competition_or_http404(request, slug)
    phases = list(competition.phases.all())
    participation = participation_get(competition=competition, user=request.user)
    context = {
        "competition": competition,
        "section": section,
        "active": section,
        "sections": SECTIONS,
        "phases": phases,
        "current_phase": phase_current_in(phases),
        "participation": participation,
        "team_members": team_members(team_id=participation.team_id) if participation else [],
        "organizer": is_organizer(competition=competition, user=request.user),
        "now": timezone.now(),
    }
    if section == "overview":
        context.update(_overview(request, competition, phases))
    if section == "data":
        images = list(public_images(competition=competition))
        context["style_images"] = [image for image in images if image.image_set.kind == ImageSet.Kind.STYLE]
        context["preview_images"] = list(preview_images(competition=competition))
        content_set = competition.image_sets.filter(kind=ImageSet.Kind.CONTENT).first()
        context["content_count"] = content_set.image_count if content_set else 0
        context["kit_phase"] = _phase_from_query(request, phases) if phases else None
        context["kit_baseline"] = (
            starter_kit_baseline(phase=context["kit_phase"]) if context["kit_phase"] is not None else None
        )
    if section == "scoring":
        context["phase_metrics"] = [
            (phase, [metric for metric in phase.metrics.all() if metric.shown or context["organizer"]])
            for phase in phases
        ]
    return render(request, "competitions/detail.html", context)


def _overview(request: HttpRequest, competition: Competition, phases: list[Phase]) -> dict:
    """The overview's figures and the public board's leader (when the visitor may see the board)."""
    phase = _phase_from_query(request, phases) if phases else None
    leader = None
    ranking = None
    if phase is not None:
        try:
            view = leaderboard_view(phase=phase, split="public", viewer=request.user)
        except ApplicationError:
            view = None
        if view is not None:
            leader = leaderboard_leader(view)
            ranking = view.ranking
    return {
        "stats": competition_activity(competition=competition, phase=phase),
        "stats_phase": phase,
        "leader": leader,
        "leader_metric": ranking,
        "leader_score": (leader or {}).get("scores", {}).get(ranking.metric) if ranking is not None else None,
    }


@login_required
@require_POST
def competition_join(request: HttpRequest, slug: str) -> HttpResponse:
    competition = competition_or_http404(request, slug)
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
    """A page of the leaderboard (``?page=``), a link to the page holding the viewer's row, the
    top teams' best-score history, the CSV link. Answers 304 to ``If-None-Match`` while the board
    and the viewer's view of it are unchanged."""
    competition = competition_or_http404(request, slug)
    phases = list(competition.phases.all())
    phase = _phase_from_query(request, phases)
    split = request.GET.get("split", "public")
    if split not in ("public", "private"):
        raise Http404("The split is public or private.")
    with refused_as_page_not_found():
        page, page_size = page_params(request.GET.get("page"), request.GET.get("page_size"))
    context = {
        "competition": competition,
        "active": "leaderboard",
        "phases": phases,
        "phase": phase,
        "split": split,
        "private_visible": phase is not None and split_visible(phase=phase, split="private", user=request.user),
        "board": None,
        "hidden_message": "",
        "chart_svg": "",
    }
    etag = None
    current = False
    if phase is not None:
        try:
            view = leaderboard_view(phase=phase, split=split, viewer=request.user)
        except ApplicationError as error:
            if error.code != "private_leaderboard_hidden":
                raise
            context["hidden_message"] = error.message
        else:
            context["joined"] = view.team_id is not None
            context["organizer"] = view.audience == "organizer"
            user_key = request.user.pk if request.user.is_authenticated else "anonymous"
            variant = f"html:{user_key}:{page}:{page_size}:{len(phases)}:{context['private_visible']}"
            etag = leaderboard_etag(view, variant=variant)
            # not while a message waits to be shown: the cached page would not show it
            if etag_matches(request.headers.get("If-None-Match", ""), etag) and not len(messages.get_messages(request)):
                response = HttpResponse(status=304)
                response["ETag"] = etag
                return response
            with refused_as_page_not_found():
                board = leaderboard_page(view, page=page, page_size=page_size)
            etag = leaderboard_etag(view, version=board["version"], variant=variant)
            current = board["version"] == view.version
            context["board"] = board
            context["first_rank_shown"] = (page - 1) * page_size + 1
            ranking = next((m for m in board["metrics"] if m["metric"] == board["ranking_metric"]), None)
            context["ranking_label"] = ranking["label"] if ranking else board["ranking_metric"]
            mine = board["mine"]
            context["mine_elsewhere"] = mine is not None and mine["page"] != page
            if ranking is not None:
                context["chart_svg"] = history_chart_svg(
                    leaderboard_history(view), label=ranking["label"], decimals=ranking["decimals"]
                )
    if "joined" not in context and request.user.is_authenticated:
        context["joined"] = participation_get(competition=competition, user=request.user) is not None
    context["csv_url"] = (
        reverse("submissions_api:leaderboard-csv", kwargs={"slug": slug}) + f"?phase={phase.slug}&split={split}"
        if phase is not None and context["board"] is not None
        else ""
    )
    response = render(request, "competitions/leaderboard.html", context)
    if etag is not None:
        response["ETag"] = etag
        # an anonymous reader's public board is the same for every anonymous reader: shareable
        # for a second (gan_platform.microcache keeps it that long in the process too), unless
        # its rows are the previous version's while the current one's are built
        shared = current and not request.user.is_authenticated and split == "public"
        response["Cache-Control"] = "public, max-age=1" if shared else "private, no-cache"
        response["Vary"] = "Cookie"
    return response
