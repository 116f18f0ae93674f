"""The argument parser of ``atelier``: its options, subcommands and the command function each one runs."""

from __future__ import annotations

import argparse
import textwrap

from atelier_client import __version__
from atelier_client.commands import (
    command_cancel,
    command_compare,
    command_competitions,
    command_join,
    command_leaderboard,
    command_login,
    command_logout,
    command_quota,
    command_select_final,
    command_status,
    command_submissions,
    command_submit,
    command_whoami,
)
from atelier_client.discussion import parsers_add as discussion_parsers_add
from atelier_client.downloads import parsers_add as downloads_parsers_add
from atelier_client.exit_codes import EXIT_CODES_HELP


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
    submit.add_argument(
        "--config",
        metavar="FILE",
        help="the architecture config (JSON: architecture, hyperparameters) of a safetensors file that has none",
    )
    submit.add_argument(
        "--resume",
        action="store_true",
        help="continue the interrupted upload of FILE saved by an earlier run (it resumes by itself after "
        "connection errors while it runs)",
    )
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
    submissions.add_argument(
        "--state",
        choices=("queued", "validating", "generating", "scoring", "scored", "failed", "cancelled"),
        help="only the submissions in this state",
    )
    submissions.add_argument(
        "--order",
        choices=("newest", "oldest", "best"),
        default="newest",
        help="newest (default), oldest, or best: by the ranking metric on the public split (needs --phase)",
    )
    submissions.set_defaults(handler=command_submissions)

    compare = add(
        "compare", "Compare two to six submissions (yours, baselines) side by side: scores and outputs.", json_option
    )
    compare.add_argument("competition", metavar="COMPETITION", help="competition slug")
    compare.add_argument("ids", metavar="ID", type=_submission_id, nargs="+", help="submission ids (2 to 6)")
    compare.set_defaults(handler=command_compare)

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

    discussion_parsers_add(add, json_option)
    downloads_parsers_add(add, json_option, phase_option)
    return parser
