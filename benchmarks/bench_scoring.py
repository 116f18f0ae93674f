"""Benchmark: Atelier's FID against pytorch-fid, end to end and for the distance step. Prints figures.

    .venv/bin/python benchmarks/bench_scoring.py                 # 1,000 images (two folders of 500), ~10 min on 2 cores
    .venv/bin/python benchmarks/bench_scoring.py --images 100    # a quick run

In one run, on the same deterministic 256x256 PNG images and the same weights (pretrained weights
cannot be downloaded here, so both networks get one seeded random state dict: gan_core's
``FIDInceptionV3`` initialised by ``initialise_randomly``, loaded into pytorch-fid's ``InceptionV3``
through its weight loader):

1. End to end, images to FID, in the same preprocessing (``legacy-pytorch``, pytorch-fid's bilinear
   resize): pytorch-fid's ``compute_statistics_of_path`` on both folders and
   ``calculate_frechet_distance`` against gan_core's streamed ``compute_stats`` and ``fid_from_stats``.
   Each implementation runs in a fresh child process; network construction is outside the timer.
   Printed: images per second, the ratio, ``|FID_atelier - FID_pytorch_fid|``, and each child's peak
   resident memory (``ru_maxrss``), for two image counts to show memory does not grow with them.
2. The distance step at 2048-d, full rank: ``scipy.linalg.sqrtm`` (as pytorch-fid calls it) against
   gan_core's eigen route, with and without the reference root cached.

Targets (issue 3): distance step >= 10x faster with relative difference < 1e-6; end to end >= 1.3x
pytorch-fid's throughput on CPU with |difference| < 1e-3; peak memory independent of the number of images.

3. ``--per-metric``: a table per metric (``--metrics ssim,lpips,content,gram,inception,default``), image
   size (``--sizes 256,512,1024``) and count (``--counts 100,1000``): seconds per image and peak RSS of
   gan_core's scoring path (``output_features`` with a ``--memory-mb`` budget), and of the reference
   implementation where one exists (torchmetrics SSIM, the ``lpips`` package), each cell in a fresh
   process (``benchmarks/metric_cells.py``), and the growth of peak RSS from the smallest to the largest
   count. ``default`` is every image metric at once (Inception, LPIPS, content, SSIM, Gram).
   Targets (issue 16): peak RSS growth < 5 % from 100 to 1,000 images; SSIM at 512 within 1.5x
   torchmetrics' time and at most its memory; the default set for 1,000 images at 512 within 8 GB.

    .venv/bin/python benchmarks/bench_scoring.py --per-metric --metrics ssim --sizes 256,512 --counts 100,1000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_images(folder: Path, count: int, *, size: int, seed: int) -> None:
    """``count`` deterministic ``size`` x ``size`` RGB PNGs: smooth random fields plus fine noise."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for index in range(count):
        coarse = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        smooth = np.asarray(Image.fromarray(coarse).resize((size, size), Image.Resampling.BICUBIC), dtype=np.int16)
        noisy = np.clip(smooth + rng.integers(-12, 13, smooth.shape), 0, 255).astype(np.uint8)
        Image.fromarray(noisy).save(folder / f"{index:05d}.png")


def _shared_network(seed: int):
    from gan_core.features.inception import FIDInceptionV3
    from gan_core.features.initialisation import initialise_randomly

    return initialise_randomly(FIDInceptionV3(), seed).eval()


def child_atelier(folders: list[Path], seed: int) -> dict[str, float]:
    from gan_core.features.inception import InceptionExtractor
    from gan_core.images import PreprocessMode, list_images
    from gan_core.metrics import fid_from_stats
    from gan_core.scoring import compute_stats

    extractor = InceptionExtractor(
        _shared_network(seed), mode=PreprocessMode.LEGACY_PYTORCH, weights_sha256=None, calibrated=False, device="cpu"
    )
    paths = [list_images(folder) for folder in folders]
    start = time.perf_counter()
    stats = [compute_stats(group, extractor) for group in paths]
    fid = fid_from_stats(stats[0], stats[1])
    seconds = time.perf_counter() - start
    return {"fid": fid, "seconds": seconds, "images": sum(map(len, paths))}


