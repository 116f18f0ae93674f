"""``python -m gan_core score`` and ``python -m gan_core stats``.

``score`` prints the JSON of ``gan_core.scoring.score``; ``stats`` writes a folder's Inception
statistics to ``.npz`` with their metadata. Errors print one line (``error: ...`` with what to do)
on stderr and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from gan_core.pixels import PreprocessMode  # torch-free: building the parser must not import torch

if TYPE_CHECKING:
    from gan_core.features import WeightsMode

EXIT_USAGE = 2


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``score`` and ``stats``."""
    score = subparsers.add_parser(
        "score",
        help="score generated images (FID, KID, MiFID, LPIPS, content, SSIM, Gram, ArtFID) and print JSON",
        description="Score a folder of generator outputs against a style folder; paired metrics compare each "
        "output with the content image of the same name (suffix may differ).",
    )
    score.add_argument("--outputs", type=Path, required=True, help="folder of generated images")
    score.add_argument("--style", type=Path, required=True, help="folder of style (reference) images")
    score.add_argument("--content", type=Path, help="folder of the content inputs (for lpips, content, ssim, artfid)")
    score.add_argument(
        "--metrics", default="fid", help="comma-separated: fid,kid,mifid,lpips,content,ssim,gram,artfid (default fid)"
    )
    _add_network_arguments(score)
    score.add_argument("--cache", type=Path, help="folder that keeps the style set's statistics between runs")
    score.add_argument("--bootstrap", type=int, default=100, metavar="N", help="bootstrap resamples (0: no intervals)")
    score.add_argument("--confidence", type=float, default=0.95, help="interval confidence (default 0.95)")
    score.add_argument(
        "--seed", type=int, default=0, help="seed of the KID subsets and bootstrap resamples (not of the networks)"
    )
    score.add_argument(
        "--memory-mb",
        type=float,
        help="memory budget of one scoring step in MiB (default: $ATELIER_SCORING_MEMORY_MB, else a quarter of free)",
    )
    score.add_argument("--per-image", action="store_true", help="include per-image values in the JSON")
    score.add_argument("-o", "--output", type=Path, help="write the JSON here instead of printing it")
    score.set_defaults(func=run_score)

    stats = subparsers.add_parser(
        "stats",
        help="compute a folder's Inception feature statistics (.npz with metadata)",
        description="Stream a folder of images through the FID Inception network and save mean, covariance and "
        "metadata (network, weights digest, mode, count, content hash) as .npz.",
    )
    stats.add_argument("folder", type=Path, help="folder of images")
    stats.add_argument("-o", "--output", type=Path, required=True, help="the .npz file to write")
    _add_network_arguments(stats)
    stats.set_defaults(func=run_stats)


def _add_network_arguments(parser: argparse.ArgumentParser) -> None:
    """``--dims``, ``--mode``, ``--random-weights``, ``--network-seed`` and ``--device``: the Inception network's."""
    parser.add_argument(
        "--dims", type=int, default=2048, choices=(64, 192, 768, 2048), help="Inception feature dimensions"
    )
    parser.add_argument(
        "--mode",
        default=PreprocessMode.CLEAN.value,
        choices=[mode.value for mode in PreprocessMode],
        help="Inception preprocessing (default clean); scores from different modes are not comparable",
    )
    parser.add_argument(
        "--random-weights",
        action="store_true",
        help="random-initialised networks (tests and offline demos only: the result says calibrated: false)",
    )
    parser.add_argument("--network-seed", type=int, default=0, help="seed of the random weights (default 0)")
    parser.add_argument("--device", help="cpu, cuda, cuda:N or auto (default: $ATELIER_DEVICE, else auto)")


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _weights_mode(args: argparse.Namespace) -> WeightsMode:
    from gan_core.features import WeightsMode

    return WeightsMode.RANDOM if args.random_weights else WeightsMode.PRETRAINED


