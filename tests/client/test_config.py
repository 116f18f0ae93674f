"""`atelier login`, `logout`, `whoami`: where the token lives, who sees it, where it is sent."""

from __future__ import annotations

import io
import json
import socket
import stat
from pathlib import Path

import pytest

from atelier_client.cli import main
from atelier_client.config import Config, config_path, credentials_resolve
from tests.client.conftest import TOKEN
from tests.client.fake_api import Answer, FakeApi, error_answer


def login(monkeypatch: pytest.MonkeyPatch, url: str, password: str = "correct horse") -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    return main(["login", "--url", url, "--username", "ada", "--password-stdin"])


def test_login_stores_the_token_in_a_file_only_the_owner_can_read(config_home, fake_api, monkeypatch, capsys):
    # given a server that gives a token for ada's credentials
    fake_api.route("POST", "/api/v1/auth/token/", {"token": TOKEN})

    # when ada logs in with the password on stdin
    code = login(monkeypatch, fake_api.url)

    # then the credentials went to the token endpoint as JSON...
    assert code == 0
    (request,) = fake_api.requests_to("POST", "/api/v1/auth/token/")
    assert request.json() == {"username": "ada", "password": "correct horse"}
    assert "authorization" not in request.headers
    # ...and the token is saved in $XDG_CONFIG_HOME/atelier/config.json, mode 0600, in a 0700 folder
    path = config_home / "atelier" / "config.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    saved = json.loads(path.read_text())
    assert saved == {"url": fake_api.url, "servers": {fake_api.url: {"token": TOKEN, "username": "ada"}}}
    assert f"Logged in to {fake_api.url} as ada" in capsys.readouterr().out
    assert not list(path.parent.glob(".config-*")), "the temporary file of the atomic write was left behind"


def test_the_saved_token_is_sent_with_the_next_commands(config_home, fake_api, monkeypatch, capsys):
    # given ada logged in
    fake_api.route("POST", "/api/v1/auth/token/", {"token": TOKEN})
    fake_api.route("GET", "/api/v1/me/", {"username": "ada"})
    assert login(monkeypatch, fake_api.url) == 0
    capsys.readouterr()

    # when she asks who she is, without giving the server again
    code = main(["whoami"])

    # then the token went in the Authorization header and the answer is printed
    assert code == 0
    (request,) = fake_api.requests_to("GET", "/api/v1/me/")
    assert request.headers["authorization"] == f"Token {TOKEN}"
    assert capsys.readouterr().out.strip() == f"ada on {fake_api.url}"


def test_a_refused_login_exits_3_saves_nothing_and_prints_the_server_message(
    config_home, fake_api, monkeypatch, capsys
):
    fake_api.route(
        "POST",
        "/api/v1/auth/token/",
        error_answer(400, "validation_error", "The request is not valid: Unable to log in with provided credentials."),
    )

    code = login(monkeypatch, fake_api.url, password="wrong")

    assert code == 3
    assert not (config_home / "atelier" / "config.json").exists()
    error = capsys.readouterr().err
    assert "Unable to log in with provided credentials." in error
    assert len(error.strip().splitlines()) == 1


def test_the_token_is_never_sent_to_a_server_it_was_not_given_by(logged_in, tmp_path, capsys):
    # given a token saved for the fake server, and a second server
    with FakeApi(tmp_path / "other") as other:
        other.route("GET", "/api/v1/me/", {"username": "mallory"})

        # when a command names the other server
        code = main(["--url", other.url, "whoami"])

        # then it stops before sending anything: not logged in there
        assert code == 3
        assert other.requests == []
    assert f"Not logged in to {other.url}" in capsys.readouterr().err


def test_the_environment_overrides_the_saved_server_and_token(logged_in, tmp_path, monkeypatch, capsys):
    with FakeApi(tmp_path / "ci") as ci_server:
        ci_server.route("GET", "/api/v1/me/", {"username": "ci-bot"})
        monkeypatch.setenv("ATELIER_URL", ci_server.url + "/")
        monkeypatch.setenv("ATELIER_TOKEN", "ci-token")

        assert main(["whoami", "--json"]) == 0

        (request,) = ci_server.requests_to("GET", "/api/v1/me/")
        assert request.headers["authorization"] == "Token ci-token"
    assert json.loads(capsys.readouterr().out) == {"url": ci_server.url, "username": "ci-bot"}
    assert logged_in.requests == []


