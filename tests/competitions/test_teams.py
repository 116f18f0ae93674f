"""Participation (rules accepted, team of one) and teams (codes, size limit, the moving rule)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from competitions import services
from competitions.models import Participation, Team
from gan_platform.errors import ApplicationError
from tests.factories import competition_create_for_tests, participant_join, submission_create, user_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def competition(organizer):
    return competition_create_for_tests(
        organizer=organizer, style_images=1, content_images=2, preview=0, max_team_size=2
    )


def test_joining_without_accepting_the_rules_is_refused(competition, alice):
    for accept in (False, None, "yes"):
        with pytest.raises(ApplicationError) as caught:
            services.participation_join(competition=competition, user=alice, accept_rules=accept)
        assert caught.value.code == "rules_not_accepted"
        assert caught.value.message.startswith("accept_rules: ")
    assert not Participation.objects.exists() and not Team.objects.exists()


def test_joining_creates_a_team_of_one_named_after_the_user_and_is_idempotent(competition, alice):
    first = services.participation_join(competition=competition, user=alice, accept_rules=True)
    again = services.participation_join(competition=competition, user=alice, accept_rules=False)

    assert again.pk == first.pk and first.accepted_rules_at is not None
    assert (first.team.name, first.team.created_by, len(first.team.join_code) >= 8) == ("alice", alice, True)
    assert Team.objects.filter(competition=competition).count() == 1


def test_a_taken_team_name_gets_a_suffix(competition, alice):
    services.team_create(
        competition=competition, user=participant_join(competition, user_create("carol")).user, name="bob"
    )

    participation = participant_join(competition, user_create("bob"))

    assert participation.team.name == "bob-2"


def test_a_draft_cannot_be_joined_by_a_participant(organizer, alice):
    draft = competition_create_for_tests(
        slug="secret", organizer=organizer, visibility="draft", content_images=2, preview=0
    )

    with pytest.raises(ApplicationError) as caught:
        participant_join(draft, alice)
    assert caught.value.code == "not_found"


def test_a_member_invites_by_code_until_the_team_is_full(competition, alice, bob):
    # given alice's team and its code
    team = participant_join(competition, alice).team
    participant_join(competition, bob)
    carol = user_create("carol")
    participant_join(competition, carol)

    # when bob joins with the code, then he is in alice's team and his team of one is gone
    joined = services.team_join(competition=competition, user=bob, code=team.join_code)
    assert joined.pk == team.pk
    assert sorted(team.memberships.values_list("user__username", flat=True)) == ["alice", "bob"]
    assert not Team.objects.filter(name="bob").exists()

    # and carol is refused: the team has max_team_size = 2 members
    with pytest.raises(ApplicationError) as caught:
        services.team_join(competition=competition, user=carol, code=team.join_code)
    assert caught.value.code == "team_full" and "full (2 of 2 members)" in caught.value.message
    assert Participation.objects.get(user=carol).team.name == "carol"


def test_a_wrong_code_or_no_participation_is_refused(competition, alice, bob):
    participant_join(competition, alice)

    with pytest.raises(ApplicationError) as caught:
        services.team_join(competition=competition, user=alice, code="not-a-code")
    assert caught.value.code == "team_not_found" and caught.value.message.startswith("code: ")

    with pytest.raises(ApplicationError) as caught:
        services.team_join(competition=competition, user=bob, code="anything")
    assert caught.value.code == "not_joined"


def test_team_create_moves_the_participant_and_refuses_a_taken_name(competition, alice, bob):
    participant_join(competition, alice)
    participant_join(competition, bob)

    team = services.team_create(competition=competition, user=alice, name="Ink Lovers")

    assert Participation.objects.get(user=alice).team == team and not Team.objects.filter(name="alice").exists()
    with pytest.raises(ApplicationError) as caught:
        services.team_create(competition=competition, user=bob, name="Ink Lovers")
    assert caught.value.code == "team_name_taken"


def test_leaving_gives_a_team_of_one_and_a_solo_member_stays(competition, alice, bob):
    team = participant_join(competition, alice).team
    participant_join(competition, bob)
    services.team_join(competition=competition, user=bob, code=team.join_code)

    new_team = services.team_leave(competition=competition, user=bob)
    assert new_team.name == "bob" and Participation.objects.get(user=bob).team == new_team
    assert list(team.memberships.values_list("user__username", flat=True)) == ["alice"]

    # a member alone in a team stays in it
    assert services.team_leave(competition=competition, user=alice) == team


def test_a_team_with_submissions_in_a_running_phase_keeps_its_members(competition, alice, bob):
    # given alice and bob in one team that submitted in the open phase
    team = participant_join(competition, alice).team
    participant_join(competition, bob)
    services.team_join(competition=competition, user=bob, code=team.join_code)
    phase = competition.phases.get()
    submission_create(phase, team, alice)

    # then neither can leave nor move
    with pytest.raises(ApplicationError) as caught:
        services.team_leave(competition=competition, user=bob)
    assert caught.value.code == "team_locked" and "has not ended" in caught.value.message
    with pytest.raises(ApplicationError, match="has submissions in a phase that has not ended"):
        services.team_create(competition=competition, user=alice, name="Solo")
    assert Participation.objects.get(user=bob).team == team and not Team.objects.filter(name="Solo").exists()

    # when the phase has ended, then bob may leave
    phase.starts_at, phase.ends_at = timezone.now() - timedelta(days=9), timezone.now() - timedelta(days=1)
    phase.save()
    assert services.team_leave(competition=competition, user=bob).name == "bob"


def test_team_code_reset_changes_the_code_for_members_only(competition, alice, bob):
    team = participant_join(competition, alice).team
    old = team.join_code

    with pytest.raises(ApplicationError) as caught:
        services.team_code_reset(team=team, user=bob)
    assert caught.value.code == "permission_denied"

    services.team_code_reset(team=team, user=alice)
    team.refresh_from_db()
    assert team.join_code != old
    participant_join(competition, bob)
    with pytest.raises(ApplicationError) as caught:
        services.team_join(competition=competition, user=bob, code=old)
    assert caught.value.code == "team_not_found"
    assert services.team_join(competition=competition, user=bob, code=team.join_code) == team
