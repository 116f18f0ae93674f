"""Private helpers shared by the competitions services: errors that name a field, ``full_clean``,
the organizer check, the standings hook and private-storage cleanup.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Model

from competitions.models import Competition, Phase
from competitions.selectors import is_organizer
from gan_platform.errors import ApplicationError
from gan_platform.storages import private_storage

logger = logging.getLogger(__name__)


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


def _files_delete(names: Iterable[str]) -> None:
    storage = private_storage()
    for name in names:
        try:
            storage.delete(name)
        except OSError:
            logger.warning("Could not remove %s from private storage.", name)
