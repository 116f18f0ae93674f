"""What a person sees on stderr: the upload bar on a terminal, the live state of a followed submission."""

from __future__ import annotations

import io

import pytest

from atelier_client.cli import main
from atelier_client.progress import DisplayMode, StateDisplay, UploadProgress, bytes_format, state_describe
from tests.client.conftest import TerminalStream
from tests.client.fake_api import Answer, competition_detail, submission_detail


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def submit_with_stderr(logged_in, tmp_path, monkeypatch, stderr: io.StringIO) -> int:
    path = tmp_path / "g.safetensors"
    path.write_bytes(bytes(range(256)) * 2048)  # 512 KiB
    logged_in.route("GET", "/api/v1/competitions/monet/", competition_detail())
    logged_in.route("POST", "/api/v1/competitions/monet/submissions/", Answer(201, submission_detail(7)))
    monkeypatch.setattr("sys.stderr", stderr)
    return main(["submit", "monet", str(path)])


def test_submit_draws_an_upload_bar_on_a_terminal(logged_in, tmp_path, monkeypatch):
    stderr = TerminalStream()

    assert submit_with_stderr(logged_in, tmp_path, monkeypatch, stderr) == 0

    drawn = stderr.getvalue()
    frames = drawn.split("\r")[1:]
    assert frames, "no progress bar was drawn"
    assert frames[0].startswith("Uploading g.safetensors    0% [")
    last = frames[-1].splitlines()[0]
    assert "100% [" in last and "#" * 10 in last
    assert "512.2 KiB / 512.2 KiB" in last
    assert last.endswith("/s")
    assert frames[-1].count("\n") >= 1, "the finished bar does not end its line"


def test_submit_draws_no_bar_when_stderr_is_not_a_terminal(logged_in, tmp_path, monkeypatch):
    stderr = io.StringIO()

    assert submit_with_stderr(logged_in, tmp_path, monkeypatch, stderr) == 0

    assert "%" not in stderr.getvalue() and "\r" not in stderr.getvalue()
    assert "atelier status 7 --wait" in stderr.getvalue()


def test_the_bar_shows_percent_bytes_and_rate():
    clock = FakeClock()
    stream = TerminalStream()
    progress = UploadProgress(stream, label="Uploading g.onnx", clock=clock)

    progress(0, 4 << 20)
    clock.now += 2.0
    progress(1 << 20, 4 << 20)

    assert progress.last_line.startswith("Uploading g.onnx   25% [")
    assert "1.0 MiB / 4.0 MiB  512.0 KiB/s" in progress.last_line


def test_the_bar_redraws_at_most_ten_times_a_second_but_always_at_the_end():
    clock = FakeClock()
    stream = TerminalStream()
    progress = UploadProgress(stream, label="up", clock=clock)

    for sent in range(0, 1001, 10):
        progress(sent, 1000)
        clock.now += 0.001  # 101 calls in 0.1 s

    frames = stream.getvalue().split("\r")[1:]
    assert 2 <= len(frames) <= 3
    assert "100%" in frames[-1]


def test_a_forced_plain_mode_draws_nothing_even_on_a_terminal():
    stream = TerminalStream()
    progress = UploadProgress(stream, label="up", mode=DisplayMode.PLAIN)
    progress(0, 10)
    progress(10, 10)
    assert stream.getvalue() == ""


@pytest.mark.parametrize(
    ("detail", "expected"),
    [
        (submission_detail(state="queued", queue_position=3), "queued (position 3)"),
        (submission_detail(state="queued"), "queued"),
        (submission_detail(state="validating"), "validating"),
        (submission_detail(state="generating", progress={"done": 12, "total": 40}), "generating 12/40"),
        (submission_detail(state="scoring", progress={"done": 40, "total": 40}), "scoring"),
        (submission_detail(state="scored"), "scored"),
        (
            submission_detail(state="failed", failure={"code": "bad_output", "message": "Output has 1 channel."}),
            "failed (bad_output): Output has 1 channel.",
        ),
    ],
)
def test_states_read_as_a_person_says_them(detail, expected):
    assert state_describe(detail) == expected


def test_the_live_state_redraws_one_line_on_a_terminal_and_prints_lines_otherwise():
    terminal, plain = TerminalStream(), io.StringIO()
    for stream in (terminal, plain):
        display = StateDisplay(stream, submission_id=7)
        display.update(submission_detail(state="generating", progress={"done": 1, "total": 10}))
        display.update(submission_detail(state="generating", progress={"done": 1, "total": 10}))  # no change
        display.update(submission_detail(state="scoring"))
        display.close()

    assert plain.getvalue() == "Submission #7: generating 1/10\nSubmission #7: scoring\n"
    first, second = "Submission #7: generating 1/10", "Submission #7: scoring"
    assert terminal.getvalue() == f"\r{first}\r{second.ljust(len(first))}\n"


@pytest.mark.parametrize(
    ("count", "expected"), [(0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (5 << 20, "5.0 MiB"), (3 << 30, "3.0 GiB")]
)
def test_byte_counts_use_binary_units(count, expected):
    assert bytes_format(count) == expected