def _known_errors() -> tuple[type[Exception], ...]:
    from gan_core.devices import DeviceError
    from gan_core.pixels import ImageError
    from gan_core.stats import StatisticsError
    from gan_core.weights import WeightsError

    return (ImageError, StatisticsError, WeightsError, DeviceError, ValueError)


def _validate_score_arguments(args: argparse.Namespace) -> str | None:
    """The first problem with ``score``'s arguments (one line saying what to do), or ``None``.

    Checked before any image is read or network built, so a bad argument never costs a computation.
    """
    from gan_core.scoring.common import parse_metrics

    try:
        parse_metrics(args.metrics)
    except ValueError as error:
        return str(error)
    if args.bootstrap < 0:
        return f"--bootstrap must be 0 (no intervals) or a positive number of resamples, not {args.bootstrap}."
    if not 0.0 < args.confidence < 1.0:
        return f"--confidence must lie strictly between 0 and 1 (for example 0.95), not {args.confidence}."
    if args.memory_mb is not None and args.memory_mb <= 0:
        return f"--memory-mb must be a positive number of MiB, not {args.memory_mb}."
    for flag, folder in (("--outputs", args.outputs), ("--style", args.style), ("--content", args.content)):
        if folder is not None and not folder.is_dir():
            return f"{flag} {folder} is not a folder: pass the folder that holds the images."
    if args.output is not None:
        parent = args.output.parent if str(args.output.parent) else Path(".")
        if args.output.is_dir():
            return f"-o {args.output} is a folder: pass a file name such as {args.output / 'report.json'}."
        if not parent.is_dir():
            return f"-o {args.output}: the folder {parent} does not exist; create it first or write elsewhere."
        if not os.access(parent, os.W_OK):
            return f"-o {args.output}: the folder {parent} is not writable; write the report elsewhere."
    from gan_core.devices import DeviceError, select_device

    try:
        select_device(args.device)
    except DeviceError as error:
        return str(error)
    return None


def run_score(args: argparse.Namespace) -> int:
    problem = _validate_score_arguments(args)
    if problem is not None:
        return _fail(problem)
    from gan_core.scoring import Bootstrap, score

    try:
        report = score(
            outputs=args.outputs,
            style=args.style,
            content=args.content,
            metrics=args.metrics,
            mode=PreprocessMode(args.mode),
            weights=_weights_mode(args),
            seed=args.seed,
            network_seed=args.network_seed,
            cache_dir=args.cache,
            device=args.device,
            bootstrap=Bootstrap(resamples=args.bootstrap, confidence=args.confidence),
            dims=args.dims,
            budget=args.memory_mb,
        )
    except _known_errors() as error:
        return _fail(str(error).splitlines()[0] if str(error) else type(error).__name__)
    if not args.per_image:
        report.pop("per_image", None)
    text = json.dumps(report, indent=2, sort_keys=False)
    if args.output is not None:
        args.output.write_text(text + "\n")
    else:
        print(text)
    return 0


def run_stats(args: argparse.Namespace) -> int:
    from gan_core.features import inception
    from gan_core.images import content_hash, list_images
    from gan_core.scoring import compute_stats
    from gan_core.stats import StatsMetadata, save_stats

    try:
        paths = list_images(args.folder)
        extractor = inception(
            mode=PreprocessMode(args.mode),
            dims=args.dims,
            weights=_weights_mode(args),
            seed=args.network_seed,
            device=args.device,
        )
        stats = compute_stats(paths, extractor)
        metadata = StatsMetadata(
            network=extractor.name,
            weights_sha256=extractor.weights_sha256,
            mode=PreprocessMode(args.mode).value,
            count=stats.count,
            content_hash=content_hash(paths),
            calibrated=bool(extractor.calibrated),
        )
        save_stats(args.output, stats, metadata)
    except _known_errors() as error:
        return _fail(str(error).splitlines()[0] if str(error) else type(error).__name__)
    print(
        f"wrote {args.output}: {stats.count} images, {extractor.name}, mode {metadata.mode}, "
        f"calibrated {str(metadata.calibrated).lower()}"
    )
    return 0
