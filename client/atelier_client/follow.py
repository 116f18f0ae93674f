"""Following a submission: polling it until it is scored, failed or cancelled, then reporting how it ended."""

from __future__ import annotations

import sys
import time
from typing import Any

from atelier_client.api import ApiError, AtelierApi, ServerUnreachableError
from atelier_client.exit_codes import CliError, ExitCode
from atelier_client.progress import StateDisplay, state_describe
from atelier_client.render import _json_out, _out, _scores_print

FINISHED_STATES = frozenset({"scored", "failed", "cancelled"})
# Polling of a followed submission: start fast, slow down while nothing changes, speed up again on a change.
POLL_INITIAL_S = 1.0
POLL_MAX_S = 10.0
POLL_GROWTH = 1.5
# Consecutive failed polls (server restarting, network blip) tolerated before giving up with exit 9.
POLL_UNREACHABLE_LIMIT = 5


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
