"""The command functions of ``atelier``: one ``command_*`` per subcommand, each taking the parsed arguments.

(Over 500 lines: one short function per subcommand; the discussion, uploads and downloads commands
already live in modules of their own.)
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from atelier_client.api import ApiError, AtelierApi, ServerUnreachableError
from atelier_client.config import Config, Credentials, credentials_resolve
from atelier_client.exit_codes import CliError, ExitCode, exit_code_for
from atelier_client.follow import _follow_and_report
from atelier_client.progress import UploadProgress, bytes_format, state_describe
from atelier_client.render import (
    UNCALIBRATED_NOTE,
    _answer_out,
    _api_error_text,
    _interval_format,
    _json_out,
    _name,
    _note,
    _one_line,
    _out,
    _scores_print,
    _value_format,
    output_width,
    table_fit,
    table_render,
    time_format,
)
from atelier_client.uploads import UploadInterruptedError, saved_upload_find, upload_resumable

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
    if not args.password_stdin and not sys.stdin.isatty():
        raise CliError(
            "stdin is not a terminal, so the password cannot be asked for: add --password-stdin to read it from "
            'the first line of stdin (echo "$PASSWORD" | atelier login --username NAME --password-stdin).',
            ExitCode.USAGE,
        )
    if not username:
        if args.password_stdin:
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
    _answer_out({"url": api.url, **(me or {})}, f"{(me or {}).get('username', '?')} on {api.url}", as_json=args.json)
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
    _answer_out(
        participation, f"Joined {args.competition} as team {_name(participation.get('team'))}.", as_json=args.json
    )
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


def _config_read(value: str) -> dict:
    path = Path(value).expanduser()
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise CliError(f"--config {value}: {error.strerror or error}.", ExitCode.USAGE) from error
    except ValueError as error:
        raise CliError(f"--config {value} is not JSON ({error}).", ExitCode.USAGE) from error
    if not isinstance(config, dict) or not isinstance(config.get("architecture"), str):
        raise CliError(
            f'--config {value}: a JSON object with an "architecture" is expected, e.g. '
            '{"architecture": "resnet", "hyperparameters": {"n_blocks": 9}}.',
            ExitCode.USAGE,
        )
    return config


def _upload(
    api: AtelierApi,
    args: argparse.Namespace,
    path: Path,
    *,
    config: dict | None,
    progress: UploadProgress,
) -> dict[str, Any]:
    """Upload through a resumable session; the one-shot POST only for a server without sessions."""
    saved = saved_upload_find(server=api.url, competition=args.competition, path=path)
    if saved is not None and not (getattr(args, "resume", False) and saved.matches(path)):
        if getattr(args, "resume", False):
            _note(f"{path.name} changed since the interrupted upload: starting over.")
        else:
            _note(f"An interrupted upload of {path.name} was saved; starting over (--resume continues it).")
        with contextlib.suppress(ApiError, ServerUnreachableError):
            api.upload_session_abort(saved.session_id)
        saved.forget()
        saved = None
    elif saved is None and getattr(args, "resume", False):
        _note(f"No interrupted upload of {path.name} to {args.competition} is saved: starting a new one.")
    try:
        return upload_resumable(
            api,
            args.competition,
            path,
            phase=args.phase,
            description=args.description,
            config=config,
            resume=saved,
            on_progress=progress,
            note=_note,
        )
    except ApiError as error:
        no_sessions = error.status in (404, 405) and error.code in {"not_found", "http_404", "http_405"}
        if not (no_sessions and saved is None and "upload session" not in error.message):
            raise
    # An older server without upload sessions (no uploads/ route): its one-shot POST answers for itself.
    if config is not None:
        raise CliError("This server takes no --config: store the config in the file (gan_core export).", ExitCode.USAGE)
    return api.submission_create(
        args.competition, path, phase=args.phase, description=args.description, on_progress=progress
    )


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
    config = _config_read(args.config) if getattr(args, "config", None) else None
    progress = UploadProgress(sys.stderr, label=f"Uploading {path.name}")
    try:
        detail = _upload(api, args, path, config=config, progress=progress)
    except ApiError as error:
        raise CliError(_api_error_text(error), exit_code_for(error, submitting=True)) from error
    except UploadInterruptedError as error:
        raise CliError(error.message, ExitCode.UNREACHABLE) from error
    except ValueError as error:
        raise CliError(str(error), ExitCode.REFUSED) from error
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
    state = state_describe(detail) if detail.get("state") else "cancelled"
    _answer_out(detail, f"Submission #{args.id}: {state}", as_json=args.json)
    return ExitCode.OK


def command_select_final(args: argparse.Namespace) -> ExitCode:
    api = _api(args)
    detail = api.submission_select_final(args.id, selected=not args.unselect) or {}
    selected = "is" if detail.get("is_final") else "is not"
    _answer_out(detail, f"Submission #{args.id} {selected} selected for the private leaderboard.", as_json=args.json)
    return ExitCode.OK


def _ranking_score(item: dict[str, Any]) -> str:
    """The public ranking score of a listed submission with its interval, in the server's decimals."""
    score = next(
        (score for score in item.get("scores") or [] if score.get("is_ranking") and score.get("split") == "public"),
        None,
    )
    if score is None:
        return "-"
    decimals = score.get("decimals") if isinstance(score.get("decimals"), int) else None
    interval = _interval_format(score.get("interval"), decimals)
    return f"{_value_format(score.get('value'), decimals)} {interval}".strip()


