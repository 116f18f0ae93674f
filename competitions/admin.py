"""Admin of the competitions app: competitions (with phases and metrics inline), image sets, phases
(with the "reveal private leaderboard" action), teams and participations, and the scoring workers'
feature-weights reports (read-only: the workers write them).

Image sets are replaced through ``manage.py import_competition`` or the services, never edited
row by row here: their counts, hash and split are read-only.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from competitions import services
from competitions.models import (
    Competition,
    DatasetImage,
    FeatureWeightsReport,
    ImageSet,
    Participation,
    Phase,
    PhaseMetric,
    Team,
)
from gan_platform.errors import ApplicationError


class PhaseWindowFormSet(forms.BaseInlineFormSet):
    """Phases of one competition may not overlap: checked across the rows of the form."""

    def clean(self) -> None:
        super().clean()
        windows = []
        for form in self.forms:
            data = getattr(form, "cleaned_data", None) or {}
            if not data or data.get("DELETE") or not data.get("starts_at") or not data.get("ends_at"):
                continue
            if data["ends_at"] <= data["starts_at"]:
                raise ValidationError(f"Phase {data.get('slug')!r}: ends_at must be after starts_at.")
            for slug, starts_at, ends_at in windows:
                if data["starts_at"] < ends_at and starts_at < data["ends_at"]:
                    raise ValidationError(f"Phases {slug!r} and {data.get('slug')!r} overlap; phases may not overlap.")
            windows.append((data.get("slug"), data["starts_at"], data["ends_at"]))


class PhaseInline(admin.TabularInline):
    model = Phase
    formset = PhaseWindowFormSet
    extra = 0
    fields = ("order", "slug", "name", "starts_at", "ends_at", "daily_quota", "total_quota", "max_running")
    show_change_link = True


class PhaseMetricInline(admin.TabularInline):
    model = PhaseMetric
    extra = 0
    fields = ("order", "metric", "shown", "is_ranking", "direction", "decimals")


class CompetitionAdminForm(forms.ModelForm):
    """Runs the services' competition rules so that a mistake shows on the form, not as an error page."""

    class Meta:
        model = Competition
        fields = ("slug", *services.COMPETITION_FIELDS, "organizers")

    def clean(self) -> dict:
        cleaned = super().clean()
        names = ("slug", *services.COMPETITION_FIELDS)
        candidate = Competition(**{name: cleaned[name] for name in names if name in cleaned})
        try:
            services.competition_check(candidate)
        except ApplicationError as error:
            fields = error.extra.get("fields") or {}
            field, field_messages = next(iter(fields.items()), (None, [error.message]))
            raise ValidationError({field: field_messages} if field in self.fields else error.message) from error
        return cleaned


@admin.register(Competition)
class CompetitionAdmin(admin.ModelAdmin):
    form = CompetitionAdminForm
    list_display = ("slug", "title", "visibility", "feature_weights", "image_size", "phase_count", "created_at")
    list_filter = ("visibility", "feature_weights", "preprocessing_mode")
    search_fields = ("slug", "title", "summary")
    filter_horizontal = ("organizers",)
    readonly_fields = ("created_at", "updated_at")
    inlines = (PhaseInline,)
    actions = ("make_public", "make_draft")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Competition]:
        return super().get_queryset(request).annotate(phase_total=Count("phases"))

    @admin.display(description="phases", ordering="phase_total")
    def phase_count(self, competition: Competition) -> int:
        return competition.phase_total

    def save_model(self, request: HttpRequest, competition: Competition, form, change: bool) -> None:
        fields = {name: form.cleaned_data[name] for name in services.COMPETITION_FIELDS if name in form.cleaned_data}
        if change:
            services.competition_update(competition=competition, actor=request.user, **fields)
            return
        title = fields.pop("title")
        created = services.competition_create(actor=request.user, slug=form.cleaned_data["slug"], title=title, **fields)
        competition.pk = created.pk
        competition.created_at, competition.updated_at = created.created_at, created.updated_at
        competition._state.adding, competition._state.db = False, created._state.db

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        if not change:
            form.instance.organizers.add(request.user)  # the creator stays an organizer

    @admin.action(description="Make the selected competitions public (listed)")
    def make_public(self, request: HttpRequest, queryset: QuerySet[Competition]) -> None:
        self._set_visibility(request, queryset, Competition.Visibility.PUBLIC)

    @admin.action(description="Make the selected competitions drafts (organizers only)")
    def make_draft(self, request: HttpRequest, queryset: QuerySet[Competition]) -> None:
        self._set_visibility(request, queryset, Competition.Visibility.DRAFT)

    def _set_visibility(self, request: HttpRequest, queryset: QuerySet[Competition], visibility: str) -> None:
        changed = 0
        for competition in queryset:
            try:
                services.competition_update(competition=competition, actor=request.user, visibility=visibility)
                changed += 1
            except ApplicationError as error:
                self.message_user(request, f"{competition.slug}: {error.message}", level=messages.ERROR)
        self.message_user(request, f"{changed} competition(s) now {visibility}.")


