"""Fixtures of the judging tests: a competition whose public board holds four teams' scored
submissions and a baseline, each with outputs on the two public preview images."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile

from competitions.selectors import preview_images
from gan_platform.storages import private_storage
from judging.models import JudgingConfig
from tests.factories import participant_join, png_bytes, user_create
from tests.submissions.helpers import scored_submission_create


def outputs_write(submission, competition) -> dict[str, bytes]:
    written = {}
    for index, image in enumerate(preview_images(competition=competition)):
        data = png_bytes(1000 + submission.pk * 10 + index, size=16)
        private_storage().save(submission.preview_output_name(image.name), ContentFile(data))
        written[image.name] = data
    return written


@pytest.fixture(autouse=True)
def isolated(isolated_web_test) -> None:
    """Every judging test: private storage in its temporary folder, a clean cache, no broker."""


@pytest.fixture(autouse=True)
def no_broker(monkeypatch) -> list[tuple]:
    """Tasks sent by name (``current_app.send_task``) are recorded, not sent."""
    calls: list[tuple] = []
    monkeypatch.setattr("judging.services.current_app.send_task", lambda name, **kw: calls.append((name, kw)))
    return calls


@pytest.fixture
def board(competition, phase, organizer):
    """{name: submission} on the public board: teams a, b, c, d (FID 10, 20, 30, 40) and a baseline;
    team a also has a worse submission that is not on the board."""
    entries = {}
    for offset, name in enumerate("abcd"):
        user = user_create(f"user-{name}")
        team = participant_join(competition, user).team
        entries[name] = scored_submission_create(
            phase=phase, team=team, user=user, public={"fid": 10.0 * (offset + 1)}, private={"fid": 1.0}
        )
        entries[f"user-{name}"] = user
    entries["a-worse"] = scored_submission_create(
        phase=phase, team=entries["a"].team, user=entries["user-a"], public={"fid": 99.0}, private={"fid": 1.0}
    )
    entries["baseline"] = scored_submission_create(
        phase=phase, team=None, user=organizer, public={"fid": 25.0}, private={"fid": 1.0}, is_baseline=True
    )
    for key, submission in list(entries.items()):
        if not key.startswith("user-"):
            outputs_write(submission, competition)
    return entries


@pytest.fixture
def config(phase):
    return JudgingConfig.objects.create(
        phase=phase, enabled=True, voters=JudgingConfig.Voters.PARTICIPANTS, gold_every=0
    )


@pytest.fixture
def voter(competition):
    user = user_create("eve")
    participant_join(competition, user)
    return user
