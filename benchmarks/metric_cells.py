"""One cell of ``bench_scoring.py --per-metric``: one metric, one implementation, one image size and
count, run in this (fresh) process; prints one JSON line with seconds and peak resident memory.

    python benchmarks/metric_cells.py METRIC IMPL ROOT COUNT [--memory-mb MB]

``ROOT`` holds ``outputs/`` and ``content/`` (pairs of the same name) and ``style/``. ``IMPL``:
``atelier`` (``gan_core.scoring.output_features``, the path the worker and the CLI take), or the
reference implementation where one exists: ``torchmetrics`` (SSIM) and ``lpips`` (the ``lpips``
package, AlexNet trunk with random weights, since no weights can be downloaded here). Networks are
built and warmed on two images before the timer starts; ``baseline_rss_mib`` is the peak then.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: The platform's default metric set as one cell (what a phase with every image metric computes).
DEFAULT_SET = ("inception", "lpips", "content", "ssim", "gram")


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _atelier(metric: str, outputs, inputs, style, memory_mb: float):
    from gan_core.features import WeightsMode, inception, lpips_alex, vgg19_taps
    from gan_core.scoring import output_features, style_grams

    wanted = set(DEFAULT_SET) if metric == "default" else {metric}
    random = {"weights": WeightsMode.RANDOM, "seed": 0, "device": "cpu", "budget": memory_mb}
    kwargs = {"per_image": sorted(wanted - {"inception"}), "budget": memory_mb}
    if "inception" in wanted:
        kwargs["inception_extractor"] = inception(dims=2048, **random)
    if wanted & {"ssim", "lpips", "content"}:
        kwargs["content_paths"] = inputs
    if "lpips" in wanted:
        kwargs["lpips"] = lpips_alex(**random)
    if wanted & {"content", "gram"}:
        kwargs["vgg"] = vgg19_taps(**random)
    if "gram" in wanted:
        kwargs["style_means"] = style_grams(style, kwargs["vgg"], seed=0, cache=None)[0]

    def run(count: int) -> None:
        part = {key: value[:count] if key == "content_paths" else value for key, value in kwargs.items()}
        output_features(outputs[:count], **part)

    return run


def _torchmetrics_ssim(outputs, inputs):
    import torch
    from torchmetrics.functional.image import structural_similarity_index_measure

    from gan_core.images import iter_image_batches

    def run(count: int) -> None:
        pairs = zip(iter_image_batches(outputs[:count], 32), iter_image_batches(inputs[:count], 32), strict=True)
        for x, y in pairs:
            with torch.inference_mode():
                structural_similarity_index_measure(
                    torch.stack(x).float(), torch.stack(y).float(), data_range=255.0, reduction="none"
                )

    return run


def _lpips_package(outputs, inputs):
    import lpips
    import torch

    from gan_core.images import iter_image_batches

    torch.manual_seed(0)
    network = lpips.LPIPS(net="alex", pretrained=False, pnet_rand=True, verbose=False).eval()

    def run(count: int) -> None:
        pairs = zip(iter_image_batches(outputs[:count], 32), iter_image_batches(inputs[:count], 32), strict=True)
        for x, y in pairs:
            with torch.inference_mode():
                network(torch.stack(x).float() / 127.5 - 1, torch.stack(y).float() / 127.5 - 1)

    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("metric", choices=(*DEFAULT_SET, "default"))
    parser.add_argument("impl", choices=("atelier", "torchmetrics", "lpips"))
    parser.add_argument("root", type=Path)
    parser.add_argument("count", type=int)
    parser.add_argument("--memory-mb", type=float, default=2048)
    args = parser.parse_args()
    import torch

    from gan_core.images import list_images

    outputs = list_images(args.root / "outputs")[: args.count]
    inputs = list_images(args.root / "content")[: args.count]
    style = list_images(args.root / "style")
    if args.impl == "atelier":
        run = _atelier(args.metric, outputs, inputs, style, args.memory_mb)
    elif args.impl == "torchmetrics" and args.metric == "ssim":
        run = _torchmetrics_ssim(outputs, inputs)
    elif args.impl == "lpips" and args.metric == "lpips":
        run = _lpips_package(outputs, inputs)
    else:
        parser.error(f"no {args.impl} implementation of {args.metric}")
    run(2)  # warm-up: networks' first pass, allocator
    baseline = _rss_mib()
    start = time.perf_counter()
    run(args.count)
    seconds = time.perf_counter() - start
    print(
        json.dumps(
            {
                "seconds": seconds,
                "images": len(outputs),
                "peak_rss_mib": _rss_mib(),
                "baseline_rss_mib": baseline,
                "threads": torch.get_num_threads(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
