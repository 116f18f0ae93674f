"""The `atelier` client against the real API on a live Django server (pytest-django's ``live_server``).

Nothing reaches a broker here: ``submissions.sending.submission_send`` is replaced by a list, and
the states a worker would set are set with the same conditional UPDATEs; an S3 upload's verification
(``submissions.upload_session_verify``) runs in a thread, as the default-queue worker would run it
(tests/support/upload_verifier.py). In the object-storage pass every upload here goes to the bucket. The end to end run with a
real worker that scores is the scoring pipeline's test (it calls ``atelier_client.cli.main``).
"""

from __future__ import annotations

import io
import json
import threading
import uuid
from pathlib import Path

import pytest
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from atelier_client.cli import main
from gan_platform.storages import private_storage
from submissions.models import Submission, UploadSession
from tests.factories import DEFAULT_PASSWORD, competition_create_for_tests, participant_join, score_create, user_create
from tests.submissions.helpers import pickle_bytes, safetensors_bytes, scored_submission_create
from tests.support.object_storage import object_keys
from tests.support.sending import sends_recorded
from tests.support.upload_verifier import upload_verifier  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def isolated_storage(private_root) -> None:
    """Private storage in the test's temporary folder (the test settings hash passwords cheaply: every test logs in)."""


@pytest.fixture(autouse=True)
def sent(monkeypatch) -> list[int]:
    """Submission ids sent to the scoring task (no broker)."""
    calls = sends_recorded(monkeypatch, "submission_send", "submission_id")
    cache.clear()
    yield calls
    cache.clear()


@pytest.fixture(autouse=True)
def verifications(upload_verifier) -> list[str]:  # noqa: F811 (the fixture imported above)
    """S3 sessions whose verification ran in a stand-in worker thread."""
    return upload_verifier


@pytest.fixture
def s3_uploads(settings, private_bucket) -> dict:
    """Uploads of this test go to a bucket of its own (whatever the pass), parts straight from the client."""
    settings.ATELIER_S3_BUCKET = private_bucket["name"]
    settings.ATELIER_S3_PUBLIC_ENDPOINT_URL = private_bucket["endpoint"]
    return private_bucket


@pytest.fixture
def config_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "xdg-config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    for name in ("ATELIER_URL", "ATELIER_TOKEN", "ATELIER_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def fast_polling(monkeypatch) -> None:
    from atelier_client import follow

    monkeypatch.setattr(follow, "POLL_INITIAL_S", 0.01)
    monkeypatch.setattr(follow, "POLL_MAX_S", 0.05)


@pytest.fixture
def competition(transactional_db):
    return competition_create_for_tests(
        slug="wood", style_images=2, content_images=4, preview=2, image_size=16, daily_quota=2, max_running=5
    )


@pytest.fixture
def alice(competition):
    user = user_create("alice")
    participant_join(competition, user)
    return user


def cli_login(url: str, username: str, monkeypatch) -> int:
    """`atelier login` on the server at ``url`` as ``username``, the factories' password on stdin; its exit status."""
    monkeypatch.setattr("sys.stdin", io.StringIO(DEFAULT_PASSWORD + "\n"))
    return main(["login", "--url", url, "--username", username, "--password-stdin"])


@pytest.fixture
def logged_in_alice(live_server, config_home, alice, monkeypatch, capsys) -> str:
    code = cli_login(live_server.url, "alice", monkeypatch)
    output = capsys.readouterr()
    assert code == 0, output.err
    return live_server.url


@pytest.fixture
def checkpoint(tmp_path) -> Path:
    path = tmp_path / "generator.safetensors"
    path.write_bytes(safetensors_bytes(header_padding=200_000))  # a few chunks of upload
    return path


def submit(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["submit", *argv])
    output = capsys.readouterr()
    return code, output.out, output.err


def test_login_against_the_live_server_saves_a_token_the_api_accepts(logged_in_alice, config_home, capsys):
    saved = json.loads((config_home / "atelier" / "config.json").read_text())
    assert saved["url"] == logged_in_alice.rstrip("/")
    token = saved["servers"][saved["url"]]["token"]
    from rest_framework.authtoken.models import Token

    assert Token.objects.get(key=token).user.username == "alice"

    assert main(["whoami"]) == 0
    assert capsys.readouterr().out.strip() == f"alice on {saved['url']}"


