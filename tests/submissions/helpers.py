"""Helpers of the submissions and API tests: checkpoint bytes, scored rows, uploads."""

from __future__ import annotations

import io
import json
import math
import pickle
import struct
import tarfile
import zipfile
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from submissions.models import Score, Submission
from submissions.standings import standings_submission_changed
from tests.factories import score_new

TINY_CONFIG = {"architecture": "transformer_net", "hyperparameters": {"channels": 1, "n_residual": 1}}
"""The smallest reference generator (1,093 parameters): what the helpers' valid checkpoints hold."""


def safetensors_bytes(*, header_padding: int = 0, with_config: bool = True) -> bytes:
    """A small valid safetensors checkpoint of :data:`TINY_CONFIG` (zero weights), built by hand like the
    format says: 8-byte little-endian header length, JSON header, raw data. ``header_padding`` adds spaces
    to the header (safetensors pads headers with spaces) to make it long; ``with_config=False`` leaves the
    Atelier config out of the metadata."""
    from gan_core.architectures import expected_shapes

    header: dict = {"__metadata__": {"atelier": json.dumps(TINY_CONFIG)}} if with_config else {}
    offset = 0
    for name, shape in expected_shapes(TINY_CONFIG).items():
        size = 4 * math.prod(shape)
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header).encode() + b" " * header_padding
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"\x00" * offset


def onnx_bytes() -> bytes:
    """A tiny valid ONNX model (Identity on a 1x3xHxW float tensor), serialised by the onnx package."""
    from onnx import TensorProto, helper

    node = helper.make_node("Identity", ["input"], ["output"])
    graph = helper.make_graph(
        [node],
        "identity",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, None, None])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, None, None])],
    )
    model = helper.make_model(graph, producer_name="atelier-tests", opset_imports=[helper.make_opsetid("", 17)])
    return model.SerializeToString()


def big_onnx(size_mib: int = 6) -> bytes:
    """An ONNX model of about ``size_mib`` MiB (several S3 parts of 5 MiB) that passes the upload's
    checks: the tests' Identity model with an initializer of patterned bytes."""
    from onnx import TensorProto, helper, load_from_string

    model = load_from_string(onnx_bytes())
    padding = bytes(range(256)) * (size_mib * (1 << 20) // 256)
    model.graph.initializer.append(helper.make_tensor("padding", TensorProto.UINT8, [len(padding)], padding, raw=True))
    return model.SerializeToString()


def pickle_bytes() -> bytes:
    """What an old-style ``torch.save`` of a state dict starts with: a pickle (protocol 2)."""
    return pickle.dumps({"weight": [0.0, 1.0]}, protocol=2)


def zip_bytes() -> bytes:
    """The shape of a modern ``torch.save`` / TorchScript / ``.pt2`` file: a zip archive."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", pickle_bytes())
    return buffer.getvalue()


def tar_bytes() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo("pickle")
        payload = pickle_bytes()
        info.size = len(payload)
        archive.addfile(info, io.BytesIO(payload))
    return buffer.getvalue()


def upload(content: bytes | None = None, name: str = "generator.safetensors") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, safetensors_bytes() if content is None else content)


def stored_files(root: Path) -> list[str]:
    """Every file the submissions app stored under the private ``root`` (its ``submissions/``
    folder; image sets live beside it), relative to ``root`` and sorted."""
    folder = root / "submissions"
    if not folder.exists():
        return []
    return sorted(path.relative_to(root).as_posix() for path in folder.rglob("*") if path.is_file())


def scored_submission_create(
    *,
    phase,
    team,
    user,
    public: Mapping[str, float],
    private: Mapping[str, float] | None = None,
    created_at: datetime | None = None,
    is_baseline: bool = False,
    is_final: bool = False,
    calibrated: bool = False,
    interval: tuple[float, float] | None = None,
    update_standings: bool = True,
) -> Submission:
    """A scored submission with its Score rows and its standings, as the scoring pipeline leaves it
    (ORM, no file; ``update_standings=False`` leaves the standings as they were)."""
    submission = Submission.objects.create(
        phase=phase,
        team=team,
        submitted_by=user,
        file=f"submissions/{phase.pk}/test/checkpoint",
        original_name="generator.safetensors",
        format=Submission.Format.SAFETENSORS,
        sha256="0" * 64,
        size=100,
        state=Submission.State.SCORED,
        is_baseline=is_baseline,
        is_final=is_final,
    )
    if created_at is not None:
        Submission.objects.filter(pk=submission.pk).update(created_at=created_at)
    rows = []
    for split, values in ((Score.Split.PUBLIC, public), (Score.Split.PRIVATE, private or {})):
        for metric, value in values.items():
            rows.append(score_new(submission, metric, value, split=split, interval=interval, calibrated=calibrated))
    Score.objects.bulk_create(rows)
    if update_standings:
        standings_submission_changed(submission_id=submission.pk)
    submission.refresh_from_db()
    return submission


def scored_hours_ago(hours: float, **fields) -> Submission:
    """A scored submission (:func:`scored_submission_create` with ``fields``) made ``hours`` hours ago."""
    return scored_submission_create(created_at=timezone.now() - timedelta(hours=hours), **fields)
