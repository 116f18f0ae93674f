"""The ``atelier`` command: log in, submit a checkpoint, follow it, read quotas and leaderboards.

``main(argv)`` parses, runs one command and returns its exit code (it never
calls ``sys.exit``; the console script does), so tests and scripts can call it.
Results go to stdout (``--json`` for programs), progress and errors to stderr.
"""

# Over 500 lines: one module so the stdlib-only client installs as a single console script; its split by command is issue 13.

from __future__ import annotations

import argparse
import enum
import getpass
import json
import os
import sys
import textwrap
import time
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from atelier_client import __version__
from atelier_client.api import ApiError, AtelierApi, ServerUnreachableError, UploadFileError
from atelier_client.config import Config, ConfigError, Credentials, NoServerError, credentials_resolve
from atelier_client.progress import StateDisplay, UploadProgress, bytes_format, state_describe

__all__ = ["ExitCode", "main"]


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

FINISHED_STATES = frozenset({"scored", "failed", "cancelled"})
# Polling of a followed submission: start fast, slow down while nothing changes, speed up again on a change.
POLL_INITIAL_S = 1.0
POLL_MAX_S = 10.0
POLL_GROWTH = 1.5
# Consecutive failed polls (server restarting, network blip) tolerated before giving up with exit 9.
POLL_UNREACHABLE_LIMIT = 5


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


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


# -- output helpers ----------------------------------------------------------------------------------------------


def _out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def _note(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def _json_out(value: Any) -> None:
    _out(json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False))