def test_a_wrong_password_against_the_live_server_exits_3(live_server, config_home, alice, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("not the password\n"))

    assert main(["login", "--url", live_server.url, "--username", "alice", "--password-stdin"]) == 3
    assert not (config_home / "atelier" / "config.json").exists()
    assert "Login to" in capsys.readouterr().err


def test_submit_streams_the_checkpoint_and_the_server_stores_the_exact_file(
    logged_in_alice, checkpoint, sent, private_root, capsys
):
    code, out, err = submit(capsys, "wood", str(checkpoint), "--description", "first try", "--json")

    assert code == 0, err
    detail = json.loads(out)
    submission = Submission.objects.get(pk=detail["id"])
    assert submission.submitted_by.username == "alice"
    assert submission.description == "first try"
    assert submission.format == "safetensors"
    assert submission.size == checkpoint.stat().st_size
    with private_storage().open(submission.file.name, "rb") as stored:
        assert stored.read() == checkpoint.read_bytes()
    assert detail["state"] == "queued"
    assert sent == [submission.pk]


def test_status_wait_prints_the_scores_once_the_submission_is_scored(logged_in_alice, checkpoint, fast_polling, capsys):
    code, out, err = submit(capsys, "wood", str(checkpoint), "--json")
    assert code == 0, err
    submission_id = json.loads(out)["id"]
    # the worker's part, as its conditional UPDATEs leave it
    lease = uuid.uuid4()
    assert Submission.objects.filter(pk=submission_id, state="queued").update(state="validating", lease_token=lease)
    score_create(Submission.objects.get(pk=submission_id), "fid", 42.125, interval=(40.5, 44.0))
    assert Submission.objects.filter(pk=submission_id, lease_token=lease).update(
        state="scored", lease_token=None, finished_at=timezone.now()
    )

    code = main(["status", str(submission_id), "--wait", "--timeout", "30"])

    output = capsys.readouterr()
    assert code == 0, output.err
    assert f"Submission #{submission_id}: scored" in output.err
    score_line = next(line for line in output.out.splitlines() if line.startswith("public"))
    # the registry's display name and the phase's decimals, as the web shows them
    assert score_line.split() == ["public", "FID", "(ranking)", "42.125", "[40.500,", "44.000]"]
    assert "uncalibrated" in output.out


def test_submit_wait_follows_the_live_states_as_the_worker_changes_them(
    logged_in_alice, checkpoint, fast_polling, monkeypatch, capsys
):
    # given a stand-in worker that moves the submission on each time the client has shown its state
    from atelier_client import progress

    shown: list[str] = []
    changed = threading.Condition()
    original_update = progress.StateDisplay.update

    def recording_update(self, detail):
        original_update(self, detail)
        with changed:
            shown.append(self.shown)
            changed.notify_all()

    monkeypatch.setattr(progress.StateDisplay, "update", recording_update)

    def shown_ends_with(text: str) -> None:
        with changed:
            assert changed.wait_for(lambda: shown and shown[-1].endswith(text), timeout=30), shown

    worker_errors: list[BaseException] = []

    def worker() -> None:
        try:
            shown_ends_with("queued (position 1)")
            submission = Submission.objects.get()
            lease = uuid.uuid4()
            Submission.objects.filter(pk=submission.pk, state="queued").update(state="validating", lease_token=lease)
            shown_ends_with("validating")
            Submission.objects.filter(pk=submission.pk, lease_token=lease).update(
                state="generating", progress_done=2, progress_total=4
            )
            shown_ends_with("generating 2/4")
            Submission.objects.filter(pk=submission.pk, lease_token=lease).update(state="scoring")
            shown_ends_with("scoring")
            score_create(submission, "fid", 12.5, calibrated=True)
            Submission.objects.filter(pk=submission.pk, lease_token=lease).update(
                state="scored", lease_token=None, finished_at=timezone.now()
            )
        except BaseException as error:  # shown by the main thread
            worker_errors.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=worker, name="stand-in-worker", daemon=True)
    thread.start()

    # when the participant submits with --wait
    code, out, err = submit(capsys, "wood", str(checkpoint), "--wait", "--timeout", "60")
    thread.join(timeout=10)
    assert worker_errors == []

    # then every state was shown in order, and the scores at the end
    assert code == 0, err
    assert [line.split(": ", 1)[1] for line in err.splitlines() if line.startswith("Submission #")] == [
        "queued (position 1)",
        "validating",
        "generating 2/4",
        "scoring",
        "scored",
    ]
    assert next(line for line in out.splitlines() if line.startswith("public")).split() == [
        "public",
        "FID",
        "(ranking)",
        "12.500",
        "-",
    ]
    assert "uncalibrated" not in out