class PhaseAdminForm(forms.ModelForm):
    """Runs the services' window rule (no overlap with another phase of the competition)."""

    class Meta:
        model = Phase
        fields = ("competition", "slug", *services.PHASE_FIELDS)

    def clean(self) -> dict:
        cleaned = super().clean()
        if cleaned.get("competition") and cleaned.get("starts_at") and cleaned.get("ends_at"):
            candidate = Phase(
                pk=self.instance.pk,
                competition=cleaned["competition"],
                starts_at=cleaned["starts_at"],
                ends_at=cleaned["ends_at"],
            )
            try:
                services.phase_check(candidate)
            except ApplicationError as error:
                field, field_messages = next(iter((error.extra.get("fields") or {}).items()))
                raise ValidationError({field: field_messages}) from error
        return cleaned


@admin.register(Phase)
class PhaseAdmin(admin.ModelAdmin):
    form = PhaseAdminForm
    list_display = ("__str__", "name", "starts_at", "ends_at", "daily_quota", "private_revealed_at")
    list_filter = ("competition", "reveal_private_at_end")
    search_fields = ("slug", "name", "competition__slug")
    readonly_fields = ("private_revealed_at",)
    list_select_related = ("competition",)
    inlines = (PhaseMetricInline,)
    actions = ("reveal_private_leaderboard",)

    @admin.action(description="Reveal the private leaderboard of the selected phases")
    def reveal_private_leaderboard(self, request: HttpRequest, queryset: QuerySet[Phase]) -> None:
        revealed = 0
        for phase in queryset.select_related("competition"):
            try:
                services.phase_private_reveal(phase=phase, actor=request.user)
                revealed += 1
            except ApplicationError as error:
                self.message_user(request, f"{phase}: {error.message}", level=messages.ERROR)
        self.message_user(request, f"Private leaderboard revealed for {revealed} phase(s).")


class ReadOnlyInline(admin.TabularInline):
    """Rows listed under their parent with their ``fields``, never added, changed or deleted here."""

    extra = 0
    can_delete = False

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> tuple[str, ...]:
        return tuple(self.fields)

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class DatasetImageInline(ReadOnlyInline):
    model = DatasetImage
    fields = ("name", "split", "is_preview", "width", "height", "sha256")


@admin.register(ImageSet)
class ImageSetAdmin(admin.ModelAdmin):
    list_display = ("competition", "kind", "image_count", "short_hash", "split_seed", "public_fraction", "updated_at")
    list_filter = ("kind", "competition")
    readonly_fields = (
        "competition",
        "kind",
        "content_hash",
        "image_count",
        "split_seed",
        "public_fraction",
        "public_count",
        "preview_count",
        "updated_at",
    )
    fields = readonly_fields
    inlines = (DatasetImageInline,)
    list_select_related = ("competition",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="content hash")
    def short_hash(self, image_set: ImageSet) -> str:
        return image_set.content_hash[:12]

    @admin.display(description="public images")
    def public_count(self, image_set: ImageSet) -> int:
        return image_set.images.filter(split=DatasetImage.Split.PUBLIC).count()

    @admin.display(description="preview images")
    def preview_count(self, image_set: ImageSet) -> int:
        return image_set.images.filter(is_preview=True).count()


class ParticipationInline(ReadOnlyInline):
    model = Participation
    fields = ("user", "accepted_rules_at", "joined_at")


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "competition", "member_count", "created_by", "created_at")
    list_filter = ("competition",)
    search_fields = ("name", "competition__slug", "memberships__user__username")
    readonly_fields = ("competition", "created_by", "created_at", "join_code")
    list_select_related = ("competition", "created_by")
    inlines = (ParticipationInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Team]:
        return super().get_queryset(request).annotate(member_total=Count("memberships"))

    @admin.display(description="members", ordering="member_total")
    def member_count(self, team: Team) -> int:
        return team.member_total


@admin.register(Participation)
class ParticipationAdmin(admin.ModelAdmin):
    list_display = ("user", "competition", "team", "accepted_rules_at", "joined_at")
    list_filter = ("competition",)
    search_fields = ("user__username", "team__name", "competition__slug")
    readonly_fields = ("competition", "user", "team", "accepted_rules_at", "joined_at")
    list_select_related = ("competition", "user", "team")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(FeatureWeightsReport)
class FeatureWeightsReportAdmin(admin.ModelAdmin):
    list_display = ("hostname", "verified", "missing_files", "reported_at")
    list_filter = ("verified",)
    search_fields = ("hostname",)
    readonly_fields = ("hostname", "files", "verified", "reported_at")

    @admin.display(description="missing or corrupt")
    def missing_files(self, report: FeatureWeightsReport) -> str:
        return ", ".join(report.missing) or "-"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
