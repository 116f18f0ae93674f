"""The image pipeline: decoding, RGB conversion, size limits, uint8 conversion, dataset identity."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gan_core import images
from gan_core.images import ImageError, PreprocessMode, content_hash, iter_image_batches, list_images, load_image


def _png_claiming_size(path: Path, width: int, height: int) -> Path:
    """A valid 1 x 1 PNG whose header claims ``width`` x ``height`` (never decoded, only opened)."""
    Image.new("RGB", (1, 1), (10, 20, 30)).save(path)
    data = bytearray(path.read_bytes())
    # Signature (8), then the IHDR chunk: length (4), type (4), width (4), height (4), ..., CRC.
    data[16:24] = struct.pack(">II", width, height)
    ihdr = bytes(data[12:29])
    data[29:33] = struct.pack(">I", zlib.crc32(ihdr) & 0xFFFFFFFF)
    path.write_bytes(bytes(data))
    return path


def test_preprocess_modes_have_the_names_stored_with_scores() -> None:
    assert [mode.value for mode in PreprocessMode] == ["clean", "legacy-pytorch"]
    assert PreprocessMode("legacy-pytorch") is PreprocessMode.LEGACY_PYTORCH
    assert str(PreprocessMode.CLEAN) == "clean"


def test_load_image_returns_the_exact_rgb_pixels_as_uint8_channels_first(tmp_path: Path) -> None:
    pixels = np.random.default_rng(0).integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "a.png")

    loaded = load_image(tmp_path / "a.png")

    assert loaded.dtype == torch.uint8
    assert loaded.shape == (3, 5, 7)
    assert torch.equal(loaded, torch.from_numpy(pixels).permute(2, 0, 1))


def test_load_image_applies_the_exif_orientation(tmp_path: Path) -> None:
    # Given a 4 x 2 image, red at the stored top-left, tagged "rotate 90 clockwise to display" (6)
    stored = np.zeros((2, 4, 3), dtype=np.uint8)
    stored[0, 0] = (255, 0, 0)
    image = Image.fromarray(stored)
    exif = image.getexif()
    exif[0x0112] = 6
    image.save(tmp_path / "rotated.png", exif=exif)

    # When it is loaded
    loaded = load_image(tmp_path / "rotated.png")

    # Then it is displayed upright: 2 wide, 4 tall, the red pixel now at the top-right
    assert loaded.shape == (3, 4, 2)
    assert loaded[:, 0, 1].tolist() == [255, 0, 0]
    assert int(loaded.sum()) == 255


def test_load_image_converts_palette_alpha_and_greyscale_images_to_rgb(tmp_path: Path) -> None:
    palette = Image.new("P", (2, 1))
    palette.putpalette([0, 0, 0, 200, 100, 50] + [0] * 762)
    palette.putpixel((1, 0), 1)
    palette.save(tmp_path / "palette.png")
    Image.new("RGBA", (2, 1), (10, 20, 30, 0)).save(tmp_path / "alpha.png")
    Image.new("L", (2, 1), 77).save(tmp_path / "grey.png")
    Image.new("LA", (2, 1), (66, 128)).save(tmp_path / "grey_alpha.png")

    assert load_image(tmp_path / "palette.png")[:, 0, 1].tolist() == [200, 100, 50]
    # Alpha is dropped (as pytorch-fid and clean-fid do), the colour kept
    assert load_image(tmp_path / "alpha.png")[:, 0, 0].tolist() == [10, 20, 30]
    assert load_image(tmp_path / "grey.png")[:, 0, 0].tolist() == [77, 77, 77]
    assert load_image(tmp_path / "grey_alpha.png")[:, 0, 0].tolist() == [66, 66, 66]


def test_load_image_scales_16_bit_greyscale_instead_of_clipping_it(tmp_path: Path) -> None:
    # Given a 16-bit greyscale PNG with values 0, 25700 (= 100 * 257) and 65535
    values = np.array([[0, 25700, 65535]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")

    loaded = load_image(tmp_path / "deep.png")

    # Then 25700 becomes 100, not 255 as a clipping conversion would give
    assert loaded[0, 0].tolist() == [0, 100, 255]
    assert torch.equal(loaded[0], loaded[2])


@pytest.mark.parametrize(
    ("width", "height"),
    [(7000, 7000), (10000, 10000)],
    ids=["above-the-limit-pillow-would-only-warn", "above-twice-the-limit"],
)
def test_load_image_refuses_a_decompression_bomb_with_a_clear_error(tmp_path: Path, width: int, height: int) -> None:
    bomb = _png_claiming_size(tmp_path / "bomb.png", width, height)

    with pytest.raises(ImageError) as caught:
        load_image(bomb)

    message = str(caught.value)
    assert str(bomb) in message
    assert "decompression bomb" in message
    assert f"{images.MAX_IMAGE_PIXELS:,}" in message
    assert "resize it" in message


def test_the_pixel_limit_is_a_real_maximum_set_for_pillow() -> None:
    assert images.MAX_IMAGE_PIXELS == 40_000_000
    assert Image.MAX_IMAGE_PIXELS == images.MAX_IMAGE_PIXELS


def test_load_image_names_an_undecodable_file_and_what_to_do(tmp_path: Path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\nnot really")

    with pytest.raises(ImageError, match=r"broken\.png: cannot be decoded as an image .*Re-save it as PNG or JPEG"):
        load_image(broken)


def test_load_image_says_when_the_file_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match=r"gone\.png: no such file"):
        load_image(tmp_path / "gone.png")


def test_list_images_sorts_and_keeps_only_visible_image_files(tmp_path: Path) -> None:
    for name in ("b.PNG", "a.jpg", "c.webp", ".hidden.png", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "folder.png").mkdir()

    assert [path.name for path in list_images(tmp_path)] == ["a.jpg", "b.PNG", "c.webp"]
    assert ".png" in images.IMAGE_EXTENSIONS and ".jpeg" in images.IMAGE_EXTENSIONS


def test_list_images_explains_an_empty_or_missing_folder(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("no images")
    with pytest.raises(ImageError, match="no image files found. Put images with one of these suffixes"):
        list_images(tmp_path)
    with pytest.raises(ImageError, match="not a folder"):
        list_images(tmp_path / "missing")


def test_iter_image_batches_keeps_order_and_allows_different_sizes(tmp_path: Path) -> None:
    paths = []
    for index in range(5):
        path = tmp_path / f"{index}.png"
        Image.new("RGB", (4 + index, 3), (index, 0, 0)).save(path)
        paths.append(path)

    batches = list(iter_image_batches(paths, 2))

    assert [len(batch) for batch in batches] == [2, 2, 1]
    flat = [image for batch in batches for image in batch]
    assert [int(image[0, 0, 0]) for image in flat] == [0, 1, 2, 3, 4]
    assert [image.shape[2] for image in flat] == [4, 5, 6, 7, 8]


def test_iter_image_batches_raises_the_decoding_error_of_a_bad_file(tmp_path: Path) -> None:
    good = tmp_path / "good.png"
    Image.new("RGB", (2, 2)).save(good)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"garbage")

    with pytest.raises(ImageError, match=r"bad\.png"):
        list(iter_image_batches([good, bad, good], 1))


def test_to_uint8_clamps_scales_and_rounds_instead_of_wrapping() -> None:
    x = torch.tensor([1.2, -0.3, 0.0, 1.0, 0.5, 0.25, 0.9999]).view(1, 1, 1, 7)

    converted, clamped = images.to_uint8(x, value_range=(0.0, 1.0))

    assert converted.dtype == torch.uint8
    assert converted.flatten().tolist() == [255, 0, 0, 255, 128, 64, 255]
    assert clamped == 2
    # The trap it avoids: truncating and wrapping turns 1.2 into 50
    assert int((x[0, 0, 0, 0] * 255).to(torch.uint8)) == 50


def test_to_uint8_maps_a_tanh_range_before_scaling() -> None:
    x = torch.tensor([-1.0, 0.0, 1.0, 1.5]).view(1, 1, 2, 2)

    converted, clamped = images.to_uint8(x, value_range=(-1.0, 1.0))

    assert converted.flatten().tolist() == [0, 128, 255, 255]
    assert clamped == 1
    assert converted.shape == x.shape


def test_to_uint8_refuses_non_finite_values_and_bad_ranges() -> None:
    with pytest.raises(ValueError, match="1 of 3 values are NaN or infinite"):
        images.to_uint8(torch.tensor([0.0, float("nan"), 1.0]), value_range=(0.0, 1.0))
    with pytest.raises(ValueError, match="low < high"):
        images.to_uint8(torch.zeros(3), value_range=(1.0, 1.0))


def test_content_hash_ignores_listing_order_but_not_content_or_names(tmp_path: Path) -> None:
    first, second = tmp_path / "a.png", tmp_path / "b.png"
    first.write_bytes(b"first image bytes")
    second.write_bytes(b"second image bytes")

    original = content_hash([first, second])

    assert len(original) == 64
    assert content_hash([second, first]) == original
    second.write_bytes(b"second image bytez")
    changed = content_hash([first, second])
    assert changed != original
    second.rename(tmp_path / "c.png")
    assert content_hash([first, tmp_path / "c.png"]) != changed


def test_content_hash_does_not_depend_on_where_the_folder_lives(tmp_path: Path) -> None:
    for folder in ("one", "two"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "x.png").write_bytes(b"same")

    assert content_hash([tmp_path / "one" / "x.png"]) == content_hash([tmp_path / "two" / "x.png"])
