"""Writes of competitions and their phases: checks, create, update, delete, organizers,
metric configuration and the private leaderboard's reveal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from competitions.models import Competition, DatasetImage, Participation, Phase, PhaseMetric
from competitions.services._common import (
    _files_delete,
    _full_clean,
    _invalid,
    _ranking_digest,
    _require_organizer,
    _standings_changed,
)
from gan_platform.errors import ApplicationError

ACCEPTED_FORMATS = ("safetensors", "onnx")
"""Checkpoint formats a competition may accept."""
ARCHITECTURES = ("resnet", "transformer_net", "unet_small")
"""Reference generator architectures (the names of ``gan_core.generators``; not imported on the web side)."""
RESERVED_SLUGS = frozenset({"new", "api", "admin", "static", "media", "accounts", "create", "edit", "delete"})
SLUG_PATTERN = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")

COMPETITION_FIELDS = (
    "title",
    "summary",
    "description",
    "rules",
    "visibility",
    "preprocessing_mode",
    "input_value_range",
    "image_size",
    "size_multiple",
    "accepted_formats",
    "accepted_architectures",
    "feature_weights",
    "max_team_size",
)
PHASE_FIELDS = (
    "name",
    "order",
    "starts_at",
    "ends_at",
    "daily_quota",
    "total_quota",
    "max_running",
    "execution_time_limit",
    "upload_size_limit",
    "final_selection_limit",
    "reveal_private_at_end",
)


# --- Competitions -----------------------------------------------------------------------------


def competition_check(competition: Competition) -> None:
    """The rules ``full_clean`` does not know: slug shape, formats, architectures, size multiple."""
    slug = competition.slug
    if not SLUG_PATTERN.match(slug or "") or not 3 <= len(slug) <= 64:
        raise _invalid(
            "slug",
            f"{slug!r} is not a valid slug: 3 to 64 lowercase letters, digits and single hyphens, "
            "starting with a letter (e.g. 'monet-2026').",
        )
    if slug in RESERVED_SLUGS:
        raise _invalid("slug", f"{slug!r} is reserved; choose another slug.")
    formats = competition.accepted_formats
    if not isinstance(formats, list) or not formats or any(f not in ACCEPTED_FORMATS for f in formats):
        raise _invalid("accepted_formats", f"must be a non-empty subset of {list(ACCEPTED_FORMATS)}; got {formats!r}.")
    if len(set(formats)) != len(formats):
        raise _invalid("accepted_formats", f"lists a format twice: {formats!r}.")
    architectures = competition.accepted_architectures
    if not isinstance(architectures, list) or any(a not in ARCHITECTURES for a in architectures):
        raise _invalid(
            "accepted_architectures",
            f"must be a subset of {list(ARCHITECTURES)} (empty: all); got {architectures!r}.",
        )
    for field, low, high in (("image_size", 16, 4096), ("size_multiple", 1, 256), ("max_team_size", 1, 100)):
        value = getattr(competition, field)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise _invalid(field, f"must be an integer from {low} to {high}; got {value!r}.")
    if competition.image_size % competition.size_multiple:
        raise _invalid(
            "image_size",
            f"{competition.image_size} is not a multiple of size_multiple {competition.size_multiple}.",
        )


def competition_create(*, actor: Any, slug: str, title: str, **fields: Any) -> Competition:
    """Create a competition (a draft unless ``visibility`` says otherwise) organised by ``actor``.

    ``fields`` are any of :data:`COMPETITION_FIELDS`. ``actor`` must be staff or hold
    ``competitions.add_competition``; pass ``actor=None`` only from trusted code (commands).
    """
    unknown = set(fields) - set(COMPETITION_FIELDS)
    if unknown:
        raise _invalid(sorted(unknown)[0], f"unknown competition field; known: {', '.join(COMPETITION_FIELDS)}.")
    if actor is not None and not (getattr(actor, "is_staff", False) or actor.has_perm("competitions.add_competition")):
        raise ApplicationError("Only staff organizers may create competitions.", code="permission_denied", status=403)
    fields.setdefault("accepted_formats", ["safetensors"])
    fields["accepted_formats"] = list(fields["accepted_formats"])
    fields["accepted_architectures"] = list(fields.get("accepted_architectures", []))
    competition = Competition(slug=slug, title=title, **fields)
    competition_check(competition)
    if Competition.objects.filter(slug=slug).exists():
        raise _invalid("slug", f"{slug!r} is taken by another competition; choose another slug.", code="slug_taken")
    _full_clean(competition)
    with transaction.atomic():
        competition.save()
        if actor is not None:
            competition.organizers.add(actor)
    return competition


def competition_update(*, competition: Competition, actor: Any, **fields: Any) -> Competition:
    """Change fields of :data:`COMPETITION_FIELDS` (organizers only)."""
    _require_organizer(competition, actor)
    unknown = set(fields) - set(COMPETITION_FIELDS)
    if unknown:
        raise _invalid(sorted(unknown)[0], f"unknown competition field; known: {', '.join(COMPETITION_FIELDS)}.")
    for name, value in fields.items():
        setattr(competition, name, list(value) if name.startswith("accepted_") else value)
    competition_check(competition)
    _full_clean(competition)
    with transaction.atomic():
        competition.save()
        for phase in competition.phases.all():
            _standings_changed(phase)
    return competition


def competition_organizer_add(*, competition: Competition, actor: Any, user: Any) -> None:
    _require_organizer(competition, actor)
    competition.organizers.add(user)


def competition_delete(*, competition: Competition, actor: Any) -> None:
    """Delete a competition with everything it owns, provided nobody submitted to it yet."""
    _require_organizer(competition, actor)
    from submissions.models import Submission

    if Submission.objects.filter(phase__competition=competition).exists():
        raise ApplicationError(
            f"{competition.slug} has submissions; it cannot be deleted or replaced. Make a new competition.",
            code="competition_has_submissions",
        )
    files = list(DatasetImage.objects.filter(image_set__competition=competition).values_list("file", flat=True))
    with transaction.atomic():
        Participation.objects.filter(competition=competition).delete()
        competition.delete()
        transaction.on_commit(lambda: _files_delete(files))


# --- Phases and metrics -----------------------------------------------------------------------


def _competition_lock(competition: Competition) -> None:
    """Lock the competition's row until the transaction ends (serialises changes to its phases)."""
    Competition.objects.select_for_update().filter(pk=competition.pk).values_list("pk", flat=True).first()


