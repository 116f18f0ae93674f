"""Competition bundles: one zip with ``competition.yaml`` and the folders ``style/`` and ``content/``.

(Just over 500 lines: the manifest's schema, its validation and the import that uses it stay together.)

``competition.yaml``::

    slug: wood
    title: Photos to woodcuts
    summary: ...
    description: ...            # markdown
    rules: ...                  # markdown; participants accept them to join
    visibility: public          # draft | public | unlisted
    preprocessing_mode: clean   # clean | legacy-pytorch
    input_value_range: "-1,1"   # "-1,1" | "0,1"
    image_size: 64
    size_multiple: 4
    accepted_formats: [safetensors, onnx]
    accepted_architectures: [] # empty: every reference architecture
    feature_weights: pretrained # pretrained | random
    max_team_size: 3
    phases:
      - slug: main
        name: Main
        starts_at: 2026-01-01T00:00:00Z
        ends_at: 2026-03-01T00:00:00Z
        daily_quota: 5
        total_quota: null
        max_running: 2
        execution_time_limit: 900
        upload_size_limit: 209715200
        final_selection_limit: 0
        reveal_private_at_end: true
        metrics:
          - {metric: fid, shown: true, ranking: true, direction: lower, decimals: 3}
    split: {seed: 7, public_fraction: 0.5, previews: 2}   # previews: a count or a list of names

:func:`bundle_import` validates everything before it writes, names the key path
(``phases[1].ends_at: must be after starts_at``) or the file (``content/cat.jpg: not an image
(...)``) of the first problem, and writes nothing when it fails (no row, no file). Only
``yaml.safe_load`` reads the YAML. The zip is guarded (member count, uncompressed size, ``..``,
absolute paths, symbolic links). ``bundle_import(bundle_export(x))`` gives back ``x``.
"""

from __future__ import annotations

import enum
import io
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

import yaml
from django.db import transaction

from competitions import services
from competitions.imagesets import PreparedSet, archive_members, image_set_prepare
from competitions.models import Competition, DatasetImage, ImageSet
from gan_platform.errors import ApplicationError
from gan_platform.storages import private_storage

MANIFEST_NAME = "competition.yaml"
MAX_MANIFEST_BYTES = 1024 * 1024
IMAGE_FOLDERS = ("style", "content")


class OnExisting(enum.StrEnum):
    """What :func:`bundle_import` does when a competition with the bundle's slug exists."""

    REFUSE = "refuse"
    REPLACE = "replace"


