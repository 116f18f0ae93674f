"""The `atelier` commands against a fake API: what they print and the exit code a script acts on."""

from __future__ import annotations

import io
import json
import socket

import pytest

from atelier_client.cli import ExitCode, main
from tests.client.fake_api import Answer, competition_detail, error_answer, submission_detail

SCORES = [
    {"split": "public", "metric": "fid", "value": 45.67891, "interval": [44.1, 47.25], "calibrated": False},
    {"split": "public", "metric": "content_lpips", "value": 0.2345, "interval": None, "calibrated": False},
]


@pytest.fixture
def checkpoint(tmp_path):
    path = tmp_path / "generator.safetensors"
    path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00" + b'{"__metadata__":{}}' + b"\x00" * 100)
    return path


def route_upload(fake, answer: Answer, *, competition: dict | None = None) -> None:
    fake.route("GET", "/api/v1/competitions/monet/", competition or competition_detail())
    fake.route("POST", "/api/v1/competitions/monet/submissions/", answer)


def test_submit_wait_follows_the_states_to_scored_and_prints_the_scores(logged_in, checkpoint, fast_polling, capsys):
    # given a submission that goes through every state
    route_upload(logged_in, Answer(201, submission_detail(7, queue_position=2)))
    logged_in.route(
        "GET",
        "/api/v1/submissions/7/",
        submission_detail(7, "queued", queue_position=2),
        submission_detail(7, "queued", queue_position=1),
        submission_detail(7, "queued", queue_position=1),
        submission_detail(7, "validating"),
        submission_detail(7, "generating", progress={"done": 3, "total": 10}),
        submission_detail(7, "generating", progress={"done": 10, "total": 10}),
        submission_detail(7, "scoring", progress={"done": 10, "total": 10}),
        submission_detail(7, "scored", scores=SCORES, finished_at="2026-11-21T14:05:00Z"),
    )

    # when it is submitted with --wait
    code = main(["submit", "monet", str(checkpoint), "--wait", "--timeout", "30"])

    # then every state was shown once, in order, and the scores printed at the end
    assert code == ExitCode.OK
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        "Submission #7: queued (position 2)",
        "Submission #7: queued (position 1)",
        "Submission #7: validating",
        "Submission #7: generating 3/10",
        "Submission #7: generating 10/10",
        "Submission #7: scoring",
        "Submission #7: scored",
    ]
    out = captured.out.splitlines()
    assert out[0] == "Submitted generator.safetensors to monet as #7."
    assert out[1] == "Submission #7 scored."
    assert out[2].split() == ["SPLIT", "METRIC", "VALUE", "INTERVAL"]
    assert out[3].split() == ["public", "fid", "45.679", "[44.1,", "47.25]"]
    assert out[4].split() == ["public", "content_lpips", "0.2345", "-"]
    assert "uncalibrated" in out[5]
    assert len(logged_in.requests_to("GET", "/api/v1/submissions/7/")) == 8


def test_status_wait_with_json_prints_only_the_final_detail(logged_in, fast_polling, capsys):
    logged_in.route(
        "GET", "/api/v1/submissions/7/", submission_detail(7, "scoring"), submission_detail(7, "scored", scores=SCORES)
    )

    assert main(["status", "7", "--wait", "--json"]) == 0

    assert json.loads(capsys.readouterr().out)["scores"] == SCORES


def test_a_submission_that_fails_during_scoring_exits_7_with_its_reason(logged_in, checkpoint, fast_polling, capsys):
    route_upload(logged_in, Answer(201, submission_detail(7)))
    failure = {"code": "output_contract", "message": "The generator returned 1 channel; 3 are needed."}
    logged_in.route(
        "GET",
        "/api/v1/submissions/7/",
        submission_detail(7, "validating"),
        submission_detail(7, "failed", failure=failure),
    )

    code = main(["submit", "monet", str(checkpoint), "--wait"])

    assert code == ExitCode.FAILED == 7
    last_error = capsys.readouterr().err.strip().splitlines()[-1]
    assert last_error == (
        "atelier: error: Submission #7 failed (output_contract): The generator returned 1 channel; 3 are needed."
    )


def test_a_cancelled_submission_exits_7_too(logged_in, fast_polling):
    logged_in.route("GET", "/api/v1/submissions/7/", submission_detail(7, "cancelled"))
    assert main(["status", "7", "--wait"]) == 7