def child_pytorch_fid(folders: list[Path], seed: int) -> dict[str, float]:
    import pytorch_fid.inception as pf_inception
    from pytorch_fid.fid_score import calculate_frechet_distance, compute_statistics_of_path

    state_dict = _shared_network(seed).state_dict()
    pf_inception.load_state_dict_from_url = lambda *args, **kwargs: state_dict
    model = pf_inception.InceptionV3([pf_inception.InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).eval()
    workers = min(len(os.sched_getaffinity(0)), 8)  # as pytorch-fid's command line chooses
    start = time.perf_counter()
    moments = [compute_statistics_of_path(str(folder), model, 50, 2048, "cpu", workers) for folder in folders]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # sqrtm(disp=...) is deprecated in scipy 1.17
        fid = float(calculate_frechet_distance(moments[0][0], moments[0][1], moments[1][0], moments[1][1]))
    seconds = time.perf_counter() - start
    return {"fid": fid, "seconds": seconds, "images": sum(len(list(folder.iterdir())) for folder in folders)}


def run_child(kind: str, folders: list[Path], seed: int) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", kind, "--seed", str(seed), *map(str, folders)]
    completed = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(completed.stdout.strip().splitlines()[-1])


def distance_step(dims: int, seed: int, repeats: int) -> dict[str, float]:
    import scipy.linalg

    from gan_core.metrics.fid import frechet_distance
    from gan_core.stats import covariance_factor

    rng = np.random.default_rng(seed)
    moments = []
    for shift in (0.0, 0.2):
        mixing = rng.standard_normal((dims, dims)) / np.sqrt(dims)
        features = shift + np.maximum(rng.standard_normal((2 * dims + 500, dims)) @ mixing, 0)
        moments.append((features.mean(axis=0), np.cov(features, rowvar=False)))
    (mu1, s1), (mu2, s2) = moments

    def best(function, repeats: int) -> tuple[float, float]:
        """(value, the fastest of ``repeats`` timings): the minimum filters out other processes' load."""
        timings = []
        for _ in range(repeats):
            start = time.perf_counter()
            value = function()
            timings.append(time.perf_counter() - start)
        return value, min(timings)

    def scipy_fid() -> float:
        covmean = scipy.linalg.sqrtm(s1 @ s2)
        diff = mu1 - mu2
        return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean).real)

    scipy_fid_value, scipy_seconds = best(scipy_fid, repeats)
    ours, ours_seconds = best(lambda: frechet_distance(mu1, s1, mu2, s2), repeats)
    root = covariance_factor(s2)
    cached, cached_seconds = best(lambda: frechet_distance(mu1, s1, mu2, s2, sqrt_sigma_reference=root), repeats)
    return {
        "scipy_seconds": scipy_seconds,
        "atelier_seconds": ours_seconds,
        "atelier_cached_root_seconds": cached_seconds,
        "scipy_fid": scipy_fid_value,
        "atelier_fid": ours,
        "relative_difference": abs(ours - scipy_fid_value) / abs(scipy_fid_value),
        "relative_difference_cached": abs(cached - scipy_fid_value) / abs(scipy_fid_value),
    }


def bootstrap_cost(rows: int, dims: int, resamples: int, seed: int) -> dict[str, float]:
    from gan_core.metrics.bootstrap import bootstrap_interval, mean_interval
    from gan_core.metrics.fid import fid_from_features, fid_resampler
    from gan_core.stats import ReferenceFeatures

    rng = np.random.default_rng(seed)
    mixing = rng.standard_normal((dims, dims)) / np.sqrt(dims)
    generated = np.maximum(rng.standard_normal((rows, dims)) @ mixing, 0)
    reference = ReferenceFeatures.from_features(np.maximum(rng.standard_normal((rows, dims)) @ mixing + 0.1, 0))
    start = time.perf_counter()
    point = fid_from_features(generated, reference)
    fid_of = fid_resampler(generated, reference)
    setup = time.perf_counter() - start
    start = time.perf_counter()
    bootstrap_interval(fid_of, rows, point=point, resamples=resamples, seed=seed)
    total = time.perf_counter() - start
    start = time.perf_counter()
    mean_interval(rng.random(rows), resamples=resamples, seed=seed)
    mean_seconds = time.perf_counter() - start
    return {
        "setup_seconds": setup,
        "seconds_per_resample": total / resamples,
        "total_seconds": setup + total,
        "mean_seconds": mean_seconds,
    }


