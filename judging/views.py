"""Pages of human judging: the vote page for voters, the judging page of the organizers (rules,
ratings, agreement with the automatic metrics, the votes' export)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from competitions.models import Competition, Phase
from competitions.selectors import is_organizer
from competitions.shortcuts import competition_or_http404, organized_or_http404
from gan_core.metrics.registry import METRICS
from gan_platform.errors import ApplicationError, refused_as_page_not_found
from judging.models import JudgingConfig
from judging.selectors import EXPORT_FIELDS, judging_config_get, ratings_table, vote_rows, voter_check
from judging.services import judging_config_set
from submissions.selectors import phase_resolve


def _phase(request: HttpRequest, competition: Competition) -> Phase:
    with refused_as_page_not_found():
        return phase_resolve(competition=competition, slug=request.GET.get("phase"))


@login_required
def vote(request: HttpRequest, slug: str) -> HttpResponse:
    competition = competition_or_http404(request, slug)
    phase = _phase(request, competition)
    refusal, status = None, 200
    try:
        voter_check(config=judging_config_get(phase=phase), user=request.user)
    except ApplicationError as error:
        refusal, status = error.message, error.status
    return render(
        request,
        "judging/vote.html",
        {
            "competition": competition,
            "phase": phase,
            "refusal": refusal,
            "active": "vote",
            "organizer": is_organizer(competition=competition, user=request.user),
        },
        status=status,
    )


JUDGING_FIELDS = [
    "enabled",
    "voters",
    "votes_per_hour",
    "votes_per_day",
    "gold_every",
    "gold_policy",
    "gold_min_answers",
    "gold_min_accuracy",
]


class JudgingConfigForm(forms.ModelForm):
    raters = forms.ModelMultipleChoiceField(
        queryset=get_user_model().objects.none(),
        required=False,
        widget=forms.SelectMultiple,
        help_text="The invited rater group: used when voters are 'An invited rater group'.",
    )
    rater_usernames = forms.CharField(
        required=False, help_text="Add raters by user name, separated by commas or spaces."
    )

    class Meta:
        model = JudgingConfig
        fields = [*JUDGING_FIELDS, "raters"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["raters"].queryset = (
            self.instance.raters.all() if self.instance.pk else get_user_model().objects.none()
        )

    def clean_rater_usernames(self):
        names = [name for name in self.cleaned_data["rater_usernames"].replace(",", " ").split() if name]
        users = list(get_user_model().objects.filter(username__in=names))
        missing = sorted(set(names) - {user.get_username() for user in users})
        if missing:
            raise forms.ValidationError(f"No user named {', '.join(missing)}; check the spelling.")
        return users

    def clean_gold_min_accuracy(self):
        value = self.cleaned_data["gold_min_accuracy"]
        if not 0 <= value <= 1:
            raise forms.ValidationError("A share from 0 to 1 (0.7: 70 % right).")
        return value


@login_required
def organizer_judging(request: HttpRequest, slug: str) -> HttpResponse:
    competition = organized_or_http404(request, slug)
    phase = _phase(request, competition)
    config = judging_config_get(phase=phase) or JudgingConfig(phase=phase)
    form = JudgingConfigForm(request.POST or None, instance=config)
    if request.method == "POST" and form.is_valid():
        fields = {name: form.cleaned_data[name] for name in JUDGING_FIELDS}
        judging_config_set(
            phase=phase,
            actor=request.user,
            fields=fields,
            raters=[*form.cleaned_data["raters"], *form.cleaned_data["rater_usernames"]],
        )
        messages.success(request, f"Judging of {phase.name} saved.")
        return redirect(f"{reverse('judging:organizer', args=[slug])}?phase={phase.slug}")
    agreement = [
        {"metric": METRICS[name].label if name in METRICS else name, **values}
        for name, values in (config.agreement or {}).items()
    ]
    return render(
        request,
        "judging/organizer.html",
        {
            "competition": competition,
            "phase": phase,
            "phases": list(competition.phases.all()),
            "config": config,
            "form": form,
            "ratings": ratings_table(phase=phase),
            "agreement": agreement,
            "votes": phase.votes.count(),
        },
    )


@login_required
def votes_export(request: HttpRequest, slug: str, fmt: str) -> HttpResponse:
    """Every vote of a phase, CSV or JSON, the voters pseudonymised (organizers only)."""
    competition = organized_or_http404(request, slug)
    phase = _phase(request, competition)
    name = f"{competition.slug}-{phase.slug}-votes.{fmt}"
    if fmt == "csv":

        def lines() -> Iterator[str]:
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, fieldnames=EXPORT_FIELDS)
            writer.writeheader()
            for row in vote_rows(phase=phase):
                writer.writerow(row)
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
            yield buffer.getvalue()

        response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    elif fmt == "json":

        def items() -> Iterator[str]:
            yield "["
            for index, row in enumerate(vote_rows(phase=phase)):
                yield ("," if index else "") + json.dumps(row)
            yield "]\n"

        response = StreamingHttpResponse(items(), content_type="application/json")
    else:
        raise Http404("Export as csv or json.")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "private, no-store"
    return response