def test_waiting_past_the_timeout_exits_8_and_says_how_to_follow_again(logged_in, fast_polling, capsys):
    logged_in.route("GET", "/api/v1/submissions/7/", submission_detail(7, "queued", queue_position=4))

    code = main(["status", "7", "--wait", "--timeout", "0.2"])

    assert code == ExitCode.TIMED_OUT == 8
    error = capsys.readouterr().err
    assert "Timed out after 0.2 s: submission #7 is still queued (position 4)" in error
    assert "atelier status 7 --wait" in error
    assert len(logged_in.requests_to("GET", "/api/v1/submissions/7/")) >= 2


def test_polling_slows_down_while_nothing_changes(logged_in, monkeypatch):
    from atelier_client import follow

    sleeps: list[float] = []
    monkeypatch.setattr(follow.time, "sleep", sleeps.append)
    logged_in.route(
        "GET",
        "/api/v1/submissions/7/",
        *[submission_detail(7, "queued", queue_position=1)] * 8,
        submission_detail(7, "validating"),
        submission_detail(7, "scored"),
    )

    assert main(["status", "7", "--wait"]) == 0

    assert sleeps[:8] == pytest.approx([1.0, 1.5, 2.25, 3.375, 5.0625, 7.59375, 10.0, 10.0])
    assert sleeps[8] == 1.0, "a change of state resets the polling to its fastest"


def test_a_server_that_stays_down_while_waiting_exits_9(logged_in, fast_polling, monkeypatch):
    from atelier_client import follow

    port = logged_in.url.rsplit(":", 1)[1]
    monkeypatch.setattr(follow.time, "sleep", lambda seconds: None)
    logged_in.__exit__(None, None, None)  # the server goes away
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", int(port))) != 0

    assert main(["status", "7", "--wait"]) == ExitCode.UNREACHABLE


def test_a_proxy_error_while_waiting_is_waited_out(logged_in, fast_polling):
    # given a server restarting behind its proxy for two polls
    logged_in.route(
        "GET",
        "/api/v1/submissions/7/",
        submission_detail(7, "scoring"),
        Answer(503, raw_body=b"Service Unavailable", content_type="text/plain"),
        Answer(502, raw_body=b"Bad Gateway", content_type="text/plain"),
        submission_detail(7, "scored", scores=SCORES),
    )

    assert main(["status", "7", "--wait"]) == 0
    assert len(logged_in.requests_to("GET", "/api/v1/submissions/7/")) == 4


def test_a_lost_submission_while_waiting_exits_4_at_once(logged_in, fast_polling):
    logged_in.route(
        "GET",
        "/api/v1/submissions/7/",
        submission_detail(7, "queued"),
        error_answer(404, "not_found", "No submission 7 that you may see."),
    )

    assert main(["status", "7", "--wait"]) == 4
    assert len(logged_in.requests_to("GET", "/api/v1/submissions/7/")) == 2


QUOTA_MESSAGE = "Your team used its 5 submissions today; the quota resets at 2026-11-22 00:00 UTC."


@pytest.mark.parametrize(
    ("answer", "exit_code"),
    [
        (error_answer(429, "quota_exceeded", QUOTA_MESSAGE, resets_at="2026-11-22T00:00:00Z"), 5),
        (error_answer(403, "phase_closed", "Phase main closed on 2026-11-20 00:00 UTC."), 5),
        (error_answer(409, "too_many_running", "2 submissions are running; wait for one to finish."), 5),
        (error_answer(400, "unsupported_format", "This is a pickle file: upload .safetensors or .onnx."), 6),
        (error_answer(400, "empty_file", "The file is empty."), 6),
        (error_answer(413, "file_too_large", "The file is over the phase's 200 MiB limit."), 6),
        (error_answer(400, "validation_error", "The request is not valid: description: too long."), 6),
        (error_answer(401, "not_authenticated", "Invalid token."), 3),
        (error_answer(403, "not_joined", "Join the competition first: accept its rules on its page."), 4),
        (error_answer(404, "not_found", "Not found: check the address and your access."), 4),
        (error_answer(500, "server_error", "Something broke."), 1),
        (Answer(401, raw_body=b"Unauthorized", content_type="text/plain"), 3),
        (Answer(404, raw_body=b"<h1>Not Found</h1>", content_type="text/html"), 4),
        (Answer(413, raw_body=b"Request Entity Too Large", content_type="text/plain"), 6),
        (Answer(502, raw_body=b"Bad Gateway", content_type="text/plain"), 9),
    ],
    ids=lambda value: value.json_body["error"]["code"] if isinstance(value, Answer) and value.json_body else None,
)
def test_submit_refusals_end_with_the_exit_code_a_script_acts_on(logged_in, checkpoint, capsys, answer, exit_code):
    route_upload(logged_in, answer)

    code = main(["submit", "monet", str(checkpoint)])

    assert code == exit_code
    error = capsys.readouterr().err
    assert len(error.strip().splitlines()) == 1, "the error is not on one line"
    if answer.json_body:
        body = answer.json_body["error"]
        assert error.strip() == f"atelier: error: {body['message']} [{body['code']}]"
    else:
        assert f"HTTP {answer.status}" in error


