"""``python -m gan_core``: one entry point, one sub-command module per area.

Each module in ``COMMAND_MODULES`` exposes ``register(subparsers)``, which adds
its sub-commands; each sub-command sets ``func`` (taking the parsed arguments
and returning an exit code) with ``parser.set_defaults(func=...)``.
"""

from __future__ import annotations

import argparse
import importlib

import gan_core
from gan_core.version import __version__ as gan_core_version

COMMAND_MODULES = (
    "gan_core.commands.weights",  # weights status, weights fetch
    "gan_core.commands.scoring",  # score, stats
    "gan_core.commands.checkpoints",  # export, check
    "gan_core.commands.training",  # train-demo
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gan_core", description=gan_core.__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"gan_core {gan_core_version}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    return int(args.func(args) or 0)
