"""Writes of the competitions app: competitions, phases, metrics, image sets, participation, teams.

Every service is keyword-only, runs in one transaction, ``full_clean()``s what it saves and
raises :class:`gan_platform.errors.ApplicationError` with a code and a message that names the
field (``fields`` in ``extra`` maps the field to its messages).

Team rule: a participant may leave or change team only while their current team has no
submission in a phase that has not ended yet (quotas count per team; moving would reset them).
A team whose last member leaves is deleted when it has no submission at all.
"""

# Over 500 lines: every write of the competitions app in one place per the conventions; the split by topic (phases, image sets, teams) is issue 13.

from __future__ import annotations

import logging
import random
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Model
from django.utils import timezone

from competitions.imagesets import PreparedSet, image_set_from_folder, image_set_from_zip
from competitions.models import Competition, DatasetImage, ImageSet, Participation, Phase, PhaseMetric, Team
from competitions.selectors import is_organizer
from gan_platform.errors import ApplicationError
from gan_platform.storages import private_storage

logger = logging.getLogger(__name__)

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


def _invalid(field: str, message: str, *, code: str = "validation_error", status: int = 400) -> ApplicationError:
    return ApplicationError(f"{field}: {message}", code=code, status=status, extra={"fields": {field: [message]}})


def _full_clean(instance: Model, *, exclude: Sequence[str] | None = None) -> None:
    """``full_clean()`` with Django's errors turned into one ApplicationError naming the fields."""
    try:
        instance.full_clean(exclude=exclude)
    except ValidationError as error:
        fields = {
            ("non_field_errors" if key == "__all__" else key): [str(message) for message in messages]
            for key, messages in error.message_dict.items()
        }
        summary = "; ".join(f"{key}: {' '.join(messages)}" for key, messages in fields.items())
        raise ApplicationError(summary, code="validation_error", extra={"fields": fields}) from error