def test_submit_to_an_unknown_competition_exits_4_before_uploading(logged_in, checkpoint, capsys):
    logged_in.route("GET", "/api/v1/competitions/nope/", error_answer(404, "not_found", "No competition nope."))

    assert main(["submit", "nope", str(checkpoint)]) == 4
    assert logged_in.requests_to("POST", "/api/v1/competitions/nope/submissions/") == []
    assert "No competition nope. [not_found]" in capsys.readouterr().err


def test_a_file_over_the_phase_limit_exits_6_before_uploading(logged_in, checkpoint, capsys):
    route_upload(logged_in, Answer(201, submission_detail(7)), competition=competition_detail(upload_size_limit=64))

    assert main(["submit", "monet", str(checkpoint)]) == 6
    assert logged_in.requests_to("POST", "/api/v1/competitions/monet/submissions/") == []
    assert "accepts at most 64 B (64 bytes)" in capsys.readouterr().err


def test_submit_names_the_phase_when_asked(logged_in, checkpoint):
    route_upload(logged_in, Answer(201, submission_detail(7)))

    assert main(["submit", "monet", str(checkpoint), "--phase", "main", "--json"]) == 0

    (request,) = logged_in.requests_to("POST", "/api/v1/competitions/monet/submissions/")
    assert b'name="phase"\r\n\r\nmain\r\n' in request.body
    assert request.query == {"phase": ["main"]}, "the server sizes its upload limit from the query"


def test_submit_goes_ahead_when_the_server_has_no_competition_detail_endpoint(logged_in, checkpoint):
    # given a server whose competition detail answers a plain HTML 404 (no such route), not the API's error shape
    logged_in.route(
        "GET", "/api/v1/competitions/monet/", Answer(404, raw_body=b"<h1>Not Found</h1>", content_type="text/html")
    )
    logged_in.route("POST", "/api/v1/competitions/monet/submissions/", Answer(201, submission_detail(7)))

    # then the upload still goes, and its answer decides
    assert main(["submit", "monet", str(checkpoint)]) == 0
    assert len(logged_in.requests_to("POST", "/api/v1/competitions/monet/submissions/")) == 1


def test_a_refused_connection_exits_9(config_home, checkpoint, capsys):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"

    assert main(["--url", url, "competitions"]) == ExitCode.UNREACHABLE == 9
    assert f"{url} refused the connection: is the server running?" in capsys.readouterr().err


def test_submit_without_login_exits_3_before_reading_the_file(config_home, fake_api, checkpoint, capsys):
    assert main(["--url", fake_api.url, "submit", "monet", str(checkpoint)]) == 3
    assert fake_api.requests == []


@pytest.mark.parametrize(
    "argv",
    [
        ["submit"],
        ["submit", "monet", "/no/such/file.safetensors"],
        ["status", "seven"],
        ["status", "7", "--wait", "--timeout", "-1"],
        ["leaderboard", "monet", "--split", "secret"],
        ["frobnicate"],
        [],
    ],
)
def test_usage_errors_exit_2(logged_in, argv, capsys):
    assert main(argv) == 2
    assert capsys.readouterr().err.strip()
    assert logged_in.requests == []


