"""The starter kit of a competition's phase: one zip to reproduce the platform's checks and
scores locally.

It holds only what anyone who sees the competition may see: the style set, the public preview
content images (never a hidden input), the phase's constraints (``constraints.json``), a
README with the exact ``python -m gan_core check`` / ``score`` commands for this phase, and the
newest scored baseline checkpoint of the phase in an accepted format (it passed the platform's
checks, so it passes ``check``); without one, the README says how to train one in minutes.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any

from competitions.models import Competition, Phase
from competitions.selectors import public_images
from gan_platform.storages import private_storage
from submissions.models import Submission

__all__ = ["starter_kit_baseline", "starter_kit_constraints", "starter_kit_readme", "starter_kit_zip"]

CHUNK = 1024 * 1024


def starter_kit_baseline(*, phase: Phase) -> Submission | None:
    """The newest scored baseline of ``phase`` in a format the competition accepts, or None."""
    return (
        Submission.objects.filter(
            phase=phase,
            is_baseline=True,
            state=Submission.State.SCORED,
            format__in=list(phase.competition.accepted_formats),
        )
        .order_by("-created_at", "-id")
        .first()
    )


def starter_kit_constraints(*, phase: Phase) -> dict[str, Any]:
    """What a submission to ``phase`` must satisfy, and how it is scored (JSON-able)."""
    competition = phase.competition
    metrics = list(phase.metrics.all())
    return {
        "competition": competition.slug,
        "phase": phase.slug,
        "image_size": competition.image_size,
        "input_value_range": competition.input_value_range,
        "accepted_formats": list(competition.accepted_formats),
        "accepted_architectures": list(competition.accepted_architectures or []),
        "upload_size_limit_bytes": phase.upload_size_limit,
        "execution_time_limit_seconds": phase.execution_time_limit,
        "preprocessing_mode": competition.preprocessing_mode,
        "calibrated": competition.calibrated,
        "ranking_metric": next((metric.metric for metric in metrics if metric.is_ranking), None),
        "metrics": [
            {"metric": metric.metric, "direction": metric.direction, "decimals": metric.decimals}
            for metric in metrics
            if metric.shown
        ],
        "starts_at": phase.starts_at.isoformat(),
        "ends_at": phase.ends_at.isoformat(),
    }


def _gan_core_metric(stored: str) -> str:
    from gan_core.metrics.registry import metric_get

    return metric_get(stored).name


def starter_kit_readme(*, phase: Phase, baseline: Submission | None) -> str:
    """The kit's README: the constraints and the exact commands for this phase."""
    competition = phase.competition
    constraints = starter_kit_constraints(phase=phase)
    core = [metric["metric"] for metric in constraints["metrics"] if metric["metric"] not in ("latency", "parameters")]
    metrics = ",".join(_gan_core_metric(name) for name in core) or "fid"
    checkpoint = f"baseline/{baseline.original_name}" if baseline is not None else "generator.safetensors"
    check = (
        f"python -m gan_core check {checkpoint} --value-range {competition.input_value_range} "
        f"--formats {','.join(competition.accepted_formats)} --max-bytes {phase.upload_size_limit}"
    )
    if competition.accepted_architectures:
        check += f" --architectures {','.join(competition.accepted_architectures)}"
    score = (
        f"python -m gan_core score --outputs outputs --style style --content preview --metrics {metrics} "
        f"--mode {competition.preprocessing_mode}"
    )
    if not competition.calibrated:
        score += " --random-weights"
    lines = [
        f"# Starter kit: {competition.title}, {phase.name}",
        "",
        "## Constraints",
        f"- Images: RGB, {competition.image_size} x {competition.image_size} pixels, values in "
        f"[{competition.input_value_range}]; the generator returns the same size and range.",
        f"- Formats: {', '.join(competition.accepted_formats)}"
        + (
            f" (architectures: {', '.join(competition.accepted_architectures)})"
            if competition.accepted_architectures
            else ""
        ),
        f"- Largest file: {phase.upload_size_limit:,} bytes; time limit: {phase.execution_time_limit} s per submission.",
        f"- Ranked by {constraints['ranking_metric']}; preprocessing mode {competition.preprocessing_mode}.",
        "- The same figures are in constraints.json.",
        "",
        "## Check a checkpoint as the platform does",
        "```",
        check,
        "```",
        "",
        "## Score outputs locally",
        "Run your generator on every image of preview/ and save the outputs under outputs/ with the same file",
        "names, then:",
        "```",
        score,
        "```",
        "The platform scores the hidden content set; preview/ holds its public preview images only, so local",
        "figures are an estimate from a few images.",
    ]
    if not competition.calibrated:
        lines += [
            "This competition scores with random-initialised feature networks (not calibrated): --random-weights",
            "reproduces them offline. Its figures compare submissions with each other only.",
        ]
    else:
        lines += [
            "Scoring needs the pretrained feature weights: `python -m gan_core weights fetch` downloads them once;",
            "offline, `--random-weights` runs but its figures are not comparable with the platform's.",
        ]
    lines += ["", "## Baseline"]
    if baseline is not None:
        lines += [
            f"{checkpoint} is the organizers' baseline (submission {baseline.pk}); it passed the platform's checks.",
        ]
    else:
        lines += [
            "This phase has no baseline checkpoint yet. Train a small one in a few minutes:",
            "```",
            "python -m gan_core train-demo --style style --content preview --minutes 2 -o generator.safetensors",
            "```",
        ]
    return "\n".join(lines) + "\n"


class _Sink:
    """A write-only file for ``zipfile`` whose written bytes are taken out as they come."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.offset = 0

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        self.offset += len(data)
        return len(data)

    def tell(self) -> int:
        return self.offset

    def flush(self) -> None:
        return None

    def take(self) -> bytes:
        data = b"".join(self.parts)
        self.parts.clear()
        return data


def starter_kit_zip(*, competition: Competition, phase: Phase) -> Iterator[bytes]:
    """The kit as a stream of zip bytes (files are copied in chunks; nothing is held whole)."""
    baseline = starter_kit_baseline(phase=phase)
    storage = private_storage()
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("README.md", starter_kit_readme(phase=phase, baseline=baseline))
        archive.writestr("constraints.json", json.dumps(starter_kit_constraints(phase=phase), indent=2) + "\n")
        yield sink.take()
        files = [
            (
                f"{'style' if image.image_set.kind == 'style' else 'preview'}/{PurePosixPath(image.name).name}",
                image.file.name,
            )
            for image in public_images(competition=competition)
        ]
        if baseline is not None:
            files.append((f"baseline/{PurePosixPath(baseline.original_name).name}", baseline.file.name))
        for arcname, stored in files:
            with storage.open(stored, "rb") as source, archive.open(arcname, "w", force_zip64=True) as target:
                while chunk := source.read(CHUNK):
                    target.write(chunk)
                    yield sink.take()
    yield sink.take()