def phase_check(phase: Phase) -> None:
    """The window rule: ``ends_at`` after ``starts_at`` and no overlap with another phase of the competition."""
    if phase.starts_at is None or phase.ends_at is None:
        raise _invalid("starts_at" if phase.starts_at is None else "ends_at", "is required.")
    if phase.ends_at <= phase.starts_at:
        raise _invalid("ends_at", "must be after starts_at.")
    if not isinstance(phase.execution_time_limit, int) or phase.execution_time_limit < 1:
        raise _invalid("execution_time_limit", f"must be at least 1 second; got {phase.execution_time_limit!r}.")
    overlapping = (
        Phase.objects.filter(competition=phase.competition, starts_at__lt=phase.ends_at, ends_at__gt=phase.starts_at)
        .exclude(pk=phase.pk)
        .first()
    )
    if overlapping is not None:
        raise _invalid(
            "starts_at",
            f"the window {phase.starts_at.isoformat()} - {phase.ends_at.isoformat()} overlaps phase "
            f"{overlapping.slug!r} ({overlapping.starts_at.isoformat()} - {overlapping.ends_at.isoformat()}); "
            "phases of a competition may not overlap.",
        )


def phase_create(
    *,
    competition: Competition,
    actor: Any,
    slug: str,
    name: str,
    starts_at: datetime,
    ends_at: datetime,
    metrics: Sequence[Mapping[str, Any]] | None = None,
    **fields: Any,
) -> Phase:
    """Add a phase whose window overlaps no other phase of the competition.

    ``fields`` are any of :data:`PHASE_FIELDS`; ``metrics`` as for :func:`phase_metrics_set`.
    """
    _require_organizer(competition, actor)
    unknown = set(fields) - set(PHASE_FIELDS)
    if unknown:
        raise _invalid(sorted(unknown)[0], f"unknown phase field; known: {', '.join(PHASE_FIELDS)}.")
    if "order" not in fields:
        fields["order"] = competition.phases.count()
    phase = Phase(competition=competition, slug=slug, name=name, starts_at=starts_at, ends_at=ends_at, **fields)
    if not SLUG_PATTERN.match(slug or ""):
        raise _invalid("slug", f"{slug!r} is not a valid slug: lowercase letters, digits and single hyphens.")
    if competition.phases.filter(slug=slug).exists():
        raise _invalid("slug", f"{competition.slug} already has a phase {slug!r}.")
    with transaction.atomic():
        _competition_lock(competition)  # two organizers adding phases at once cannot both pass the overlap check
        phase_check(phase)
        _full_clean(phase)
        phase.save()
        if metrics is not None:
            phase_metrics_set(phase=phase, actor=None, metrics=metrics)
    return phase


