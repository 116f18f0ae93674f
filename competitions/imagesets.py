"""Reading image sets from a zip archive or a folder, on the web side (Pillow only, no torch).

Every image is validated and re-encoded once, here, to a canonical 8-bit RGB PNG: EXIF
orientation applied, palette/greyscale/alpha/CMYK converted exactly as
``gan_core.images.load_image`` converts them, so the worker decodes the same pixels the
participant's generator would have seen from the original file. The stored name is the
file's base name with the suffix ``.png`` (``cat.jpg`` -> ``cat.png``); outputs carry it.

The set's identity is :func:`content_hash`, the same definition as
``gan_core.images.content_hash`` applied to a folder that holds the stored PNGs under
their stored names: SHA-256 over a version tag, then per file (sorted by name) the
length-prefixed UTF-8 name, the 8-byte size and the bytes.

Guards: a real pixel limit (:data:`MAX_IMAGE_PIXELS`, checked from the header before
decoding by :func:`gan_core.pixels.open_image`, as the worker does; Pillow's
``DecompressionBombWarning`` becomes an error naming the file), side
bounds, a per-file byte limit, and for archives a member count, a total uncompressed size,
no absolute paths, no ``..`` components and no symbolic links.
"""

from __future__ import annotations

import hashlib
import io
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from PIL import UnidentifiedImageError

from gan_core.pixels import ImageError, named_content_hash, open_image, oriented_rgb
from gan_platform.errors import ApplicationError

MAX_IMAGE_PIXELS = 4096 * 4096
"""Largest width x height accepted (16.7 megapixels); larger images are refused as possible bombs."""
MIN_IMAGE_SIDE = 16
"""Smallest width or height accepted, in pixels."""
MAX_IMAGE_BYTES = 64 * 1024 * 1024
"""Largest single image file, in bytes."""
MAX_SET_IMAGES = 20_000
"""Most images in one set."""
MAX_ARCHIVE_MEMBERS = 20_000
"""Most entries (files and folders) in one zip archive."""
MAX_ARCHIVE_BYTES = 4 * 1024 * 1024 * 1024
"""Largest total uncompressed size of one zip archive, in bytes."""
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"})
"""File suffixes read as images; other files are refused (hidden files and ``__MACOSX/`` are skipped)."""


def _error(message: str, *, code: str = "invalid_image_set") -> ApplicationError:
    return ApplicationError(message, code=code, extra={"fields": {"images": [message]}})


@dataclass(frozen=True)
class PreparedImage:
    """One validated image, re-encoded as an RGB PNG in a temporary folder.

    ``name`` is its name in the set (``cat.png``), ``source`` the name it was uploaded under
    (``content/cat.jpg``), ``path`` the PNG, ``sha256`` the PNG's digest.
    """

    name: str
    source: str
    path: Path
    sha256: str
    width: int
    height: int


@dataclass
class PreparedSet:
    """A validated set: images sorted by name and the set's :func:`content_hash`."""

    images: list[PreparedImage] = field(default_factory=list)
    content_hash: str = ""

    def __len__(self) -> int:
        return len(self.images)


def content_hash(files: Iterable[tuple[str, bytes | Path]]) -> str:
    """The set's identity (:func:`gan_core.pixels.named_content_hash`), what
    ``gan_core.images.content_hash`` computes over a folder holding the same files.

    Args:
        files: ``(name, bytes or path)`` pairs; names are sorted here, so order does not matter.
    Returns:
        64 lowercase hex characters.
    """
    return named_content_hash(files)


