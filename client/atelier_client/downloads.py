"""``atelier starter-kit``: download a phase's starter kit, the zip the competition's Data page offers
(public images, the phase's constraints, the exact ``python -m gan_core`` commands, a baseline checkpoint)."""

from __future__ import annotations

import argparse
from pathlib import Path

from atelier_client.commands import _api
from atelier_client.exit_codes import CliError, ExitCode
from atelier_client.progress import bytes_format
from atelier_client.render import _answer_out


def command_starter_kit(args: argparse.Namespace) -> ExitCode:
    destination = Path(args.output).expanduser() if args.output else None
    if destination is not None and destination.is_dir():
        raise CliError(
            f"{destination} is a folder: give a file name with -o (e.g. {destination}/kit.zip).", ExitCode.USAGE
        )
    if destination is not None and not destination.parent.is_dir():
        raise CliError(f"The folder {destination.parent} does not exist: create it or give another -o.", ExitCode.USAGE)
    api = _api(args, login="optional")
    try:
        path, size = api.starter_kit_download(
            args.competition, destination=destination, phase=args.phase, overwrite=args.force
        )
    except FileExistsError as error:
        raise CliError(f"{error}: give another -o FILE, or --force to replace it.", ExitCode.USAGE) from error
    except OSError as error:
        where = destination or Path.cwd()
        raise CliError(
            f"Cannot write {where}: {error.strerror or error}. Give a writable -o FILE.", ExitCode.USAGE
        ) from error
    _answer_out(
        {"path": str(path), "bytes": size},
        f"Saved the starter kit of {args.competition} to {path} ({bytes_format(size)}); its README.md has the commands.",
        as_json=args.json,
    )
    return ExitCode.OK


def parsers_add(add, json_option: argparse.ArgumentParser, phase_option: argparse.ArgumentParser) -> None:
    """Add ``starter-kit`` with ``add(name, help, *parents)``."""
    kit = add(
        "starter-kit",
        "Download a phase's starter kit: public images, constraints, the exact local check and score commands, "
        "and a baseline checkpoint when the phase has a scored one.",
        json_option,
        phase_option,
    )
    kit.add_argument("competition", metavar="COMPETITION", help="competition slug")
    kit.add_argument(
        "-o", "--output", metavar="FILE", help="where to save it (default: SLUG-PHASE-starter-kit.zip here)"
    )
    kit.add_argument("--force", action="store_true", help="replace FILE when it exists")
    kit.set_defaults(handler=command_starter_kit)
