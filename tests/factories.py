"""Shared test factories: plain functions that build data through the services.

    user = user_create(username="alice")
    competition = competition_create_for_tests(slug="wood")          # one open phase, metrics, image sets
    participation = participant_join(competition, user)               # rules accepted, team of one

Images are small deterministic PNGs (:func:`png_bytes`), different for every index and kind, so
the same arguments always give the same content hashes. Files go to private storage: point
``ATELIER_VAR_DIR`` (or ``settings.STORAGES``) at a temporary folder in tests that care.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from django.contrib.auth import get_user_model
from django.utils import timezone
from PIL import Image

DEFAULT_PASSWORD = "atelier-test-password"


def user_create(username: str = "alice", *, password: str = DEFAULT_PASSWORD, **fields: Any):
    """A user with a known password (:data:`DEFAULT_PASSWORD`); staff and superuser via ``fields``."""
    user_model = get_user_model()
    fields.setdefault("email", f"{username}@example.org")
    user = user_model(username=username, **fields)
    user.set_password(password)
    user.save()
    return user


def organizer_create(username: str = "organizer", **fields: Any):
    """A staff user (may create competitions)."""
    fields.setdefault("is_staff", True)
    return user_create(username, **fields)


def png_bytes(index: int, *, size: int = 32, kind: str = "content", mode: str = "RGB") -> bytes:
    """A deterministic ``size`` x ``size`` PNG: smooth gradients and stripes that depend on ``index``
    and ``kind`` (style images are striped, content images blobby), never two alike."""
    rng = np.random.default_rng(_seed(kind, index))
    y, x = np.mgrid[0:size, 0:size].astype(np.float64) / max(size - 1, 1)
    base = rng.uniform(0, 1, size=3)
    if kind == "style":
        frequency = 2 + index % 5
        pattern = 0.5 + 0.5 * np.sin(2 * np.pi * frequency * (x + y * rng.uniform(0.2, 1.0)))
    else:
        cx, cy = rng.uniform(0.2, 0.8, size=2)
        pattern = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (0.05 + 0.05 * rng.uniform()))
    channels = [np.clip(base[c] * 0.5 + pattern * (0.5 - 0.2 * c) + 0.01 * index, 0, 1) for c in range(3)]
    array = (np.stack(channels, axis=-1) * 255).round().astype(np.uint8)
    array[0, 0] = [index % 256, (index // 256) % 256, len(kind)]  # guarantee uniqueness
    image = Image.fromarray(array, mode="RGB")
    if mode != "RGB":
        image = image.convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _seed(kind: str, index: int) -> int:
    return (sum(kind.encode()) * 1_000_003 + index * 7919) % (2**32)


def images_write(folder: Path, count: int, *, kind: str = "content", size: int = 32, start: int = 0) -> list[Path]:
    """Write ``count`` deterministic PNGs named ``{kind}-{index:03d}.png`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(start, start + count):
        path = folder / f"{kind}-{index:03d}.png"
        path.write_bytes(png_bytes(index, size=size, kind=kind))
        paths.append(path)
    return paths


def images_zip(count: int, *, kind: str = "content", size: int = 32, extra: dict[str, bytes] | None = None) -> bytes:
    """A zip (bytes) of ``count`` deterministic PNGs plus ``extra`` members ``{name: bytes}``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for index in range(count):
            archive.writestr(f"{kind}-{index:03d}.png", png_bytes(index, size=size, kind=kind))
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def default_metrics(metrics: Sequence[str], ranking: str) -> list[dict[str, Any]]:
    return [{"metric": metric, "shown": True, "ranking": metric == ranking} for metric in metrics]


def competition_create_for_tests(
    *,
    slug: str = "wood",
    title: str | None = None,
    organizer=None,
    phase_open: bool = True,
    phase_slug: str = "main",
    style_images: int = 4,
    content_images: int = 6,
    preview: int = 2,
    public_fraction: float = 0.5,
    split_seed: int = 7,
    feature_weights: str = "random",
    image_size: int = 32,
    metrics: Sequence[str] = ("fid", "lpips", "ssim"),
    ranking: str = "fid",
    visibility: str = "public",
    accepted_formats: Sequence[str] = ("safetensors", "onnx"),
    max_team_size: int = 3,
    rules: str = "Be kind. One account per person.",
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    **phase_fields: Any,
):
    """A competition with one phase (open now unless ``phase_open=False``: then it ended an hour
    ago), its metrics, a style set and a split content set of generated PNGs of ``image_size``.

    ``organizer`` defaults to a new staff user ``{slug}-organizer``. ``phase_fields`` go to
    :func:`competitions.services.phase_create` (``daily_quota``, ``max_running``...).
    """
    from competitions import services
    from competitions.imagesets import image_set_prepare

    organizer = organizer or organizer_create(f"{slug}-organizer")
    competition = services.competition_create(
        actor=organizer,
        slug=slug,
        title=title or f"{slug.title()} test competition",
        summary=f"Turn photos into {slug}.",
        rules=rules,
        visibility=visibility,
        image_size=image_size,
        feature_weights=feature_weights,
        accepted_formats=list(accepted_formats),
        max_team_size=max_team_size,
    )
    now = timezone.now()
    if starts_at is None:
        starts_at = now - timedelta(days=1) if phase_open else now - timedelta(days=3)
    if ends_at is None:
        ends_at = now + timedelta(days=7) if phase_open else now - timedelta(hours=1)
    services.phase_create(
        competition=competition,
        actor=organizer,
        slug=phase_slug,
        name=phase_slug.title(),
        starts_at=starts_at,
        ends_at=ends_at,
        metrics=default_metrics(metrics, ranking),
        **phase_fields,
    )
    for kind, count in (("style", style_images), ("content", content_images)):
        if count <= 0:
            continue
        with tempfile.TemporaryDirectory() as folder:
            entries = [
                (f"{kind}-{index:03d}.png", (lambda i=index, k=kind: png_bytes(i, size=image_size, kind=k)))
                for index in range(count)
            ]
            prepared = image_set_prepare(entries, folder=Path(folder), label=f"{kind}/")
            split = (
                {"split_seed": split_seed, "public_fraction": public_fraction, "previews": preview}
                if kind == "content"
                else {}
            )
            services.image_set_replace(competition=competition, actor=organizer, kind=kind, prepared=prepared, **split)
    competition.refresh_from_db()
    return competition


def participant_join(competition, user):
    """Join ``competition`` as ``user`` with the rules accepted; returns the Participation (with team)."""
    from competitions import services

    return services.participation_join(competition=competition, user=user, accept_rules=True)


def submission_new(phase, team, user, **fields: Any):
    """An unsaved submission row of ``user`` for ``team``, without a file, queued: a 1-byte ONNX model
    ``generator.onnx`` unless ``fields`` say otherwise (``state``, ``original_name``, ``failure_code``...).
    For many rows at once: ``Submission.objects.bulk_create([submission_new(...), ...])``."""
    from submissions.models import Submission

    values = {"original_name": "generator.onnx", "format": "onnx", "sha256": "0" * 64, "size": 1, **fields}
    return Submission(phase=phase, team=team, submitted_by=user, **values)


def submission_create(phase, team, user, **fields: Any):
    """A submission row as :func:`submission_new` makes it, saved."""
    submission = submission_new(phase, team, user, **fields)
    submission.save()
    return submission


def score_new(
    submission,
    metric: str,
    value: float,
    *,
    split: str = "public",
    interval: tuple[float, float] | None = None,
    calibrated: bool = False,
):
    """An unsaved Score row of ``submission``, as a test worker leaves it (``clean`` preprocessing,
    gan_core version ``test``); ``interval`` is (low, high). For many at once: ``bulk_create``."""
    from submissions.models import Score

    low, high = interval or (None, None)
    return Score(
        submission=submission, split=split, metric=metric, value=value, interval_low=low, interval_high=high,
        calibrated=calibrated, preprocessing_mode="clean", gan_core_version="test",
    )  # fmt: skip


def score_create(submission, metric: str, value: float, **fields: Any):
    """A Score row as :func:`score_new` makes it, saved."""
    score = score_new(submission, metric, value, **fields)
    score.save()
    return score
