"""``python -m gan_core weights status|fetch``: what pretrained weight files are here, and get them."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gan_core import weights


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``weights status`` and ``weights fetch`` to the ``python -m gan_core`` parser."""
    parser = subparsers.add_parser(
        "weights",
        help="list or download the pretrained feature-network weights",
        description="Pretrained weight files: where they are looked for and whether their digests match.",
    )
    actions = parser.add_subparsers(dest="weights_command", metavar="ACTION")
    parser.set_defaults(func=lambda _args: _print_help(parser))

    status_parser = actions.add_parser("status", help="list every registered file and whether it is present")
    status_parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    status_parser.set_defaults(func=run_status)

    fetch_parser = actions.add_parser("fetch", help="download weight files and verify their digests")
    fetch_parser.add_argument(
        "names", nargs="*", metavar="NAME", help=f"files to fetch (default: all): {', '.join(weights.REGISTRY)}"
    )
    fetch_parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        help=f"folder to write to (default: ${weights.WEIGHTS_DIR_ENVIRONMENT_VARIABLE}, else the torch hub cache)",
    )
    fetch_parser.set_defaults(func=run_fetch)


def run_status(args: argparse.Namespace) -> int:
    """Print one line per registered file; exit code 0 when all are verified, 1 otherwise."""
    rows = weights.status()
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print("Searched, in order: " + ", ".join(str(folder) for folder in weights.search_directories()))
        width = max(len(row["name"]) for row in rows)
        for row in rows:
            where = row["path"] if row["state"] == "verified" else row["filename"]
            print(f"{row['name']:<{width}}  {row['state']:<8}  {where}")
        missing = [row["name"] for row in rows if row["state"] != "verified"]
        if missing:
            print(f"Fetch with: python -m gan_core weights fetch {' '.join(missing)}")
    return 0 if all(row["state"] == "verified" for row in rows) else 1


def run_fetch(args: argparse.Namespace) -> int:
    """Download the named files; print each path, or one error line and exit code 1."""
    try:
        paths = weights.fetch(args.names or None, directory=args.dir)
    except weights.WeightsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for path in paths:
        print(f"verified  {path}")
    return 0


def _print_help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2
