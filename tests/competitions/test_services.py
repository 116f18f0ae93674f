"""Organizer services: competitions, phase windows, metrics, the seeded content split."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from competitions import services
from competitions.models import Competition, DatasetImage, ImageSet, PhaseMetric
from gan_platform.errors import ApplicationError
from tests.factories import competition_create_for_tests, user_create

pytestmark = pytest.mark.django_db


def make_competition(organizer, slug="ink", **fields):
    return services.competition_create(actor=organizer, slug=slug, title="Ink", **fields)


def test_competition_create_makes_a_draft_organised_by_its_creator(organizer):
    competition = make_competition(organizer)

    assert competition.visibility == Competition.Visibility.DRAFT
    assert list(competition.organizers.all()) == [organizer]
    assert competition.accepted_formats == ["safetensors"]


@pytest.mark.parametrize(
    ("slug", "expected"),
    [("Ink", "not a valid slug"), ("ab", "not a valid slug"), ("ink--2", "not a valid slug"), ("admin", "reserved")],
)
def test_competition_create_refuses_bad_slugs_naming_the_field(organizer, slug, expected):
    with pytest.raises(ApplicationError) as caught:
        make_competition(organizer, slug=slug)

    assert caught.value.code == "validation_error"
    assert caught.value.message.startswith("slug: ") and expected in caught.value.message
    assert not Competition.objects.exists()


def test_competition_create_refuses_unknown_formats_and_architectures(organizer):
    with pytest.raises(ApplicationError, match=r"^accepted_formats: .*\['safetensors', 'onnx'\]"):
        make_competition(organizer, accepted_formats=["pickle"])
    with pytest.raises(ApplicationError, match=r"^accepted_architectures: .*'stylegan'"):
        make_competition(organizer, accepted_architectures=["stylegan"])


def test_competition_create_refuses_a_taken_slug_and_a_non_staff_user(organizer):
    make_competition(organizer)
    with pytest.raises(ApplicationError) as caught:
        make_competition(organizer)
    assert caught.value.code == "slug_taken"

    with pytest.raises(ApplicationError) as caught:
        make_competition(user_create("mallory"), slug="other")
    assert caught.value.code == "permission_denied" and caught.value.status == 403


def test_competition_update_is_for_organizers_only(organizer):
    competition = make_competition(organizer)

    with pytest.raises(ApplicationError) as caught:
        services.competition_update(competition=competition, actor=user_create("mallory"), title="Mine")
    assert caught.value.code == "permission_denied"

    services.competition_update(competition=competition, actor=organizer, title="Ink and wash", max_team_size=4)
    competition.refresh_from_db()
    assert (competition.title, competition.max_team_size) == ("Ink and wash", 4)


def phase(competition, organizer, slug, start_days, end_days, **fields):
    now = timezone.now().replace(microsecond=0)
    return services.phase_create(
        competition=competition,
        actor=organizer,
        slug=slug,
        name=slug.title(),
        starts_at=now + timedelta(days=start_days),
        ends_at=now + timedelta(days=end_days),
        **fields,
    )


def test_phase_create_refuses_an_end_before_the_start(organizer):
    competition = make_competition(organizer)

    with pytest.raises(ApplicationError, match=r"^ends_at: must be after starts_at"):
        phase(competition, organizer, "dev", 3, 1)
    assert not competition.phases.exists()


def test_phase_windows_may_touch_but_not_overlap(organizer):
    # given a phase from day 0 to day 10
    competition = make_competition(organizer)
    phase(competition, organizer, "dev", 0, 10)

    # when another phase overlaps it, then it is refused naming the other phase
    with pytest.raises(ApplicationError) as caught:
        phase(competition, organizer, "final", 9, 20)
    assert caught.value.message.startswith("starts_at: ") and "overlaps phase 'dev'" in caught.value.message

    # and a phase that starts when the first ends is fine
    final = phase(competition, organizer, "final", 10, 20)
    assert [p.slug for p in competition.phases.order_by("order")] == ["dev", "final"] and final.order == 1


def test_phase_update_cannot_move_a_phase_onto_another(organizer):
    competition = make_competition(organizer)
    dev = phase(competition, organizer, "dev", 0, 10)
    final = phase(competition, organizer, "final", 10, 20)

    with pytest.raises(ApplicationError, match="overlaps phase 'dev'"):
        services.phase_update(phase=final, actor=organizer, starts_at=dev.starts_at + timedelta(days=5))
    final.refresh_from_db()
    assert final.starts_at == dev.ends_at


def test_phase_metrics_need_exactly_one_ranking_metric(organizer):
    competition = make_competition(organizer)
    dev = phase(competition, organizer, "dev", 0, 10)

    with pytest.raises(ApplicationError, match=r"^metrics: exactly one metric must rank the leaderboard; 0 do"):
        services.phase_metrics_set(phase=dev, actor=organizer, metrics=[{"metric": "fid"}])
    with pytest.raises(ApplicationError, match="; 2 do"):
        services.phase_metrics_set(
            phase=dev, actor=organizer, metrics=[{"metric": "fid", "ranking": True}, {"metric": "kid", "ranking": True}]
        )
    assert not dev.metrics.exists()


@pytest.mark.parametrize(
    ("metrics", "expected"),
    [
        ([{"metric": "fid", "ranking": True}, {"metric": "psnr"}], r"^metrics\[1\]\.metric: unknown metric 'psnr'"),
        ([{"metric": "fid", "ranking": True}, {"metric": "fid"}], r"^metrics\[1\]\.metric: 'fid' is listed twice"),
        ([{"metric": "fid", "ranking": True, "direction": "up"}], r"^metrics\[0\]\.direction: must be"),
        ([{"metric": "fid", "ranking": True, "decimals": 11}], r"^metrics\[0\]\.decimals: must be an integer"),
        ([{"metric": "fid", "ranking": True, "shown": False}], r"^metrics\[0\]\.shown: the ranking metric must be"),
    ],
)
def test_phase_metrics_set_names_the_bad_entry(organizer, metrics, expected):
    competition = make_competition(organizer)
    dev = phase(competition, organizer, "dev", 0, 10)

    with pytest.raises(ApplicationError, match=expected):
        services.phase_metrics_set(phase=dev, actor=organizer, metrics=metrics)


def test_phase_metric_directions_default_to_higher_for_ssim_and_lower_otherwise(organizer):
    competition = make_competition(organizer)
    dev = phase(competition, organizer, "dev", 0, 10)

    services.phase_metrics_set(
        phase=dev,
        actor=organizer,
        metrics=[{"metric": "ssim", "ranking": True}, {"metric": "fid"}, {"metric": "lpips", "direction": "higher"}],
    )

    directions = {row.metric: (row.direction, row.is_ranking) for row in dev.metrics.all()}
    assert directions == {
        "ssim": (PhaseMetric.Direction.HIGHER, True),
        "fid": (PhaseMetric.Direction.LOWER, False),
        "lpips": (PhaseMetric.Direction.HIGHER, False),
    }


def test_phase_private_reveal_sets_the_time_once(organizer):
    competition = competition_create_for_tests(organizer=organizer)
    main = competition.phases.get()
    assert not main.private_is_revealed()

    services.phase_private_reveal(phase=main, actor=organizer)
    first = main.private_revealed_at
    services.phase_private_reveal(phase=main, actor=organizer)

    assert first is not None and main.private_revealed_at == first and main.private_is_revealed()


def content_split(competition):
    images = DatasetImage.objects.filter(image_set__competition=competition, image_set__kind="content")
    return {image.name: (image.split, image.is_preview) for image in images}


def test_the_content_split_is_deterministic_for_the_same_seed_and_files(organizer):
    first = competition_create_for_tests(slug="one", content_images=20, split_seed=11, preview=3)
    second = competition_create_for_tests(slug="two", content_images=20, split_seed=11, preview=3)
    third = competition_create_for_tests(slug="three", content_images=20, split_seed=12, preview=3)

    assert content_split(first) == content_split(second)
    assert content_split(first) != content_split(third)


@pytest.mark.parametrize(("fraction", "public"), [(0.5, 10), (0.25, 5), (0.0, 0), (1.0, 20)])
def test_the_public_fraction_sets_the_public_share(organizer, fraction, public):
    competition = competition_create_for_tests(content_images=20, public_fraction=fraction, preview=0)

    splits = [split for split, _ in content_split(competition).values()]
    assert splits.count("public") == public and splits.count("private") == 20 - public


def test_previews_are_chosen_among_public_images_only(organizer):
    competition = competition_create_for_tests(content_images=12, public_fraction=0.25, preview=3, split_seed=5)
    content = competition.image_sets.get(kind=ImageSet.Kind.CONTENT)

    previews = [name for name, (split, preview) in content_split(competition).items() if preview]
    assert len(previews) == 3
    assert all(content_split(competition)[name][0] == "public" for name in previews)

    # when the organizer names a private image as a preview, then it is refused and nothing changes
    private = next(name for name, (split, _) in content_split(competition).items() if split == "private")
    before = content_split(competition)
    with pytest.raises(ApplicationError, match=rf"^previews: '{private}' is not in the public split"):
        services.content_split_apply(image_set=content, actor=competition.organizers.get(), previews=[private])
    assert content_split(competition) == before

    # and asking for more previews than public images is refused
    with pytest.raises(ApplicationError, match="only 3 images"):
        services.content_split_apply(image_set=content, actor=competition.organizers.get(), previews=4)


def test_content_split_apply_reseeds_and_keeps_the_preview_count(organizer):
    competition = competition_create_for_tests(content_images=10, preview=2, split_seed=1)
    content = competition.image_sets.get(kind=ImageSet.Kind.CONTENT)
    before = content_split(competition)

    services.content_split_apply(image_set=content, actor=competition.organizers.get(), seed=2)

    after = content_split(competition)
    content.refresh_from_db()
    assert content.split_seed == 2 and after != before
    assert sum(preview for _, preview in after.values()) == 2