def command_submissions(args: argparse.Namespace) -> ExitCode:
    api = _api(args)
    submissions = api.submissions_list(
        args.competition, phase=args.phase, state=getattr(args, "state", None), order=getattr(args, "order", None)
    )
    if args.json:
        _json_out(submissions)
        return ExitCode.OK
    if not submissions:
        _note("No submission matches." if getattr(args, "state", None) else "Your team has no submission here yet.")
        return ExitCode.OK
    label = next(
        (
            score.get("label") or score.get("metric")
            for item in submissions
            for score in item.get("scores") or []
            if score.get("is_ranking")
        ),
        "SCORE",
    )
    rows = [
        [
            f"#{item.get('id')}",
            time_format(item.get("created_at")),
            _name(item.get("phase")),
            state_describe(item),
            _ranking_score(item),
            "yes" if item.get("is_final") else "",
            item.get("description") or "",
        ]
        for item in submissions
    ]
    headers = ["ID", "SUBMITTED", "PHASE", "STATE", f"{label} (PUBLIC)".upper(), "FINAL", "DESCRIPTION"]
    text, dropped = table_fit(headers, rows, width=output_width(), shrinkable=[6], optional=[2, 6])
    _out(text)
    if dropped:
        _note(f"note: {', '.join(dropped)} left out to fit the terminal; widen it or use --json for every column.")
    return ExitCode.OK


def command_compare(args: argparse.Namespace) -> ExitCode:
    if not 2 <= len(args.ids) <= 6:
        raise CliError(f"Give 2 to 6 submission ids to compare ({len(args.ids)} given).", ExitCode.USAGE)
    api = _api(args, login="optional")
    comparison = api.comparison_get(args.competition, list(args.ids))
    if args.json:
        _json_out(comparison)
        return ExitCode.OK
    submissions = comparison.get("submissions") or []
    headers = ["METRIC", "SPLIT"] + [
        f"#{item.get('id')} {'baseline' if item.get('is_baseline') else _name(item.get('team'))}"
        for item in submissions
    ]
    rows = []
    for metric in comparison.get("metrics") or []:
        decimals = metric.get("decimals") if isinstance(metric.get("decimals"), int) else None
        cells = []
        for cell in metric.get("values") or []:
            if cell is None:
                cells.append("-")
                continue
            interval = _interval_format(cell.get("interval"), decimals)
            cells.append(f"{_value_format(cell.get('value'), decimals)} {interval}".strip())
        rows.append([metric.get("label") or metric.get("metric"), metric.get("split"), *cells])
    text, dropped = table_fit(headers, rows, width=output_width(), shrinkable=[0])
    _out(text if rows else "No score to compare yet.")
    previews = comparison.get("previews") or []
    if previews:
        made = sum(1 for preview in previews for url in preview.get("output_urls") or [] if url)
        _out(f"{len(previews)} public preview image(s), {made} output(s): use --json for their URLs.")
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
    board_rows = board.get("rows") or []
    has_entries = any(row.get("entries") is not None for row in board_rows)
    has_last = any(row.get("last_submitted_at") for row in board_rows)
    rows = []
    for row in board_rows:
        team = _name(row.get("team")) + (" (baseline)" if row.get("is_baseline") else "")
        values = []
        for entry in metrics:
            score = (row.get("scores") or {}).get(entry.get("metric")) or {}
            decimals = entry.get("decimals") if isinstance(entry.get("decimals"), int) else None
            text = _value_format(score.get("value"), decimals)
            interval = _interval_format(score.get("interval"), decimals)
            values.append(f"{text} {interval}" if interval else text)
        line = [row.get("rank") if row.get("rank") is not None else "-", team, f"#{row.get('submission_id')}", *values]
        if has_entries:
            line.append("-" if row.get("entries") is None else row.get("entries"))
        line.append(time_format(row.get("last_submitted_at") if has_last else row.get("submitted_at")))
        line.append("<- you" if row.get("is_mine") else "")
        rows.append(line)
    if not rows:
        _out("No scored submission yet.")
    else:
        metric_headers = [str(entry.get("label") or entry.get("metric")).upper() for entry in metrics]
        headers = ["RANK", "TEAM", "SUBMISSION", *metric_headers, *(["ENTRIES"] if has_entries else [])]
        headers += ["LAST" if has_last else "SUBMITTED", ""]
        first_metric = 3
        ranking_column = next(
            (first_metric + i for i, entry in enumerate(metrics) if entry.get("metric") == ranking), first_metric
        )
        other_metrics = [first_metric + i for i in range(len(metrics)) if first_metric + i != ranking_column]
        tail = list(range(first_metric + len(metrics), len(headers) - 1))  # entries, submitted
        # left out first when the terminal is narrow: the submission time, the entry count, the other metrics
        # from the last, then the submission number; rank, team, the ranking metric and "<- you" always stay
        text, dropped = table_fit(
            headers, rows, width=output_width(), shrinkable=[1], optional=[2, *other_metrics, *tail]
        )
        _out(text)
        if dropped:
            shown = ", ".join(name for name in dropped if name)
            _note(f"note: {shown} left out to fit the terminal; widen it or use --json for every column.")
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
