"""Competitions, phases, image sets, metric configuration, participation, teams.

Rules live in ``services/`` (writes) and ``selectors.py`` (reads); the
database holds the invariants it can (unique, check constraints).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from gan_core.metrics.registry import METRICS as METRIC_REGISTRY
from gan_platform.storages import private_storage


class Competition(models.Model):
    class Visibility(models.TextChoices):
        DRAFT = "draft", "Draft (organizers only)"
        PUBLIC = "public", "Public (listed)"
        UNLISTED = "unlisted", "Unlisted (anyone with the link)"

    class PreprocessingMode(models.TextChoices):
        # The names of gan_core.images.PreprocessMode; scores of different modes never compare.
        CLEAN = "clean", "clean (clean-fid, PIL bicubic)"
        LEGACY_PYTORCH = "legacy-pytorch", "legacy-pytorch (pytorch-fid, bilinear)"

    class ValueRange(models.TextChoices):
        MINUS_ONE_ONE = "-1,1", "[-1, 1]"
        ZERO_ONE = "0,1", "[0, 1]"

    class FeatureWeights(models.TextChoices):
        PRETRAINED = "pretrained", "Pretrained (calibrated)"
        RANDOM = "random", "Random-initialised (demo and tests only; scores are not calibrated)"

    slug = models.SlugField(max_length=64, unique=True)
    title = models.CharField(max_length=200)
    summary = models.CharField(max_length=300, blank=True)
    description = models.TextField(blank=True, help_text="Markdown.")
    rules = models.TextField(blank=True, help_text="Markdown. Participants accept them to join.")
    organizers = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="organized_competitions", blank=True)
    visibility = models.CharField(max_length=16, choices=Visibility.choices, default=Visibility.DRAFT)

    preprocessing_mode = models.CharField(
        max_length=32, choices=PreprocessingMode.choices, default=PreprocessingMode.CLEAN
    )
    input_value_range = models.CharField(max_length=8, choices=ValueRange.choices, default=ValueRange.MINUS_ONE_ONE)
    image_size = models.PositiveIntegerField(
        default=256, help_text="Side in pixels of the square images the generators receive."
    )
    size_multiple = models.PositiveSmallIntegerField(
        default=4, help_text="Height and width are multiples of this (the generators' down-sampling factor)."
    )
    accepted_formats = models.JSONField(default=list, help_text='Subset of ["safetensors", "onnx"].')
    accepted_architectures = models.JSONField(
        default=list, blank=True, help_text="Reference architectures allowed for safetensors; empty means all."
    )
    feature_weights = models.CharField(max_length=16, choices=FeatureWeights.choices, default=FeatureWeights.PRETRAINED)
    max_team_size = models.PositiveSmallIntegerField(default=1)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(max_team_size__gte=1), name="competition_team_size_positive"),
            models.CheckConstraint(condition=Q(size_multiple__gte=1), name="competition_size_multiple_positive"),
            models.CheckConstraint(condition=Q(image_size__gte=16), name="competition_image_size_at_least_16"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def calibrated(self) -> bool:
        return self.feature_weights == self.FeatureWeights.PRETRAINED

    def is_organizer(self, user) -> bool:
        if not getattr(user, "is_authenticated", False):
            return False
        return user.is_superuser or self.organizers.filter(pk=user.pk).exists()


class Phase(models.Model):
    competition = models.ForeignKey(Competition, on_delete=models.CASCADE, related_name="phases")
    slug = models.SlugField(max_length=64)
    name = models.CharField(max_length=120)
    order = models.PositiveSmallIntegerField(default=0)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()

    daily_quota = models.PositiveIntegerField(
        default=5, help_text="Submissions per team per UTC day (resets 00:00 UTC)."
    )
    total_quota = models.PositiveIntegerField(null=True, blank=True, help_text="Submissions per team in the phase.")
    max_running = models.PositiveSmallIntegerField(default=2, help_text="Unfinished submissions per team at once.")
    execution_time_limit = models.PositiveIntegerField(default=900, help_text="Seconds a submission may run.")
    upload_size_limit = models.PositiveBigIntegerField(default=200 * 1024 * 1024, help_text="Bytes.")
    final_selection_limit = models.PositiveSmallIntegerField(
        default=0, help_text="How many submissions a team selects for the private board; 0: no selection."
    )
    reveal_private_at_end = models.BooleanField(
        default=True, help_text="Show the private leaderboard to participants when the phase ends."
    )
    private_revealed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["competition", "order", "starts_at"]
        constraints = [
            models.UniqueConstraint(fields=["competition", "slug"], name="phase_slug_unique_per_competition"),
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="phase_ends_after_it_starts"),
            models.CheckConstraint(condition=Q(execution_time_limit__gte=1), name="phase_time_limit_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.competition.slug}/{self.slug}"

    def is_open(self, at=None) -> bool:
        at = at or timezone.now()
        return self.starts_at <= at < self.ends_at

    def has_ended(self, at=None) -> bool:
        return (at or timezone.now()) >= self.ends_at

    def private_is_revealed(self, at=None) -> bool:
        """Whether participants may see the private split of this phase's leaderboard."""
        if self.private_revealed_at is not None:
            return True
        return self.reveal_private_at_end and self.has_ended(at)


