"""Writes of human judging: serving a pair, recording a vote, asking for a recompute.

The ratings themselves are fitted by the task ``judging.ratings_update`` (:mod:`judging.ratings`),
never in a request: a vote only asks for it (:func:`ratings_request`, at most once per
``ATELIER_RATINGS_DEBOUNCE_SECONDS`` per phase), and the beat task ``judging.ratings_sweep``
catches up on what arrived meanwhile.
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta
from typing import Any

import numpy as np
from celery import current_app
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from competitions.models import Phase
from competitions.selectors import is_organizer, preview_images
from gan_core.ratings import pair_choose
from gan_platform.errors import ApplicationError
from gan_platform.storages import private_storage
from judging.models import Assignment, Choice, GoldPair, JudgingConfig, Vote
from judging.selectors import pool_get, voter_check
from submissions.models import Submission
from submissions.selectors import viewer_team

__all__ = [
    "RATINGS_UPDATE",
    "assignment_create",
    "assignment_for_voter",
    "judging_config_set",
    "ratings_request",
    "vote_create",
]

logger = logging.getLogger(__name__)

RATINGS_UPDATE = "judging.ratings_update"
ASSIGNMENT_SECONDS = 3600
SIDES = ("left", "right")


def _limits(config: JudgingConfig, user: Any, now) -> None:
    votes = Vote.objects.filter(phase_id=config.phase_id, voter=user)
    for window, limit, label in (
        (timedelta(hours=1), config.votes_per_hour, "hour"),
        (timedelta(days=1), config.votes_per_day, "day"),
    ):
        since = now - window
        recent = votes.filter(created_at__gte=since)
        if recent.count() >= limit:
            oldest = recent.order_by("created_at").values_list("created_at", flat=True).first()
            wait = max(1, int((oldest + window - now).total_seconds()) + 1)
            raise ApplicationError(
                f"You cast {limit} votes in the last {label}, the most this phase allows; vote again in {wait} s.",
                code="throttled",
                status=429,
                extra={"wait": wait},
            )


def _outputs_exist(submission_ids: list[int], image_name: str) -> bool:
    storage = private_storage()
    by_id = {s.pk: s for s in Submission.objects.filter(pk__in=submission_ids)}
    return all(storage.exists(by_id[pk].preview_output_name(image_name)) for pk in submission_ids)


def _gold_for(config: JudgingConfig, user: Any, pool_ids: set[int], rng: np.random.Generator) -> GoldPair | None:
    if not config.gold_every:
        return None
    served = Assignment.objects.filter(phase_id=config.phase_id, voter=user).count()
    if served % config.gold_every != config.gold_every - 1:
        return None
    answered = Vote.objects.filter(phase_id=config.phase_id, voter=user, gold__isnull=False).values("gold_id")
    candidates = [
        gold
        for gold in GoldPair.objects.filter(phase_id=config.phase_id).exclude(pk__in=answered)
        if gold.submission_a_id in pool_ids and gold.submission_b_id in pool_ids
    ]
    return candidates[int(rng.integers(0, len(candidates)))] if candidates else None


def assignment_create(*, phase: Phase, user: Any, rng: np.random.Generator | None = None) -> Assignment:
    """Serve ``user`` a pair of ``phase``: two submissions on the public board (none of the voter's
    team), one public preview image both have an output on and that the voter has not voted on for
    this pair, in random left/right order; sometimes a gold pair (``gold_every``).

    Raises:
        ApplicationError: see :func:`judging.selectors.voter_check`; ``throttled`` (429) past the
            rate limits; ``no_pair`` (404) when nothing is left to vote on.
    """
    rng = rng or np.random.default_rng()
    config = JudgingConfig.objects.select_related("phase__competition").filter(phase=phase).first()
    voter_check(config=config, user=user)
    now = timezone.now()
    _limits(config, user, now)
    served_hour = Assignment.objects.filter(voter=user, created_at__gte=now - timedelta(hours=1)).count()
    if served_hour >= 2 * config.votes_per_hour + 20:
        raise ApplicationError(
            "You asked for more pairs in the last hour than you may vote on; wait a while.",
            code="throttled",
            status=429,
            extra={"wait": 600},
        )
    team = viewer_team(competition=phase.competition, user=user)
    pool = [entry for entry in pool_get(phase=phase) if team is None or entry.team_id != team.pk]
    images = list(preview_images(competition=phase.competition))
    if len(pool) < 2 or not images:
        raise ApplicationError("There is nothing to vote on in this phase yet.", code="no_pair", status=404)
    ids = [entry.submission_id for entry in pool]
    gold = _gold_for(config, user, set(ids), rng)
    if gold is not None and _outputs_exist([gold.submission_a_id, gold.submission_b_id], gold.image.name):
        a, b, image = gold.submission_a_id, gold.submission_b_id, gold.image
    else:
        gold = None
        a, b, image = _pair_pick(config, user, ids, images, rng)
    left, right = (a, b) if rng.random() < 0.5 else (b, a)
    return Assignment.objects.create(
        token=secrets.token_urlsafe(24),
        phase=phase,
        voter=user,
        image=image,
        left_id=left,
        right_id=right,
        gold=gold,
        expires_at=now + timedelta(seconds=ASSIGNMENT_SECONDS),
    )


def _pair_pick(config: JudgingConfig, user: Any, ids: list[int], images: list, rng: np.random.Generator):
    index = {pk: k for k, pk in enumerate(ids)}
    fit = config.fit or {}
    prior = 1.0 / (2 * 0.01)
    theta = np.array([fit.get(str(pk), [0.0, prior, 0.0])[0] for pk in ids])
    variance = np.array([fit.get(str(pk), [0.0, prior, 0.0])[1] for pk in ids])
    comparisons = np.array([fit.get(str(pk), [0.0, prior, 0.0])[2] for pk in ids], dtype=np.float64)
    votes = Vote.objects.filter(phase_id=config.phase_id, submission_a__in=ids, submission_b__in=ids)
    pair_counts: dict[tuple[int, int], float] = {
        (index[a], index[b]): float(count)
        for a, b, count in votes.filter(gold__isnull=True)
        .values("submission_a_id", "submission_b_id")
        .annotate(count=Count("pk"))
        .values_list("submission_a_id", "submission_b_id", "count")
        .order_by()
    }
    # what the voter voted on, and what they hold unanswered (the page preloads the next pair
    # before the current one is voted on: both must differ)
    voted: dict[tuple[int, int], set[int]] = {}
    for a, b, image_id in votes.filter(voter=user).values_list("submission_a_id", "submission_b_id", "image_id"):
        voted.setdefault((index[a], index[b]), set()).add(image_id)
    held = Assignment.objects.filter(
        phase_id=config.phase_id, voter=user, expires_at__gt=timezone.now(), left__in=ids, right__in=ids
    ).values_list("left_id", "right_id", "image_id")
    for left, right, image_id in held:
        a, b = sorted((left, right))
        voted.setdefault((index[a], index[b]), set()).add(image_id)
    excluded = {key for key, seen in voted.items() if len(seen) >= len(images)}
    for _ in range(20):
        chosen = pair_choose(theta, variance, comparisons, rng=rng, excluded=excluded, pair_counts=pair_counts)
        if chosen is None:
            break
        i, j = chosen
        a, b = ids[i], ids[j]
        fresh = [image for image in images if image.pk not in voted.get((i, j), set())]
        rng.shuffle(fresh)
        for image in fresh:
            if _outputs_exist([a, b], image.name):
                return a, b, image
        excluded.add((i, j))
    raise ApplicationError("You have voted on every pair there is; thank you.", code="no_pair", status=404)


def assignment_for_voter(*, token: str, user: Any, unexpired: bool = True) -> Assignment:
    """The assignment ``token`` served to ``user``.

    Raises:
        ApplicationError: ``not_found`` (404) for a token that is unknown, another voter's or expired.
    """
    assignment = (
        Assignment.objects.select_related("phase__competition", "image", "left", "right", "gold")
        .filter(token=token, voter_id=getattr(user, "pk", None))
        .first()
    )
    if assignment is None or (unexpired and assignment.expires_at <= timezone.now()):
        raise ApplicationError("This pair is unknown or expired; ask for a new one.", code="not_found", status=404)
    return assignment


CHOICES = ("left", "right", "equal")


def vote_create(*, token: str, choice: str, user: Any) -> Vote:
    """Record ``user``'s ``choice`` (``left``, ``right`` or ``equal``) on the pair ``token``.

    The rules are checked again (the voter may have lost the right, the pair its place on the
    board); a pair of the voter's own team is never counted; the database refuses a second vote on
    the same pair and image.

    Raises:
        ApplicationError: ``validation_error`` for an unknown choice; ``not_found``,
            ``throttled``, ``voting_not_allowed`` as for serving; ``pair_not_votable`` (409) when
            one side left the board or is the voter's team's; ``already_voted`` (409).
    """
    if choice not in CHOICES:
        raise ApplicationError(
            f"choice: {choice!r} is not a choice; use 'left', 'right' or 'equal'.",
            code="validation_error",
            extra={"fields": {"choice": ["Use 'left', 'right' or 'equal'."]}},
        )
    assignment = assignment_for_voter(token=token, user=user)
    phase = assignment.phase
    config = JudgingConfig.objects.select_related("phase__competition").filter(phase=phase).first()
    voter_check(config=config, user=user)
    now = timezone.now()
    _limits(config, user, now)
    team = viewer_team(competition=phase.competition, user=user)
    pool = {entry.submission_id: entry for entry in pool_get(phase=phase)}
    sides = (assignment.left_id, assignment.right_id)
    if any(pk not in pool for pk in sides) or any(team is not None and pool[pk].team_id == team.pk for pk in sides):
        raise ApplicationError(
            "One of these two is no longer on the public board, or is your team's; this pair is not counted.",
            code="pair_not_votable",
            status=409,
        )
    a, b = sorted(sides)
    a_was_left = assignment.left_id == a
    if choice == "equal":
        stored = Choice.TIE
    else:
        chosen = assignment.left_id if choice == "left" else assignment.right_id
        stored = Choice.A if chosen == a else Choice.B
    try:
        with transaction.atomic():
            vote = Vote.objects.create(
                phase=phase,
                voter=user,
                image=assignment.image,
                submission_a_id=a,
                submission_b_id=b,
                choice=stored,
                a_was_left=a_was_left,
                gold=assignment.gold,
            )
            Assignment.objects.filter(pk=assignment.pk).update(expires_at=now)
    except IntegrityError:
        raise ApplicationError(
            "You already voted on this pair with this image.", code="already_voted", status=409
        ) from None
    transaction.on_commit(lambda: ratings_request(phase_id=phase.pk))
    return vote


def ratings_request(*, phase_id: int) -> bool:
    """Send ``judging.ratings_update`` for the phase unless one was sent within the debounce
    window (one conditional UPDATE decides, so concurrent votes send one message). Votes that
    arrive inside the window are fitted by the next request or by the sweep. Returns whether it sent."""
    now = timezone.now()
    window = now - timedelta(seconds=settings.ATELIER_RATINGS_DEBOUNCE_SECONDS)
    claimed = (
        JudgingConfig.objects.filter(phase_id=phase_id)
        .filter(Q(requested_at__isnull=True) | Q(requested_at__lt=window))
        .update(requested_at=now)
    )
    if not claimed:
        return False
    try:
        current_app.send_task(RATINGS_UPDATE, args=[phase_id], queue=settings.CELERY_TASK_DEFAULT_QUEUE)
    except Exception:
        logger.exception("could not send the ratings update of phase %s; the sweep will", phase_id)
        return False
    return True


def judging_config_set(*, phase: Phase, actor: Any, fields: dict[str, Any], raters: list[Any]) -> JudgingConfig:
    """Set the judging rules of ``phase`` (created on first use) and its rater group to ``raters``.

    Raises:
        ApplicationError: ``not_found`` (404) unless ``actor`` organises the competition;
            ``validation_error`` naming a field whose value the model refuses.
    """
    if not is_organizer(competition=phase.competition, user=actor):
        raise ApplicationError("No competition that you organise.", code="not_found", status=404)
    with transaction.atomic():
        config = JudgingConfig.objects.select_for_update().filter(phase=phase).first() or JudgingConfig(phase=phase)
        for name, value in fields.items():
            setattr(config, name, value)
        try:
            config.full_clean()
        except ValidationError as error:
            fields_wrong = error.message_dict
            text = "; ".join(f"{name}: {' '.join(messages)}" for name, messages in fields_wrong.items())
            raise ApplicationError(text, code="validation_error", extra={"fields": fields_wrong}) from None
        config.save()
        config.raters.set(raters)
    return config
