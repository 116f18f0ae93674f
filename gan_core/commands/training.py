"""``python -m gan_core train-demo``: train a small TransformerNet on CPU and write a valid checkpoint."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``train-demo``."""
    parser = subparsers.add_parser(
        "train-demo",
        help="train a small style-transfer generator (TransformerNet, Gram style loss) and write a checkpoint",
        description=(
            "Train a small TransformerNet (Johnson et al.) with a VGG-19 Gram-matrix style loss on CPU within "
            "minutes, write it as safetensors with its config, and validate it with the platform's checks. "
            "Without --style/--content, deterministic demo images are generated."
        ),
    )
    parser.add_argument("--style", type=Path, default=None, help="style image, or a folder of them")
    parser.add_argument("--content", type=Path, default=None, help="folder of content images (or one image)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="checkpoint to write (.safetensors)")
    parser.add_argument("--minutes", type=float, default=5.0, help="training time budget (default 5)")
    parser.add_argument("--steps", type=int, default=None, help="stop after this many steps (default: time only)")
    parser.add_argument("--size", type=int, default=128, help="square training crop size, multiple of 4 (default 128)")
    parser.add_argument("--batch-size", type=int, default=2, help="images per step (default 2)")
    parser.add_argument("--channels", type=int, default=16, help="TransformerNet channels (default 16)")
    parser.add_argument("--residual-blocks", type=int, default=3, help="TransformerNet residual blocks (default 3)")
    parser.add_argument("--learning-rate", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's)")
    parser.add_argument(
        "--offline-random-vgg",
        action="store_true",
        help="use a seeded RANDOM VGG-19 when the pretrained weights are missing: the file is valid and "
        "submittable, but the result is NOT a real style transfer",
    )
    parser.set_defaults(func=run_train_demo)


def run_train_demo(args: argparse.Namespace) -> int:
    """Run ``train-demo``; 0 when the written checkpoint passes the platform's validation, else 1."""
    from gan_core.features.extractor import WeightsMode
    from gan_core.training import TrainingSettings, train_demo
    from gan_core.weights import WeightsError

    try:
        settings = TrainingSettings(
            size=args.size,
            minutes=args.minutes,
            max_steps=args.steps,
            batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            channels=args.channels,
            n_residual=args.residual_blocks,
            seed=args.seed,
            vgg_weights=WeightsMode.RANDOM if args.offline_random_vgg else WeightsMode.PRETRAINED,
            threads=args.threads,
        )
    except ValueError as error:
        print(f"train-demo: {error}", file=sys.stderr)
        return 2
    if args.offline_random_vgg:
        print(
            "WARNING: --offline-random-vgg: the style loss uses a RANDOM VGG-19, so the result is a valid "
            "checkpoint but NOT a real style transfer. Fetch the weights (python -m gan_core weights fetch vgg19) "
            "for a real one."
        )
    print(
        f"training TransformerNet (channels {settings.channels}, {settings.n_residual} residual blocks) on "
        f"{'demo images' if args.content is None else args.content} for up to {settings.minutes:g} min"
        + (f" or {settings.max_steps} steps" if settings.max_steps else "")
    )

    def show(step: int, loss: float, elapsed: float) -> None:
        if step == 1 or step % 10 == 0:
            print(f"  step {step:5d}  loss {loss:12.4g}  {elapsed:6.1f} s", flush=True)

    try:
        report = train_demo(output=args.output, style=args.style, content=args.content, settings=settings, on_step=show)
    except WeightsError as error:
        print(f"train-demo: {error}", file=sys.stderr)
        print(
            "train-demo: without internet, pass --offline-random-vgg to train against a random VGG-19 "
            "(a valid checkpoint, but not a real style transfer).",
            file=sys.stderr,
        )
        return 1
    except (OSError, ValueError) as error:
        print(f"train-demo: {error}", file=sys.stderr)
        return 1
    print(f"wrote {report.checkpoint} after {report.steps} steps in {report.seconds:.1f} s")
    validation = report.validation
    if getattr(validation, "ok", False):
        run = validation.run  # type: ignore[attr-defined]
        print(
            f"valid: the platform accepts it (transformer_net, {run.parameter_count:,} parameters, "
            f"{run.seconds_per_image * 1000:.1f} ms per {run.resolution[0]}x{run.resolution[1]} probe image, "
            f"sandbox: {run.isolation})"
        )
        if not report.calibrated:
            print("note: trained with a random VGG-19 (--offline-random-vgg): not a real style transfer.")
        print(f"next: python -m gan_core check {report.checkpoint}   then upload it")
        return 0
    print(
        f"invalid: [{getattr(validation, 'code', '?')}] {getattr(validation, 'message', '')}",
        file=sys.stderr,
    )
    return 1