class BundleError(ApplicationError):
    """A bundle that cannot be imported; the message starts with the key path or file name."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}", code="invalid_bundle", extra={"fields": {where: [message]}})
        self.where = where


# --- The manifest's schema ------------------------------------------------------------------


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise BundleError(where, f"must be text; got {type(value).__name__} {value!r}.")
    return value


def _integer(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BundleError(where, f"must be an integer; got {value!r}.")
    if value < 0:
        raise BundleError(where, f"must be at least 0; got {value}.")
    return value


def _optional_integer(value: Any, where: str) -> int | None:
    return None if value is None else _integer(value, where)


def _boolean(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise BundleError(where, f"must be true or false; got {value!r}.")
    return value


def _fraction(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise BundleError(where, f"must be a number from 0 to 1; got {value!r}.")
    return float(value)


def _text_list(value: Any, where: str) -> list[str]:
    if not isinstance(value, list):
        raise BundleError(where, f"must be a list of names; got {value!r}.")
    return [_text(item, f"{where}[{index}]") for index, item in enumerate(value)]


def _moment(value: Any, where: str) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as error:
            raise BundleError(
                where, f"not an ISO 8601 date and time ({value!r}); write 2026-01-31T12:00:00Z."
            ) from error
    if not isinstance(value, datetime):
        raise BundleError(where, f"must be a date and time like 2026-01-31T12:00:00Z; got {value!r}.")
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _previews(value: Any, where: str) -> int | list[str]:
    return (
        _integer(value, where) if isinstance(value, int) and not isinstance(value, bool) else _text_list(value, where)
    )


COMPETITION_KEYS: dict[str, Callable[[Any, str], Any]] = {
    "slug": _text,
    "title": _text,
    "summary": _text,
    "description": _text,
    "rules": _text,
    "visibility": _text,
    "preprocessing_mode": _text,
    "input_value_range": _text,
    "image_size": _integer,
    "size_multiple": _integer,
    "accepted_formats": _text_list,
    "accepted_architectures": _text_list,
    "feature_weights": _text,
    "max_team_size": _integer,
}
PHASE_KEYS: dict[str, Callable[[Any, str], Any]] = {
    "slug": _text,
    "name": _text,
    "starts_at": _moment,
    "ends_at": _moment,
    "daily_quota": _integer,
    "total_quota": _optional_integer,
    "max_running": _integer,
    "execution_time_limit": _integer,
    "upload_size_limit": _integer,
    "final_selection_limit": _integer,
    "reveal_private_at_end": _boolean,
}
METRIC_KEYS: dict[str, Callable[[Any, str], Any]] = {
    "metric": _text,
    "shown": _boolean,
    "ranking": _boolean,
    "direction": lambda value, where: None if value is None else _text(value, where),
    "decimals": _integer,
}
REQUIRED_COMPETITION = ("slug", "title", "phases")
REQUIRED_PHASE = ("slug", "name", "starts_at", "ends_at", "metrics")
REQUIRED_METRIC = ("metric",)


def _mapping(value: Any, where: str, keys: Mapping[str, Callable], required: tuple[str, ...], *, allowed=()) -> dict:
    if not isinstance(value, dict):
        raise BundleError(where or MANIFEST_NAME, f"must be a mapping of keys to values; got {type(value).__name__}.")
    prefix = f"{where}." if where else ""
    for key in value:
        if key not in keys and key not in allowed:
            known = ", ".join([*keys, *allowed])
            raise BundleError(f"{prefix}{key}", f"unknown key; the known keys here are: {known}.")
    for key in required:
        if key not in value:
            raise BundleError(f"{prefix}{key}", "is required.")
    return {key: check(value[key], f"{prefix}{key}") for key, check in keys.items() if key in value}


def _split_seed(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not -(2**63) <= value < 2**63:
        raise BundleError(where, f"must be a 64-bit integer; got {value!r}.")
    return value


@dataclass
class Manifest:
    """The checked contents of ``competition.yaml``."""

    competition: dict[str, Any]
    phases: list[dict[str, Any]]
    split: dict[str, Any]


def manifest_parse(text: str | bytes) -> Manifest:
    """Parse and check ``competition.yaml`` (``yaml.safe_load``); raises :class:`BundleError` with the key path."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{MANIFEST_NAME} line {mark.line + 1}" if mark is not None else MANIFEST_NAME
        raise BundleError(where, f"not valid YAML ({getattr(error, 'problem', None) or error}).") from error
    competition = _mapping(data, "", COMPETITION_KEYS, REQUIRED_COMPETITION, allowed=("phases", "split", "version"))
    if data.get("version", 1) != 1:
        raise BundleError("version", f"this Atelier reads bundle version 1; got {data['version']!r}.")
    phases_value = data["phases"]
    if not isinstance(phases_value, list) or not phases_value:
        raise BundleError("phases", "must be a non-empty list of phases.")
    phases = []
    for index, item in enumerate(phases_value):
        where = f"phases[{index}]"
        phase = _mapping(item, where, PHASE_KEYS, REQUIRED_PHASE, allowed=("metrics",))
        if phase["ends_at"] <= phase["starts_at"]:
            raise BundleError(f"{where}.ends_at", "must be after starts_at.")
        for other_index, other in enumerate(phases):
            if phase["slug"] == other["slug"]:
                raise BundleError(f"{where}.slug", f"{phase['slug']!r} is also the slug of phases[{other_index}].")
            if phase["starts_at"] < other["ends_at"] and other["starts_at"] < phase["ends_at"]:
                raise BundleError(
                    f"{where}.starts_at",
                    f"the window overlaps phases[{other_index}] ({other['slug']}); phases may not overlap.",
                )
        metrics_value = item["metrics"]
        if not isinstance(metrics_value, list) or not metrics_value:
            raise BundleError(f"{where}.metrics", "must be a non-empty list of metrics.")
        phase["metrics"] = [
            _mapping(metric, f"{where}.metrics[{metric_index}]", METRIC_KEYS, REQUIRED_METRIC)
            for metric_index, metric in enumerate(metrics_value)
        ]
        phases.append(phase)
    split = {}
    if "split" in data:
        split = _mapping(
            data["split"], "split", {"public_fraction": _fraction, "previews": _previews}, (), allowed=("seed",)
        )
        if "seed" in data["split"]:
            split["seed"] = _split_seed(data["split"]["seed"], "split.seed")
    return Manifest(competition=competition, phases=phases, split=split)


# --- Import ---------------------------------------------------------------------------------


def _as_bundle_error(error: ApplicationError) -> BundleError:
    """An image or archive error (``content/cat.jpg: not an image ...``) as a BundleError naming the file."""
    where, _, message = error.message.partition(": ")
    return BundleError(where, message)


