"""Reads of the competitions app: visibility, open phases, public images, organizers, teams."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from competitions.models import (
    Competition,
    DatasetImage,
    FeatureWeightsReport,
    ImageSet,
    Participation,
    Phase,
    PhaseMetric,
)


def is_organizer(*, competition: Competition, user: Any) -> bool:
    """Whether ``user`` organises ``competition`` (superusers organise every competition)."""
    if not getattr(user, "is_authenticated", False):
        return False
    if user.is_superuser:
        return True
    return competition.organizers.filter(pk=user.pk).exists()


def _visible_filter(user: Any, *, listed_only: bool) -> Q:
    shown = (
        [Competition.Visibility.PUBLIC]
        if listed_only
        else [
            Competition.Visibility.PUBLIC,
            Competition.Visibility.UNLISTED,
        ]
    )
    condition = Q(visibility__in=shown)
    if getattr(user, "is_authenticated", False):
        condition |= Q(organizers=user)
        if listed_only:
            # A participant keeps seeing an unlisted competition they joined.
            condition |= Q(visibility=Competition.Visibility.UNLISTED, participations__user=user)
    return condition


def competition_list(*, user: Any) -> QuerySet[Competition]:
    """Competitions listed for ``user``: public ones, those they organise (drafts included) and
    unlisted ones they joined; superusers see all. Phases are prefetched in order."""
    queryset = Competition.objects.all()
    if not (getattr(user, "is_authenticated", False) and user.is_superuser):
        queryset = queryset.filter(_visible_filter(user, listed_only=True)).distinct()
    return queryset.prefetch_related(Prefetch("phases", queryset=Phase.objects.order_by("order", "starts_at")))


def competition_get(*, slug: str, user: Any) -> Competition | None:
    """The competition ``slug`` if ``user`` may see it (unlisted: anyone with the address; drafts:
    organizers and superusers), else None."""
    queryset = Competition.objects.filter(slug=slug)
    if not (getattr(user, "is_authenticated", False) and user.is_superuser):
        queryset = queryset.filter(_visible_filter(user, listed_only=False)).distinct()
    return queryset.prefetch_related(
        Prefetch("phases", queryset=Phase.objects.order_by("order", "starts_at")),
        Prefetch("phases__metrics", queryset=PhaseMetric.objects.order_by("order", "metric")),
    ).first()


def phase_current(*, competition: Competition, at: datetime | None = None) -> Phase | None:
    """The phase open at ``at`` (now by default), or None between and outside phases."""
    at = at or timezone.now()
    return competition.phases.filter(starts_at__lte=at, ends_at__gt=at).order_by("starts_at").first()


def phase_current_in(phases: list[Phase], *, at: datetime | None = None) -> Phase | None:
    """:func:`phase_current` over already-loaded phases (no query)."""
    at = at or timezone.now()
    return next((phase for phase in phases if phase.starts_at <= at < phase.ends_at), None)


def public_images(*, competition: Competition) -> QuerySet[DatasetImage]:
    """Images anyone who sees the competition may see: the whole style set and the content set's
    preview images (which are always in the public split). Hidden content images never."""
    return (
        DatasetImage.objects.filter(image_set__competition=competition)
        .filter(Q(image_set__kind=ImageSet.Kind.STYLE) | Q(image_set__kind=ImageSet.Kind.CONTENT, is_preview=True))
        .select_related("image_set")
        .order_by("image_set__kind", "name")
    )


def public_image_get(*, competition: Competition, image_id: int) -> DatasetImage | None:
    """One of :func:`public_images` by primary key, or None."""
    return public_images(competition=competition).filter(pk=image_id).first()


def preview_images(*, competition: Competition) -> QuerySet[DatasetImage]:
    """The content set's public preview images, by name."""
    return DatasetImage.objects.filter(
        image_set__competition=competition, image_set__kind=ImageSet.Kind.CONTENT, is_preview=True
    ).order_by("name")


def participation_get(*, competition: Competition, user: Any) -> Participation | None:
    """The user's participation (with its team), or None when they have not joined."""
    if not getattr(user, "is_authenticated", False):
        return None
    return Participation.objects.select_related("team").filter(competition=competition, user=user).first()


def joined_competition_ids(*, user: Any) -> set[int]:
    """Primary keys of the competitions ``user`` joined (one query)."""
    if not getattr(user, "is_authenticated", False):
        return set()
    return set(Participation.objects.filter(user=user).values_list("competition_id", flat=True))


def team_members(*, team_id: int) -> list[str]:
    """User names of a team's members, sorted."""
    return sorted(
        Participation.objects.filter(team_id=team_id).select_related("user").values_list("user__username", flat=True)
    )


#: Workers that reported within this window count for :func:`feature_weights_availability`.
FEATURE_WEIGHTS_REPORT_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class FeatureWeightsAvailability:
    """What the scoring workers seen lately report of their pretrained weights.

    ``state``: ``all`` (every worker seen has every registered file, verified), ``some``,
    ``none``, or ``unknown`` (no worker reported within the window).
    """

    state: str
    workers: list[str] = field(default_factory=list)
    with_weights: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def pretrained_default(self) -> bool:
        return self.state == "all"

    @property
    def message(self) -> str:
        count = len(self.workers)
        missing = f" (missing or corrupt: {', '.join(self.missing)})" if self.missing else ""
        if self.state == "all":
            return (
                f"All {count} scoring worker(s) seen in the last 24 hours have the pretrained feature weights, "
                "verified: pretrained is the default."
            )
        if self.state == "some":
            return (
                f"Only {len(self.with_weights)} of the {count} scoring workers seen in the last 24 hours have the "
                f"pretrained feature weights{missing}. A pretrained competition's runs on the others go back to "
                "the queue and, after their retries, fail as the platform's fault (never counted against a "
                "quota): run `python -m gan_core weights fetch` on them. Random-initialised is the default."
            )
        if self.state == "none":
            return (
                f"None of the {count} scoring worker(s) seen in the last 24 hours has the pretrained feature "
                f"weights{missing}: a pretrained competition cannot be scored until they are fetched "
                "(`python -m gan_core weights fetch` on each worker). Random-initialised is the default."
            )
        return (
            "No scoring worker has reported in the last 24 hours, so whether the pretrained feature weights "
            "are present is unknown (a worker reports when it starts). Random-initialised is the default."
        )


RANDOM_WEIGHTS_MEANING = (
    "Random-initialised: scores are computed with seeded random feature networks; they rank this "
    "competition's submissions among themselves only, are not comparable with published FID or with "
    "other competitions, and every page marks them Not calibrated."
)


def feature_weights_availability(*, at: datetime | None = None) -> FeatureWeightsAvailability:
    """Whether the scoring workers that reported in the 24 hours before ``at`` (now by default)
    have the pretrained feature weights (one query)."""
    since = (at or timezone.now()) - FEATURE_WEIGHTS_REPORT_WINDOW
    reports = list(FeatureWeightsReport.objects.filter(reported_at__gte=since).order_by("hostname"))
    if not reports:
        return FeatureWeightsAvailability(state="unknown")
    with_weights = [report.hostname for report in reports if report.verified]
    missing = sorted({name for report in reports for name in report.missing})
    if len(with_weights) == len(reports):
        state = "all"
    elif with_weights:
        state = "some"
    else:
        state = "none"
    return FeatureWeightsAvailability(
        state=state, workers=[report.hostname for report in reports], with_weights=with_weights, missing=missing
    )