def image_canonicalise(data: bytes, *, source: str) -> tuple[bytes, int, int]:
    """Validate one image file and re-encode it as an RGB PNG.

    Args:
        data: the file's bytes.
        source: the name to show in errors (``content/cat.jpg``).
    Returns:
        ``(png_bytes, width, height)``.
    Raises:
        ApplicationError (code ``invalid_image_set``) naming ``source``: not an image, a possible
        decompression bomb, too small, or an undecodable mode.
    """
    if not data:
        raise _error(f"{source}: empty file. Remove it or replace it with a PNG or JPEG image.")
    if len(data) > MAX_IMAGE_BYTES:
        raise _error(f"{source}: {len(data):,} bytes is above the limit of {MAX_IMAGE_BYTES:,} per image; resize it.")
    try:
        with open_image(io.BytesIO(data), source, max_pixels=MAX_IMAGE_PIXELS) as image:
            if getattr(image, "n_frames", 1) > 1:
                raise _error(f"{source}: animated or multi-page image; save one frame as PNG.")
            rgb = oriented_rgb(image, source)
    except ImageError as error:
        raise _error(str(error)) from error
    except UnidentifiedImageError as error:
        raise _error(f"{source}: not an image (cannot identify image file). Remove it or save it as PNG.") from error
    except (OSError, SyntaxError, ValueError) as error:
        if isinstance(error, ApplicationError):
            raise
        raise _error(f"{source}: cannot be decoded as an image ({error}). Re-save it as PNG or JPEG.") from error
    width, height = rgb.size
    if min(width, height) < MIN_IMAGE_SIDE:
        raise _error(f"{source}: {width} x {height} pixels; both sides must be at least {MIN_IMAGE_SIDE} pixels.")
    buffer = io.BytesIO()
    rgb.save(buffer, format="PNG")
    return buffer.getvalue(), width, height


def stored_name(source: str) -> str:
    """The name an uploaded file gets in the set: its base name with the suffix ``.png``."""
    return PurePosixPath(source).stem + ".png"


def _is_skipped(name: str) -> bool:
    parts = PurePosixPath(name).parts
    return any(part.startswith(".") or part == "__MACOSX" for part in parts)


def image_set_prepare(entries: Iterable[tuple[str, Callable[[], bytes]]], *, folder: Path, label: str) -> PreparedSet:
    """Validate and canonicalise images into ``folder``.

    Args:
        entries: ``(source_name, read)`` pairs, where ``read()`` returns the file's bytes.
        folder: an existing empty temporary folder that receives the PNGs.
        label: what the set is called in errors (``style/``, ``the upload``).
    Raises:
        ApplicationError naming the file: a non-image, a bomb, a suffix that is not an image,
        two files with the same stored name, two identical images, or an empty set.
    """
    prepared = PreparedSet()
    by_name: dict[str, str] = {}
    by_digest: dict[str, str] = {}
    for source, read in entries:
        if _is_skipped(source):
            continue
        if PurePosixPath(source).suffix.lower() not in IMAGE_SUFFIXES:
            allowed = ", ".join(sorted(IMAGE_SUFFIXES))
            raise _error(f"{source}: not an image file name (allowed suffixes: {allowed}). Remove it.")
        name = stored_name(source)
        if name in by_name:
            raise _error(f"{source}: same name as {by_name[name]} once stored as {name}; rename one of them.")
        try:
            data = read()
        except (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, OSError) as error:
            # A corrupt member (CRC mismatch, truncated data) or an encrypted one.
            raise _error(f"{source}: cannot be read ({error}); re-create the archive without encryption.") from error
        png, width, height = image_canonicalise(data, source=source)
        digest = hashlib.sha256(png).hexdigest()
        if digest in by_digest:
            raise _error(f"{source}: duplicate of {by_digest[digest]} (identical pixels); remove one of them.")
        if len(by_name) >= MAX_SET_IMAGES:
            raise _error(f"{label}: more than {MAX_SET_IMAGES:,} images; a set may hold at most that many.")
        by_name[name] = source
        by_digest[digest] = source
        path = folder / name
        path.write_bytes(png)
        prepared.images.append(
            PreparedImage(name=name, source=source, path=path, sha256=digest, width=width, height=height)
        )
    if not prepared.images:
        raise _error(f"{label}: no images found. Put PNG or JPEG files in it.")
    prepared.images.sort(key=lambda image: image.name)
    prepared.content_hash = content_hash((image.name, image.path) for image in prepared.images)
    return prepared


