"""Compare: two or more submissions side by side, their scores and their outputs on the same
public preview inputs.

Only submissions the requester may see take part (:func:`submissions.selectors.submission_get`:
one's own team's, the baselines, everything for organizers); any other id is "not found", never
"forbidden". Scores are filtered per submission as everywhere (private split only once revealed
or for organizers, hidden metrics only for organizers); outputs exist only on preview images,
which are public, so nothing shown depends on a hidden input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from competitions.models import Competition, DatasetImage, PhaseMetric
from competitions.selectors import is_organizer, participation_get, preview_images
from gan_platform.errors import ApplicationError
from gan_platform.storages import private_storage
from submissions.models import Score, Submission
from submissions.selectors import metric_display, submission_get, submission_scores_visible

__all__ = ["COMPARE_MAX", "Comparison", "comparison_candidates", "comparison_get", "comparison_ids_parse"]

COMPARE_MAX = 6


@dataclass(frozen=True)
class Comparison:
    """``submissions`` in the order asked; ``metrics``: rows of (phase metric, [score per submission
    or None]) for the public split and, when visible for every one, the private split;
    ``gallery``: rows of (preview image, [output stem or None per submission])."""

    submissions: list[Submission]
    metrics: list[tuple[PhaseMetric, str, list[Score | None]]]
    gallery: list[tuple[DatasetImage, list[str | None]]]


def comparison_ids_parse(raw: str | list[str] | None) -> list[int]:
    """Submission ids from ``?ids=3,5`` (or repeated ``ids``), in order, without repeats.

    Raises:
        ApplicationError: ``validation_error`` unless 2 to :data:`COMPARE_MAX` whole numbers.
    """
    parts = raw if isinstance(raw, list) else [raw or ""]
    ids: list[int] = []
    for part in ",".join(parts).split(","):
        part = part.strip().lstrip("#")
        if not part:
            continue
        if not part.isdigit():
            raise ApplicationError(f"ids: {part!r} is not a submission number.", code="validation_error")
        if int(part) not in ids:
            ids.append(int(part))
    if not 2 <= len(ids) <= COMPARE_MAX:
        raise ApplicationError(
            f"ids: pick 2 to {COMPARE_MAX} different submissions to compare ({len(ids)} given).",
            code="validation_error",
        )
    return ids


def comparison_get(*, competition: Competition, ids: list[int], user: Any) -> Comparison:
    """The comparison of ``ids`` as ``user`` may see them.

    Raises:
        ApplicationError: ``not_found`` (404) naming the first id that is not a submission of this
            competition visible to ``user``; ``validation_error`` when they span several phases.
    """
    submissions = []
    for submission_id in ids:
        submission = submission_get(submission_id=submission_id, user=user)
        if submission is None or submission.phase.competition_id != competition.pk:
            raise ApplicationError(
                f"Submission {submission_id} is not one you can see in this competition.", code="not_found", status=404
            )
        submissions.append(submission)
    phases = {submission.phase_id for submission in submissions}
    if len(phases) > 1:
        raise ApplicationError(
            "These submissions belong to different phases; compare submissions of one phase.",
            code="validation_error",
        )
    phase = submissions[0].phase
    organizer = is_organizer(competition=competition, user=user)
    visible = [
        {
            (score.split, score.metric): score
            for score in submission_scores_visible(submission=s, user=user, organizer=organizer)
        }
        for s in submissions
    ]
    display = metric_display(phase=phase)
    metrics = sorted(
        [metric for metric in phase.metrics.all() if metric.shown or organizer],
        key=lambda metric: (not metric.is_ranking, display.position(metric.metric)),
    )
    rows: list[tuple[PhaseMetric, str, list[Score | None]]] = []
    for split in (Score.Split.PUBLIC, Score.Split.PRIVATE):
        for metric in metrics:
            cells = [scores.get((split, metric.metric)) for scores in visible]
            if any(cell is not None for cell in cells):
                rows.append((metric, split, cells))
    storage = private_storage()
    gallery = []
    for image in preview_images(competition=competition):
        stem = image.name.rsplit(".", 1)[0]
        outputs = [stem if storage.exists(s.preview_output_name(image.name)) else None for s in submissions]
        gallery.append((image, outputs))
    return Comparison(submissions=submissions, metrics=rows, gallery=gallery)


def comparison_candidates(*, competition: Competition, phase: Any, user: Any) -> list[Submission]:
    """What ``user`` may compare in ``phase``: their team's scored submissions and the scored
    baselines (all scored ones for organizers), newest first, at most 100."""
    scored = Submission.objects.filter(phase=phase, state=Submission.State.SCORED).select_related("team")
    if not is_organizer(competition=competition, user=user):
        participation = participation_get(competition=competition, user=user)
        mine = scored.filter(team_id=participation.team_id) if participation is not None else scored.none()
        scored = mine | scored.filter(is_baseline=True)
    return list(scored.order_by("-created_at", "-id")[:100])
