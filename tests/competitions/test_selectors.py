"""Visibility of competitions and images, open phases, organizers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from competitions import selectors, services
from competitions.models import ImageSet
from tests.factories import competition_create_for_tests, participant_join, user_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def three(organizer):
    return {
        visibility: competition_create_for_tests(
            slug=visibility, organizer=organizer, visibility=visibility, style_images=1, content_images=2, preview=1
        )
        for visibility in ("public", "unlisted", "draft")
    }


def slugs(queryset):
    return sorted(competition.slug for competition in queryset)


def test_anonymous_visitors_list_only_public_competitions_and_open_unlisted_by_address(three):
    anonymous = AnonymousUser()

    assert slugs(selectors.competition_list(user=anonymous)) == ["public"]
    assert selectors.competition_get(slug="unlisted", user=anonymous) == three["unlisted"]
    assert selectors.competition_get(slug="draft", user=anonymous) is None


def test_drafts_are_hidden_from_participants_and_shown_to_organizers_and_superusers(three, organizer, alice):
    assert selectors.competition_get(slug="draft", user=alice) is None
    assert "draft" not in slugs(selectors.competition_list(user=alice))

    assert slugs(selectors.competition_list(user=organizer)) == ["draft", "public", "unlisted"]
    assert selectors.competition_get(slug="draft", user=organizer) == three["draft"]
    root = user_create("root", is_superuser=True, is_staff=True)
    assert slugs(selectors.competition_list(user=root)) == ["draft", "public", "unlisted"]


def test_an_unlisted_competition_is_listed_for_those_who_joined_it(three, alice):
    participant_join(three["unlisted"], alice)

    assert slugs(selectors.competition_list(user=alice)) == ["public", "unlisted"]


def test_is_organizer(three, organizer, alice):
    competition = three["public"]
    assert selectors.is_organizer(competition=competition, user=organizer)
    assert not selectors.is_organizer(competition=competition, user=alice)
    assert not selectors.is_organizer(competition=competition, user=AnonymousUser())
    assert selectors.is_organizer(competition=competition, user=user_create("root", is_superuser=True))


def test_phase_current_is_the_phase_open_now(organizer):
    competition = services.competition_create(actor=organizer, slug="ink", title="Ink")
    now = timezone.now()
    for slug, start, end in (("dev", -10, -1), ("final", -1, 5), ("extra", 5, 9)):
        services.phase_create(
            competition=competition,
            actor=organizer,
            slug=slug,
            name=slug,
            starts_at=now + timedelta(days=start),
            ends_at=now + timedelta(days=end),
        )

    assert selectors.phase_current(competition=competition).slug == "final"
    assert selectors.phase_current(competition=competition, at=now + timedelta(days=6)).slug == "extra"
    assert selectors.phase_current(competition=competition, at=now + timedelta(days=10)) is None


def test_public_images_are_the_style_set_and_the_previews_only(organizer):
    competition = competition_create_for_tests(organizer=organizer, style_images=3, content_images=6, preview=2)

    images = list(selectors.public_images(competition=competition))

    kinds = [(image.image_set.kind, image.is_preview) for image in images]
    assert kinds.count((ImageSet.Kind.STYLE, False)) == 3 and kinds.count((ImageSet.Kind.CONTENT, True)) == 2
    assert len(images) == 5 and all(image.split in ("", "public") for image in images)
    hidden = competition.image_sets.get(kind="content").images.filter(is_preview=False).first()
    assert selectors.public_image_get(competition=competition, image_id=hidden.pk) is None


@pytest.mark.django_db
def test_a_weights_report_with_an_unknown_state_or_no_hostname_is_refused_and_nothing_is_written():
    from competitions.models import FeatureWeightsReport
    from competitions.services import feature_weights_report_record
    from gan_platform.errors import ApplicationError

    with pytest.raises(ApplicationError, match="state 'present' of 'vgg19' is not one of verified, missing, corrupt"):
        feature_weights_report_record(hostname="gpu1", files=[{"name": "vgg19", "state": "present"}])
    with pytest.raises(ApplicationError, match="needs the worker's hostname"):
        feature_weights_report_record(hostname=" ", files=[])
    assert not FeatureWeightsReport.objects.exists()
