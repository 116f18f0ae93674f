"""Fixtures of the scoring tests: a small competition, checkpoints of a reference generator, submissions."""

from __future__ import annotations

import hashlib
import tempfile
import uuid
from pathlib import Path

import pytest
from django.core.files.base import ContentFile

from gan_platform.storages import private_storage
from submissions.models import Submission, checkpoint_path
from tests.factories import competition_create_for_tests, participant_join, user_create

#: A tiny reference generator: TransformerNet with 8 channels and one residual block (34,275 parameters).
GENERATOR_CONFIG = {"architecture": "transformer_net", "hyperparameters": {"channels": 8, "n_residual": 1}}
SCORED_METRICS = ("fid", "lpips", "ssim", "latency", "parameters")


def checkpoint_bytes(config: dict | None = None, *, seed: int = 0, weights_of: dict | None = None) -> bytes:
    """A safetensors checkpoint of ``config`` (random weights from ``seed``); ``weights_of``: take the
    tensors of another config instead (a header/shape mismatch, the participant's fault)."""
    import torch

    from gan_core.checkpoints import save_safetensors_checkpoint
    from gan_core.generators import build_generator

    torch.manual_seed(seed)
    module = build_generator(weights_of or config or GENERATOR_CONFIG)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "generator.safetensors"
        save_safetensors_checkpoint(module.state_dict(), path, config=config or GENERATOR_CONFIG)
        return path.read_bytes()


def submission_row(phase, team, user, data: bytes, **fields) -> Submission:
    """A queued submission row with ``data`` in private storage (the web side's checks skipped)."""
    values = {"original_name": "generator.safetensors", "format": Submission.Format.SAFETENSORS, **fields}
    submission = Submission(
        phase=phase,
        team=team,
        submitted_by=user,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        **values,
    )
    # through private_storage(), as the upload service writes it (a test may have swapped the storage)
    submission.file.name = private_storage().save(checkpoint_path(submission, "checkpoint"), ContentFile(data))
    submission.save()
    return submission


@pytest.fixture(autouse=True)
def own_gpu_queue(settings) -> str:
    """Each test sends scoring tasks to a queue of its own: the reconciler reads the broker's queue
    (decision 0014), and messages other tests left in the shared ``gpu`` queue must not count."""
    settings.ATELIER_GPU_QUEUE = f"test-gpu-{uuid.uuid4().hex[:10]}"
    return settings.ATELIER_GPU_QUEUE


@pytest.fixture
def arena(request):
    """A competition (random feature networks, 32 x 32 images, 4 style, 6 content of which 2 preview)
    with one open phase scoring fid, lpips, ssim, latency and parameters, and a joined participant."""
    slug = "c3-" + hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:10]
    competition = competition_create_for_tests(slug=slug, metrics=SCORED_METRICS, ranking="fid")
    user = user_create(f"{slug}-alice")
    participation = participant_join(competition, user)
    phase = competition.phases.get()
    return {"competition": competition, "phase": phase, "user": user, "team": participation.team}


@pytest.fixture
def make_submission(arena):
    def make(data: bytes | None = None, **fields) -> Submission:
        return submission_row(arena["phase"], arena["team"], arena["user"], data or b"not-a-real-checkpoint", **fields)

    return make


__all__ = ["GENERATOR_CONFIG", "SCORED_METRICS", "checkpoint_bytes", "submission_row"]