def test_status_wait_on_a_failed_submission_exits_7_with_its_reason(logged_in_alice, checkpoint, fast_polling, capsys):
    code, out, _ = submit(capsys, "wood", str(checkpoint), "--json")
    submission_id = json.loads(out)["id"]
    Submission.objects.filter(pk=submission_id, state="queued").update(
        state="failed", failure_code="output_contract", failure_message="The output has 1 channel; 3 are needed."
    )

    assert main(["status", str(submission_id), "--wait"]) == 7
    assert "failed (output_contract): The output has 1 channel; 3 are needed." in capsys.readouterr().err


def test_refusals_of_the_live_server_end_with_their_exit_codes(logged_in_alice, checkpoint, tmp_path, sent, capsys):
    pickled = tmp_path / "generator.pt"
    pickled.write_bytes(pickle_bytes())
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")

    code, _, err = submit(capsys, "wood", str(pickled))
    assert (code, "[unsupported_format]" in err) == (6, True), err
    code, _, err = submit(capsys, "wood", str(empty))
    assert (code, "[empty_file]" in err) == (6, True), err
    code, _, err = submit(capsys, "no-such-competition", str(checkpoint))
    assert (code, "[not_found]" in err) == (4, True), err
    assert sent == []
    assert Submission.objects.count() == 0


def test_the_daily_quota_of_the_live_server_exits_5(logged_in_alice, checkpoint, sent, capsys):
    # given a daily quota of 2, used up
    assert submit(capsys, "wood", str(checkpoint))[0] == 0
    assert submit(capsys, "wood", str(checkpoint))[0] == 0

    code, _, err = submit(capsys, "wood", str(checkpoint))

    assert code == 5, err
    assert "[quota_exceeded]" in err
    assert len(err.strip().splitlines()) == 1
    assert len(sent) == 2