def _require_organizer(competition: Competition, actor: Any) -> None:
    if actor is not None and not is_organizer(competition=competition, user=actor):
        raise ApplicationError(
            f"Only organizers of {competition.slug} may do this.", code="permission_denied", status=403
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


def _standings_changed(phase: Phase, *, ranking_before: str | None = None) -> None:
    """Tell the phase's standings that what readers see changed (a new version, in this
    transaction); when the ranking configuration differs from ``ranking_before`` (a digest of
    :func:`submissions.standings.ranking_config`), rebuild every row after the commit."""
    from submissions.standings import ranking_config, standings_rebuild_enqueue, standings_touch

    standings_touch(phase_id=phase.pk)
    if ranking_before is not None and ranking_config(phase).digest != ranking_before:
        phase_id = phase.pk
        transaction.on_commit(lambda: standings_rebuild_enqueue(phase_id=phase_id))


def _ranking_digest(phase: Phase) -> str:
    from submissions.standings import ranking_config

    return ranking_config(phase).digest


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
    """``higher`` for similarity metrics (SSIM), ``lower`` for distances, costs and the rest."""
    return PhaseMetric.DEFAULT_DIRECTIONS.get(metric, PhaseMetric.Direction.LOWER)


def phase_metrics_set(*, phase: Phase, actor: Any, metrics: Sequence[Mapping[str, Any]]) -> list[PhaseMetric]:
    """Replace the phase's metric configuration.

    Args:
        metrics: ``[{"metric": "fid", "shown": True, "ranking": True, "direction": None, "decimals": 3}]``;
            ``direction`` defaults per metric (:func:`metric_default_direction`). Exactly one metric ranks,
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
        decimals = spec.get("decimals", 3)
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


# --- Image sets -------------------------------------------------------------------------------


def content_split_compute(
    names: Iterable[str], *, seed: int, public_fraction: float, previews: int | Sequence[str]
) -> tuple[set[str], list[str]]:
    """The seeded public/private split of a content set and its preview images.

    The names are sorted and shuffled with ``random.Random(seed)``; the first
    ``round(public_fraction * n)`` form the public split, and the previews are the first
    ``previews`` of those (or the named ones, which must be public). Same seed and names:
    same split.

    Returns:
        ``(public_names, preview_names)``.
    """
    ordered = sorted(names)
    random.Random(seed).shuffle(ordered)
    public_count = round(public_fraction * len(ordered))
    public = ordered[:public_count]
    if isinstance(previews, int) and not isinstance(previews, bool):
        if previews < 0:
            raise _invalid("previews", f"must be at least 0; got {previews}.")
        if previews > len(public):
            raise _invalid(
                "previews", f"{previews} previews asked for, but the public split has only {len(public)} images."
            )
        chosen = public[:previews]
    else:
        chosen = list(previews)
        for name in chosen:
            if name not in public:
                raise _invalid("previews", f"{name!r} is not in the public split; previews must be public images.")
        if len(set(chosen)) != len(chosen):
            raise _invalid("previews", "names an image twice.")
    return set(public), sorted(chosen)


def content_split_apply(
    *,
    image_set: ImageSet,
    actor: Any,
    seed: int | None = None,
    public_fraction: float | None = None,
    previews: int | Sequence[str] | None = None,
) -> ImageSet:
    """Re-split a content set (organizers): public/private by seed and fraction, previews among public.

    Arguments left ``None`` keep the set's current seed, fraction and preview count.
    """
    _require_organizer(image_set.competition, actor)
    if image_set.kind != ImageSet.Kind.CONTENT:
        raise _invalid("kind", "only the content set is split; the style set is shown whole.")
    seed = image_set.split_seed if seed is None else seed
    public_fraction = image_set.public_fraction if public_fraction is None else public_fraction
    if not isinstance(public_fraction, int | float) or not 0 <= public_fraction <= 1:
        raise _invalid("public_fraction", f"must be a number from 0 to 1; got {public_fraction!r}.")
    if isinstance(seed, bool) or not isinstance(seed, int) or not -(2**63) <= seed < 2**63:
        raise _invalid("seed", f"must be an integer (64-bit); got {seed!r}.")
    names = list(image_set.images.values_list("name", flat=True))
    if previews is None:
        # Keep the current count, as far as the new public split has room for it.
        previews = min(image_set.images.filter(is_preview=True).count(), round(public_fraction * len(names)))
    public, chosen = content_split_compute(names, seed=seed, public_fraction=public_fraction, previews=previews)
    with transaction.atomic():
        image_set.split_seed = seed
        image_set.public_fraction = float(public_fraction)
        _full_clean(image_set)
        image_set.save()
        images = image_set.images.all()
        images.update(is_preview=False)
        images.filter(name__in=public).update(split=DatasetImage.Split.PUBLIC)
        images.exclude(name__in=public).update(split=DatasetImage.Split.PRIVATE)
        images.filter(name__in=chosen).update(is_preview=True)
    return image_set


def _reference_stats_enqueue(image_set_id: int) -> None:
    try:
        from scoring.tasks import reference_stats_compute as reference_stats_compute_task
    except ImportError:
        logger.warning(
            "scoring.tasks.reference_stats_compute is missing; style statistics of set %s not queued.", image_set_id
        )
        return
    try:
        reference_stats_compute_task.delay(image_set_id)
    except Exception:  # the broker being down must not fail the organizer's upload
        logger.exception(
            "Could not enqueue reference statistics of image set %s; the worker computes them lazily.", image_set_id
        )


def image_set_replace(
    *,
    competition: Competition,
    actor: Any,
    kind: str,
    prepared: PreparedSet,
    split_seed: int | None = None,
    public_fraction: float | None = None,
    previews: int | Sequence[str] | None = None,
    saved_files: list[str] | None = None,
) -> ImageSet:
    """Replace the competition's ``kind`` set by a validated :class:`PreparedSet`, atomically.

    On any failure nothing changes: no row is written and every file stored so far is removed.
    The old set's files are removed after the transaction commits. ``saved_files``, when given,
    receives the names stored, so a caller whose own transaction fails later can remove them.
    A content set is split by seed and fraction (the set's current values where ``None``); its
    previews are ``previews`` (a count or names), or where ``None`` the old set's preview count,
    capped at the new public split's size. A style set change enqueues
    ``scoring.reference_stats_compute`` on commit.
    """
    _require_organizer(competition, actor)
    if kind not in ImageSet.Kind.values:
        raise _invalid("kind", f"must be one of {ImageSet.Kind.values}; got {kind!r}.")
    if len(prepared) == 0:
        raise _invalid("images", "the set holds no image.")
    storage = private_storage()
    saved: list[str] = []
    try:
        with transaction.atomic():
            image_set, _ = ImageSet.objects.select_for_update().get_or_create(competition=competition, kind=kind)
            old_files = set(image_set.images.values_list("file", flat=True))
            old_preview_count = image_set.images.filter(is_preview=True).count()
            image_set.images.all().delete()
            rows = []
            for image in prepared.images:
                row = DatasetImage(
                    image_set=image_set,
                    name=image.name,
                    sha256=image.sha256,
                    width=image.width,
                    height=image.height,
                )
                target = row.file.field.generate_filename(row, image.name)
                with image.path.open("rb") as handle:
                    stored = storage.save(target, handle)
                saved.append(stored)
                if saved_files is not None:
                    saved_files.append(stored)
                row.file.name = stored
                _full_clean(row, exclude=["image_set"])
                rows.append(row)
            DatasetImage.objects.bulk_create(rows)
            image_set.content_hash = prepared.content_hash
            image_set.image_count = len(rows)
            _full_clean(image_set)
            image_set.save()
            if kind == ImageSet.Kind.CONTENT:
                if previews is None:
                    fraction = image_set.public_fraction if public_fraction is None else public_fraction
                    previews = min(old_preview_count, round(fraction * len(rows)))
                content_split_apply(
                    image_set=image_set,
                    actor=None,
                    seed=split_seed,
                    public_fraction=public_fraction,
                    previews=previews,
                )
            stale = old_files - set(saved)
            transaction.on_commit(lambda: _files_delete(stale))
            if kind == ImageSet.Kind.STYLE:
                image_set_id = image_set.id
                transaction.on_commit(lambda: _reference_stats_enqueue(image_set_id))
    except BaseException:
        _files_delete(saved)
        raise
    return image_set


def _files_delete(names: Iterable[str]) -> None:
    storage = private_storage()
    for name in names:
        try:
            storage.delete(name)
        except OSError:
            logger.warning("Could not remove %s from private storage.", name)


def image_set_replace_from_zip(
    *, competition: Competition, actor: Any, kind: str, source: Path | BinaryIO, **split: Any
) -> ImageSet:
    """:func:`image_set_replace` from a zip archive (a path or an open binary file)."""
    _require_organizer(competition, actor)
    with image_set_from_zip(source, label=getattr(source, "name", None) or "the archive") as prepared:
        return image_set_replace(competition=competition, actor=actor, kind=kind, prepared=prepared, **split)


def image_set_replace_from_folder(
    *, competition: Competition, actor: Any, kind: str, source: Path, **split: Any
) -> ImageSet:
    """:func:`image_set_replace` from the images directly inside a folder."""
    _require_organizer(competition, actor)
    with image_set_from_folder(Path(source)) as prepared:
        return image_set_replace(competition=competition, actor=actor, kind=kind, prepared=prepared, **split)


# --- Participation and teams -------------------------------------------------------------------


def _team_code() -> str:
    return secrets.token_urlsafe(9)


def _free_team_name(competition: Competition, base: str) -> str:
    name = base[:110]
    suffix = 2
    while Team.objects.filter(competition=competition, name=name).exists():
        name = f"{base[:110]}-{suffix}"
        suffix += 1
    return name


def _team_new(competition: Competition, user: Any, *, name: str) -> Team:
    """Save a new team ``name`` created by ``user``, with a fresh invitation code."""
    team = Team(competition=competition, name=name, created_by=user, join_code=_team_code())
    _full_clean(team)
    team.save()
    return team


def _team_has_live_submissions(team: Team, *, at: datetime | None = None) -> bool:
    at = at or timezone.now()
    return team.submissions.filter(phase__ends_at__gt=at).exists()


def participation_join(*, competition: Competition, user: Any, accept_rules: bool) -> Participation:
    """Join a competition: the rules must be accepted; creates the participant's team of one.

    Joining twice returns the existing participation. Drafts can be joined by organizers only.
    """
    if not getattr(user, "is_authenticated", False):
        raise ApplicationError("Log in to join a competition.", code="not_authenticated", status=401)
    if competition.visibility == Competition.Visibility.DRAFT and not is_organizer(competition=competition, user=user):
        raise ApplicationError(f"No competition {competition.slug!r}.", code="not_found", status=404)
    existing = Participation.objects.filter(competition=competition, user=user).select_related("team").first()
    if existing is not None:
        return existing
    if accept_rules is not True:
        raise ApplicationError(
            "accept_rules: read the competition's rules and accept them (accept_rules: true) to join.",
            code="rules_not_accepted",
            extra={"fields": {"accept_rules": ["The rules must be accepted to join."]}},
        )
    try:
        with transaction.atomic():
            team = _team_new(competition, user, name=_free_team_name(competition, user.get_username()))
            participation = Participation(
                competition=competition, user=user, team=team, accepted_rules_at=timezone.now()
            )
            _full_clean(participation)
            participation.save()
    except IntegrityError:
        # A concurrent join of the same user won the race: return its row.
        return Participation.objects.select_related("team").get(competition=competition, user=user)
    return participation


def _participation_for(competition: Competition, user: Any) -> Participation:
    participation = (
        Participation.objects.select_for_update()
        .select_related("team")
        .filter(competition=competition, user=user)
        .first()
    )
    if participation is None:
        raise ApplicationError(f"Join {competition.slug} first (accept its rules).", code="not_joined", status=403)
    return participation


def _team_locked(team: Team) -> ApplicationError:
    return ApplicationError(
        f"team: {team.name!r} has submissions in a phase that has not ended; its members can change team only "
        "after that phase ends.",
        code="team_locked",
        extra={"fields": {"team": ["Your team has submissions in a phase that has not ended."]}},
    )


def _team_move(participation: Participation, target: Team) -> None:
    """Move a participation to ``target`` and remove the old team if it is now empty and unused."""
    old = participation.team
    if old.pk == target.pk:
        return
    if _team_has_live_submissions(old):
        raise _team_locked(old)
    participation.team = target
    participation.save(update_fields=["team"])
    if not old.memberships.exists() and not old.submissions.exists():
        old.delete()


def team_create(*, competition: Competition, user: Any, name: str) -> Team:
    """Create a team named ``name`` and move the participant into it (see the module's team rule)."""
    name = (name or "").strip()
    if not name:
        raise _invalid("name", "a team needs a name.")
    with transaction.atomic():
        participation = _participation_for(competition, user)
        if Team.objects.filter(competition=competition, name=name).exists():
            raise _invalid(
                "name", f"a team called {name!r} already exists in {competition.slug}.", code="team_name_taken"
            )
        team = _team_new(competition, user, name=name)
        _team_move(participation, team)
    return team


def team_join(*, competition: Competition, user: Any, code: str) -> Team:
    """Join the team whose invitation code is ``code`` (members share it), if it has room."""
    with transaction.atomic():
        participation = _participation_for(competition, user)
        team = (
            Team.objects.select_for_update().filter(competition=competition, join_code=code).first() if code else None
        )
        if team is None:
            raise _invalid(
                "code",
                "no team of this competition has this invitation code; ask a member for it.",
                code="team_not_found",
            )
        if participation.team_id == team.pk:
            return team
        members = team.memberships.count()
        if members >= competition.max_team_size:
            raise _invalid(
                "code",
                f"team {team.name!r} is full ({members} of {competition.max_team_size} members).",
                code="team_full",
            )
        _team_move(participation, team)
    return team


def team_leave(*, competition: Competition, user: Any) -> Team:
    """Leave the current team for a new team of one (named after the user); see the module's team rule."""
    with transaction.atomic():
        participation = _participation_for(competition, user)
        if participation.team.memberships.count() == 1:
            return participation.team
        if _team_has_live_submissions(participation.team):
            raise _team_locked(participation.team)
        team = _team_new(competition, user, name=_free_team_name(competition, user.get_username()))
        _team_move(participation, team)
    return team


def team_code_reset(*, team: Team, user: Any) -> Team:
    """Give the team a new invitation code (members only); the old one stops working."""
    if not team.memberships.filter(user=user).exists() and not is_organizer(competition=team.competition, user=user):
        raise ApplicationError("Only members may change the team's code.", code="permission_denied", status=403)
    with transaction.atomic():
        team.join_code = _team_code()
        team.save(update_fields=["join_code"])
    return team


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
