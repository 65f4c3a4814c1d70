"""The console's refusals that need no server: a public bind without credentials, bad credentials, CSRF."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from songsdb.console import auth
from songsdb.errors import ConfigurationError


def test_the_console_binds_to_loopback_by_default_and_serves_it_without_credentials() -> None:
    settings = auth.load_console_settings({})
    assert (settings.host, settings.port, settings.authenticated, settings.read_only) == ("127.0.0.1", 8900, False, False)
    auth.check_bind(settings)
    for host in ("localhost", "::1", "127.0.0.2"):
        auth.check_bind(auth.load_console_settings({}, host=host))


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "console.example.com"])
def test_a_public_bind_without_credentials_is_refused_and_with_them_allowed(host: str) -> None:
    with pytest.raises(ConfigurationError, match="without authentication"):
        auth.check_bind(auth.load_console_settings({}, host=host))
    auth.check_bind(auth.load_console_settings({"SONGSDB_CONSOLE_TOKEN": "t"}, host=host))
    auth.check_bind(auth.load_console_settings({"SONGSDB_CONSOLE_USER": "a", "SONGSDB_CONSOLE_PASSWORD": "p"}, host=host))


def test_songsdb_console_on_a_public_address_without_credentials_exits_with_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from songsdb.cli import main

    for name in ("SONGSDB_CONSOLE_TOKEN", "SONGSDB_CONSOLE_USER", "SONGSDB_CONSOLE_PASSWORD", "SONGSDB_CONSOLE_HOST"):
        monkeypatch.delenv(name, raising=False)
    code = main(["--env-file", "/nonexistent", "--connection-string", "DRIVER={FreeTDS};SERVER=x;UID=u;PWD=p;",
                 "console", "--host", "0.0.0.0"])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "refusing to serve the console on 0.0.0.0" in err


def test_secrets_come_from_files_and_a_half_given_login_is_an_error(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("from-a-file\n")
    assert auth.load_console_settings({"SONGSDB_CONSOLE_TOKEN_FILE": str(token)}).token == "from-a-file"
    with pytest.raises(ConfigurationError, match="both"):
        auth.load_console_settings({"SONGSDB_CONSOLE_TOKEN_FILE": str(token), "SONGSDB_CONSOLE_TOKEN": "x"})
    with pytest.raises(ConfigurationError, match="go together"):
        auth.load_console_settings({"SONGSDB_CONSOLE_USER": "alice"})
    assert auth.load_console_settings({"SONGSDB_CONSOLE_READ_ONLY": "1"}).read_only
    assert "from-a-file" not in repr(auth.load_console_settings({"SONGSDB_CONSOLE_TOKEN_FILE": str(token)}))


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_only_the_configured_credentials_name_an_operator() -> None:
    settings = auth.ConsoleSettings(token="tok", username="alice", password="pw")
    assert auth.operator_for(settings, _basic("alice", "pw")) == "alice"
    assert auth.operator_for(settings, _basic("bob", "tok")) == "bob"
    assert auth.operator_for(settings, "Bearer tok") == "token"
    for refused in (None, "", "Bearer nope", _basic("alice", "nope"), _basic("bob", "pw"), "Basic !!!", "Digest x"):
        assert auth.operator_for(settings, refused) is None, refused
    assert (auth.operator_for(auth.ConsoleSettings(), None) or "").startswith("local")


def test_a_csrf_token_belongs_to_one_operator_and_one_console() -> None:
    settings = auth.ConsoleSettings()
    token = auth.csrf_token(settings, "alice")
    assert auth.csrf_ok(settings, "alice", token)
    assert not auth.csrf_ok(settings, "bob", token)
    assert not auth.csrf_ok(auth.ConsoleSettings(), "alice", token)  # another start-up, another key
    assert not auth.csrf_ok(settings, "alice", None) and not auth.csrf_ok(settings, "alice", "")


class NoDatabase:
    """An ops client that must never be reached: every refused request stops before the database."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"the console called {name} for a request it should have refused")


@pytest.mark.parametrize(
    ("remote", "host", "headers"),
    [
        ("127.0.0.1", "rebind.attacker.example:8900", {}),  # DNS rebinding: another site's name, resolved to us
        ("127.0.0.1", "console.example.com", {}),  # a local reverse proxy passing the public name
        ("127.0.0.1", "localhost:8900", {"X-Forwarded-For": "203.0.113.9"}),  # a proxy keeping Host
        ("10.0.0.5", "127.0.0.1:8900", {}),  # served on 0.0.0.0 by gunicorn: another machine
    ],
)
def test_without_credentials_only_local_requests_addressed_to_this_machine_are_answered(
    remote: str, host: str, headers: dict[str, str]
) -> None:
    flask = pytest.importorskip("flask")
    from songsdb.console import create_app

    app = create_app(NoDatabase(), auth.load_console_settings({}, host="0.0.0.0"))  # created without check_bind
    assert isinstance(app, flask.Flask)
    answer = app.test_client().post(
        "/jobs/00000000-0000-0000-0000-000000000001/retry", headers={"Host": host, **headers},
        environ_base={"REMOTE_ADDR": remote}, data={"csrf": "x"},
    )
    assert answer.status_code == 403 and b"SONGSDB_CONSOLE_TOKEN" in answer.data
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert auth.local_request_refusal(auth.load_console_settings({}), "127.0.0.1", "[::1]:8900", {}) is None
    assert auth.local_request_refusal(auth.load_console_settings({}), "::1", "localhost", {}) is None


def test_with_credentials_every_process_accepts_the_others_forms_and_a_rotated_secret_does_not() -> None:
    env = {"SONGSDB_CONSOLE_USER": "alice", "SONGSDB_CONSOLE_PASSWORD": "pw-alice-long"}
    one, two = auth.load_console_settings(env), auth.load_console_settings(env)  # two gunicorn workers
    assert auth.csrf_ok(two, "alice", auth.csrf_token(one, "alice"))
    rotated = auth.load_console_settings({**env, "SONGSDB_CONSOLE_PASSWORD": "pw-alice-new"})
    assert not auth.csrf_ok(rotated, "alice", auth.csrf_token(one, "alice"))
    local_a, local_b = auth.load_console_settings({}), auth.load_console_settings({})
    assert local_a.csrf_key != local_b.csrf_key  # without secrets: a key of the process's own