def test_quota_and_leaderboard_read_the_live_server(logged_in_alice, competition, alice, capsys):
    phase = competition.phases.get()
    team = alice.participations.get(competition=competition).team
    submission = scored_submission_create(
        phase=phase, team=team, user=alice, public={"fid": 33.3333}, private={"fid": 30.0}
    )

    assert main(["quota", "wood", "--json"]) == 0
    quota = json.loads(capsys.readouterr().out)
    assert quota["daily_quota"] == 2 and quota["used_today"] == 1 and quota["remaining_today"] == 1

    assert main(["leaderboard", "wood"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if "alice" in line)
    assert row.split()[0] == "1" and "<-" in row
    assert "33.333" in row

    assert main(["leaderboard", "wood", "--split", "private"]) == 4
    assert "[private_leaderboard_hidden]" in capsys.readouterr().err

    phase.__class__.objects.filter(pk=phase.pk).update(final_selection_limit=1)
    assert main(["select-final", str(submission.pk)]) == 0
    assert "is selected for the private leaderboard" in capsys.readouterr().out
    submission.refresh_from_db()
    assert submission.is_final is True


def test_a_revoked_token_exits_3_against_the_live_server(logged_in_alice, capsys):
    from rest_framework.authtoken.models import Token

    Token.objects.all().delete()

    assert main(["whoami"]) == 3
    assert "[not_authenticated]" in capsys.readouterr().err


def test_logout_revokes_the_token_on_the_live_server(logged_in_alice, config_home, capsys):
    from rest_framework.authtoken.models import Token

    saved = json.loads((config_home / "atelier" / "config.json").read_text())
    token = saved["servers"][saved["url"]]["token"]

    assert main(["logout"]) == 0

    assert "the server revoked it" in capsys.readouterr().out
    assert not Token.objects.filter(key=token).exists()
    assert main(["--url", logged_in_alice, "whoami"]) == 3


def test_competitions_join_and_submit_against_the_live_server(
    live_server, config_home, competition, monkeypatch, capsys
):
    # given bob, registered but not in the competition
    user_create("bob")
    monkeypatch.setattr("sys.stdin", io.StringIO(DEFAULT_PASSWORD + "\n"))
    assert main(["login", "--url", live_server.url, "--username", "bob", "--password-stdin"]) == 0
    checkpoint = Path(config_home.parent / "bob.safetensors")
    checkpoint.write_bytes(safetensors_bytes())
    capsys.readouterr()

    # the competition is listed, not joined
    assert main(["competitions"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("wood"))
    assert row.split()[-1] == "no" and "Main" in row

    # a submission before joining is refused: not joined (4)
    assert main(["submit", "wood", str(checkpoint)]) == 4
    assert "[not_joined]" in capsys.readouterr().err

    # after joining with the rules accepted, it goes through
    assert main(["join", "wood", "--accept-rules"]) == 0
    assert "Joined wood as team bob" in capsys.readouterr().out
    assert main(["submit", "wood", str(checkpoint)]) == 0
    assert "Submitted bob.safetensors to wood (phase main)" in capsys.readouterr().out
    assert main(["competitions", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["joined"] is True


def test_a_file_over_the_phase_limit_is_refused_by_the_client_then_by_the_server(
    logged_in_alice, competition, tmp_path, monkeypatch, sent, capsys
):
    # given a phase that accepts at most 64 KiB and a 1 MiB checkpoint
    competition.phases.update(upload_size_limit=64 * 1024)
    big = tmp_path / "big.safetensors"
    big.write_bytes(safetensors_bytes(header_padding=1 << 20))

    # the client refuses it from the competition's detail, before sending a byte
    code, _, err = submit(capsys, "wood", str(big))
    assert code == 6
    assert "accepts at most 64.0 KiB (65536 bytes)" in err

    # and when the client cannot tell (no phase detail), the server stops reading at the limit: 413, exit 6
    from atelier_client import commands

    monkeypatch.setattr(commands, "_phase_for_upload", lambda competition, phase_slug: None)
    code, _, err = submit(capsys, "wood", str(big))
    assert code == 6, err
    assert "[file_too_large]" in err
    assert sent == [] and Submission.objects.count() == 0


def test_submit_to_s3_waits_while_the_server_verifies_and_shows_the_submission_as_before(
    logged_in_alice, s3_uploads, checkpoint, verifications, sent, capsys
):
    # when alice submits to a server whose uploads go to a bucket (the worker verifies them)
    code, out, err = submit(capsys, "wood", str(checkpoint), "--json")

    # then the client polled the verifying session and printed the submission, as a local upload does
    assert code == 0, err
    assert "the server is verifying the file" in err
    detail = json.loads(out)
    submission = Submission.objects.get(pk=detail["id"])
    assert (detail["state"], detail["sha256"]) == ("queued", submission.sha256)
    session = UploadSession.objects.get()
    assert (session.backend, session.state, session.submission_id) == ("s3", "completed", submission.pk)
    assert verifications == [str(session.pk)] and sent == [submission.pk]
    with private_storage().open(submission.file.name, "rb") as stored:
        assert stored.read() == checkpoint.read_bytes()
    assert object_keys(s3_uploads["endpoint"], s3_uploads["name"], "private/submissions/") == [
        f"private/{submission.file.name}"
    ]


def test_a_file_the_s3_verification_refuses_exits_6_with_its_code_and_leaves_nothing(
    logged_in_alice, s3_uploads, tmp_path, verifications, sent, capsys
):
    # given a file that passes everything knowable before its bytes, but is no checkpoint
    junk = tmp_path / "generator.safetensors"
    junk.write_bytes(b"\x00" * 4096)

    code, _, err = submit(capsys, "wood", str(junk))

    assert code == 6, err
    assert err.strip().endswith("[unsupported_format]"), err
    assert "this file is neither safetensors nor ONNX" in err
    session = UploadSession.objects.get()
    assert session.state == "failed" and f"[{session.error['code']}]" in err
    assert verifications == [str(session.pk)]
    assert Submission.objects.count() == 0 and sent == []
    assert object_keys(s3_uploads["endpoint"], s3_uploads["name"], "private/submissions/") == []