def archive_members(archive: zipfile.ZipFile, *, label: str) -> list[zipfile.ZipInfo]:
    """The regular files of a zip archive, after the guards.

    Raises:
        ApplicationError (code ``invalid_archive``) naming the member: too many members, too
        large uncompressed, an absolute path, a ``..`` component, a symbolic link.
    """
    infos = archive.infolist()
    if len(infos) > MAX_ARCHIVE_MEMBERS:
        raise _error(
            f"{label}: {len(infos):,} members is above the limit of {MAX_ARCHIVE_MEMBERS:,}; split the archive.",
            code="invalid_archive",
        )
    total = 0
    files = []
    for info in infos:
        name = info.filename
        if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or "\\" in name:
            raise _error(
                f"{label}: {name}: absolute or Windows path refused; use relative paths.", code="invalid_archive"
            )
        if ".." in PurePosixPath(name).parts:
            raise _error(f"{label}: {name}: path climbs out of the archive ('..'); refused.", code="invalid_archive")
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise _error(f"{label}: {name}: symbolic links are refused; store the file itself.", code="invalid_archive")
        total += info.file_size
        if total > MAX_ARCHIVE_BYTES:
            raise _error(
                f"{label}: uncompressed size above the limit of {MAX_ARCHIVE_BYTES:,} bytes.", code="invalid_archive"
            )
        if info.is_dir():
            continue
        if info.file_size > MAX_IMAGE_BYTES and not _is_skipped(name):
            raise _error(f"{name}: {info.file_size:,} bytes is above the limit of {MAX_IMAGE_BYTES:,} per image.")
        files.append(info)
    return files


def _reader(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Callable[[], bytes]:
    def read() -> bytes:
        with archive.open(info) as handle:
            data = handle.read(MAX_IMAGE_BYTES + 1)
        if len(data) > MAX_IMAGE_BYTES:
            raise _error(f"{info.filename}: above the limit of {MAX_IMAGE_BYTES:,} bytes per image.")
        return data

    return read


def _open_zip(source: Path | BinaryIO, *, label: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as error:
        raise _error(
            f"{label}: not a zip archive ({error}). Upload a .zip of images.", code="invalid_archive"
        ) from error


@contextmanager
def image_set_from_zip(source: Path | BinaryIO, *, label: str = "the archive") -> Iterator[PreparedSet]:
    """Validate a zip of images; yields the :class:`PreparedSet` (its PNGs live until the block ends).

    Images may sit at the top of the archive or in one folder level; the base names must be unique.
    """
    with tempfile.TemporaryDirectory(prefix="atelier-imageset-") as folder, _open_zip(source, label=label) as archive:
        members = archive_members(archive, label=label)
        yield image_set_prepare(
            ((info.filename, _reader(archive, info)) for info in members), folder=Path(folder), label=label
        )


@contextmanager
def image_set_from_folder(source: Path, *, label: str | None = None) -> Iterator[PreparedSet]:
    """Validate the images directly inside a folder (sub-folders are refused, symbolic links too)."""
    source = Path(source)
    label = label or str(source)
    if not source.is_dir():
        raise _error(f"{label}: not a folder. Pass a folder that holds the images.")
    entries = []
    for path in sorted(source.iterdir()):
        if path.name.startswith("."):
            continue
        if path.is_symlink():
            raise _error(f"{label}/{path.name}: symbolic links are refused; copy the file itself.")
        if path.is_dir():
            raise _error(f"{label}/{path.name}: sub-folders are not read; put all images directly in {label}.")
        entries.append((f"{label}/{path.name}", path.read_bytes))
    with tempfile.TemporaryDirectory(prefix="atelier-imageset-") as folder:
        yield image_set_prepare(entries, folder=Path(folder), label=label)
