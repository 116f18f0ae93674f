"""The discussion and notification commands of ``atelier``: ``topics``, ``topic``, ``post``, ``reply``,
``moderate`` (organizers: hide, lock or pin a topic, hide a reply), ``notifications``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from atelier_client.commands import _api
from atelier_client.exit_codes import CliError, ExitCode
from atelier_client.render import _answer_out, _json_out, _one_line, _out, table_render, time_format

#: The e-mail kinds by their option name (``--scored off``) and their API name.
NOTIFICATION_KINDS = {"scored": "submission_scored", "failed": "submission_failed", "announcements": "announcements"}


def _body(args: argparse.Namespace) -> str:
    """The message from ``--body`` or ``--body-file`` (``-``: standard input)."""
    if args.body is not None:
        return args.body
    if args.body_file == "-":
        return sys.stdin.read()
    try:
        return Path(args.body_file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise CliError(f"Cannot read {args.body_file}: {error}. Give a UTF-8 text file.", ExitCode.USAGE) from error


def _flags(topic: dict) -> str:
    flags = []
    if topic.get("is_announcement"):
        flags.append("announcement")
    elif topic.get("is_pinned"):
        flags.append("pinned")
    if topic.get("is_locked"):
        flags.append("locked")
    if topic.get("is_hidden"):
        flags.append("hidden")
    return ",".join(flags) or "-"


def command_topics(args: argparse.Namespace) -> ExitCode:
    listing = _api(args, login="optional").topics_list(args.competition, page=args.page)
    if args.json:
        _json_out(listing)
        return ExitCode.OK
    rows = [
        (
            topic["id"],
            _one_line(topic["title"])[:60],
            topic["author"]["username"],
            topic["reply_count"],
            time_format(topic["last_activity_at"]),
            _flags(topic),
        )
        for topic in listing["results"]
    ]
    if not rows:
        _out(f"No topic in {args.competition} yet: `atelier post {args.competition} --title ... --body ...` opens one.")
        return ExitCode.OK
    _out(table_render(["ID", "TITLE", "BY", "REPLIES", "LAST ACTIVITY", "FLAGS"], rows))
    if listing["pages"] > 1:
        _out(f"page {listing['page']} of {listing['pages']} ({listing['count']} topics): --page N for another")
    return ExitCode.OK


def command_topic(args: argparse.Namespace) -> ExitCode:
    detail = _api(args, login="optional").topic_get(args.competition, args.id, page=args.page)
    if args.json:
        _json_out(detail)
        return ExitCode.OK
    topic = detail["topic"]
    _out(f"#{topic['id']} {topic['title']}  [{_flags(topic)}]")
    _out(f"by {topic['author']['username']}, {time_format(topic['created_at'])}")
    _out()
    _out(topic["body"].rstrip())
    for reply in detail["replies"]:
        _out()
        hidden = " [hidden]" if reply["is_hidden"] else ""
        _out(f"-- {reply['author']['username']}, {time_format(reply['created_at'])}{hidden}")
        _out(reply["body"].rstrip())
    if detail["pages"] > 1:
        _out()
        _out(f"replies page {detail['page']} of {detail['pages']} ({detail['count']} replies): --page N for another")
    return ExitCode.OK


def command_post(args: argparse.Namespace) -> ExitCode:
    topic = _api(args).topic_create(
        args.competition, title=args.title, body=_body(args), announcement=args.announcement
    )
    _answer_out(
        topic, f"Posted topic #{topic['id']}: atelier topic {args.competition} {topic['id']}", as_json=args.json
    )
    return ExitCode.OK


def command_reply(args: argparse.Namespace) -> ExitCode:
    reply = _api(args).reply_create(args.competition, args.id, body=_body(args))
    _answer_out(reply, f"Posted reply #{reply['id']} to topic #{args.id}.", as_json=args.json)
    return ExitCode.OK


#: ``moderate``'s options: (attribute, API field, value) of each flag.
MODERATION_FLAGS = {
    "hide": ("hidden", True),
    "show": ("hidden", False),
    "lock": ("locked", True),
    "unlock": ("locked", False),
    "pin": ("pinned", True),
    "unpin": ("pinned", False),
}


def command_moderate(args: argparse.Namespace) -> ExitCode:
    changes = {field: value for flag, (field, value) in MODERATION_FLAGS.items() if getattr(args, flag)}
    if not changes:
        raise CliError("Say what to change: --hide or --show, --lock or --unlock, --pin or --unpin.", ExitCode.USAGE)
    if args.reply:
        if set(changes) != {"hidden"}:
            raise CliError("A reply can only be hidden or shown: give --hide or --show with --reply.", ExitCode.USAGE)
        reply = _api(args).reply_moderate(args.competition, args.id, hidden=changes["hidden"])
        shown = "hidden" if reply["is_hidden"] else "shown"
        _answer_out(reply, f"Reply #{reply['id']} is now {shown}.", as_json=args.json)
        return ExitCode.OK
    topic = _api(args).topic_moderate(args.competition, args.id, **changes)
    _answer_out(
        topic, f"Topic #{topic['id']} {_one_line(topic['title'])[:60]}: now [{_flags(topic)}].", as_json=args.json
    )
    return ExitCode.OK


def command_notifications(args: argparse.Namespace) -> ExitCode:
    api = _api(args)
    changes = {
        api_name: getattr(args, option) == "on"
        for option, api_name in NOTIFICATION_KINDS.items()
        if getattr(args, option) is not None
    }
    settings = api.notification_settings_update(**changes) if changes else api.notification_settings_get()
    if args.json:
        _json_out(settings)
        return ExitCode.OK
    for option, api_name in NOTIFICATION_KINDS.items():
        _out(f"{option + ':':15}{'on' if settings.get(api_name) else 'off'}")
    return ExitCode.OK


def parsers_add(add, json_option: argparse.ArgumentParser) -> None:
    """Add the discussion and notification subcommands with ``add(name, help, *parents)``."""

    def positive(value: str) -> int:
        text = value.lstrip("#")
        if not text.isdigit() or int(text) < 1:
            raise argparse.ArgumentTypeError(f"{value!r} is not a number from 1")
        return int(text)

    def body_options(parser: argparse.ArgumentParser) -> None:
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--body", "-b", metavar="TEXT", help="the message, in Markdown")
        source.add_argument("--body-file", "-f", metavar="FILE", help="read the message from FILE (-: standard input)")

    topics = add("topics", "List a competition's discussion topics, announcements and pinned ones first.", json_option)
    topics.add_argument("competition", metavar="COMPETITION", help="competition slug")
    topics.add_argument("--page", type=positive, metavar="N", help="page of 20 topics (default: 1)")
    topics.set_defaults(handler=command_topics)

    topic = add("topic", "Show a discussion topic and its replies (Markdown as written).", json_option)
    topic.add_argument("competition", metavar="COMPETITION", help="competition slug")
    topic.add_argument("id", metavar="ID", type=positive, help="topic id (see `atelier topics`)")
    topic.add_argument("--page", type=positive, metavar="N", help="page of 20 replies (default: 1)")
    topic.set_defaults(handler=command_topic)

    post = add("post", "Open a discussion topic in a competition you joined (or organise).", json_option)
    post.add_argument("competition", metavar="COMPETITION", help="competition slug")
    post.add_argument("--title", "-t", required=True, metavar="TITLE", help="the topic's title")
    body_options(post)
    post.add_argument(
        "--announcement", action="store_true", help="organizers: pin it and e-mail it to the participants"
    )
    post.set_defaults(handler=command_post)

    reply = add("reply", "Reply to a discussion topic.", json_option)
    reply.add_argument("competition", metavar="COMPETITION", help="competition slug")
    reply.add_argument("id", metavar="ID", type=positive, help="topic id")
    body_options(reply)
    reply.set_defaults(handler=command_reply)

    moderate = add(
        "moderate",
        "Organizers: hide or show, lock or unlock, pin or unpin a discussion topic (--reply: hide or show a reply).",
        json_option,
    )
    moderate.add_argument("competition", metavar="COMPETITION", help="competition slug")
    moderate.add_argument("id", metavar="ID", type=positive, help="topic id (with --reply: reply id)")
    moderate.add_argument("--reply", action="store_true", help="ID is a reply's, not a topic's")
    for first, second, first_help, second_help in (
        ("hide", "show", "hide it from participants", "show it again"),
        ("lock", "unlock", "close the topic to replies", "open it to replies again"),
        ("pin", "unpin", "keep the topic on top of the list", "let it sort by activity again"),
    ):
        pair = moderate.add_mutually_exclusive_group()
        pair.add_argument(f"--{first}", action="store_true", help=first_help)
        pair.add_argument(f"--{second}", action="store_true", help=second_help)
    moderate.set_defaults(handler=command_moderate)

    notifications = add(
        "notifications",
        "Show which e-mails you receive; --scored, --failed, --announcements on|off change them.",
        json_option,
    )
    for option, help_text in (
        ("scored", "when your submission is scored"),
        ("failed", "when your submission fails"),
        ("announcements", "organizers' announcements of the competitions you joined"),
    ):
        notifications.add_argument(f"--{option}", choices=["on", "off"], help=f"e-mail {help_text}")
    notifications.set_defaults(handler=command_notifications)