class ImageSet(models.Model):
    class Kind(models.TextChoices):
        STYLE = "style", "Style reference set"
        CONTENT = "content", "Hidden content set"

    competition = models.ForeignKey(Competition, on_delete=models.CASCADE, related_name="image_sets")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    content_hash = models.CharField(max_length=64, blank=True, help_text="SHA-256 identity of the set's images.")
    image_count = models.PositiveIntegerField(default=0)
    split_seed = models.BigIntegerField(default=0, help_text="Seed of the public/private split (content sets).")
    public_fraction = models.FloatField(default=0.5, help_text="Share of content images in the public split.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["competition", "kind"], name="image_set_one_per_kind"),
            models.CheckConstraint(
                condition=Q(public_fraction__gte=0) & Q(public_fraction__lte=1), name="image_set_fraction_in_0_1"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.competition.slug} {self.kind} ({self.image_count} images)"


def dataset_image_path(instance: DatasetImage, filename: str) -> str:
    image_set = instance.image_set
    return f"competitions/{image_set.competition_id}/{image_set.kind}/{instance.sha256[:2]}/{instance.sha256}.png"


class DatasetImage(models.Model):
    """One image of a set. Stored in private storage: style and preview images are
    served by a view that checks visibility, hidden content images never."""

    class Split(models.TextChoices):
        NONE = "", "Not split (style set)"
        PUBLIC = "public", "Public"
        PRIVATE = "private", "Private"

    image_set = models.ForeignKey(ImageSet, on_delete=models.CASCADE, related_name="images")
    name = models.CharField(max_length=255, help_text="File name inside the set; outputs carry the same name.")
    file = models.FileField(storage=private_storage, upload_to=dataset_image_path, max_length=255)
    sha256 = models.CharField(max_length=64)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    split = models.CharField(max_length=8, choices=Split.choices, default=Split.NONE, blank=True)
    is_preview = models.BooleanField(
        default=False, help_text="Public preview: shown to everyone, with every submission's output on it."
    )

    class Meta:
        ordering = ["image_set", "name"]
        constraints = [
            models.UniqueConstraint(fields=["image_set", "name"], name="dataset_image_name_unique_per_set"),
            models.CheckConstraint(
                condition=~Q(is_preview=True) | Q(split="public"), name="dataset_image_preview_is_public"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class PhaseMetric(models.Model):
    # every metric of gan_core.metrics.registry, by its stored name and label (FID, CONTENT_VGG, ...)
    Metric = models.TextChoices(
        "Metric", [(stored.upper(), (stored, metric.label)) for stored, metric in METRIC_REGISTRY.items()]
    )

    class Direction(models.TextChoices):
        LOWER = "lower", "Lower is better"
        HIGHER = "higher", "Higher is better"

    DEFAULT_DIRECTIONS = {stored: metric.direction for stored, metric in METRIC_REGISTRY.items()}
    DEFAULT_DECIMALS = {stored: metric.decimals for stored, metric in METRIC_REGISTRY.items()}

    phase = models.ForeignKey(Phase, on_delete=models.CASCADE, related_name="metrics")
    metric = models.CharField(max_length=32, choices=Metric.choices)
    shown = models.BooleanField(default=True)
    is_ranking = models.BooleanField(default=False)
    direction = models.CharField(max_length=8, choices=Direction.choices, default=Direction.LOWER)
    decimals = models.PositiveSmallIntegerField(default=3)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["phase", "order", "metric"]
        constraints = [
            models.UniqueConstraint(fields=["phase", "metric"], name="phase_metric_unique"),
            models.UniqueConstraint(
                fields=["phase"], condition=Q(is_ranking=True), name="phase_has_one_ranking_metric"
            ),
            models.CheckConstraint(condition=Q(decimals__lte=10), name="phase_metric_decimals_at_most_10"),
        ]

    def __str__(self) -> str:
        return f"{self.phase} {self.metric}"


class Team(models.Model):
    """Who submits. Every participant is in exactly one team per competition; joining
    alone creates a team of one. Quotas count per team."""

    competition = models.ForeignKey(Competition, on_delete=models.CASCADE, related_name="teams")
    name = models.CharField(max_length=120)
    join_code = models.CharField(
        max_length=32, blank=True, db_index=True, help_text="Invitation code members share; joining needs it."
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["competition", "name"]
        constraints = [models.UniqueConstraint(fields=["competition", "name"], name="team_name_unique")]

    def __str__(self) -> str:
        return self.name


class Participation(models.Model):
    competition = models.ForeignKey(Competition, on_delete=models.CASCADE, related_name="participations")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="participations")
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="memberships")
    accepted_rules_at = models.DateTimeField()
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["competition", "user"], name="participation_unique")]

    def __str__(self) -> str:
        return f"{self.user} in {self.competition.slug} ({self.team})"


class FeatureWeightsReport(models.Model):
    """What one scoring worker last reported of its pretrained feature-network weight files.

    Written by the worker (``scoring.worker.weights_report``: when it starts and every
    ``ATELIER_WORKER_WEIGHTS_REPORT_S``) from gan_core's weights registry, so that the web side,
    which imports no torch and sees no worker's disk, can say at a competition's creation whether
    pretrained weights are present (``competitions.selectors.feature_weights_availability``).
    ``files``: ``[{"name", "filename", "state"}]``, state ``verified``, ``missing`` or ``corrupt``.
    """

    hostname = models.CharField(max_length=255, unique=True)
    files = models.JSONField(default=list)
    verified = models.BooleanField(default=False, help_text="Every registered weight file is present and verified.")
    reported_at = models.DateTimeField()

    class Meta:
        ordering = ["hostname"]

    def __str__(self) -> str:
        return f"{self.hostname}: {'verified' if self.verified else 'incomplete'} at {self.reported_at:%Y-%m-%d %H:%M}"

    @property
    def missing(self) -> list[str]:
        return [row.get("name", "?") for row in self.files if row.get("state") != "verified"]