def test_the_url_option_overrides_the_environment(config_home, fake_api, monkeypatch):
    monkeypatch.setenv("ATELIER_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("ATELIER_TOKEN", "env-token")
    fake_api.route("GET", "/api/v1/me/", {"username": "ada"})

    assert main(["whoami", "--url", fake_api.url]) == 0
    assert len(fake_api.requests_to("GET", "/api/v1/me/")) == 1


def test_logout_revokes_the_token_on_the_server_then_forgets_it(logged_in, capsys):
    logged_in.route("POST", "/api/v1/auth/token/revoke/", Answer(status=204, raw_body=b"", content_type=""))

    assert main(["logout"]) == 0

    revokes = logged_in.requests_to("POST", "/api/v1/auth/token/revoke/")
    assert len(revokes) == 1 and revokes[0].headers["authorization"] == f"Token {TOKEN}"
    saved = json.loads((config_path()).read_text())
    assert saved["servers"] == {}
    assert stat.S_IMODE(config_path().stat().st_mode) == 0o600
    assert "the server revoked it, and it was removed from" in capsys.readouterr().out
    assert main(["whoami"]) == 3
    assert len(logged_in.requests) == 1


def test_logout_with_the_server_down_still_forgets_the_token_and_says_it_still_works_there(config_home, capsys):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    path = config_home / "atelier" / "config.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"url": url, "servers": {url: {"token": TOKEN, "username": "ada"}}}))
    path.chmod(0o600)

    assert main(["logout"]) == 0

    assert json.loads(path.read_text())["servers"] == {}
    captured = capsys.readouterr()
    assert "it could not be revoked on the server, and it was removed from" in captured.out
    assert f"{url} refused the connection" in captured.err
    assert f"still works there: create a new one on {url}/accounts/token/" in captured.err


def test_logout_with_a_token_the_server_already_refuses_forgets_it_quietly(logged_in, capsys):
    logged_in.route("POST", "/api/v1/auth/token/revoke/", error_answer(401, "not_authenticated", "Invalid token."))

    assert main(["logout"]) == 0

    captured = capsys.readouterr()
    assert "the server no longer accepted it, and it was removed" in captured.out and captured.err == ""
    assert json.loads(config_path().read_text())["servers"] == {}


def test_an_invalid_token_answered_401_exits_3(logged_in, capsys):
    logged_in.route("GET", "/api/v1/me/", error_answer(401, "not_authenticated", "Invalid token."))

    assert main(["whoami"]) == 3
    assert "Invalid token. [not_authenticated]" in capsys.readouterr().err


def test_no_server_at_all_exits_3_and_says_to_log_in(config_home, capsys):
    assert main(["competitions"]) == 3
    assert "atelier login --url URL" in capsys.readouterr().err


def test_a_config_file_others_can_read_gets_a_warning(logged_in, capsys):
    config_path().chmod(0o644)
    logged_in.route("GET", "/api/v1/me/", {"username": "ada"})

    assert main(["whoami"]) == 0
    assert "readable by other users" in capsys.readouterr().err


def test_a_corrupt_config_file_is_named_in_the_error(config_home, capsys):
    path = config_home / "atelier" / "config.json"
    path.parent.mkdir(parents=True)
    path.write_text("{not json")

    assert main(["whoami"]) == 2
    error = capsys.readouterr().err
    assert str(path) in error and "delete it" in error


def test_the_config_lives_under_xdg_config_home_or_dot_config(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert config_path() == tmp_path / "xdg" / "atelier" / "config.json"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert config_path() == tmp_path / "home" / ".config" / "atelier" / "config.json"
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/path")  # not absolute: ignored, as the XDG spec says
    assert config_path() == tmp_path / "home" / ".config" / "atelier" / "config.json"


def test_server_addresses_are_compared_in_normal_form(config_home):
    config = Config(path=Path(config_home) / "atelier" / "config.json")
    config.login_store(url="HTTP://LocalHost:8000/", token="t", username="ada")

    credentials = credentials_resolve(config, url_option="http://localhost:8000")

    assert credentials.url == "http://localhost:8000"
    assert credentials.token == "t"


def test_a_server_answering_html_errors_is_reported_by_status(logged_in, capsys):
    logged_in.route("GET", "/api/v1/me/", Answer(500, raw_body=b"<html>Server Error</html>", content_type="text/html"))

    assert main(["whoami"]) == 1
    error = capsys.readouterr().err
    assert "HTTP 500" in error and "<html>" not in error


def test_login_without_options_prompts_for_the_name_and_the_hidden_password(config_home, fake_api, monkeypatch):
    # given ATELIER_URL names the server and a person types at a terminal
    from tests.client.conftest import TerminalStream

    monkeypatch.setenv("ATELIER_URL", fake_api.url)
    monkeypatch.setattr("sys.stdin", TerminalStream("ada\n"))
    prompts: list[str] = []
    monkeypatch.setattr("getpass.getpass", lambda prompt: prompts.append(prompt) or "typed secret")
    fake_api.route("POST", "/api/v1/auth/token/", {"token": TOKEN})

    # when they run `atelier login`
    assert main(["login"]) == 0

    # then the password was asked without echo, and both went to the server
    assert prompts == [f"Password for ada on {fake_api.url}: "]
    assert fake_api.requests[0].json() == {"username": "ada", "password": "typed secret"}
    assert json.loads((config_home / "atelier" / "config.json").read_text())["url"] == fake_api.url


def test_login_without_any_server_is_a_usage_error(config_home, capsys):
    assert main(["login", "--username", "ada", "--password-stdin"]) == 2
    assert "--url" in capsys.readouterr().err