def _prefixed(error: ApplicationError, prefix: str) -> BundleError:
    """A service's error as a BundleError whose key path starts with ``prefix`` (``phases[1].``)."""
    fields = error.extra.get("fields") or {}
    if fields:
        key, messages = next(iter(fields.items()))
        return BundleError(f"{prefix}{key}", " ".join(str(message) for message in messages))
    return BundleError(prefix.rstrip(".") or MANIFEST_NAME, error.message)


@transaction.atomic
def _write(
    manifest: Manifest,
    sets: dict[str, PreparedSet],
    *,
    organizer: Any,
    on_existing: OnExisting,
    saved_files: list[str],
    new_slug: str | None = None,
) -> Competition:
    slug = new_slug or manifest.competition["slug"]
    existing = Competition.objects.filter(slug=slug).first()
    if existing is not None:
        if on_existing != OnExisting.REPLACE:
            raise BundleError("slug", f"a competition {slug!r} exists already; pass --replace to replace it.")
        services.competition_delete(competition=existing, actor=None)
    fields = {key: value for key, value in manifest.competition.items() if key not in ("slug", "title")}
    if new_slug:
        fields["visibility"] = Competition.Visibility.DRAFT  # a new edition starts hidden until its organizers open it
    try:
        competition = services.competition_create(actor=None, slug=slug, title=manifest.competition["title"], **fields)
    except ApplicationError as error:
        raise _prefixed(error, "") from error
    if organizer is not None:
        competition.organizers.add(organizer)
    for index, phase in enumerate(manifest.phases):
        values = dict(phase)
        metrics = values.pop("metrics")
        try:
            created = services.phase_create(competition=competition, actor=None, order=index, **values)
            services.phase_metrics_set(phase=created, actor=None, metrics=metrics)
        except ApplicationError as error:
            raise _prefixed(error, f"phases[{index}].") from error
    for kind, prepared in sets.items():
        split = {}
        if kind == ImageSet.Kind.CONTENT:
            split = {
                "split_seed": manifest.split.get("seed", 0),
                "public_fraction": manifest.split.get("public_fraction", 0.5),
                "previews": manifest.split.get("previews", 0),
            }
        try:
            services.image_set_replace(
                competition=competition, actor=None, kind=kind, prepared=prepared, saved_files=saved_files, **split
            )
        except ApplicationError as error:
            raise _prefixed(error, "split." if kind == ImageSet.Kind.CONTENT else "") from error
    return competition


def bundle_import(
    source: Path | BinaryIO,
    *,
    organizer: Any = None,
    on_existing: OnExisting = OnExisting.REFUSE,
    slug: str | None = None,
) -> Competition:
    """Import a bundle (a zip path or an open binary file) as a new competition.

    Args:
        slug: import under this slug instead of the bundle's (a new edition); the copy is then a
            draft whatever the bundle says.
        organizer: a user made organizer of the imported competition (None: superusers only).
        on_existing: what to do when a competition with the bundle's slug exists: ``refuse`` (an error
            naming ``slug``) or ``replace`` it (refused if it has submissions).
    Raises:
        BundleError (code ``invalid_bundle``) naming the key path or file; nothing is written then.
    """
    label = str(getattr(source, "name", source))
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as error:
        raise BundleError(label, f"not a zip archive ({error}); a bundle is a .zip with {MANIFEST_NAME}.") from error
    saved_files: list[str] = []
    with archive, tempfile.TemporaryDirectory(prefix="atelier-bundle-") as work:
        try:
            members = archive_members(archive, label=label)
        except ApplicationError as error:
            raise _as_bundle_error(error) from error
        root = _bundle_root(members)
        by_name = {info.filename[len(root) :]: info for info in members}
        manifest_info = by_name.get(MANIFEST_NAME)
        if manifest_info is None:
            raise BundleError(MANIFEST_NAME, "missing: the bundle's top level must hold competition.yaml.")
        if manifest_info.file_size > MAX_MANIFEST_BYTES:
            raise BundleError(MANIFEST_NAME, f"larger than {MAX_MANIFEST_BYTES:,} bytes.")
        manifest = manifest_parse(archive.read(manifest_info))
        for name in by_name:
            top = PurePosixPath(name).parts[0]
            if name != MANIFEST_NAME and top not in IMAGE_FOLDERS and not top.startswith(".") and top != "__MACOSX":
                raise BundleError(name, f"unexpected file; a bundle holds {MANIFEST_NAME}, style/ and content/ only.")
        sets: dict[str, PreparedSet] = {}
        for kind in IMAGE_FOLDERS:
            entries = [
                (name, _member_reader(archive, info))
                for name, info in sorted(by_name.items())
                if name.startswith(f"{kind}/")
            ]
            for name, _ in entries:
                if len(PurePosixPath(name).parts) != 2:
                    raise BundleError(name, f"images sit directly in {kind}/, not in sub-folders.")
            if not entries:
                raise BundleError(f"{kind}/", f"missing or empty: the bundle needs a {kind}/ folder of images.")
            folder = Path(work) / kind
            folder.mkdir()
            try:
                sets[kind] = image_set_prepare(entries, folder=folder, label=f"{kind}/")
            except ApplicationError as error:
                raise _as_bundle_error(error) from error
        try:
            services.content_split_compute(
                [image.name for image in sets["content"].images],
                seed=manifest.split.get("seed", 0),
                public_fraction=manifest.split.get("public_fraction", 0.5),
                previews=manifest.split.get("previews", 0),
            )
        except ApplicationError as error:
            raise _prefixed(error, "split.") from error
        try:
            return _write(
                manifest,
                sets,
                organizer=organizer,
                on_existing=OnExisting(on_existing),
                saved_files=saved_files,
                new_slug=slug,
            )
        except BaseException:
            _delete(saved_files)
            raise


