"""The exit codes of the ``atelier`` command, the API errors they stand for, and the error that ends a command."""

from __future__ import annotations

import enum

from atelier_client.api import ApiError

__all__ = ["EXIT_CODES_HELP", "CliError", "ExitCode", "exit_code_for"]


class ExitCode(enum.IntEnum):
    """What a script can act on; documented in ``atelier --help`` and client/README.md."""

    OK = 0  # done (with --wait: the submission was scored)
    UNEXPECTED = 1  # an error nobody planned for (a bug, a 500): report it
    USAGE = 2  # the command line was wrong (unknown option, missing file, invalid value)
    NOT_AUTHENTICATED = 3  # not logged in, token refused, login refused
    NOT_FOUND = 4  # no such competition / submission, or no permission to see it (not joined, hidden)
    LIMITED = 5  # quota exceeded, phase closed, too many running: retry later
    REFUSED = 6  # the submission was refused: format, size, empty file, invalid fields
    FAILED = 7  # with --wait: the submission failed (or was cancelled) during validation, generation or scoring
    TIMED_OUT = 8  # with --wait: still not finished when --timeout ran out
    UNREACHABLE = 9  # no answer from the server: refused, unknown host, TLS error, network timeout, 502/503/504
    INTERRUPTED = 130  # Ctrl-C


EXIT_CODES_HELP = """\
exit codes:
  0  ok (with --wait: the submission was scored)
  1  unexpected error
  2  usage error (bad option or value, file not found)
  3  not logged in, or authentication failed
  4  not found, or no permission (not joined, private leaderboard hidden)
  5  quota exceeded, phase closed, or too many submissions running
  6  submission refused (unsupported format, empty, too large, invalid fields)
  7  submission failed or was cancelled (with --wait)
  8  timed out waiting (with --wait and --timeout)
  9  server unreachable
  130 interrupted (Ctrl-C; an uploaded submission goes on)

environment:
  ATELIER_URL     server address (overrides the configuration file; --url overrides it)
  ATELIER_TOKEN   API token (overrides the one `atelier login` saved)
  XDG_CONFIG_HOME the configuration lives in $XDG_CONFIG_HOME/atelier/config.json
                  (default ~/.config/atelier/config.json, mode 0600)
"""

# Error codes of the API (``{"error": {"code": ...}}``) -> exit codes; the HTTP status decides for others.
ERROR_CODE_EXITS: dict[str, ExitCode] = {
    "not_authenticated": ExitCode.NOT_AUTHENTICATED,
    "authentication_failed": ExitCode.NOT_AUTHENTICATED,
    "permission_denied": ExitCode.NOT_FOUND,
    "not_found": ExitCode.NOT_FOUND,
    "not_joined": ExitCode.NOT_FOUND,
    "rules_not_accepted": ExitCode.NOT_FOUND,
    "private_leaderboard_hidden": ExitCode.NOT_FOUND,
    "quota_exceeded": ExitCode.LIMITED,
    "phase_closed": ExitCode.LIMITED,
    "too_many_running": ExitCode.LIMITED,
    "throttled": ExitCode.LIMITED,
    "not_cancellable": ExitCode.LIMITED,
    "final_selection_limit": ExitCode.LIMITED,
    "file_too_large": ExitCode.REFUSED,
    "unsupported_format": ExitCode.REFUSED,
    "empty_file": ExitCode.REFUSED,
    # What the upload's checks of the file say (the worker's own torch-free checks, run at upload).
    "truncated": ExitCode.REFUSED,
    "header_too_large": ExitCode.REFUSED,
    "bad_header": ExitCode.REFUSED,
    "bad_dtype": ExitCode.REFUSED,
    "offsets_out_of_bounds": ExitCode.REFUSED,
    "bad_config": ExitCode.REFUSED,
    "unknown_architecture": ExitCode.REFUSED,
    "sha256_mismatch": ExitCode.REFUSED,
    "validation_error": ExitCode.USAGE,
}
HTTP_STATUS_EXITS: dict[int, ExitCode] = {
    400: ExitCode.USAGE,
    401: ExitCode.NOT_AUTHENTICATED,
    403: ExitCode.NOT_FOUND,
    404: ExitCode.NOT_FOUND,
    409: ExitCode.LIMITED,
    413: ExitCode.REFUSED,
    415: ExitCode.REFUSED,
    429: ExitCode.LIMITED,
    502: ExitCode.UNREACHABLE,
    503: ExitCode.UNREACHABLE,
    504: ExitCode.UNREACHABLE,
}


class CliError(Exception):
    """An error the client itself detected, with the exit code it ends with."""

    def __init__(self, message: str, exit_code: ExitCode) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def exit_code_for(error: ApiError, *, submitting: bool = False) -> ExitCode:
    """The exit code of an API error: by its code, else by its HTTP status; a submit's invalid fields are 6."""
    if submitting and error.code == "validation_error":
        return ExitCode.REFUSED
    if error.code in ERROR_CODE_EXITS:
        return ERROR_CODE_EXITS[error.code]
    return HTTP_STATUS_EXITS.get(error.status, ExitCode.UNEXPECTED)
