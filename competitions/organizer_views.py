"""Organizer pages beside the admin: create and edit a competition, its phases and metrics,
upload its image sets, set the split, and a dashboard with the actions an organizer needs.

Every view checks that the requester organises the competition; every write goes
through a service of competitions or submissions.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, F, Max, Min, QuerySet, Value
from django.db.models.functions import Floor, Least
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from competitions.bundles import bundle_export_bytes, bundle_import
from competitions.models import Competition, ImageSet, Phase, PhaseMetric
from competitions.selectors import (
    RANDOM_WEIGHTS_MEANING,
    feature_weights_availability,
    public_images,
)
from competitions.services import (
    COMPETITION_FIELDS,
    PHASE_FIELDS,
    competition_create,
    competition_update,
    content_split_apply,
    image_set_replace_from_zip,
    phase_create,
    phase_metrics_set,
    phase_private_reveal,
    phase_update,
)
from competitions.shortcuts import organized_or_http404
from gan_platform.errors import ApplicationError
from submissions.models import Score, Submission
from submissions.services import submission_baseline_set, submission_cancel, submission_rerun

#: What the organizer pages edit: every field the services accept (the slug only when creating).
COMPETITION_FORM_FIELDS = ["slug", *COMPETITION_FIELDS]
PHASE_FORM_FIELDS = ["slug", *(name for name in PHASE_FIELDS if name != "order")]
FORMATS = [("safetensors", "safetensors (reference architectures)"), ("onnx", "ONNX (free architectures)")]
ARCHITECTURES = [("resnet", "CycleGAN ResNet"), ("transformer_net", "TransformerNet"), ("unet_small", "Small U-Net")]


class CompetitionForm(forms.ModelForm):
    accepted_formats = forms.MultipleChoiceField(
        choices=FORMATS, widget=forms.CheckboxSelectMultiple, initial=["safetensors"]
    )
    accepted_architectures = forms.MultipleChoiceField(
        choices=ARCHITECTURES,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="For safetensors; none ticked means all.",
    )

    class Meta:
        model = Competition
        fields = COMPETITION_FORM_FIELDS
        widgets = {"description": forms.Textarea(attrs={"rows": 6}), "rules": forms.Textarea(attrs={"rows": 6})}
        help_texts = {
            "feature_weights": (
                "Pretrained: figures comparable with published FID; every scoring worker needs the weights "
                "(python -m gan_core weights fetch, checked by python -m gan_core weights status on the worker): "
                "a run on a worker without them goes back to the queue and, after its retries, fails as the "
                "platform's fault, never counted against a quota. Random-initialised: for demos and tests only; "
                "its figures rank this competition's submissions among themselves and every page marks them "
                "Not calibrated."
            )
        }


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%dT%H:%M", **kwargs)


BYTES_PER_MB = 1_000_000


class PhaseForm(forms.ModelForm):
    upload_size_limit = forms.DecimalField(
        label="Upload size limit (MB)",
        min_value=Decimal("0.001"),
        decimal_places=6,
        help_text="Megabytes of 1,000,000 bytes (200 MiB is 209.7152 MB).",
    )

    class Meta:
        model = Phase
        fields = PHASE_FORM_FIELDS
        widgets = {"starts_at": DateTimeLocalInput(), "ends_at": DateTimeLocalInput()}
        help_texts = {"starts_at": "UTC.", "ends_at": "UTC."}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        size = self.initial.get("upload_size_limit") or Phase._meta.get_field("upload_size_limit").default
        self.initial["upload_size_limit"] = format((Decimal(int(size)) / BYTES_PER_MB).normalize(), "f")
        metrics = {metric.metric: metric for metric in self.instance.metrics.all()} if self.instance.pk else {}
        ranking = next((name for name, metric in metrics.items() if metric.is_ranking), "fid")
        self.fields["ranking_metric"] = forms.ChoiceField(
            choices=PhaseMetric.Metric.choices, initial=ranking, help_text="The metric the leaderboard ranks by."
        )
        self.metric_names = []
        for value, label in PhaseMetric.Metric.choices:
            existing = metrics.get(value)
            default_on = value in ("fid", "lpips", "ssim") if not metrics else existing is not None
            self.fields[f"metric_{value}"] = forms.BooleanField(required=False, initial=default_on, label=f"{label}")
            self.fields[f"metric_{value}_shown"] = forms.BooleanField(
                required=False, initial=existing.shown if existing else True, label=f"{label}: shown to participants"
            )
            self.metric_names.append(value)

    def clean_upload_size_limit(self) -> int:
        """Megabytes as typed, bytes as stored."""
        return int(self.cleaned_data["upload_size_limit"] * BYTES_PER_MB)

    def metric_rows(self):
        return [(self[f"metric_{name}"], self[f"metric_{name}_shown"]) for name in self.metric_names]

    def metrics_config(self) -> list[dict[str, Any]]:
        ranking = self.cleaned_data["ranking_metric"]
        return [
            {
                "metric": name,
                "shown": self.cleaned_data[f"metric_{name}_shown"] or name == ranking,
                "ranking": name == ranking,
            }
            for name in self.metric_names
            if self.cleaned_data[f"metric_{name}"] or name == ranking
        ]

    def phase_fields(self) -> dict[str, Any]:
        return {name: self.cleaned_data[name] for name in PHASE_FORM_FIELDS}


class DuplicateForm(forms.Form):
    slug = forms.SlugField(max_length=64, help_text="The new edition's address: /c/SLUG/.")


class SplitForm(forms.Form):
    seed = forms.IntegerField(help_text="Same seed and images: same split.")
    public_fraction = forms.FloatField(min_value=0, max_value=1, help_text="Share of images in the public split.")
    previews = forms.IntegerField(min_value=0, help_text="Public images shown to everyone with every output.")


def _apply_errors(form: forms.Form, error: ApplicationError) -> None:
    fields = (error.extra or {}).get("fields") or {}
    placed = False
    for name, problems in fields.items():
        if name in form.fields:
            for problem in problems if isinstance(problems, list) else [problems]:
                form.add_error(name, str(problem))
            placed = True
    if not placed:
        form.add_error(None, error.message)


@login_required
def competition_new(request: HttpRequest) -> HttpResponse:
    if not request.user.is_staff:
        raise Http404("Only organizers (staff accounts) create competitions.")
    weights = feature_weights_availability()
    default_weights = (
        Competition.FeatureWeights.PRETRAINED if weights.pretrained_default else Competition.FeatureWeights.RANDOM
    )
    form = CompetitionForm(request.POST or None, initial={"feature_weights": default_weights})
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        try:
            competition = competition_create(actor=request.user, **data)
        except ApplicationError as error:
            _apply_errors(form, error)
        else:
            messages.success(
                request, f"{competition.title} is created as a {competition.visibility}. Add a phase next."
            )
            return redirect("competitions:organizer-phase-new", slug=competition.slug)
    return render(
        request,
        "competitions/organizer/competition_form.html",
        {"form": form, "competition": None, "weights": weights, "random_weights_meaning": RANDOM_WEIGHTS_MEANING},
    )


@login_required
def competition_edit(request: HttpRequest, slug: str) -> HttpResponse:
    competition = organized_or_http404(request, slug)
    form = CompetitionForm(request.POST or None, instance=Competition.objects.get(pk=competition.pk))
    if request.method == "POST" and form.is_valid():
        data = {name: form.cleaned_data[name] for name in form.cleaned_data if name != "slug"}
        try:
            competition_update(competition=competition, actor=request.user, **data)
        except ApplicationError as error:
            _apply_errors(form, error)
        else:
            messages.success(request, "Saved.")
            return redirect("competitions:organizer-dashboard", slug=slug)
    return render(request, "competitions/organizer/competition_form.html", {"form": form, "competition": competition})


@login_required
def phase_edit(request: HttpRequest, slug: str, phase_slug: str | None = None) -> HttpResponse:
    competition = organized_or_http404(request, slug)
    phase = None
    if phase_slug is not None:
        phase = competition.phases.filter(slug=phase_slug).first()
        if phase is None:
            raise Http404(f"No phase {phase_slug!r}.")
    initial = {}
    if phase is None:
        start = timezone.now().replace(second=0, microsecond=0)
        initial = {
            "starts_at": start,
            "ends_at": start + timezone.timedelta(days=30),
            "slug": "main",
            "name": "Main phase",
        }
    form = PhaseForm(request.POST or None, instance=phase or Phase(competition=competition), initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            if phase is None:
                fields = form.phase_fields()
                phase = phase_create(
                    competition=competition,
                    actor=request.user,
                    slug=fields.pop("slug"),
                    name=fields.pop("name"),
                    starts_at=fields.pop("starts_at"),
                    ends_at=fields.pop("ends_at"),
                    metrics=form.metrics_config(),
                    **fields,
                )
            else:
                fields = form.phase_fields()
                fields.pop("slug")
                phase_update(phase=phase, actor=request.user, **fields)
                phase_metrics_set(phase=phase, actor=request.user, metrics=form.metrics_config())
        except ApplicationError as error:
            _apply_errors(form, error)
        else:
            messages.success(request, f"Phase {phase.name} saved.")
            return redirect("competitions:organizer-dashboard", slug=slug)
    return render(
        request, "competitions/organizer/phase_form.html", {"form": form, "competition": competition, "phase": phase}
    )


@login_required
def data_manage(request: HttpRequest, slug: str) -> HttpResponse:
    competition = organized_or_http404(request, slug)
    sets = {image_set.kind: image_set for image_set in competition.image_sets.all()}
    content = sets.get(ImageSet.Kind.CONTENT)
    split_form = SplitForm(
        request.POST if request.method == "POST" and "split" in request.POST else None,
        initial={
            "seed": content.split_seed if content else 0,
            "public_fraction": content.public_fraction if content else 0.5,
            "previews": content.images.filter(is_preview=True).count() if content else 0,
        },
    )
    if request.method == "POST" and "split" in request.POST:
        if content is None:
            messages.error(request, "Upload the content set before you split it.")
        elif split_form.is_valid():
            try:
                content_split_apply(image_set=content, actor=request.user, **split_form.cleaned_data)
            except ApplicationError as error:
                _apply_errors(split_form, error)
            else:
                messages.success(request, "The content set is split again.")
                return redirect("competitions:organizer-data", slug=slug)
    counts = {}
    if content is not None:
        counts = dict(content.images.values_list("split").annotate(n=Count("id")))
    return render(
        request,
        "competitions/organizer/data.html",
        {
            "competition": competition,
            "style": sets.get(ImageSet.Kind.STYLE),
            "content": content,
            "split_counts": counts,
            "split_form": split_form,
            "public_images": list(public_images(competition=competition)),
        },
    )


@login_required
@require_POST
def data_upload(request: HttpRequest, slug: str, kind: str) -> HttpResponse:
    """Replace the style or content set from an uploaded zip (answers JSON for the page's upload script)."""
    competition = organized_or_http404(request, slug)
    if kind not in ImageSet.Kind.values:
        raise Http404(f"No image set kind {kind!r}.")
    archive = request.FILES.get("file")
    if archive is None:
        return JsonResponse(
            {"error": {"code": "validation_error", "message": "Choose a zip file of images."}}, status=400
        )
    try:
        image_set = image_set_replace_from_zip(competition=competition, actor=request.user, kind=kind, source=archive)
    except ApplicationError as error:
        return JsonResponse(
            {"error": {"code": error.code, "message": error.message, "fields": (error.extra or {}).get("fields", {})}},
            status=error.status,
        )
    messages.success(request, f"The {kind} set now has {image_set.image_count} images.")
    return JsonResponse(
        {"id": image_set.pk, "image_count": image_set.image_count, "content_hash": image_set.content_hash}
    )


@dataclass(frozen=True)
class Histogram:
    low: float
    high: float
    total: int
    counts: dict[int, int]  # bin index -> how many values
    bins: int


def score_histogram(scores: QuerySet[Score], *, bins: int = 12) -> Histogram | None:
    """The finite values of ``scores`` in ``bins`` equal bins, counted by the database (two
    queries, however many scores); None with fewer than two values."""
    finite = scores.filter(value__gt=-math.inf, value__lt=math.inf)
    summary = finite.aggregate(low=Min("value"), high=Max("value"), total=Count("id"))
    if summary["total"] < 2:
        return None
    low, high = summary["low"], summary["high"]
    width = (high - low) or 1.0
    index = Least(Floor((F("value") - Value(low)) / Value(width) * Value(float(bins))), Value(float(bins - 1)))
    rows = finite.order_by().annotate(bin=index).values("bin").annotate(count=Count("id")).values_list("bin", "count")
    return Histogram(low=low, high=high, total=summary["total"], counts={int(b): c for b, c in rows}, bins=bins)


def _score_histogram_svg(histogram: Histogram | None, *, label: str) -> str:
    if histogram is None:
        return ""
    low, bins, counts = histogram.low, histogram.bins, histogram.counts
    span = (histogram.high - low) or 1.0
    width, height, pad = 480, 160, 24
    bar = (width - 2 * pad) / bins
    top = max(counts.values())
    bars = "".join(
        f'<rect x="{pad + i * bar:.1f}" y="{height - pad - counts.get(i, 0) / top * (height - 2 * pad):.1f}" '
        f'width="{bar - 2:.1f}" height="{counts.get(i, 0) / top * (height - 2 * pad):.1f}">'
        f"<title>{counts.get(i, 0)} between {low + i * span / bins:.3f} and {low + (i + 1) * span / bins:.3f}"
        f"</title></rect>"
        for i in range(bins)
    )
    return (
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="Distribution of {label}: '
        f'{histogram.total} submissions from {low:.3f} to {histogram.high:.3f}" xmlns="http://www.w3.org/2000/svg">'
        f'{bars}<text x="{pad}" y="{height - 6}" class="tick">{low:.3f}</text>'
        f'<text x="{width - pad}" y="{height - 6}" text-anchor="end" class="tick">{histogram.high:.3f}</text></svg>'
    )


@login_required
def dashboard(request: HttpRequest, slug: str) -> HttpResponse:
    competition = organized_or_http404(request, slug)
    phases = list(competition.phases.all())
    submissions = Submission.objects.filter(phase__competition=competition)
    running = list(
        submissions.filter(state__in=Submission.RUNNING_STATES).select_related("team", "phase").order_by("started_at")
    )
    failures = list(
        submissions.filter(state=Submission.State.FAILED)
        .values("failure_code")
        .annotate(count=Count("id"))
        .order_by("-count", "failure_code")
    )
    recent = list(submissions.select_related("team", "phase", "submitted_by").order_by("-created_at")[:50])
    charts = []
    for phase in phases:
        ranking = next((metric for metric in phase.metrics.all() if metric.is_ranking), None)
        if ranking is None:
            continue
        histogram = score_histogram(
            Score.objects.filter(submission__phase=phase, split=Score.Split.PUBLIC, metric=ranking.metric)
        )
        charts.append((phase, ranking, _score_histogram_svg(histogram, label=ranking.get_metric_display())))
    return render(
        request,
        "competitions/organizer/dashboard.html",
        {
            "competition": competition,
            "phases": phases,
            "queue_length": submissions.filter(state=Submission.State.QUEUED).count(),
            "running": running,
            "failures": failures,
            "recent": recent,
            "charts": charts,
            "state_counts": dict(submissions.values_list("state").annotate(n=Count("id"))),
            "organizer": True,
        },
    )


@login_required
@require_POST
def submission_action(request: HttpRequest, slug: str, submission_id: int, action: str) -> HttpResponse:
    competition = organized_or_http404(request, slug)
    submission = Submission.objects.filter(pk=submission_id, phase__competition=competition).first()
    if submission is None:
        raise Http404("No such submission in this competition.")
    try:
        if action == "rerun":
            submission_rerun(submission=submission, user=request.user)
            messages.success(request, f"Submission {submission_id} is queued again.")
        elif action == "cancel":
            submission_cancel(submission=submission, user=request.user)
            messages.success(request, f"Submission {submission_id} is cancelled.")
        elif action in ("baseline", "unbaseline"):
            submission_baseline_set(submission=submission, user=request.user, is_baseline=action == "baseline")
            messages.success(
                request, f"Submission {submission_id} is {'now' if action == 'baseline' else 'no longer'} a baseline."
            )
        else:
            raise Http404(f"No action {action!r}.")
    except ApplicationError as error:
        messages.error(request, error.message)
    return redirect(reverse("competitions:organizer-dashboard", kwargs={"slug": slug}))


@login_required
@require_POST
def phase_reveal(request: HttpRequest, slug: str, phase_slug: str) -> HttpResponse:
    competition = organized_or_http404(request, slug)
    phase = competition.phases.filter(slug=phase_slug).first()
    if phase is None:
        raise Http404(f"No phase {phase_slug!r}.")
    try:
        phase_private_reveal(phase=phase, actor=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"The private leaderboard of {phase.name} is now visible to everyone.")
    return redirect("competitions:organizer-dashboard", slug=slug)


@login_required
def competition_duplicate(request: HttpRequest, slug: str) -> HttpResponse:
    """Start a new edition: the competition's bundle (settings, phases, metrics, images, split)
    imported under a new slug, as a draft that only its organizers see until they open it."""
    competition = organized_or_http404(request, slug)
    form = DuplicateForm(request.POST or None, initial={"slug": f"{competition.slug}-2"})
    if (
        request.method == "POST"
        and form.is_valid()
        and Competition.objects.filter(slug=form.cleaned_data["slug"]).exists()
    ):
        form.add_error("slug", f"{form.cleaned_data['slug']!r} is taken by another competition; choose another slug.")
    if request.method == "POST" and form.is_valid():
        try:
            copy = bundle_import(
                io.BytesIO(bundle_export_bytes(competition)), organizer=request.user, slug=form.cleaned_data["slug"]
            )
        except ApplicationError as error:
            form.add_error("slug", error.message)
        else:
            messages.success(
                request,
                f"{copy.title} is copied to /c/{copy.slug}/ as a draft: check its phase dates, then publish it.",
            )
            return redirect("competitions:organizer-dashboard", slug=copy.slug)
    return render(request, "competitions/organizer/duplicate.html", {"competition": competition, "form": form})
