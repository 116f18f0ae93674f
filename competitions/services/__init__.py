"""Writes of the competitions app: competitions, phases, metrics, image sets, participation, teams.

Every service is keyword-only, runs in one transaction, ``full_clean()``s what it saves and
raises :class:`gan_platform.errors.ApplicationError` with a code and a message that names the
field (``fields`` in ``extra`` maps the field to its messages).

One module per topic: :mod:`competitions.services.competitions` (competitions, phases, metric
configuration, reveal), :mod:`competitions.services.imagesets` (style and content sets and the
content split) and :mod:`competitions.services.teams` (participation and teams, with the team
rule). Callers import from this package; patch a name in the submodule that looks it up.
"""

from competitions.services.competitions import (
    ACCEPTED_FORMATS,
    ARCHITECTURES,
    COMPETITION_FIELDS,
    PHASE_FIELDS,
    RESERVED_SLUGS,
    SLUG_PATTERN,
    competition_check,
    competition_create,
    competition_delete,
    competition_organizer_add,
    competition_update,
    metric_default_direction,
    phase_check,
    phase_create,
    phase_metrics_set,
    phase_private_reveal,
    phase_update,
)
from competitions.services.feature_weights import feature_weights_report_record
from competitions.services.imagesets import (
    content_split_apply,
    content_split_compute,
    image_set_replace,
    image_set_replace_from_folder,
    image_set_replace_from_zip,
)
from competitions.services.teams import (
    participation_join,
    team_code_reset,
    team_create,
    team_join,
    team_leave,
)

__all__ = [
    "ACCEPTED_FORMATS",
    "ARCHITECTURES",
    "COMPETITION_FIELDS",
    "PHASE_FIELDS",
    "RESERVED_SLUGS",
    "SLUG_PATTERN",
    "competition_check",
    "competition_create",
    "competition_delete",
    "competition_organizer_add",
    "competition_update",
    "content_split_apply",
    "feature_weights_report_record",
    "content_split_compute",
    "image_set_replace",
    "image_set_replace_from_folder",
    "image_set_replace_from_zip",
    "metric_default_direction",
    "participation_join",
    "phase_check",
    "phase_create",
    "phase_metrics_set",
    "phase_private_reveal",
    "phase_update",
    "team_code_reset",
    "team_create",
    "team_join",
    "team_leave",
]
