"""Writes of participation and teams: joining a competition, creating, joining and leaving a
team, and resetting a team's invitation code.

Team rule: a participant may leave or change team only while their current team has no
submission in a phase that has not ended yet (quotas count per team; moving would reset them).
A team whose last member leaves is deleted when it has no submission at all.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from competitions.models import Competition, Participation, Team
from competitions.selectors import is_organizer
from competitions.services._common import _full_clean, _invalid
from gan_platform.errors import ApplicationError


def _team_code() -> str:
    return secrets.token_urlsafe(9)


def _free_team_name(competition: Competition, base: str) -> str:
    name = base[:110]
    suffix = 2
    while Team.objects.filter(competition=competition, name=name).exists():
        name = f"{base[:110]}-{suffix}"
        suffix += 1
    return name


def _team_new(competition: Competition, user: Any, *, name: str) -> Team:
    """Save a new team ``name`` created by ``user``, with a fresh invitation code."""
    team = Team(competition=competition, name=name, created_by=user, join_code=_team_code())
    _full_clean(team)
    team.save()
    return team


def _team_has_live_submissions(team: Team, *, at: datetime | None = None) -> bool:
    at = at or timezone.now()
    return team.submissions.filter(phase__ends_at__gt=at).exists()


def participation_join(*, competition: Competition, user: Any, accept_rules: bool) -> Participation:
    """Join a competition: the rules must be accepted; creates the participant's team of one.

    Joining twice returns the existing participation. Drafts can be joined by organizers only.
    """
    if not getattr(user, "is_authenticated", False):
        raise ApplicationError("Log in to join a competition.", code="not_authenticated", status=401)
    if competition.visibility == Competition.Visibility.DRAFT and not is_organizer(competition=competition, user=user):
        raise ApplicationError(f"No competition {competition.slug!r}.", code="not_found", status=404)
    existing = Participation.objects.filter(competition=competition, user=user).select_related("team").first()
    if existing is not None:
        return existing
    if accept_rules is not True:
        raise ApplicationError(
            "accept_rules: read the competition's rules and accept them (accept_rules: true) to join.",
            code="rules_not_accepted",
            extra={"fields": {"accept_rules": ["The rules must be accepted to join."]}},
        )
    try:
        with transaction.atomic():
            team = _team_new(competition, user, name=_free_team_name(competition, user.get_username()))
            participation = Participation(
                competition=competition, user=user, team=team, accepted_rules_at=timezone.now()
            )
            _full_clean(participation)
            participation.save()
    except IntegrityError:
        # A concurrent join of the same user won the race: return its row.
        return Participation.objects.select_related("team").get(competition=competition, user=user)
    return participation


def _participation_for(competition: Competition, user: Any) -> Participation:
    participation = (
        Participation.objects.select_for_update()
        .select_related("team")
        .filter(competition=competition, user=user)
        .first()
    )
    if participation is None:
        raise ApplicationError(f"Join {competition.slug} first (accept its rules).", code="not_joined", status=403)
    return participation


def _team_locked(team: Team) -> ApplicationError:
    return ApplicationError(
        f"team: {team.name!r} has submissions in a phase that has not ended; its members can change team only "
        "after that phase ends.",
        code="team_locked",
        extra={"fields": {"team": ["Your team has submissions in a phase that has not ended."]}},
    )


def _team_move(participation: Participation, target: Team) -> None:
    """Move a participation to ``target`` and remove the old team if it is now empty and unused."""
    old = participation.team
    if old.pk == target.pk:
        return
    if _team_has_live_submissions(old):
        raise _team_locked(old)
    participation.team = target
    participation.save(update_fields=["team"])
    if not old.memberships.exists() and not old.submissions.exists():
        old.delete()


def team_create(*, competition: Competition, user: Any, name: str) -> Team:
    """Create a team named ``name`` and move the participant into it (see the module's team rule)."""
    name = (name or "").strip()
    if not name:
        raise _invalid("name", "a team needs a name.")
    with transaction.atomic():
        participation = _participation_for(competition, user)
        if Team.objects.filter(competition=competition, name=name).exists():
            raise _invalid(
                "name", f"a team called {name!r} already exists in {competition.slug}.", code="team_name_taken"
            )
        team = _team_new(competition, user, name=name)
        _team_move(participation, team)
    return team


def team_join(*, competition: Competition, user: Any, code: str) -> Team:
    """Join the team whose invitation code is ``code`` (members share it), if it has room."""
    with transaction.atomic():
        participation = _participation_for(competition, user)
        team = (
            Team.objects.select_for_update().filter(competition=competition, join_code=code).first() if code else None
        )
        if team is None:
            raise _invalid(
                "code",
                "no team of this competition has this invitation code; ask a member for it.",
                code="team_not_found",
            )
        if participation.team_id == team.pk:
            return team
        members = team.memberships.count()
        if members >= competition.max_team_size:
            raise _invalid(
                "code",
                f"team {team.name!r} is full ({members} of {competition.max_team_size} members).",
                code="team_full",
            )
        _team_move(participation, team)
    return team


def team_leave(*, competition: Competition, user: Any) -> Team:
    """Leave the current team for a new team of one (named after the user); see the module's team rule."""
    with transaction.atomic():
        participation = _participation_for(competition, user)
        if participation.team.memberships.count() == 1:
            return participation.team
        if _team_has_live_submissions(participation.team):
            raise _team_locked(participation.team)
        team = _team_new(competition, user, name=_free_team_name(competition, user.get_username()))
        _team_move(participation, team)
    return team


def team_code_reset(*, team: Team, user: Any) -> Team:
    """Give the team a new invitation code (members only); the old one stops working."""
    if not team.memberships.filter(user=user).exists() and not is_organizer(competition=team.competition, user=user):
        raise ApplicationError("Only members may change the team's code.", code="permission_denied", status=403)
    with transaction.atomic():
        team.join_code = _team_code()
        team.save(update_fields=["join_code"])
    return team
