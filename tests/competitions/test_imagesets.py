"""Image set ingestion: validation by Pillow, duplicates, bombs, zip guards, atomic replacement."""

from __future__ import annotations

import io
import stat
import struct
import zipfile
import zlib
from pathlib import Path

import pytest
from PIL import Image

from competitions import imagesets, services
from competitions.models import DatasetImage, ImageSet
from competitions.services import imagesets as imageset_services
from gan_platform.errors import ApplicationError
from tests.competitions.conftest import stored_files
from tests.factories import competition_create_for_tests, images_write, images_zip, png_bytes

pytestmark = pytest.mark.django_db


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` (a decompression bomb's shape)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


@pytest.fixture
def competition(organizer):
    return competition_create_for_tests(organizer=organizer, style_images=3, content_images=4, preview=1)


def replace_from_zip(competition, data: bytes, kind: str = "style"):
    return services.image_set_replace_from_zip(
        competition=competition, actor=competition.organizers.get(), kind=kind, source=io.BytesIO(data)
    )


def test_a_zip_of_images_replaces_the_style_set_and_its_hash(
    competition, private_root, django_capture_on_commit_callbacks
):
    old_hash = competition.image_sets.get(kind="style").content_hash

    with django_capture_on_commit_callbacks(execute=True):
        image_set = replace_from_zip(competition, images_zip(5, kind="style", size=40))

    assert image_set.image_count == 5 and image_set.images.count() == 5
    assert image_set.content_hash != old_hash and len(image_set.content_hash) == 64
    assert {image.width for image in image_set.images.all()} == {40}
    # the old set's files are gone (removed on commit), the new ones are stored
    kept = stored_files(private_root)
    assert len([name for name in kept if "/style/" in name]) == 5


def test_the_content_hash_is_gan_core_content_hash_of_the_stored_files(competition, tmp_path, private_root):
    from gan_core.images import content_hash

    # given the stored images written into a folder under their names
    image_set = competition.image_sets.get(kind="content")
    folder = tmp_path / "materialised"
    folder.mkdir()
    for image in image_set.images.all():
        (folder / image.name).write_bytes((private_root / image.file.name).read_bytes())

    # then gan_core computes the same identity
    assert content_hash(sorted(folder.iterdir())) == image_set.content_hash


def test_images_are_stored_as_rgb_png_whatever_they_came_as(competition, private_root):
    grey = io.BytesIO()
    Image.new("L", (20, 24), 128).save(grey, format="JPEG")
    palette = io.BytesIO()
    Image.new("RGBA", (30, 30), (10, 20, 30, 40)).save(palette, format="PNG")

    image_set = replace_from_zip(
        competition, images_zip(0, extra={"grey.jpg": grey.getvalue(), "alpha.png": palette.getvalue()})
    )

    images = {image.name: image for image in image_set.images.all()}
    assert sorted(images) == ["alpha.png", "grey.png"]
    with Image.open(private_root / images["alpha.png"].file.name) as stored:
        assert (stored.format, stored.mode, stored.getpixel((0, 0))) == ("PNG", "RGB", (10, 20, 30))
    assert (images["grey.png"].width, images["grey.png"].height) == (20, 24)


def test_a_non_image_is_refused_naming_the_file(competition):
    with pytest.raises(ApplicationError) as caught:
        replace_from_zip(competition, images_zip(2, extra={"cat.jpg": b"meow, not a JPEG"}))

    assert caught.value.message.startswith("cat.jpg: not an image (cannot identify image file)")
    assert caught.value.code == "invalid_image_set"


def test_a_decompression_bomb_is_refused_naming_the_file(competition):
    bomb = png_header_only(60_000, 60_000)
    assert len(bomb) < 200

    with pytest.raises(ApplicationError) as caught:
        replace_from_zip(competition, images_zip(1, extra={"bomb.png": bomb}))

    assert caught.value.message.startswith("bomb.png: ") and "decompression bomb" in caught.value.message


def test_an_image_above_the_pixel_limit_is_refused_before_decoding(competition, monkeypatch):
    monkeypatch.setattr(imagesets, "MAX_IMAGE_PIXELS", 30 * 30)

    with pytest.raises(ApplicationError, match=r"^style-000\.png: 32 x 32 = 1,024 pixels is above the limit of 900"):
        replace_from_zip(competition, images_zip(1, kind="style"))


def test_pillows_decompression_bomb_warning_becomes_an_error(competition, monkeypatch):
    # given Pillow's own limit below the image (it warns between 1x and 2x the limit)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 600)

    with pytest.raises(ApplicationError, match=r"^style-000\.png: refused as a possible decompression bomb"):
        replace_from_zip(competition, images_zip(1, kind="style"))


def test_too_small_images_are_refused(competition):
    tiny = io.BytesIO()
    Image.new("RGB", (8, 64)).save(tiny, format="PNG")

    with pytest.raises(ApplicationError, match=r"^thin\.png: 8 x 64 pixels; both sides must be at least 16"):
        replace_from_zip(competition, images_zip(1, extra={"thin.png": tiny.getvalue()}))


def test_duplicate_images_are_refused_naming_both_files(competition):
    with pytest.raises(ApplicationError, match=r"^copy\.png: duplicate of content-000\.png"):
        replace_from_zip(competition, images_zip(2, extra={"copy.png": png_bytes(0)}))


def test_two_files_with_the_same_stored_name_are_refused(competition):
    with pytest.raises(ApplicationError, match=r"^a/cat\.png: same name as a/cat\.jpg once stored as cat\.png"):
        replace_from_zip(competition, images_zip(0, extra={"a/cat.jpg": png_bytes(1), "a/cat.png": png_bytes(2)}))


def test_a_failed_upload_changes_nothing_and_leaves_no_file(competition, private_root, monkeypatch):
    image_set = competition.image_sets.get(kind="style")
    before_rows = list(DatasetImage.objects.values_list("pk", "name", "sha256"))
    before_files = stored_files(private_root)
    before_hash = image_set.content_hash

    # given a storage that fails on the third file of a valid upload
    from django.core.files.storage import FileSystemStorage

    real_save = FileSystemStorage.save
    calls = {"count": 0}

    def failing_save(self, name, content, max_length=None):
        calls["count"] += 1
        if calls["count"] == 3:
            raise OSError("disk full")
        return real_save(self, name, content, max_length=max_length)

    monkeypatch.setattr(FileSystemStorage, "save", failing_save)

    with pytest.raises(OSError, match="disk full"):
        replace_from_zip(competition, images_zip(5, kind="style", size=48))

    image_set.refresh_from_db()
    assert calls["count"] == 3
    assert image_set.content_hash == before_hash and image_set.image_count == 3
    assert list(DatasetImage.objects.values_list("pk", "name", "sha256")) == before_rows
    assert stored_files(private_root) == before_files


def test_an_invalid_upload_writes_no_row_and_no_file(organizer, private_root):
    competition = services.competition_create(actor=organizer, slug="empty", title="Empty")

    with pytest.raises(ApplicationError):
        replace_from_zip(competition, images_zip(3, extra={"notes.txt": b"hello"}), kind="content")

    assert not ImageSet.objects.exists() and not DatasetImage.objects.exists()
    assert stored_files(private_root) == []


def zip_with(name: str, data: bytes = b"x", *, mode: int | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo(name)
        if mode is not None:
            info.external_attr = mode << 16
        archive.writestr(info, data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (zip_with("../escape.png"), r"\.\./escape\.png: path climbs out of the archive"),
        (zip_with("/etc/evil.png"), r"/etc/evil\.png: absolute or Windows path refused"),
        (zip_with("link.png", b"/etc/passwd", mode=stat.S_IFLNK | 0o777), r"link\.png: symbolic links are refused"),
        (b"PK\x03\x04 not really a zip", r"not a zip archive"),
    ],
)
def test_the_zip_guards_refuse_dangerous_members(competition, data, expected):
    with pytest.raises(ApplicationError, match=expected) as caught:
        replace_from_zip(competition, data)
    assert caught.value.code == "invalid_archive"


def test_the_zip_guards_refuse_too_many_members_and_too_many_bytes(competition, monkeypatch):
    monkeypatch.setattr(imagesets, "MAX_ARCHIVE_MEMBERS", 3)
    with pytest.raises(ApplicationError, match="4 members is above the limit of 3"):
        replace_from_zip(competition, images_zip(4, kind="style"))

    monkeypatch.setattr(imagesets, "MAX_ARCHIVE_MEMBERS", 100)
    monkeypatch.setattr(imagesets, "MAX_ARCHIVE_BYTES", 1000)
    with pytest.raises(ApplicationError, match="uncompressed size above the limit of 1,000 bytes"):
        replace_from_zip(competition, images_zip(20, kind="style"))


def test_a_folder_of_images_replaces_the_content_set_and_keeps_the_preview_count(competition, tmp_path: Path):
    images_write(tmp_path / "photos", 6, kind="photo")

    image_set = services.image_set_replace_from_folder(
        competition=competition, actor=competition.organizers.get(), kind="content", source=tmp_path / "photos"
    )

    names = sorted(image_set.images.values_list("name", flat=True))
    assert names == [f"photo-{index:03d}.png" for index in range(6)]
    assert image_set.images.filter(is_preview=True).count() == 1
    assert image_set.images.filter(split="public").count() == 3


def test_a_style_set_change_enqueues_reference_statistics_on_commit(
    competition, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr(imageset_services, "_reference_stats_enqueue", sent.append)

    with django_capture_on_commit_callbacks(execute=True):
        image_set = replace_from_zip(competition, images_zip(2, kind="style"))
    with django_capture_on_commit_callbacks(execute=True):
        replace_from_zip(competition, images_zip(2, kind="content"), kind="content")

    assert sent == [image_set.id]


def test_a_smaller_content_set_keeps_as_many_previews_as_its_public_split_holds(organizer):
    # given a content set of 8 images with 3 previews (4 public)
    competition = competition_create_for_tests(organizer=organizer, content_images=8, preview=3)

    # when it is replaced by 4 images (2 public)
    image_set = replace_from_zip(competition, images_zip(4, kind="photo"), kind="content")

    # then the previews shrink to the 2 public images instead of failing the upload
    assert image_set.images.filter(split="public").count() == 2
    assert image_set.images.filter(is_preview=True).count() == 2


def test_a_corrupt_archive_member_is_refused_naming_it(competition):
    # given a zip whose member's bytes were damaged after it was written (the CRC no longer matches)
    data = bytearray(images_zip(1, kind="style"))
    payload = png_bytes(0, kind="style")
    start = bytes(data).index(payload[:16])
    data[start + 40] ^= 0xFF

    with pytest.raises(ApplicationError, match=r"^style-000\.png: cannot be read \(Bad CRC-32"):
        replace_from_zip(competition, bytes(data))


@pytest.mark.parametrize(
    ("width", "height", "limit", "begins"),
    [
        (6000, 6000, 30_000_000, "bomb.png: 6000 x 6000 = 36,000,000 pixels is above the limit of 30,000,000 (refused"),
        (7000, 7000, 40_000_000, "bomb.png: refused as a possible decompression bomb (Image size (49000000 pixels)"),
        (
            10_000,
            10_000,
            40_000_000,
            "bomb.png: refused as a possible decompression bomb (Image size (100000000 pixels)",
        ),
    ],
    ids=["above-the-limit", "pillow-warns", "pillow-refuses"],
)
def test_the_web_and_the_worker_refuse_the_same_bomb_with_the_same_message(
    width, height, limit, begins, tmp_path, monkeypatch
):
    # given one bomb, the same limit on both sides and Pillow's at 40 MP (it warns above, refuses above twice)
    from gan_core import images
    from gan_core.pixels import ImageError

    monkeypatch.setattr(imagesets, "MAX_IMAGE_PIXELS", limit)
    monkeypatch.setattr(images, "MAX_IMAGE_PIXELS", limit)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 40_000_000)
    bomb = png_header_only(width, height)
    monkeypatch.chdir(tmp_path)
    Path("bomb.png").write_bytes(bomb)

    # when the web validates it as an upload and the worker decodes it as a file
    with pytest.raises(ApplicationError) as web:
        imagesets.image_canonicalise(bomb, source="bomb.png")
    with pytest.raises(ImageError) as worker:
        images.load_image(Path("bomb.png"))

    # then both refuse it, naming the file, in the same words
    assert web.value.code == "invalid_image_set"
    assert web.value.message == str(worker.value)
    assert web.value.message.startswith(begins)
    assert web.value.message.endswith("; resize it and try again.")


@pytest.mark.parametrize("mode", ["L", "LA", "P", "RGBA", "I;16", "CMYK"])
def test_the_web_side_converts_images_to_rgb_exactly_as_gan_core_decodes_them(mode, tmp_path):
    # Both sides convert with gan_core.pixels (torch-free); the stored pixels must be the ones
    # gan_core would read from the original upload.
    import numpy as np

    from competitions.imagesets import image_canonicalise
    from gan_core.images import load_image

    rng = np.random.default_rng(3)
    if mode == "I;16":
        original = Image.fromarray(rng.integers(0, 65535, (20, 24), dtype=np.uint16))
    else:
        rgba = Image.fromarray(rng.integers(0, 255, (20, 24, 4), dtype=np.uint8), "RGBA")
        original = (rgba.convert("RGB") if mode == "P" else rgba).convert(mode)
    source = tmp_path / "original.png" if mode != "CMYK" else tmp_path / "original.tiff"
    original.save(source)

    stored, width, height = image_canonicalise(source.read_bytes(), source=source.name)

    expected = load_image(source).permute(1, 2, 0).numpy()
    assert (width, height) == (24, 20)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(stored)).convert("RGB")), expected)
