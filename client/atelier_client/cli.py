"""The ``atelier`` command: log in, submit a checkpoint, follow it, read quotas and leaderboards.

``main(argv)`` parses, runs one command and returns its exit code (it never
calls ``sys.exit``; the console script does), so tests and scripts can call it.
Results go to stdout (``--json`` for programs), progress and errors to stderr.
The parser is in :mod:`atelier_client.arguments`, the commands in :mod:`atelier_client.commands`,
following a submission in :mod:`atelier_client.follow`, the output in :mod:`atelier_client.render`
and the exit codes in :mod:`atelier_client.exit_codes`.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Sequence

from atelier_client.api import ApiError, ServerUnreachableError, UploadFileError
from atelier_client.arguments import parser_build
from atelier_client.config import ConfigError, NoServerError
from atelier_client.exit_codes import CliError, ExitCode, exit_code_for
from atelier_client.render import _api_error_text, _note, _one_line

__all__ = ["ExitCode", "main"]

#: The errors whose message says it all, and the exit code of each (the first that matches: a
#: ``NoServerError`` is a ``ConfigError`` too).
PLAIN_ERROR_EXITS: dict[type[Exception], ExitCode] = {
    ServerUnreachableError: ExitCode.UNREACHABLE,
    UploadFileError: ExitCode.USAGE,
    NoServerError: ExitCode.NOT_AUTHENTICATED,
    ConfigError: ExitCode.USAGE,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``atelier ARGV...``; return the exit code (see :class:`ExitCode`)."""
    parser = parser_build()
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as stop:  # --help, --version, usage errors: argparse already printed why
        return stop.code if isinstance(stop.code, int) else ExitCode.USAGE
    try:
        return int(args.handler(args))
    except CliError as error:
        _note(f"atelier: error: {_one_line(error.message)}")
        return int(error.exit_code)
    except ApiError as error:
        _note(f"atelier: error: {_api_error_text(error)}")
        return int(exit_code_for(error))
    except tuple(PLAIN_ERROR_EXITS) as error:
        _note(f"atelier: error: {_one_line(str(error))}")
        return int(next(code for kind, code in PLAIN_ERROR_EXITS.items() if isinstance(error, kind)))
    except KeyboardInterrupt:
        _note("atelier: interrupted (a submission already uploaded goes on on the server).")
        return int(ExitCode.INTERRUPTED)
    except Exception as error:  # the last resort: say what broke, exit 1
        if os.environ.get("ATELIER_DEBUG"):
            traceback.print_exc()
        _note(
            f"atelier: unexpected error: {type(error).__name__}: {_one_line(str(error))} "
            "(set ATELIER_DEBUG=1 for the traceback)"
        )
        return int(ExitCode.UNEXPECTED)
