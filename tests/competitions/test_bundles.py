"""Competition bundles: import errors name the key or file, a failed import writes nothing, round trip."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
import yaml
from django.core.management import CommandError, call_command

from competitions import imagesets
from competitions.bundles import BundleError, OnExisting, bundle_export_bytes, bundle_import, manifest_build
from competitions.models import Competition, DatasetImage, ImageSet, Phase, PhaseMetric
from tests.competitions.conftest import stored_files
from tests.factories import competition_create_for_tests, png_bytes

pytestmark = pytest.mark.django_db

MANIFEST = {
    "slug": "ink",
    "title": "Photos to ink",
    "summary": "Ink wash.",
    "rules": "Be kind.",
    "visibility": "public",
    "image_size": 32,
    "accepted_formats": ["safetensors"],
    "feature_weights": "random",
    "phases": [
        {
            "slug": "dev",
            "name": "Development",
            "starts_at": "2026-01-01T00:00:00Z",
            "ends_at": "2026-02-01T00:00:00Z",
            "metrics": [{"metric": "fid", "ranking": True}, {"metric": "ssim"}],
        },
        {
            "slug": "final",
            "name": "Final",
            "starts_at": "2026-02-01T00:00:00Z",
            "ends_at": "2026-03-01T00:00:00Z",
            "daily_quota": 2,
            "metrics": [{"metric": "kid", "ranking": True}],
        },
    ],
    "split": {"seed": 3, "public_fraction": 0.5, "previews": 1},
}


def bundle(manifest=None, *, style=3, content=4, extra: dict[str, bytes] | None = None, text: str | None = None):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("competition.yaml", text if text is not None else yaml.safe_dump(manifest or MANIFEST))
        for index in range(style):
            archive.writestr(f"style/s{index}.png", png_bytes(index, kind="style"))
        for index in range(content):
            archive.writestr(f"content/c{index}.png", png_bytes(index, kind="content"))
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    buffer.seek(0)
    return buffer


def with_changes(**changes):
    manifest = yaml.safe_load(yaml.safe_dump(MANIFEST))
    for path, value in changes.items():
        target = manifest
        keys = path.split("__")
        for key in keys[:-1]:
            target = target[int(key)] if key.isdigit() else target[key]
        target[keys[-1]] = value
    return manifest


def nothing_written(private_root: Path) -> bool:
    return (
        not Competition.objects.exists()
        and not Phase.objects.exists()
        and not ImageSet.objects.exists()
        and not DatasetImage.objects.exists()
        and stored_files(private_root) == []
    )


def test_a_bundle_imports_phases_metrics_images_and_split(private_root, organizer):
    competition = bundle_import(bundle(), organizer=organizer)

    assert competition.slug == "ink" and list(competition.organizers.all()) == [organizer]
    phases = list(competition.phases.order_by("order"))
    assert [(phase.slug, phase.daily_quota) for phase in phases] == [("dev", 5), ("final", 2)]
    assert [(m.metric, m.is_ranking, m.direction) for m in phases[0].metrics.all()] == [
        ("fid", True, PhaseMetric.Direction.LOWER),
        ("ssim", False, PhaseMetric.Direction.HIGHER),
    ]
    content = competition.image_sets.get(kind="content")
    assert content.images.filter(split="public").count() == 2 and content.images.filter(is_preview=True).count() == 1
    assert competition.image_sets.get(kind="style").image_count == 3
    assert len(stored_files(private_root)) == 7


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"phases__1__ends_at": "2026-01-15T00:00:00Z"}, "phases[1].ends_at: must be after starts_at"),
        ({"phases__1__starts_at": "2026-01-20T00:00:00Z"}, "phases[1].starts_at: the window overlaps phases[0]"),
        ({"phases__0__metrics__1__metric": "psnr"}, "phases[0].metrics[1].metric: unknown metric 'psnr'"),
        ({"phases__1__metrics__0__ranking": False}, "phases[1].metrics: exactly one metric must rank"),
        ({"phases__0__daily_quota": "five"}, "phases[0].daily_quota: must be an integer"),
        ({"phases__0__colour": "red"}, "phases[0].colour: unknown key"),
        ({"phases__0__starts_at": "next tuesday"}, "phases[0].starts_at: not an ISO 8601 date"),
        ({"visibility": "secret"}, "visibility: Value 'secret' is not a valid choice"),
        ({"accepted_formats": ["pickle"]}, "accepted_formats: must be a non-empty subset"),
        ({"slug": "Bad Slug"}, "slug: 'Bad Slug' is not a valid slug"),
        ({"image_size": 8}, "image_size: must be an integer from 16 to 4096; got 8"),
        ({"phases__1__execution_time_limit": 0}, "phases[1].execution_time_limit: must be at least 1 second"),
        ({"split": {"seed": 1, "public_fraction": 2}}, "split.public_fraction: must be a number from 0 to 1"),
        (
            {"split": {"seed": 1, "previews": 3}},
            "split.previews: 3 previews asked for, but the public split has only 2",
        ),
        ({"split": {"previews": ["c0.png", "zz.png"]}}, "split.previews: 'zz.png' is not in the public split"),
    ],
)
def test_import_errors_name_the_key_path_and_write_nothing(private_root, changes, expected):
    with pytest.raises(BundleError) as caught:
        bundle_import(bundle(with_changes(**changes)))

    assert caught.value.message.startswith(expected), caught.value.message
    assert caught.value.code == "invalid_bundle"
    assert nothing_written(private_root)


def test_a_missing_key_is_named():
    manifest = with_changes()
    del manifest["phases"][0]["ends_at"]

    with pytest.raises(BundleError, match=r"^phases\[0\]\.ends_at: is required"):
        bundle_import(bundle(manifest))


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"content/cat.jpg": b"not a jpeg"}, "content/cat.jpg: not an image (cannot identify image file)"),
        ({"style/copy.png": png_bytes(0, kind="style")}, "style/s0.png: duplicate of style/copy.png"),
        ({"content/deep/x.png": png_bytes(99)}, "content/deep/x.png: images sit directly in content/"),
        ({"notes/readme.txt": b"hi"}, "notes/readme.txt: unexpected file"),
    ],
)
def test_import_errors_name_the_file_and_write_nothing(private_root, extra, expected):
    with pytest.raises(BundleError) as caught:
        bundle_import(bundle(extra=extra))

    assert caught.value.message.startswith(expected), caught.value.message
    assert nothing_written(private_root)


def test_bad_yaml_and_a_missing_folder_are_named(private_root):
    with pytest.raises(BundleError, match=r"^competition\.yaml line \d+: not valid YAML"):
        bundle_import(bundle(text="slug: [unclosed"))
    with pytest.raises(BundleError, match=r"^style/: missing or empty"):
        bundle_import(bundle(style=0))
    with pytest.raises(BundleError, match=r"^competition\.yaml: must be a mapping"):
        bundle_import(bundle(text="- just\n- a list\n"))
    assert nothing_written(private_root)


def test_yaml_tags_that_build_python_objects_are_refused(private_root):
    text = "!!python/object/apply:os.system ['touch /tmp/atelier-pwned']\n"

    with pytest.raises(BundleError, match="not valid YAML"):
        bundle_import(bundle(text=text))
    assert not Path("/tmp/atelier-pwned").exists()


def test_the_zip_guards_apply_to_bundles(private_root, monkeypatch):
    with pytest.raises(BundleError, match=r"\.\./evil\.png: path climbs out"):
        bundle_import(bundle(extra={"../evil.png": b"x"}))

    monkeypatch.setattr(imagesets, "MAX_ARCHIVE_MEMBERS", 5)
    with pytest.raises(BundleError, match="8 members is above the limit of 5"):
        bundle_import(bundle())
    assert nothing_written(private_root)


def test_a_failure_while_writing_images_leaves_no_row_and_no_file(private_root, monkeypatch):
    from gan_platform.storages import private_storage

    storage_class = type(private_storage())  # local disk, or S3 in the object-storage pass
    real_save = storage_class.save
    calls = {"count": 0}

    def failing_save(self, name, content, max_length=None):
        calls["count"] += 1
        if calls["count"] == 6:  # the style set is stored; the content set fails half-way
            raise OSError("disk full")
        return real_save(self, name, content, max_length=max_length)

    monkeypatch.setattr(storage_class, "save", failing_save)

    with pytest.raises(OSError, match="disk full"):
        bundle_import(bundle())
    assert calls["count"] == 6
    assert nothing_written(private_root)


def test_an_existing_slug_needs_replace(private_root, organizer, django_capture_on_commit_callbacks):
    first = bundle_import(bundle())

    with pytest.raises(BundleError, match=r"^slug: a competition 'ink' exists already; pass --replace"):
        bundle_import(bundle())

    with django_capture_on_commit_callbacks(execute=True):
        second = bundle_import(bundle(with_changes(title="Photos to ink, again")), on_existing=OnExisting.REPLACE)
    assert second.pk != first.pk and Competition.objects.get().title == "Photos to ink, again"
    assert len(stored_files(private_root)) == 7


def test_export_then_import_gives_back_the_same_competition(private_root):
    # given a competition with an organizer-chosen preview list (not the default choice)
    original = competition_create_for_tests(slug="wood", content_images=8, preview=2, split_seed=9, max_team_size=2)
    content = original.image_sets.get(kind="content")
    public = sorted(content.images.filter(split="public").values_list("name", flat=True))
    from competitions import services

    default = sorted(content.images.filter(is_preview=True).values_list("name", flat=True))
    chosen = [name for name in public if name not in default][:2]
    services.content_split_apply(image_set=content, actor=original.organizers.get(), previews=chosen)
    manifest = manifest_build(original)
    hashes = {image_set.kind: image_set.content_hash for image_set in original.image_sets.all()}
    splits = {i.name: (i.split, i.is_preview, i.sha256) for i in DatasetImage.objects.filter(image_set=content)}
    data = bundle_export_bytes(original)

    # when it is exported and imported back in its place
    original.delete()
    copy = bundle_import(io.BytesIO(data), on_existing=OnExisting.REPLACE)

    # then everything is the same
    assert manifest_build(copy) == manifest and manifest["split"]["previews"] == chosen
    assert {image_set.kind: image_set.content_hash for image_set in copy.image_sets.all()} == hashes
    copied = copy.image_sets.get(kind="content")
    assert {i.name: (i.split, i.is_preview, i.sha256) for i in DatasetImage.objects.filter(image_set=copied)} == splits
    # and exporting again gives the same bytes
    assert bundle_export_bytes(copy) == data


def test_the_commands_export_and_import_a_bundle(private_root, tmp_path, organizer):
    competition_create_for_tests(slug="wood")
    path = tmp_path / "wood.zip"
    out = io.StringIO()

    call_command("export_competition", "wood", "-o", str(path), stdout=out)
    assert "Exported wood" in out.getvalue() and zipfile.is_zipfile(path)

    with pytest.raises(CommandError, match="exists already; pass --replace"):
        call_command("import_competition", str(path))
    with pytest.raises(CommandError, match="--organizer: no user 'nobody'"):
        call_command("import_competition", str(path), "--organizer", "nobody", "--replace")

    call_command("import_competition", str(path), "--organizer", organizer.username, "--replace", stdout=out)
    assert "Imported wood (public): phases main; 4 style images, 6 content images." in out.getvalue()
    assert Competition.objects.get(slug="wood").organizers.filter(pk=organizer.pk).exists()


def test_import_with_a_new_slug_starts_a_new_edition_as_a_draft(private_root, tmp_path, organizer):
    competition_create_for_tests(slug="wood")
    path = tmp_path / "wood.zip"
    call_command("export_competition", "wood", "-o", str(path), stdout=io.StringIO())
    out = io.StringIO()

    call_command("import_competition", str(path), "--slug", "wood-2027", "--organizer", organizer.username, stdout=out)

    assert "Imported wood-2027 (draft): phases main; 4 style images, 6 content images." in out.getvalue()
    copy = Competition.objects.get(slug="wood-2027")
    original = Competition.objects.get(slug="wood")
    assert (copy.visibility, original.visibility) == ("draft", "public")
    assert copy.title == original.title and copy.organizers.filter(pk=organizer.pk).exists()
    assert list(copy.phases.values_list("slug", flat=True)) == ["main"]
    # the slug is taken now: importing there again is refused, naming it
    with pytest.raises(CommandError, match="a competition 'wood-2027' exists already"):
        call_command("import_competition", str(path), "--slug", "wood-2027")
