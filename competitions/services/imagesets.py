"""Writes of image sets: the style and content sets replaced from a prepared set, a zip or a
folder, and the seeded public/private split of the content set with its previews.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from django.db import transaction

from competitions.imagesets import PreparedSet, image_set_from_folder, image_set_from_zip
from competitions.models import Competition, DatasetImage, ImageSet
from competitions.services._common import _files_delete, _full_clean, _invalid, _require_organizer
from gan_platform.storages import private_storage

logger = logging.getLogger(__name__)


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
    from submissions.sending import reference_stats_send

    try:
        reference_stats_send(image_set_id=image_set_id)
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
