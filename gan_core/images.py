"""The image pipeline: one decode path, preprocessing modes, generator outputs to uint8.

Every image a metric sees goes through :func:`load_image` (files) or :func:`to_uint8`
(generator outputs): both give ``(3, H, W)`` uint8 RGB, exactly what a saved 8-bit PNG
holds, so scoring a folder and scoring a generator's tensors agree.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from gan_core.pixels import ImageError, named_content_hash, open_image, oriented_rgb

# The modes live with the torch-free pixel code (the command line builds its parser without torch).
from gan_core.pixels import PreprocessMode as PreprocessMode

#: The largest image, in pixels, that is decoded (40 megapixels, e.g. 8000 x 5000). Pillow's
#: default (89.5 MP, with only a warning below twice that) is replaced by this real maximum,
#: and Pillow's decompression-bomb warning is turned into an :class:`ImageError` by
#: :func:`gan_core.pixels.open_image`, which the web side uses too (with its own, lower limit).
MAX_IMAGE_PIXELS = 40_000_000
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS

#: File suffixes (lower case, with the dot) that :func:`list_images` picks up.
IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
)

#: Threads that decode images ahead of the consumer in :func:`iter_image_batches`.
DECODE_THREADS = 2


def list_images(folder: Path) -> list[Path]:
    """The supported image files directly inside ``folder``, sorted by name.

    Sub-folders are not searched; hidden files (names starting with ``.``) are skipped.
    Raises :class:`ImageError` when the folder does not exist or holds no image file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ImageError(f"{folder}: not a folder. Pass a folder that holds the images (PNG, JPEG, ...).")
    paths = sorted(
        path
        for path in folder.iterdir()
        if path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".") and path.is_file()
    )
    if not paths:
        allowed = ", ".join(sorted(IMAGE_EXTENSIONS))
        raise ImageError(f"{folder}: no image files found. Put images with one of these suffixes in it: {allowed}.")
    return paths


def load_image(path: Path) -> torch.Tensor:
    """Decode one image file to ``(3, H, W)`` uint8 RGB in [0, 255].

    EXIF orientation is applied. Palette, greyscale, alpha and CMYK images are converted to RGB
    (alpha is dropped, as pytorch-fid and clean-fid do with ``convert("RGB")``); 16-bit greyscale
    is scaled to 8 bits (``round(v / 257)``) rather than clipped. Images above
    :data:`MAX_IMAGE_PIXELS` and unreadable files raise :class:`ImageError`.
    """
    path = Path(path)
    try:
        with open_image(path, path, max_pixels=MAX_IMAGE_PIXELS) as image:
            rgb = oriented_rgb(image, path)
    except FileNotFoundError as error:
        raise ImageError(f"{path}: no such file. Check the path, or list the folder again.") from error
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        if isinstance(error, ImageError):
            raise
        raise ImageError(
            f"{path}: cannot be decoded as an image ({error}). Re-save it as PNG or JPEG, or remove it."
        ) from error
    array = np.asarray(rgb, dtype=np.uint8)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).contiguous()


def iter_image_batches(
    paths: Sequence[Path], batch_size: int, *, threads: int = DECODE_THREADS
) -> Iterator[list[torch.Tensor]]:
    """Yield the images of ``paths`` in order, as lists of at most ``batch_size`` ``(3, H, W)`` uint8 tensors.

    Sizes may differ within a batch. The next batch is decoded by ``threads`` background threads
    while the current one is used, so at most two batches are held in memory.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
    paths = list(paths)
    if not paths:
        return
    chunks = [paths[start : start + batch_size] for start in range(0, len(paths), batch_size)]
    with ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="gan_core-decode") as pool:
        pending: list[Future[torch.Tensor]] = [pool.submit(load_image, path) for path in chunks[0]]
        for index in range(len(chunks)):
            current = pending
            if index + 1 < len(chunks):
                pending = [pool.submit(load_image, path) for path in chunks[index + 1]]
            try:
                batch = [future.result() for future in current]
            except BaseException:
                for future in pending:
                    future.cancel()
                raise
            yield batch


def to_uint8(x: torch.Tensor, *, value_range: tuple[float, float]) -> tuple[torch.Tensor, int]:
    """Turn generator outputs into the uint8 images a saved PNG would hold.

    ``x`` is float ``(N, 3, H, W)`` (any shape works) whose nominal range is ``value_range``
    (e.g. ``(-1.0, 1.0)`` for tanh outputs). Values are mapped to [0, 1], clamped, scaled by 255
    and rounded half up (``floor(v * 255 + 0.5)``, as ``torchvision.utils.save_image`` does); never
    truncated or wrapped, so 1.2 in a [0, 1] range becomes 255, not 50.

    Returns ``(images, clamped)``: uint8 tensor of ``x``'s shape on ``x``'s device, and the number
    of values that fell outside ``value_range``. Non-finite values raise ``ValueError``.
    """
    low, high = float(value_range[0]), float(value_range[1])
    if not high > low:
        raise ValueError(f"value_range must be (low, high) with low < high, got {value_range}.")
    if not torch.is_floating_point(x):
        raise ValueError(f"to_uint8 expects a floating-point tensor, got {x.dtype}; uint8 images need no conversion.")
    non_finite = int((~torch.isfinite(x)).sum())
    if non_finite:
        raise ValueError(
            f"{non_finite} of {x.numel()} values are NaN or infinite; the generator output is invalid "
            "and cannot be turned into images."
        )
    compute_dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    unit = (x.to(compute_dtype) - low) / (high - low)
    clamped = int(((unit < 0) | (unit > 1)).sum())
    images = torch.floor(unit.clamp(0.0, 1.0) * 255.0 + 0.5).to(torch.uint8)
    return images, clamped


def content_hash(paths: Sequence[Path]) -> str:
    """The dataset's identity: SHA-256 hex over the files' relative names and bytes.

    Names are taken relative to the files' common folder and sorted, so the hash does not
    depend on listing order but changes when any file's name or content changes.
    """
    paths = [Path(path) for path in paths]
    if not paths:
        raise ImageError("content_hash needs at least one file; the image list is empty.")
    absolute = [Path(os.path.abspath(path)) for path in paths]  # normalised, symlinks kept (their names count)
    root = Path(os.path.commonpath([path.parent for path in absolute]))
    return named_content_hash((path.relative_to(root).as_posix(), path) for path in absolute)