def test_help_lists_every_exit_code(capsys):
    assert main(["--help"]) == 0
    help_text = capsys.readouterr().out
    for code in range(10):
        assert f"\n  {code}  " in help_text
    assert "quota exceeded" in help_text and "server unreachable" in help_text


def test_competitions_shows_a_table(logged_in, capsys):
    logged_in.route(
        "GET",
        "/api/v1/competitions/",
        [
            {
                "slug": "monet",
                "title": "Photos to Monet",
                "summary": "",
                "current_phase": {
                    "slug": "main",
                    "name": "Main",
                    "starts_at": "2026-11-01T00:00:00Z",
                    "ends_at": "2026-12-01T12:30:00+01:00",
                },
                "joined": True,
            },
            {"slug": "ukiyoe", "title": "Ukiyo-e", "summary": "", "current_phase": None, "joined": False},
        ],
    )

    assert main(["competitions"]) == 0

    lines = [line.split("  ") for line in capsys.readouterr().out.splitlines()]
    cells = [[cell.strip() for cell in line if cell.strip()] for line in lines]
    assert cells == [
        ["SLUG", "TITLE", "CURRENT PHASE", "ENDS", "JOINED"],
        ["monet", "Photos to Monet", "Main", "2026-12-01 11:30 UTC", "yes"],
        ["ukiyoe", "Ukiyo-e", "-", "-", "no"],
    ]
    assert logged_in.requests[0].headers["authorization"].startswith("Token ")


def test_competitions_works_anonymously(config_home, fake_api, capsys):
    fake_api.route("GET", "/api/v1/competitions/", [])

    assert main(["--url", fake_api.url, "competitions", "--json"]) == 0

    assert json.loads(capsys.readouterr().out) == []
    assert "authorization" not in fake_api.requests[0].headers


LEADERBOARD = {
    "phase": "main",
    "split": "public",
    "metrics": [
        {"metric": "fid", "label": "FID", "direction": "lower", "is_ranking": True, "decimals": 2},
        {"metric": "kid", "label": "KID", "direction": "lower", "is_ranking": False, "decimals": 4},
    ],
    "ranking_metric": "fid",
    "direction": "lower",
    "calibrated": True,
    "rows": [
        {
            "rank": 1,
            "team": "ada",
            "submission_id": 7,
            "is_baseline": False,
            "scores": {"fid": {"value": 41.234, "interval": [40.0, 42.5]}, "kid": {"value": 0.01234, "interval": None}},
            "submitted_at": "2026-11-21T10:00:00Z",
            "is_mine": True,
        },
        {
            "rank": None,
            "team": None,
            "submission_id": 2,
            "is_baseline": True,
            "scores": {"fid": {"value": 60.0, "interval": None}, "kid": {"value": 0.05, "interval": None}},
            "submitted_at": "2026-11-01T00:00:00Z",
            "is_mine": False,
        },
    ],
}


def test_leaderboard_shows_ranks_scores_with_their_decimals_and_baselines(logged_in, capsys):
    logged_in.route("GET", "/api/v1/competitions/monet/leaderboard/", LEADERBOARD)

    assert main(["leaderboard", "monet", "--phase", "main", "--split", "public"]) == 0

    assert logged_in.requests[0].query == {"phase": ["main"], "split": ["public"]}
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "monet / main, public split, ranked by FID (lower is better)"
    assert out[1].split() == ["RANK", "TEAM", "SUBMISSION", "FID", "KID", "SUBMITTED"]
    assert out[2].split() == [
        "1",
        "ada",
        "#7",
        "41.23",
        "[40.00,",
        "42.50]",
        "0.0123",
        "2026-11-21",
        "10:00",
        "UTC",
        "<-",
        "you",
    ]
    assert out[3].split() == ["-", "-", "(baseline)", "#2", "60.00", "0.0500", "2026-11-01", "00:00", "UTC"]
    assert len(out) == 4, "a calibrated board carries no uncalibrated note"


def test_the_private_leaderboard_before_the_reveal_exits_4_with_the_server_message(logged_in, capsys):
    logged_in.route(
        "GET",
        "/api/v1/competitions/monet/leaderboard/",
        error_answer(403, "private_leaderboard_hidden", "The private leaderboard appears when the phase ends."),
    )

    assert main(["leaderboard", "monet", "--split", "private"]) == 4
    assert capsys.readouterr().err.strip() == (
        "atelier: error: The private leaderboard appears when the phase ends. [private_leaderboard_hidden]"
    )


