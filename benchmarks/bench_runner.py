"""Benchmark: the sandboxed runner against in-process inference (``make bench-runner``).

TransformerNet (Johnson et al., default hyper-parameters: 1.68 M parameters, random weights)
over N deterministic 256x256 images, the same work on both sides: decode, forward in batches,
contract check, quantise, write PNGs. In-process runs in this interpreter with the model
already loaded (what a worker that trusted its models would pay); sandboxed runs
``gan_core.sandbox.run_generator`` (bubblewrap when it works here, else the plain child).

Each side runs at two sizes (``--small`` and ``--images``), interleaved (in-process, sandboxed,
in-process, ...) so that a change of load hits both alike, ``--repeat`` times (the fastest run
counts); the slope between the two sizes is the cost per image and the intercept the fixed
cost, so neither is polluted by the other. Printed:
per-image seconds on both sides, the per-image overhead of the sandbox, its fixed start-up cost
(intercept, and the parent's measured time to the child's ``ready``), and peak memory.
Targets (issue 4): fixed start-up under 3 s, per-image overhead under 10 %.

    .venv/bin/python benchmarks/bench_runner.py [--images 100] [--small 10] [--threads 2] [--batch-size 4]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch
from PIL import Image

from gan_core import sandbox
from gan_core.checkpoints import inspect_checkpoint, load_generator, save_safetensors_checkpoint
from gan_core.contract import GeneratorContract, check_output
from gan_core.generators import build_generator
from gan_core.images import load_image, to_uint8

CONFIG = {"architecture": "transformer_net", "hyperparameters": {"channels": 32, "n_residual": 5}}
CONTRACT = GeneratorContract()


def write_images(folder: Path, count: int, size: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    paths = []
    for index in range(count):
        path = folder / f"content_{index:04d}.png"
        Image.fromarray(np.roll(base, index * 7, axis=1)).save(path)
        paths.append(path)
    return paths


def in_process(generator, paths: list[Path], output: Path, batch_size: int) -> float:
    """Wall seconds of the same pipeline as the sandbox child, in this process."""
    output.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for start in range(0, len(paths), batch_size):
        chunk = paths[start : start + batch_size]
        images = torch.stack([load_image(path) for path in chunk])
        batch = CONTRACT.value_range.from_unit(images.to(torch.float32) / 255.0)
        with torch.inference_mode():
            result = generator(batch)
        checked, _ = check_output(result, input=batch, contract=CONTRACT)
        quantised, _ = to_uint8(checked, value_range=CONTRACT.value_range.bounds)
        for index, path in enumerate(chunk):
            array = quantised[index].permute(1, 2, 0).contiguous().numpy()
            Image.fromarray(array, mode="RGB").save(output / f"{path.stem}.png", format="PNG")
    return time.perf_counter() - started


def sandboxed(checkpoint: Path, paths: list[Path], output: Path, limits: sandbox.SandboxLimits) -> sandbox.RunResult:
    return sandbox.run_generator(
        checkpoint=checkpoint, inputs=paths, output_dir=output, contract=CONTRACT, limits=limits
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100, help="images in the large run (default 100)")
    parser.add_argument("--small", type=int, default=10, help="images in the small run (default 10)")
    parser.add_argument("--size", type=int, default=256, help="image height and width (default 256)")
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads, both sides (default 2)")
    parser.add_argument("--batch-size", type=int, default=4, help="images per forward pass (default 4)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per measurement; the fastest counts (default 1)")
    args = parser.parse_args()
    if not 0 < args.small < args.images:
        parser.error("need 0 < --small < --images")
    torch.set_num_threads(args.threads)
    limits = sandbox.SandboxLimits(threads=args.threads, batch_size=args.batch_size, wall_seconds=1800)
    with tempfile.TemporaryDirectory(prefix="bench-runner-") as scratch:
        root = Path(scratch)
        torch.manual_seed(0)
        module = build_generator(CONFIG).eval()
        checkpoint = root / "transformer_net.safetensors"
        save_safetensors_checkpoint(module.state_dict(), checkpoint, config=CONFIG)
        paths = write_images(root / "content", args.images, args.size)
        small = paths[: args.small]

        loaded = time.perf_counter()
        info = inspect_checkpoint(checkpoint)
        generator = load_generator(checkpoint, info, device=torch.device("cpu"))
        load_seconds = time.perf_counter() - loaded
        in_process(generator, small[:2], root / "warm", args.batch_size)  # first-call allocations

        def run_in_process(count: int, run: int) -> float:
            return in_process(generator, paths[:count], root / f"in-{count}-{run}", args.batch_size)

        results: dict[int, list[sandbox.RunResult]] = {}

        def run_sandboxed(count: int, run: int) -> float:
            started = time.perf_counter()
            result = sandboxed(checkpoint, paths[:count], root / f"sb-{count}-{run}", limits)
            results.setdefault(count, []).append(result)
            return time.perf_counter() - started

        # interleaved, so a change of load on the machine hits both sides alike; the fastest run counts
        timings: dict[tuple[str, int], list[float]] = {}
        for run in range(args.repeat):
            for count in (args.small, args.images):
                timings.setdefault(("in", count), []).append(run_in_process(count, run))
                timings.setdefault(("sb", count), []).append(run_sandboxed(count, run))
        inside_small, inside_large = min(timings["in", args.small]), min(timings["in", args.images])
        box_small, box_large = min(timings["sb", args.small]), min(timings["sb", args.images])

    span = args.images - args.small
    per_image_inside = (inside_large - inside_small) / span
    per_image_box = (box_large - box_small) / span
    fixed_inside = inside_large - per_image_inside * args.images
    fixed_box = box_large - per_image_box * args.images
    overhead = per_image_box / per_image_inside - 1.0
    large = results[args.images]
    startup = statistics.median(r.startup_seconds for r in large + results[args.small])
    isolation = large[0].isolation.value
    print(
        f"bench-runner: TransformerNet {large[0].parameter_count:,} parameters, {args.size}x{args.size}, "
        f"batch {args.batch_size}, {args.threads} threads, isolation {isolation}, "
        f"memory enforced by {sandbox.memory_enforcement().value}; runs of {args.small} and {args.images} images"
    )
    print(
        f"  in-process : {inside_small:7.2f} s / {inside_large:7.2f} s  -> {per_image_inside:.4f} s per image, "
        f"fixed {fixed_inside:+.2f} s (model load {load_seconds:.2f} s, not counted)"
    )
    print(
        f"  sandboxed  : {box_small:7.2f} s / {box_large:7.2f} s  -> {per_image_box:.4f} s per image, "
        f"fixed {fixed_box:.2f} s"
    )
    print(f"  per-image overhead: {overhead * 100:+.1f} %   (target < 10 %)")
    print(
        f"  fixed start-up: {fixed_box:.2f} s by intercept; {startup:.2f} s to the child's 'ready' "
        f"(bubblewrap, interpreter, torch import, model load)   (target < 3 s)"
    )
    print(
        f"  child-measured forward: {large[0].seconds_per_image:.4f} s per image (median); "
        f"peak memory of the child {large[0].peak_memory_bytes / 1024**2:.0f} MiB; "
        f"cpu count {os.cpu_count()}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
