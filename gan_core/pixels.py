"""Image files without torch: opening an image behind a real pixel limit (:func:`open_image`), the
conversion to 8-bit RGB and the content hash of a set, shared by the web (which validates and stores
organizers' image sets) and the worker (which decodes them for the metrics), so both refuse the same
decompression bombs with the same message, see the same pixels and name a set by the same identity;
and the preprocessing modes (:class:`PreprocessMode`, also ``gan_core.images.PreprocessMode``), which ``python -m gan_core``
offers without importing torch.

Nothing here imports torch (tests/gan_platform/test_web_imports.py checks it in a fresh
interpreter); numpy and Pillow only.
"""

from __future__ import annotations

import enum
import hashlib
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps

__all__ = [
    "CONTENT_HASH_VERSION",
    "ImageError",
    "PreprocessMode",
    "named_content_hash",
    "open_image",
    "oriented_rgb",
    "to_rgb",
]

CONTENT_HASH_VERSION = b"atelier-content-hash-v1\n"
"""Prefix of every content hash: a new definition gets a new version, never the same hashes."""


class ImageError(ValueError):
    """An image file (or folder of them) that cannot be used; the message names it and what to do."""


class PreprocessMode(enum.StrEnum):
    """How images are resized and scaled for the FID Inception network (stored with every score).

    ``CLEAN`` is clean-fid's ``mode="clean"``: PIL bicubic resize to 299 x 299 per channel on
    float32 values in [0, 255], clipped to [0, 255] and not re-quantised, then ``(x - 128) / 128``.
    ``LEGACY_PYTORCH`` is pytorch-fid's: ``F.interpolate(bilinear, align_corners=False)`` without
    antialiasing on [0, 1] floats, then ``2x - 1``. Scores from different modes are not comparable.
    """

    CLEAN = "clean"
    LEGACY_PYTORCH = "legacy-pytorch"


@contextmanager
def open_image(source: str | Path | BinaryIO, where: str | Path, *, max_pixels: int) -> Iterator[Image.Image]:
    """Open an image (not yet decoded) that has at most ``max_pixels`` pixels, for a ``with`` block.

    The size is checked from the header, before anything is decoded; Pillow's own
    ``DecompressionBombWarning`` (raised as an error here) and ``DecompressionBombError``, from
    opening or from decoding inside the block, are refused the same way.

    Args:
        source: a path or a binary file object.
        where: the name shown in errors (the uploaded name, or the path).
        max_pixels: the largest width x height accepted.
    Raises:
        ImageError: naming ``where``, for an image above the limit (a possible decompression bomb).
        Anything ``Image.open`` raises for a missing or unreadable file (``FileNotFoundError``,
        ``UnidentifiedImageError``, ``OSError``), unchanged.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise ImageError(
                        f"{where}: {width} x {height} = {width * height:,} pixels is above the limit of "
                        f"{max_pixels:,} (refused as a possible decompression bomb); resize it and try again."
                    )
                yield image
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as error:
        raise ImageError(
            f"{where}: refused as a possible decompression bomb ({error}). "
            f"Images may have at most {max_pixels:,} pixels; resize it and try again."
        ) from error


def oriented_rgb(image: Image.Image, where: str | Path) -> Image.Image:
    """Decode an opened image, apply its EXIF orientation and convert it with :func:`to_rgb`."""
    image.load()
    return to_rgb(ImageOps.exif_transpose(image), where)


def to_rgb(image: Image.Image, where: str | Path) -> Image.Image:
    """Any Pillow mode to 8-bit RGB: palette, greyscale, alpha (dropped, as pytorch-fid and
    clean-fid do with ``convert("RGB")``) and CMYK converted; 16/32-bit integer greyscale scaled
    (``round(v / 257)``), not clipped.

    Raises:
        ImageError: for floating-point images (mode ``F``), naming ``where``.
    """
    if image.mode == "RGB":
        return image
    if image.mode.startswith("I;16") or image.mode == "I":
        values = np.asarray(image, dtype=np.float64)
        grey = np.floor(np.clip(values, 0, 65535) / 257.0 + 0.5).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    if image.mode == "F":
        raise ImageError(
            f"{where}: floating-point images (Pillow mode F) have no defined range. Save it as an 8-bit PNG."
        )
    return image.convert("RGB")


def named_content_hash(files: Iterable[tuple[str, bytes | Path]]) -> str:
    """A set's identity: SHA-256 hex over each file's name and bytes, length-prefixed, in name order
    (so listing order does not matter but any renamed or changed file does).

    Args:
        files: ``(name, bytes or path)`` pairs; a path is read in 1 MiB blocks.
    """
    digest = hashlib.sha256(CONTENT_HASH_VERSION)
    for name, payload in sorted(files, key=lambda item: item[0]):
        encoded = name.encode("utf-8")
        digest.update(len(encoded).to_bytes(8, "big") + encoded)
        if isinstance(payload, Path):
            digest.update(payload.stat().st_size.to_bytes(8, "big"))
            with payload.open("rb") as handle:
                while block := handle.read(1 << 20):
                    digest.update(block)
        else:
            digest.update(len(payload).to_bytes(8, "big"))
            digest.update(payload)
    return digest.hexdigest()