def test_quota_shows_what_is_left_and_when_it_resets(logged_in, capsys):
    logged_in.route(
        "GET",
        "/api/v1/competitions/monet/quota/",
        {
            "phase": "main",
            "daily_quota": 5,
            "used_today": 2,
            "remaining_today": 3,
            "total_quota": None,
            "used_total": 9,
            "remaining_total": None,
            "resets_at": "2026-11-22T00:00:00Z",
            "running": 1,
            "max_running": 2,
        },
    )

    assert main(["quota", "monet"]) == 0

    assert capsys.readouterr().out.splitlines() == [
        "monet / main",
        "  today:   2 of 5 used, 3 remaining (resets 2026-11-22 00:00 UTC)",
        "  total:   9 used, unlimited",
        "  running: 1 of at most 2",
    ]
    assert logged_in.requests[0].query == {}


def test_status_shows_state_facts_and_scores(logged_in, capsys):
    logged_in.route(
        "GET",
        "/api/v1/submissions/7/",
        submission_detail(7, "scored", scores=SCORES[:1], description="first try", is_final=True),
    )

    assert main(["status", "#7"]) == 0

    out = capsys.readouterr().out
    assert out.startswith("Submission #7: scored\n")
    assert "  description: first try\n" in out and "  final: yes\n" in out
    assert "45.679" in out


def test_submissions_lists_the_teams_submissions(logged_in, capsys):
    logged_in.route(
        "GET",
        "/api/v1/competitions/monet/submissions/",
        [submission_detail(8, "generating", progress={"done": 1, "total": 4}), submission_detail(7, "scored")],
    )

    assert main(["submissions", "monet"]) == 0

    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["ID", "SUBMITTED", "PHASE", "STATE", "SCORE", "(PUBLIC)", "FINAL", "DESCRIPTION"]
    assert out[1].split()[:1] + out[1].split()[-3:] == ["#8", "generating", "1/4", "-"]
    assert out[2].split()[-2:] == ["scored", "-"]


def test_submissions_filters_by_state_orders_and_shows_the_ranking_score(logged_in, capsys):
    scored = submission_detail(7, "scored", scores=SCORES_WITH_LABELS)
    logged_in.route("GET", "/api/v1/competitions/monet/submissions/", [scored])

    assert main(["submissions", "monet", "--phase", "main", "--state", "scored", "--order", "best"]) == 0

    query = logged_in.requests[0].query
    assert (query["state"], query["order"], query["phase"]) == (["scored"], ["best"], ["main"])
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[4:6] == ["FID", "(PUBLIC)"]
    assert out[1].split()[:1] + out[1].split()[-4:] == ["#7", "scored", "1247.66", "[1240.00,", "1250.56]"]


def test_submissions_refuses_an_unknown_state_before_any_request(logged_in, capsys):
    assert main(["submissions", "monet", "--state", "winning"]) == 2
    assert logged_in.requests == []
    assert "invalid choice: 'winning'" in capsys.readouterr().err


def test_cancel_posts_and_shows_the_new_state(logged_in, capsys):
    logged_in.route("POST", "/api/v1/submissions/7/cancel/", submission_detail(7, "cancelled"))

    assert main(["cancel", "7"]) == 0
    assert capsys.readouterr().out.strip() == "Submission #7: cancelled"
    assert logged_in.requests[0].headers["content-length"] == "0"


def test_an_unexpected_answer_exits_1_with_a_message(logged_in, capsys):
    logged_in.route("GET", "/api/v1/submissions/7/", Answer(200, raw_body=b"not json", content_type="text/plain"))

    assert main(["status", "7"]) == 1
    assert "is not JSON: is http://127.0.0.1" in capsys.readouterr().err


def test_join_with_accept_rules_posts_the_acceptance(logged_in, capsys):
    logged_in.route(
        "POST",
        "/api/v1/competitions/monet/join/",
        Answer(201, {"competition": "monet", "team": {"name": "ada", "members": ["ada"]}}),
    )

    assert main(["join", "monet", "--accept-rules"]) == 0

    assert logged_in.requests[0].json() == {"accept_rules": True}
    assert capsys.readouterr().out.strip() == "Joined monet as team ada."