REFERENCES = {"ssim": "torchmetrics", "lpips": "lpips"}


def make_pairs(root: Path, count: int, size: int, seed: int) -> None:
    """``root/content``: ``count`` images; ``root/outputs``: each a shifted, noisier copy (same names);
    ``root/style``: 8 other images."""
    from PIL import Image

    make_images(root / "content", count, size=size, seed=seed)
    make_images(root / "style", 8, size=size, seed=seed + 7)
    (root / "outputs").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed + 1)
    for path in sorted((root / "content").iterdir()):
        pixels = np.asarray(Image.open(path), dtype=np.int16)
        changed = np.clip(pixels * 0.8 + 20 + rng.integers(-20, 21, pixels.shape), 0, 255).astype(np.uint8)
        Image.fromarray(changed).save(root / "outputs" / path.name)


def per_metric(args: argparse.Namespace) -> None:
    metrics = [name.strip() for name in args.metrics.split(",") if name.strip()]
    sizes = [int(value) for value in args.sizes.split(",")]
    counts = sorted(int(value) for value in args.counts.split(","))
    cells = Path(__file__).with_name("metric_cells.py")
    print(f"per-metric table: metrics {metrics}, sizes {sizes}, counts {counts}, budget {args.memory_mb:.0f} MiB")
    header = "  metric     impl          size  images   s/image   peak RSS MiB   growth vs first count"
    with tempfile.TemporaryDirectory(prefix="bench-metrics-") as scratch:
        for size in sizes:
            root = Path(scratch) / str(size)
            start = time.perf_counter()
            make_pairs(root, max(counts), size, args.seed)
            print(f"\n{size}x{size}: {max(counts)} pairs written in {time.perf_counter() - start:.0f} s", flush=True)
            print(header)
            for metric in metrics:
                impls = ["atelier"] + ([REFERENCES[metric]] if metric in REFERENCES and not args.no_reference else [])
                results: dict[tuple[str, int], dict] = {}
                for impl in impls:
                    for count in counts:
                        command = [sys.executable, str(cells), metric, impl, str(root), str(count)]
                        command += ["--memory-mb", str(args.memory_mb)]
                        done = subprocess.run(command, capture_output=True, text=True, check=False)
                        if done.returncode != 0:
                            print(f"  {metric:10s} {impl:12s} {size:5d} {count:7d}   failed: {done.stderr[-300:]}")
                            continue
                        row = json.loads(done.stdout.strip().splitlines()[-1])
                        results[(impl, count)] = row
                        first = results.get((impl, counts[0]))
                        growth = ""
                        if first is not None and count != counts[0]:
                            change = row["peak_rss_mib"] - first["peak_rss_mib"]
                            growth = f"{change:+.0f} MiB ({100 * change / first['peak_rss_mib']:+.1f} %)"
                        print(
                            f"  {metric:10s} {impl:12s} {size:5d} {count:7d} {row['seconds'] / count:9.4f} "
                            f"{row['peak_rss_mib']:14.0f}   {growth}",
                            flush=True,
                        )
                if len(impls) == 2:
                    for count in counts:
                        ours, theirs = results.get(("atelier", count)), results.get((impls[1], count))
                        if ours and theirs:
                            print(
                                f"  {metric:10s} atelier / {impls[1]} at {count}: time "
                                f"{ours['seconds'] / theirs['seconds']:.2f}x, peak RSS "
                                f"{ours['peak_rss_mib'] / theirs['peak_rss_mib']:.2f}x",
                                flush=True,
                            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000, help="images end to end, split over two folders")
    parser.add_argument("--memory-images", type=int, default=None, help="smaller count for the memory comparison")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--dims", type=int, default=2048, help="dimension of the distance-step benchmark")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-end-to-end", action="store_true")
    parser.add_argument("--bootstrap-rows", type=int, default=1000, help="outputs in the bootstrap-cost figure")
    parser.add_argument("--resamples", type=int, default=100, help="resamples in the bootstrap-cost figure")
    parser.add_argument("--repeats", type=int, default=4, help="timings per distance-step figure (fastest is shown)")
    parser.add_argument("--per-metric", action="store_true", help="only the per-metric table (issue 16)")
    parser.add_argument("--metrics", default="ssim,lpips,content,gram,inception,default", help="per-metric rows")
    parser.add_argument("--sizes", default="256,512,1024", help="per-metric image sides")
    parser.add_argument("--counts", default="100,1000", help="per-metric image counts")
    parser.add_argument("--memory-mb", type=float, default=2048, help="gan_core's scoring budget per step")
    parser.add_argument("--no-reference", action="store_true", help="skip torchmetrics / lpips rows")
    parser.add_argument("--child", choices=("atelier", "pytorch-fid"), help=argparse.SUPPRESS)
    parser.add_argument("folders", nargs="*", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        result = (child_atelier if args.child == "atelier" else child_pytorch_fid)(args.folders, args.seed)
        result["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return 0

    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs")
    if args.per_metric:
        per_metric(args)
        return 0
    if not args.skip_end_to_end:
        small = args.memory_images or max(2, args.images // 4)
        with tempfile.TemporaryDirectory(prefix="bench-scoring-") as scratch:
            base = Path(scratch)
            print(f"generating {args.images} images of {args.size}x{args.size} ...", flush=True)
            half = args.images // 2
            make_images(base / "a", half, size=args.size, seed=args.seed + 1)
            make_images(base / "b", args.images - half, size=args.size, seed=args.seed + 2)
            for name, count in (("a-small", small // 2), ("b-small", small - small // 2)):
                (base / name).mkdir()
                for path in sorted((base / name[0]).iterdir())[:count]:
                    (base / name / path.name).symlink_to(path)
            print("\nend to end, images -> FID, mode legacy-pytorch, same random weights, CPU")
            rows = {}
            runs = [(kind, args.images, [base / "a", base / "b"]) for kind in ("pytorch-fid", "atelier")]
            runs.append(("atelier", small, [base / "a-small", base / "b-small"]))  # memory against image count
            for kind, count, folders in runs:
                result = run_child(kind, folders, args.seed)
                rows[(kind, count)] = result
                print(
                    f"  {kind:12s} {int(result['images']):5d} images: {result['images'] / result['seconds']:7.2f} "
                    f"images/s ({result['seconds']:.1f} s), FID {result['fid']:.6f}, "
                    f"peak RSS {result['max_rss_mb']:.0f} MiB",
                    flush=True,
                )
            ours, theirs = rows[("atelier", args.images)], rows[("pytorch-fid", args.images)]
            speedup = (ours["images"] / ours["seconds"]) / (theirs["images"] / theirs["seconds"])
            print(f"  throughput ratio atelier / pytorch-fid: {speedup:.2f}x (target >= 1.3x)")
            print(f"  |FID difference|: {abs(ours['fid'] - theirs['fid']):.3e} (target < 1e-3)")
            growth = ours["max_rss_mb"] - rows[("atelier", small)]["max_rss_mb"]
            print(f"  atelier peak RSS {small} -> {args.images} images: {growth:+.0f} MiB")
    print(f"\ndistance step, {args.dims}-d full-rank covariances (fastest of {args.repeats} runs each)")
    step = distance_step(args.dims, args.seed, args.repeats)
    print(f"  scipy sqrtm:                 {step['scipy_seconds']:.2f} s")
    print(
        f"  atelier eigen route:         {step['atelier_seconds']:.2f} s "
        f"({step['scipy_seconds'] / step['atelier_seconds']:.1f}x), rel. diff {step['relative_difference']:.1e}"
    )
    print(
        f"  atelier, reference root cached: {step['atelier_cached_root_seconds']:.2f} s "
        f"({step['scipy_seconds'] / step['atelier_cached_root_seconds']:.1f}x), "
        f"rel. diff {step['relative_difference_cached']:.1e} (target >= 10x, < 1e-6)"
    )
    print(f"\nbootstrap cost, {args.bootstrap_rows} outputs, {args.dims}-d, {args.resamples} resamples")
    cost = bootstrap_cost(args.bootstrap_rows, args.dims, args.resamples, args.seed)
    print(
        f"  FID: {cost['setup_seconds']:.2f} s setup (reference root, projection) + "
        f"{cost['seconds_per_resample']:.3f} s per resample = {cost['total_seconds']:.1f} s"
    )
    print(f"  per-image mean (LPIPS, SSIM, ...): {cost['mean_seconds'] * 1e3:.1f} ms for all resamples")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