def phase_update(*, phase: Phase, actor: Any, **fields: Any) -> Phase:
    """Change fields of :data:`PHASE_FIELDS`; the window still may not overlap another phase."""
    _require_organizer(phase.competition, actor)
    unknown = set(fields) - set(PHASE_FIELDS)
    if unknown:
        raise _invalid(sorted(unknown)[0], f"unknown phase field; known: {', '.join(PHASE_FIELDS)}.")
    before = _ranking_digest(Phase.objects.get(pk=phase.pk)) if phase.pk else None
    for name, value in fields.items():
        setattr(phase, name, value)
    with transaction.atomic():
        _competition_lock(phase.competition)
        phase_check(phase)
        _full_clean(phase)
        phase.save()
        _standings_changed(phase, ranking_before=before)
    return phase


def metric_default_direction(metric: str) -> str:
    """The metric's own direction (``gan_core.metrics.registry``): ``higher`` for similarities (SSIM),
    ``lower`` for distances, costs and the rest."""
    return PhaseMetric.DEFAULT_DIRECTIONS.get(metric, PhaseMetric.Direction.LOWER)


def phase_metrics_set(*, phase: Phase, actor: Any, metrics: Sequence[Mapping[str, Any]]) -> list[PhaseMetric]:
    """Replace the phase's metric configuration.

    Args:
        metrics: ``[{"metric": "fid", "shown": True, "ranking": True, "direction": None, "decimals": 3}]``;
            ``direction`` and ``decimals`` default per metric (``gan_core.metrics.registry``). Exactly one metric ranks,
            and it is shown.
    """
    _require_organizer(phase.competition, actor)
    known = set(PhaseMetric.Metric.values)
    seen: set[str] = set()
    rows = []
    for index, spec in enumerate(metrics):
        where = f"metrics[{index}]"
        extra = set(spec) - {"metric", "shown", "ranking", "is_ranking", "direction", "decimals"}
        if extra:
            raise _invalid(
                f"{where}.{sorted(extra)[0]}", "unknown key; known: metric, shown, ranking, direction, decimals."
            )
        metric = spec.get("metric")
        if metric not in known:
            raise _invalid(f"{where}.metric", f"unknown metric {metric!r}; known: {', '.join(sorted(known))}.")
        if metric in seen:
            raise _invalid(f"{where}.metric", f"{metric!r} is listed twice.")
        seen.add(metric)
        direction = spec.get("direction") or metric_default_direction(metric)
        if direction not in PhaseMetric.Direction.values:
            raise _invalid(f"{where}.direction", f"must be 'lower' or 'higher'; got {direction!r}.")
        decimals = spec.get("decimals", PhaseMetric.DEFAULT_DECIMALS[metric])
        if not isinstance(decimals, int) or isinstance(decimals, bool) or not 0 <= decimals <= 10:
            raise _invalid(f"{where}.decimals", f"must be an integer from 0 to 10; got {decimals!r}.")
        ranking = bool(spec.get("ranking", spec.get("is_ranking", False)))
        shown = bool(spec.get("shown", True))
        if ranking and not shown:
            raise _invalid(f"{where}.shown", "the ranking metric must be shown.")
        rows.append(
            PhaseMetric(
                phase=phase,
                metric=metric,
                shown=shown,
                is_ranking=ranking,
                direction=direction,
                decimals=decimals,
                order=index,
            )
        )
    ranking_count = sum(row.is_ranking for row in rows)
    if ranking_count != 1:
        raise _invalid("metrics", f"exactly one metric must rank the leaderboard; {ranking_count} do.")
    for row in rows:
        _full_clean(row, exclude=["phase"])
    with transaction.atomic():
        before = _ranking_digest(phase)
        phase.metrics.all().delete()
        PhaseMetric.objects.bulk_create(rows)
        _standings_changed(phase, ranking_before=before)
    return list(phase.metrics.all())


def phase_private_reveal(*, phase: Phase, actor: Any, at: datetime | None = None) -> Phase:
    """Reveal the private leaderboard of a phase to participants (sets ``private_revealed_at``)."""
    _require_organizer(phase.competition, actor)
    at = at or timezone.now()
    with transaction.atomic():
        if Phase.objects.filter(pk=phase.pk, private_revealed_at__isnull=True).update(private_revealed_at=at):
            _standings_changed(phase)
        phase.refresh_from_db(fields=["private_revealed_at"])
    return phase