def _member_reader(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Callable[[], bytes]:
    def read() -> bytes:
        return archive.read(info)

    return read


def _bundle_root(members: list[zipfile.ZipInfo]) -> str:
    """``""`` or the one folder that wraps the whole bundle (``wood/competition.yaml``)."""
    names = [info.filename for info in members]
    if MANIFEST_NAME in names:
        return ""
    wrapped = [
        name for name in names if PurePosixPath(name).name == MANIFEST_NAME and len(PurePosixPath(name).parts) == 2
    ]
    if len(wrapped) == 1:
        root = PurePosixPath(wrapped[0]).parts[0] + "/"
        if all(name.startswith(root) for name in names):
            return root
    return ""


def _delete(names: list[str]) -> None:
    storage = private_storage()
    for name in names:
        if storage.exists(name):
            storage.delete(name)


# --- Export ---------------------------------------------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def manifest_build(competition: Competition) -> dict[str, Any]:
    """The ``competition.yaml`` mapping of an existing competition."""
    data: dict[str, Any] = {"version": 1, "slug": competition.slug, "title": competition.title}
    for key in list(COMPETITION_KEYS)[2:]:
        data[key] = getattr(competition, key)
    data["phases"] = [
        {
            "slug": phase.slug,
            "name": phase.name,
            "starts_at": _iso(phase.starts_at),
            "ends_at": _iso(phase.ends_at),
            **{key: getattr(phase, key) for key in list(PHASE_KEYS)[4:]},
            "metrics": [
                {
                    "metric": metric.metric,
                    "shown": metric.shown,
                    "ranking": metric.is_ranking,
                    "direction": metric.direction,
                    "decimals": metric.decimals,
                }
                for metric in phase.metrics.order_by("order", "metric")
            ],
        }
        for phase in competition.phases.order_by("order", "starts_at")
    ]
    content = competition.image_sets.filter(kind=ImageSet.Kind.CONTENT).first()
    if content is not None:
        names = list(content.images.values_list("name", flat=True))
        chosen = sorted(content.images.filter(is_preview=True).values_list("name", flat=True))
        _, default = services.content_split_compute(
            names, seed=content.split_seed, public_fraction=content.public_fraction, previews=len(chosen)
        )
        data["split"] = {
            "seed": content.split_seed,
            "public_fraction": content.public_fraction,
            "previews": len(chosen) if default == chosen else chosen,
        }
    return data


def bundle_export(competition: Competition, destination: Path | BinaryIO) -> None:
    """Write ``competition`` as a bundle zip (manifest, then ``style/`` and ``content/`` by name)."""
    storage = private_storage()
    text = yaml.safe_dump(manifest_build(competition), sort_keys=False, allow_unicode=True, width=100)
    with zipfile.ZipFile(destination, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(_entry(MANIFEST_NAME), text)
        images = DatasetImage.objects.filter(image_set__competition=competition).select_related("image_set")
        for image in images.order_by("image_set__kind", "name"):
            with storage.open(image.file.name, "rb") as handle:
                archive.writestr(_entry(f"{image.image_set.kind}/{image.name}"), handle.read())


def bundle_export_bytes(competition: Competition) -> bytes:
    buffer = io.BytesIO()
    bundle_export(competition, buffer)
    return buffer.getvalue()


def _entry(name: str) -> zipfile.ZipInfo:
    """A zip entry with a fixed time and mode, so the same competition gives the same bytes."""
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info