def table_render(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Left-aligned columns separated by two spaces; ``None`` shows as ``-``."""
    cells = [[str(header) for header in headers]] + [
        ["-" if cell is None else str(cell) for cell in row] for row in rows
    ]
    widths = [max(len(row[column]) for row in cells) for column in range(len(headers))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


def time_format(value: Any) -> str:
    """``2026-12-01T00:00:00Z`` -> ``2026-12-01 00:00 UTC``; ``None`` -> ``-``; anything else unchanged."""
    if not value:
        return "-"
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _name(value: Any) -> str:
    """A related object as the API may give it: a slug string, or an object with slug/name/title."""
    if isinstance(value, dict):
        for key in ("slug", "name", "title", "id"):
            if value.get(key) is not None:
                return str(value[key])
        return "-"
    return "-" if value is None else str(value)


def _value_format(value: Any, decimals: int | None = None) -> str:
    if value is None:
        return "-"
    if not isinstance(value, int | float):
        return str(value)
    return f"{value:.{decimals}f}" if decimals is not None else f"{value:.5g}"


def _interval_format(interval: Any, decimals: int | None = None) -> str:
    if not interval or not isinstance(interval, list | tuple) or len(interval) != 2:
        return ""
    low, high = interval
    return f"[{_value_format(low, decimals)}, {_value_format(high, decimals)}]"


UNCALIBRATED_NOTE = (
    "note: uncalibrated scores, computed with random-initialised feature networks (tests and offline demos only): "
    "they are not comparable with published FID figures."
)


# -- connection --------------------------------------------------------------------------------------------------


def _credentials(args: argparse.Namespace) -> tuple[Config, Credentials]:
    config = Config.load()
    if not config.is_private():
        _note(f"warning: {config.path} is readable by other users: run `chmod 600 {config.path}`.")
    return config, credentials_resolve(config, url_option=getattr(args, "url", None))


def _api(args: argparse.Namespace, *, login: Literal["required", "optional"] = "required") -> AtelierApi:
    """The API of the chosen server. ``login="required"`` fails with exit 3 when no token is known."""
    _, credentials = _credentials(args)
    if login == "required" and not credentials.token:
        raise CliError(
            f"Not logged in to {credentials.url}: run `atelier login --url {credentials.url}`, or set ATELIER_TOKEN.",
            ExitCode.NOT_AUTHENTICATED,
        )
    return AtelierApi(credentials.url, token=credentials.token)


# -- commands ----------------------------------------------------------------------------------------------------


def command_login(args: argparse.Namespace) -> ExitCode:
    config = Config.load()
    url_value = getattr(args, "url", None) or os.environ.get("ATELIER_URL") or config.url
    if not url_value:
        raise CliError("Which server? Give --url https://atelier.example.org (or set ATELIER_URL).", ExitCode.USAGE)
    try:
        api = AtelierApi(url_value)
    except ValueError as error:
        raise CliError(str(error), ExitCode.USAGE) from error
    username = args.username
    if not username:
        if args.password_stdin or not sys.stdin.isatty():
            raise CliError("Give --username when the password comes from stdin.", ExitCode.USAGE)
        username = input("Username: ").strip()
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass(f"Password for {username} on {api.url}: ")
    if not username or not password:
        raise CliError("A username and a password are both needed.", ExitCode.USAGE)
    try:
        token = api.token_obtain(username=username, password=password)
    except ApiError as error:
        if error.status in {400, 401, 403}:
            raise CliError(
                f"Login to {api.url} refused: {_one_line(error.message)}", ExitCode.NOT_AUTHENTICATED
            ) from error
        raise
    config.login_store(url=api.url, token=token, username=username)
    config.save()
    _out(f"Logged in to {api.url} as {username}; token saved in {config.path}.")
    if os.environ.get("ATELIER_TOKEN"):
        _note("warning: ATELIER_TOKEN is set and overrides the saved token: unset it to use this login.")
    return ExitCode.OK


def _token_revoke_on_server(url: str, token: str) -> str:
    """Ask the server to revoke ``token``; the sentence that says how it went (never raises)."""
    try:
        AtelierApi(url, token=token).token_revoke()
    except ServerUnreachableError as error:
        _note(
            f"warning: {_one_line(str(error))}. The token was not revoked on the server and still works there: "
            f"create a new one on {url}/accounts/token/ to end it."
        )
        return "it could not be revoked on the server"
    except ApiError as error:
        if error.status == 401:
            return "the server no longer accepted it"
        _note(
            f"warning: the server did not revoke the token ({_one_line(error.message)}): "
            f"create a new one on {url}/accounts/token/ to end it."
        )
        return "it could not be revoked on the server"
    return "the server revoked it"


def command_logout(args: argparse.Namespace) -> ExitCode:
    config, credentials = _credentials(args)
    saved_token = (config.servers.get(credentials.url) or {}).get("token")
    outcome = _token_revoke_on_server(credentials.url, saved_token) if saved_token else None
    if config.logout(url=credentials.url):
        config.save()
        _out(f"Logged out of {credentials.url}: {outcome}, and it was removed from {config.path}.")
    else:
        _out(f"Not logged in to {credentials.url}; nothing to remove.")
    if os.environ.get("ATELIER_TOKEN"):
        _note("warning: ATELIER_TOKEN is still set in the environment and is still sent.")
    return ExitCode.OK


def command_whoami(args: argparse.Namespace) -> ExitCode:
    api = _api(args)
    me = api.me_get()
    if args.json:
        _json_out({"url": api.url, **(me or {})})
    else:
        _out(f"{(me or {}).get('username', '?')} on {api.url}")
    return ExitCode.OK


def command_competitions(args: argparse.Namespace) -> ExitCode:
    api = _api(args, login="optional")
    competitions = api.competitions_list()
    if args.json:
        _json_out(competitions)
        return ExitCode.OK
    if not competitions:
        _note("No competition is visible to you.")
        return ExitCode.OK
    rows = []
    for competition in competitions:
        phase = competition.get("current_phase") or {}
        rows.append(
            [
                competition.get("slug"),
                competition.get("title"),
                phase.get("name") or phase.get("slug") or "-",
                time_format(phase.get("ends_at")) if phase else "-",
                "yes" if competition.get("joined") else "no",
            ]
        )
    _out(table_render(["SLUG", "TITLE", "CURRENT PHASE", "ENDS", "JOINED"], rows))
    return ExitCode.OK


def command_join(args: argparse.Namespace) -> ExitCode:
    api = _api(args)
    if not args.accept_rules:
        competition = api.competition_get(args.competition)
        if not sys.stdin.isatty():
            raise CliError(
                f"Joining {args.competition} means accepting its rules: read them with "
                f"`atelier join {args.competition}` at a terminal, or pass --accept-rules.",
                ExitCode.USAGE,
            )
        _out(f"Rules of {competition.get('title') or args.competition}:\n")
        _out((competition.get("rules") or "(no rules given)").strip() + "\n")
        answer = input("Accept these rules and join? [y/N] ").strip().lower()
        if answer not in {"y", "yes"}:
            _note("Not joined.")
            return ExitCode.OK
    participation = api.competition_join(args.competition, accept_rules=True) or {}
    if args.json:
        _json_out(participation)
    else:
        _out(f"Joined {args.competition} as team {_name(participation.get('team'))}.")
    return ExitCode.OK


def _phase_for_upload(competition: dict[str, Any], phase_slug: str | None) -> dict[str, Any] | None:
    """The phase a submission goes to: the named one, else the one open now (None when it cannot be told)."""
    phases = [phase for phase in competition.get("phases") or [] if isinstance(phase, dict)]
    if phase_slug:
        return next((phase for phase in phases if phase.get("slug") == phase_slug), None)
    current = competition.get("current_phase")
    if isinstance(current, dict) and current.get("slug"):
        return next((phase for phase in phases if phase.get("slug") == current["slug"]), current)
    now = datetime.now(UTC)
    for phase in phases:
        try:
            starts = datetime.fromisoformat(str(phase.get("starts_at")))
            ends = datetime.fromisoformat(str(phase.get("ends_at")))
        except ValueError:
            continue
        if starts.tzinfo and ends.tzinfo and starts <= now < ends:
            return phase
    return None


def _upload_path(value: str) -> Path:
    path = Path(value).expanduser()
    if not path.exists():
        raise CliError(f"{value}: no such file.", ExitCode.USAGE)
    if not path.is_file():
        raise CliError(f"{value} is not a file: give the checkpoint file (.safetensors or .onnx).", ExitCode.USAGE)
    return path


def command_submit(args: argparse.Namespace) -> ExitCode:
    path = _upload_path(args.file)
    api = _api(args)
    size = path.stat().st_size
    # Ask the competition first: an unknown slug or a file over the phase's limit fails before any byte is sent.
    try:
        competition = api.competition_get(args.competition)
    except ApiError as error:
        if error.body:  # the API's own answer (no such competition, not visible to you): final
            raise
        competition = {}  # a server without the competition detail endpoint: the upload's answer decides
    phase = _phase_for_upload(competition, args.phase)
    limit = (phase or {}).get("upload_size_limit")
    if isinstance(limit, int) and size > limit:
        raise CliError(
            f"{path.name} is {bytes_format(size)} ({size} bytes); phase {phase.get('slug')!r} accepts at most "
            f"{bytes_format(limit)} ({limit} bytes): upload a smaller checkpoint (e.g. float16 weights).",
            ExitCode.REFUSED,
        )
    progress = UploadProgress(sys.stderr, label=f"Uploading {path.name}")
    try:
        detail = api.submission_create(
            args.competition, path, phase=args.phase, description=args.description, on_progress=progress
        )
    except ApiError as error:
        raise CliError(_api_error_text(error), exit_code_for(error, submitting=True)) from error
    finally:
        progress.abandon()
    submission_id = int(detail["id"])
    if args.wait:
        if not args.json:
            _out(f"Submitted {path.name} to {args.competition} as #{submission_id}.")
        return _follow_and_report(api, submission_id, timeout=args.timeout, as_json=args.json)
    if args.json:
        _json_out(detail)
    else:
        _out(
            f"Submitted {path.name} to {args.competition} (phase {_name(detail.get('phase'))}) as #{submission_id}:"
            f" {state_describe(detail)}."
        )
        _note(f"Follow it with: atelier status {submission_id} --wait")
    return ExitCode.OK


def _follow(api: AtelierApi, submission_id: int, *, timeout: float | None) -> dict[str, Any]:
    """Poll the submission until it is scored, failed or cancelled; raise CliError(TIMED_OUT) past ``timeout``."""
    display = StateDisplay(sys.stderr, submission_id=submission_id)
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = POLL_INITIAL_S
    seen: tuple[Any, ...] | None = None
    unreachable = 0
    detail: dict[str, Any] = {}
    try:
        while True:
            try:
                detail = api.submission_get(submission_id)
                unreachable = 0
            except (ServerUnreachableError, ApiError) as error:
                # A restarting server or proxy (refused, 502/503/504) is waited for, a few polls long.
                transient = isinstance(error, ServerUnreachableError) or error.status in {502, 503, 504}
                unreachable += 1
                if not transient or unreachable >= POLL_UNREACHABLE_LIMIT:
                    raise
            else:
                display.update(detail)
                if detail.get("state") in FINISHED_STATES:
                    return detail
                progress = detail.get("progress") or {}
                now_seen = (detail.get("state"), detail.get("queue_position"), progress.get("done"))
                delay = POLL_INITIAL_S if now_seen != seen else min(delay * POLL_GROWTH, POLL_MAX_S)
                seen = now_seen
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise CliError(
                        f"Timed out after {timeout:g} s: submission #{submission_id} is still "
                        f"{state_describe(detail) if detail else 'unknown'}. It goes on on the server: "
                        f"`atelier status {submission_id} --wait` follows it again.",
                        ExitCode.TIMED_OUT,
                    )
                time.sleep(min(delay, remaining))
            else:
                time.sleep(delay)
    finally:
        display.close()


def _scores_print(detail: dict[str, Any]) -> None:
    scores = detail.get("scores") or []
    if not scores:
        _out("No scores.")
        return
    rows = [
        [
            score.get("split"),
            score.get("metric"),
            _value_format(score.get("value")),
            _interval_format(score.get("interval")) or "-",
        ]
        for score in scores
    ]
    _out(table_render(["SPLIT", "METRIC", "VALUE", "INTERVAL"], rows))
    if any(score.get("calibrated") is False for score in scores):
        _out(UNCALIBRATED_NOTE)


def _follow_and_report(api: AtelierApi, submission_id: int, *, timeout: float | None, as_json: bool) -> ExitCode:
    detail = _follow(api, submission_id, timeout=timeout)
    state = detail.get("state")
    if as_json:
        _json_out(detail)
    elif state == "scored":
        _out(f"Submission #{submission_id} scored.")
        _scores_print(detail)
    if state == "scored":
        return ExitCode.OK
    raise CliError(f"Submission #{submission_id} {state_describe(detail)}", ExitCode.FAILED)


def command_status(args: argparse.Namespace) -> ExitCode:
    api = _api(args)
    if args.wait:
        return _follow_and_report(api, args.id, timeout=args.timeout, as_json=args.json)
    detail = api.submission_get(args.id)
    if args.json:
        _json_out(detail)
        return ExitCode.OK
    _out(f"Submission #{detail.get('id')}: {state_describe(detail)}")
    facts = [
        ("competition", _name(detail.get("competition"))),
        ("phase", _name(detail.get("phase"))),
        ("team", _name(detail.get("team"))),
        ("format", detail.get("format")),
        ("size", bytes_format(detail["size"]) if isinstance(detail.get("size"), int) else None),
        ("description", detail.get("description") or None),
        ("submitted", time_format(detail.get("created_at"))),
        ("finished", time_format(detail.get("finished_at")) if detail.get("finished_at") else None),
        ("final", "yes" if detail.get("is_final") else None),
        ("counts against quota", "no" if detail.get("counts_against_quota") is False else None),
    ]
    for label, value in facts:
        if value not in (None, "", "-"):
            _out(f"  {label}: {value}")
    if detail.get("scores"):
        _scores_print(detail)
    return ExitCode.OK


def command_cancel(args: argparse.Namespace) -> ExitCode:
    api = _api(args)
    detail = api.submission_cancel(args.id) or {}
    if args.json:
        _json_out(detail)
    else:
        _out(f"Submission #{args.id}: {state_describe(detail) if detail.get('state') else 'cancelled'}")
    return ExitCode.OK


def command_select_final(args: argparse.Namespace) -> ExitCode:
    api = _api(args)
    detail = api.submission_select_final(args.id, selected=not args.unselect) or {}
    if args.json:
        _json_out(detail)
    elif detail.get("is_final"):
        _out(f"Submission #{args.id} is selected for the private leaderboard.")
    else:
        _out(f"Submission #{args.id} is not selected for the private leaderboard.")
    return ExitCode.OK


def command_submissions(args: argparse.Namespace) -> ExitCode:
    api = _api(args)
    submissions = api.submissions_list(args.competition, phase=args.phase)
    if args.json:
        _json_out(submissions)
        return ExitCode.OK
    if not submissions:
        _note("Your team has no submission here yet.")
        return ExitCode.OK
    rows = [
        [
            f"#{item.get('id')}",
            time_format(item.get("created_at")),
            _name(item.get("phase")),
            state_describe(item),
            "yes" if item.get("is_final") else "",
            item.get("description") or "",
        ]
        for item in submissions
    ]
    _out(table_render(["ID", "SUBMITTED", "PHASE", "STATE", "FINAL", "DESCRIPTION"], rows))
    return ExitCode.OK


def _metric_entries(board: dict[str, Any]) -> list[dict[str, Any]]:
    entries = []
    for metric in board.get("metrics") or []:
        entries.append(metric if isinstance(metric, dict) else {"metric": str(metric)})
    return entries


def command_leaderboard(args: argparse.Namespace) -> ExitCode:
    api = _api(args, login="optional")
    board = api.leaderboard_get(args.competition, phase=args.phase, split=args.split)
    if args.json:
        _json_out(board)
        return ExitCode.OK
    metrics = _metric_entries(board)
    ranking = board.get("ranking_metric")
    ranking_label = next(
        (entry.get("label") or entry.get("metric") for entry in metrics if entry.get("metric") == ranking), ranking
    )
    direction = board.get("direction")
    better = {"lower": "lower is better", "higher": "higher is better"}.get(str(direction), str(direction or ""))
    _out(
        f"{args.competition} / {_name(board.get('phase'))}, {board.get('split', args.split or 'public')} split"
        + (f", ranked by {ranking_label} ({better})" if ranking else "")
    )
    rows = []
    for row in board.get("rows") or []:
        team = _name(row.get("team")) + (" (baseline)" if row.get("is_baseline") else "")
        values = []
        for entry in metrics:
            score = (row.get("scores") or {}).get(entry.get("metric")) or {}
            decimals = entry.get("decimals") if isinstance(entry.get("decimals"), int) else None
            text = _value_format(score.get("value"), decimals)
            interval = _interval_format(score.get("interval"), decimals)
            values.append(f"{text} {interval}" if interval else text)
        rows.append(
            [
                row.get("rank") if row.get("rank") is not None else "-",
                team,
                f"#{row.get('submission_id')}",
                *values,
                time_format(row.get("submitted_at")),
                "<- you" if row.get("is_mine") else "",
            ]
        )
    if not rows:
        _out("No scored submission yet.")
    else:
        headers = [
            "RANK",
            "TEAM",
            "SUBMISSION",
            *[str(entry.get("label") or entry.get("metric")).upper() for entry in metrics],
            "SUBMITTED",
            "",
        ]
        _out(table_render(headers, rows))
    if board.get("calibrated") is False:
        _out(UNCALIBRATED_NOTE)
    return ExitCode.OK


def _count_format(used: Any, quota: Any, remaining: Any) -> str:
    if quota is None:
        return f"{used if used is not None else '?'} used, unlimited"
    return f"{used} of {quota} used, {remaining} remaining"


def command_quota(args: argparse.Namespace) -> ExitCode:
    api = _api(args)
    quota = api.quota_get(args.competition, phase=args.phase)
    if args.json:
        _json_out(quota)
        return ExitCode.OK
    _out(f"{args.competition} / {_name(quota.get('phase'))}")
    _out(
        f"  today:   {_count_format(quota.get('used_today'), quota.get('daily_quota'), quota.get('remaining_today'))}"
        f" (resets {time_format(quota.get('resets_at'))})"
    )
    _out(f"  total:   {_count_format(quota.get('used_total'), quota.get('total_quota'), quota.get('remaining_total'))}")
    _out(f"  running: {quota.get('running')} of at most {quota.get('max_running')}")
    return ExitCode.OK


# -- parser ------------------------------------------------------------------------------------------------------


def _positive_seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from error
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"the timeout must be positive, not {value}")
    return seconds


def _submission_id(value: str) -> int:
    text = value.lstrip("#")
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{value!r} is not a submission id (a number, as `atelier submit` prints)")
    return int(text)


def parser_build() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--url", default=argparse.SUPPRESS, help="server address (default: ATELIER_URL, else the last login's server)"
    )
    json_option = argparse.ArgumentParser(add_help=False)
    json_option.add_argument("--json", action="store_true", help="print the API's JSON instead of text")
    phase_option = argparse.ArgumentParser(add_help=False)
    phase_option.add_argument("--phase", metavar="P", help="phase slug (default: the phase open now)")
    wait_options = argparse.ArgumentParser(add_help=False)
    wait_options.add_argument(
        "--timeout",
        metavar="S",
        type=_positive_seconds,
        help="with --wait: give up after S seconds with exit code 8 (default: wait as long as it takes)",
    )

    parser = argparse.ArgumentParser(
        prog="atelier",
        description="Submit generator checkpoints to an Atelier server and follow them to the leaderboard.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"atelier-client {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, help_text: str, *parents: argparse.ArgumentParser) -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            help=help_text,
            description=textwrap.fill(help_text, width=100),
            parents=[common, *parents],
            epilog=EXIT_CODES_HELP,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    login = add("login", "Log in and save an API token for the server (asks for the password).")
    login.add_argument("--username", "-u", metavar="U", help="user name (asked when missing)")
    login.add_argument(
        "--password-stdin", action="store_true", help="read the password from the first line of stdin (for scripts)"
    )
    login.set_defaults(handler=command_login)

    add("logout", "Revoke the saved token on the server and forget it here.").set_defaults(handler=command_logout)
    add("whoami", "Show who the saved token logs in as.", json_option).set_defaults(handler=command_whoami)
    add(
        "competitions", "List the competitions you can see: slug, title, current phase, its end, joined.", json_option
    ).set_defaults(handler=command_competitions)

    join = add(
        "join",
        "Join a competition: shows its rules and asks you to accept them (--accept-rules for scripts).",
        json_option,
    )
    join.add_argument("competition", metavar="COMPETITION", help="competition slug")
    join.add_argument("--accept-rules", action="store_true", help="accept the competition's rules without asking")
    join.set_defaults(handler=command_join)

    submit = add(
        "submit",
        "Upload a checkpoint (.safetensors or .onnx) to a competition, with a progress bar; --wait follows it "
        "until it is scored and prints the scores.",
        json_option,
        phase_option,
        wait_options,
    )
    submit.add_argument("competition", metavar="COMPETITION", help="competition slug (see `atelier competitions`)")
    submit.add_argument("file", metavar="FILE", help="the checkpoint file")
    submit.add_argument("--description", "-d", metavar="D", help="a note for yourself, shown with the submission")
    submit.add_argument("--wait", action="store_true", help="follow the submission until it is scored or failed")
    submit.set_defaults(handler=command_submit)

    status = add(
        "status", "Show a submission's state and scores; --wait follows it to the end.", json_option, wait_options
    )
    status.add_argument("id", metavar="ID", type=_submission_id, help="submission id")
    status.add_argument("--wait", action="store_true", help="follow the submission until it is scored or failed")
    status.set_defaults(handler=command_status)

    cancel = add("cancel", "Cancel a submission that has not finished.", json_option)
    cancel.add_argument("id", metavar="ID", type=_submission_id, help="submission id")
    cancel.set_defaults(handler=command_cancel)

    select_final = add(
        "select-final",
        "Select a scored submission as one of your team's finals for the private leaderboard (--unselect undoes).",
        json_option,
    )
    select_final.add_argument("id", metavar="ID", type=_submission_id, help="submission id")
    select_final.add_argument("--unselect", action="store_true", help="remove it from your finals")
    select_final.set_defaults(handler=command_select_final)

    submissions = add("submissions", "List your team's submissions to a competition.", json_option, phase_option)
    submissions.add_argument("competition", metavar="COMPETITION", help="competition slug")
    submissions.set_defaults(handler=command_submissions)

    leaderboard = add("leaderboard", "Show a competition's leaderboard.", json_option, phase_option)
    leaderboard.add_argument("competition", metavar="COMPETITION", help="competition slug")
    leaderboard.add_argument(
        "--split",
        choices=["public", "private"],
        help="which split ranks (default: public; private only after the phase ends, for organizers at any time)",
    )
    leaderboard.set_defaults(handler=command_leaderboard)

    quota = add("quota", "Show your team's submissions left today and in total, and when the daily count resets.")
    quota.add_argument("competition", metavar="COMPETITION", help="competition slug")
    quota.add_argument("--phase", metavar="P", help="phase slug (default: the phase open now)")
    quota.add_argument("--json", action="store_true", help="print the API's JSON instead of text")
    quota.set_defaults(handler=command_quota)
    return parser


def _api_error_text(error: ApiError) -> str:
    return f"{_one_line(error.message)} [{error.code}]"


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
    except ServerUnreachableError as error:
        _note(f"atelier: error: {_one_line(str(error))}")
        return int(ExitCode.UNREACHABLE)
    except UploadFileError as error:
        _note(f"atelier: error: {_one_line(str(error))}")
        return int(ExitCode.USAGE)
    except NoServerError as error:
        _note(f"atelier: error: {_one_line(str(error))}")
        return int(ExitCode.NOT_AUTHENTICATED)
    except ConfigError as error:
        _note(f"atelier: error: {_one_line(str(error))}")
        return int(ExitCode.USAGE)
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