def test_join_at_a_terminal_shows_the_rules_and_asks(logged_in, monkeypatch, capsys):
    from tests.client.conftest import TerminalStream

    logged_in.route("GET", "/api/v1/competitions/monet/", {**competition_detail(), "rules": "Be *kind*."})
    logged_in.route("POST", "/api/v1/competitions/monet/join/", Answer(201, {"competition": "monet", "team": None}))
    monkeypatch.setattr("sys.stdin", TerminalStream("n\n"))

    assert main(["join", "monet"]) == 0

    assert "Be *kind*." in capsys.readouterr().out
    assert logged_in.requests_to("POST", "/api/v1/competitions/monet/join/") == []


def test_join_from_a_script_without_accept_rules_is_a_usage_error(logged_in, monkeypatch):
    import io

    logged_in.route("GET", "/api/v1/competitions/monet/", competition_detail())
    monkeypatch.setattr("sys.stdin", io.StringIO(""))

    assert main(["join", "monet"]) == 2
    assert logged_in.requests_to("POST", "/api/v1/competitions/monet/join/") == []


def test_an_answer_of_the_wrong_shape_exits_1_and_names_the_error(logged_in, capsys):
    logged_in.route("GET", "/api/v1/submissions/7/", ["not", "a", "submission"])

    assert main(["status", "7"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("atelier: unexpected error: AttributeError:")
    assert "ATELIER_DEBUG=1" in error


def test_select_final_selects_and_unselects(logged_in, capsys):
    logged_in.route(
        "POST",
        "/api/v1/submissions/7/select-final/",
        submission_detail(7, "scored", is_final=True),
        submission_detail(7, "scored", is_final=False),
    )

    assert main(["select-final", "7"]) == 0
    assert main(["select-final", "7", "--unselect"]) == 0

    assert [request.json() for request in logged_in.requests] == [{"selected": True}, {"selected": False}]
    assert capsys.readouterr().out.splitlines() == [
        "Submission #7 is selected for the private leaderboard.",
        "Submission #7 is not selected for the private leaderboard.",
    ]


def test_too_many_finals_exits_5(logged_in, capsys):
    logged_in.route(
        "POST",
        "/api/v1/submissions/7/select-final/",
        error_answer(409, "final_selection_limit", "Your team already selected 2 finals: unselect one first."),
    )

    assert main(["select-final", "7"]) == 5
    assert "[final_selection_limit]" in capsys.readouterr().err


def test_login_without_a_terminal_and_without_password_stdin_names_the_flag(fake_api, config_home, monkeypatch, capsys):
    # given a password piped in, but no --password-stdin
    monkeypatch.setattr("sys.stdin", io.StringIO("secret\n"))
    # when logging in
    code = main(["login", "--url", fake_api.url, "--username", "ada"])
    # then nothing was sent, and the error says which flag to add
    assert code == 2
    assert fake_api.requests == []
    error = capsys.readouterr().err
    assert "add --password-stdin" in error and error.count("\n") == 1


SCORES_WITH_LABELS = [
    {
        "split": "public",
        "metric": "fid",
        "label": "FID",
        "decimals": 2,
        "is_ranking": True,
        "value": 1247.6612,
        "interval": [1240.0, 1250.555],
        "calibrated": True,
    },
    {
        "split": "public",
        "metric": "lpips",
        "label": "LPIPS (content)",
        "decimals": 3,
        "is_ranking": False,
        "value": 0.23456,
        "interval": None,
        "calibrated": True,
    },
]


def test_status_shows_scores_with_the_registry_labels_order_and_decimals(logged_in, capsys):
    logged_in.route("GET", "/api/v1/submissions/7/", submission_detail(7, "scored", scores=SCORES_WITH_LABELS))
    assert main(["status", "7"]) == 0
    out = capsys.readouterr().out.splitlines()
    table = out[out.index(next(line for line in out if line.startswith("SPLIT"))) :]
    # the order the server gives (ranking metric first), the display names and decimals the web uses
    assert table[1].split() == ["public", "FID", "(ranking)", "1247.66", "[1240.00,", "1250.56]"]
    assert table[2].split() == ["public", "LPIPS", "(content)", "0.235", "-"]


def _wide_board() -> dict:
    names = [
        "A baseline that copies the content image through unchanged, as a floor every real model must beat",
        "ada",
        "team with a very long name that goes on and on for quite a while indeed",
    ]
    board = json.loads(json.dumps(LEADERBOARD))
    board["rows"] = [
        {
            "rank": index + 1,
            "team": name,
            "submission_id": 100 + index,
            "is_baseline": False,
            "scores": {"fid": {"value": 41.234, "interval": [40.0, 42.5]}, "kid": {"value": 0.01234, "interval": None}},
            "submitted_at": "2026-11-21T10:00:00Z",
            "last_submitted_at": "2026-11-22T10:00:00Z",
            "entries": 12,
            "is_mine": name == "ada",
        }
        for index, name in enumerate(names)
    ]
    return board


@pytest.mark.parametrize("columns", [60, 80, 120])
def test_the_leaderboard_fits_the_terminal_width_and_truncates_names(logged_in, capsys, monkeypatch, columns):
    # given a board with sentence-long team names and a terminal of `columns` characters
    logged_in.route("GET", "/api/v1/competitions/monet/leaderboard/", _wide_board())
    monkeypatch.setenv("COLUMNS", str(columns))
    assert main(["leaderboard", "monet"]) == 0
    captured = capsys.readouterr()
    table = captured.out.splitlines()[1:]
    # then no line is wider than the terminal, names are cut with an ellipsis, rank and ranking metric stay
    assert max(len(line) for line in table) <= columns
    assert table[0].split()[:2] == ["RANK", "TEAM"] and "FID" in table[0].split()
    assert any("\u2026" in line for line in table[1:])
    assert table[2].split()[:2] == ["2", "ada"] and table[2].endswith("<- you")
    assert "41.23" in table[1]
    if columns < 120:
        assert "left out to fit the terminal" in captured.err


def test_a_piped_leaderboard_keeps_every_column_and_the_whole_names(logged_in, capsys, monkeypatch):
    logged_in.route("GET", "/api/v1/competitions/monet/leaderboard/", _wide_board())
    monkeypatch.delenv("COLUMNS", raising=False)
    assert main(["leaderboard", "monet"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].split() == ["RANK", "TEAM", "SUBMISSION", "FID", "KID", "ENTRIES", "LAST"]
    assert "a floor every real model must beat" in out[2]
    assert out[3].split()[-6:] == ["12", "2026-11-22", "10:00", "UTC", "<-", "you"]


COMPARISON = {
    "submissions": [
        {"id": 7, "team": "ada", "is_baseline": False, "description": "", "phase": "main"},
        {"id": 2, "team": None, "is_baseline": True, "description": "Identity", "phase": "main"},
    ],
    "metrics": [
        {
            "metric": "fid",
            "label": "FID",
            "split": "public",
            "direction": "lower",
            "decimals": 2,
            "values": [{"value": 41.234, "interval": [40.0, 42.5]}, {"value": 60.0, "interval": None}],
        },
        {
            "metric": "ssim",
            "label": "SSIM (content)",
            "split": "public",
            "direction": "higher",
            "decimals": 3,
            "values": [{"value": 0.5, "interval": None}, None],
        },
    ],  # fmt: skip
    "previews": [{"image": "a", "input_url": "http://x/a.png", "output_urls": ["http://x/7/a.png", None]}],
}


def test_compare_prints_scores_side_by_side_with_the_display_names(logged_in, capsys):
    logged_in.route("GET", "/api/v1/competitions/monet/compare/", COMPARISON)
    assert main(["compare", "monet", "7", "2"]) == 0
    assert logged_in.requests[0].query == {"ids": ["7,2"]}
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["METRIC", "SPLIT", "#7", "ada", "#2", "baseline"]
    assert out[1].split() == ["FID", "public", "41.23", "[40.00,", "42.50]", "60.00"]
    assert out[2].split() == ["SSIM", "(content)", "public", "0.500", "-"]
    assert out[3] == "1 public preview image(s), 1 output(s): use --json for their URLs."


def test_compare_needs_two_ids_and_says_so_before_any_request(logged_in, capsys):
    assert main(["compare", "monet", "7"]) == 2
    assert logged_in.requests == []
    assert "Give 2 to 6 submission ids to compare (1 given)." in capsys.readouterr().err
