"""Configuration precedence, driver choice, connection strings and secret redaction."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from songsdb.config import (
    Settings,
    choose_driver,
    format_connection_string,
    load_settings,
    parse_connection_string,
    redact,
)
from songsdb.errors import ConfigurationError, DriverNotFound


@pytest.fixture
def env_file(tmp_path: Path) -> Path:
    path = tmp_path / ".env.songs-db"
    path.write_text("SONGSDB_SERVER=file-host\nSONGSDB_DATABASE=FileDb\nSONGSDB_USER=file-user\nSONGSDB_PORT=1500\n")
    return path


def test_arguments_beat_environment_beat_file(env_file: Path) -> None:
    env = {"SONGSDB_SERVER": "env-host", "SONGSDB_DATABASE": "EnvDb"}
    settings = load_settings(env=env, env_file=env_file, server="arg-host")
    assert settings.server == "arg-host"
    assert settings.database == "EnvDb"
    assert settings.user == "file-user"
    assert settings.port == 1500


def test_without_any_source_the_defaults_apply(tmp_path: Path) -> None:
    settings = load_settings(env={}, env_file=tmp_path / "missing")
    assert (settings.server, settings.port, settings.database, settings.encrypt) == ("localhost", 1433, "SongsDB", True)
    assert settings.trust_server_certificate is False


def test_booleans_and_ports_are_parsed_and_bad_ones_named() -> None:
    assert load_settings(env={"SONGSDB_ENCRYPT": "no"}, env_file=None).encrypt is False
    assert load_settings(env={"SONGSDB_TRUST_SERVER_CERTIFICATE": "Yes"}, env_file=None).trust_server_certificate
    with pytest.raises(ConfigurationError, match="SONGSDB_ENCRYPT"):
        load_settings(env={"SONGSDB_ENCRYPT": "maybe"}, env_file=None)
    with pytest.raises(ConfigurationError, match="SONGSDB_PORT"):
        load_settings(env={"SONGSDB_PORT": "http"}, env_file=None)


def test_unknown_argument_names_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="hostname"):
        load_settings(env={}, env_file=None, hostname="x")


def test_the_best_installed_driver_is_chosen() -> None:
    assert choose_driver(["FreeTDS", "ODBC Driver 17 for SQL Server"]) == "ODBC Driver 17 for SQL Server"
    assert choose_driver(["ODBC Driver 18 for SQL Server", "ODBC Driver 17 for SQL Server"]).endswith("18 for SQL Server")
    assert choose_driver(["FreeTDS"]) == "FreeTDS"


def test_a_missing_driver_says_what_to_install() -> None:
    with pytest.raises(DriverNotFound, match="tdsodbc") as info:
        choose_driver(["PostgreSQL Unicode"])
    assert "msodbcsql18" in str(info.value)


def test_microsoft_driver_strings_encrypt_by_default_and_trust_only_when_asked() -> None:
    s = Settings(server="db", port=1444, user="u", password="p", driver="ODBC Driver 18 for SQL Server")
    pairs = parse_connection_string(s.odbc())
    assert pairs["SERVER"] == "db,1444"
    assert pairs["Encrypt"] == "yes" and pairs["TrustServerCertificate"] == "no"
    trusted = Settings(driver="ODBC Driver 18 for SQL Server", trust_server_certificate=True)
    assert parse_connection_string(trusted.odbc())["TrustServerCertificate"] == "yes"


def test_freetds_strings_name_the_port_and_tds_version() -> None:
    pairs = parse_connection_string(Settings(server="h", port=1433, driver="FreeTDS", encrypt=False).odbc())
    assert (pairs["SERVER"], pairs["PORT"], pairs["TDS_Version"], pairs["Encryption"]) == ("h", "1433", "7.4", "off")


def test_the_driver_is_detected_when_not_given() -> None:
    pairs = parse_connection_string(Settings().odbc(installed_drivers=lambda: ["FreeTDS"]))
    assert pairs["DRIVER"] == "FreeTDS"


def test_passwords_with_separators_are_quoted_and_survive_a_round_trip() -> None:
    s = Settings(user="sa", password="p;a}ss={x", driver="FreeTDS")
    assert parse_connection_string(s.odbc())["PWD"] == "p;a}ss={x"


def test_the_password_appears_in_no_repr() -> None:
    s = Settings(user="sa", password="Sup3r$ecret", driver="FreeTDS")
    assert "Sup3r$ecret" not in repr(s)
    s2 = Settings(connection_string="DRIVER={FreeTDS};SERVER=x;UID=sa;PWD=Sup3r$ecret;")
    assert "Sup3r$ecret" not in repr(s2) and "***" in repr(s2)


def test_redact_hides_every_password_spelling() -> None:
    text = redact("Driver=x;Server=y;Pwd={a;b};PASSWORD=c;")
    assert "a;b" not in text and "=c" not in text and text.count("***") == 2


def test_with_database_rewrites_a_whole_connection_string() -> None:
    s = Settings(connection_string="DRIVER={FreeTDS};SERVER=h;Database=master;UID=u;PWD=p;")
    moved = s.with_database("songsdb_test_1")
    assert parse_connection_string(moved.odbc())["Database"] == "songsdb_test_1"
    assert moved.target_database == "songsdb_test_1" and s.target_database == "master"


@given(st.dictionaries(st.from_regex(r"[A-Za-z_]{1,10}", fullmatch=True), st.text(max_size=20), max_size=6))
def test_connection_strings_round_trip(pairs: dict[str, str]) -> None:
    cleaned = {k: v for k, v in pairs.items() if v == v.strip() and "\x00" not in v}
    assert parse_connection_string(format_connection_string(cleaned)) == {k: v.strip() for k, v in cleaned.items()}


# --- a role's login falls back as a block (issue #19 §4) ---

WEB = {"SONGSDB_SERVER": "db", "SONGSDB_USER": "web_login", "SONGSDB_PASSWORD": "WebPass#1"}


@pytest.mark.parametrize("role", ["worker", "ops"])
def test_a_role_without_login_settings_of_its_own_uses_the_whole_web_login(role: str) -> None:
    env = {**WEB, "SONGSDB_CONNECTION_STRING": "DRIVER={FreeTDS};SERVER=db;UID=web_login;PWD=WebPass#1;"}
    settings = load_settings(env=env, env_file=None, role=role)
    assert (settings.user, settings.password) == ("web_login", "WebPass#1")
    assert settings.connection_string == env["SONGSDB_CONNECTION_STRING"]


def test_the_retention_role_without_login_settings_of_its_own_uses_the_whole_operations_login() -> None:
    """The cleanup ran as the operations login before songsdb_retention (0047): such a deployment keeps cleaning up."""
    env = {**WEB, "SONGSDB_OPS_USER": "ops_login", "SONGSDB_OPS_PASSWORD": "OpsPass#2"}
    settings = load_settings(env=env, env_file=None, role="retention")
    assert (settings.user, settings.password) == ("ops_login", "OpsPass#2")
    own = {**env, "SONGSDB_RETENTION_USER": "retention_login", "SONGSDB_RETENTION_PASSWORD": "Keep#Pass=5"}
    settings = load_settings(env=own, env_file=None, role="retention")
    assert (settings.user, settings.password) == ("retention_login", "Keep#Pass=5")
    assert (load_settings(env=WEB, env_file=None, role="retention").user) == "web_login"  # neither: the web's, as every role
    with pytest.raises(ConfigurationError, match="SONGSDB_RETENTION_PASSWORD is missing"):
        load_settings(env={**env, "SONGSDB_RETENTION_USER": "retention_login"}, env_file=None, role="retention")


def test_a_roles_own_user_and_password_are_never_overruled_by_the_web_connection_string() -> None:
    env = {
        "SONGSDB_CONNECTION_STRING": "DRIVER={FreeTDS};SERVER=db;UID=web_login;PWD=WebPass#1;",
        "SONGSDB_WORKER_USER": "worker_login",
        "SONGSDB_WORKER_PASSWORD": "Work#Pass=3",
    }
    settings = load_settings(env=env, env_file=None, role="worker", driver="FreeTDS")
    assert settings.connection_string is None
    pairs = parse_connection_string(settings.odbc())
    assert (pairs["UID"], pairs["PWD"]) == ("worker_login", "Work#Pass=3")
    assert load_settings(env=env, env_file=None).connection_string == env["SONGSDB_CONNECTION_STRING"]  # web's own


def test_a_roles_own_connection_string_brings_no_web_user_with_it() -> None:
    env = {**WEB, "SONGSDB_OPS_CONNECTION_STRING": "DRIVER={FreeTDS};SERVER=db;UID=ops_login;PWD=Ops;"}
    settings = load_settings(env=env, env_file=None, role="ops")
    assert (settings.user, settings.password) == (None, None)
    assert settings.connection_string == env["SONGSDB_OPS_CONNECTION_STRING"]
    assert settings.server == "db"  # the shared settings stay shared


def test_a_roles_user_without_its_password_is_an_error_naming_the_password() -> None:
    env = {**WEB, "SONGSDB_WORKER_USER": "worker_login"}
    with pytest.raises(ConfigurationError, match="SONGSDB_WORKER_PASSWORD is missing") as info:
        load_settings(env=env, env_file=None, role="worker")
    assert "SONGSDB_WORKER_PASSWORD_FILE" in str(info.value) and "WebPass#1" not in str(info.value)


def test_a_roles_password_without_its_user_is_an_error_naming_the_user(tmp_path: Path) -> None:
    secret = tmp_path / "ops_password"
    secret.write_text("Ops Pass 4\n")
    with pytest.raises(ConfigurationError, match="SONGSDB_OPS_USER is missing") as info:
        load_settings(env={**WEB, "SONGSDB_OPS_PASSWORD_FILE": str(secret)}, env_file=None, role="ops")
    assert "Ops Pass 4" not in str(info.value)


def test_an_incomplete_role_login_is_completed_by_explicit_arguments_or_its_connection_string() -> None:
    env = {**WEB, "SONGSDB_WORKER_USER": "worker_login"}
    assert load_settings(env=env, env_file=None, role="worker", password="Given").password == "Given"
    given = load_settings(env=env, env_file=None, role="worker", connection_string="DRIVER=x;UID=w;PWD=p;")
    assert given.connection_string == "DRIVER=x;UID=w;PWD=p;" and given.password is None


def test_a_roles_login_in_the_env_file_beats_the_web_login_in_the_environment(tmp_path: Path) -> None:
    path = tmp_path / ".env.songs-db"
    path.write_text("SONGSDB_WORKER_USER=worker_login\nSONGSDB_WORKER_PASSWORD=Work#Pass=3\n")
    settings = load_settings(env=WEB, env_file=path, role="worker")
    assert (settings.user, settings.password, settings.server) == ("worker_login", "Work#Pass=3", "db")
    web = load_settings(env=WEB, env_file=path)
    assert (web.user, web.password) == ("web_login", "WebPass#1")


def test_an_empty_role_setting_counts_as_unset() -> None:
    settings = load_settings(env={**WEB, "SONGSDB_WORKER_USER": ""}, env_file=None, role="worker")
    assert (settings.user, settings.password) == ("web_login", "WebPass#1")


def test_the_web_login_still_takes_each_setting_from_the_first_source_that_has_it(env_file: Path) -> None:
    settings = load_settings(env={"SONGSDB_PASSWORD": "EnvPass"}, env_file=env_file)
    assert (settings.user, settings.password) == ("file-user", "EnvPass")


# --- secrets from files (Docker and Kubernetes secrets) ---


@pytest.mark.parametrize(
    ("written", "read"),
    [("S3cret\n", "S3cret"), ("S3cret\r\n", "S3cret"), ("S3cret", "S3cret"), (" S3 cret \t\n\n", " S3 cret \t\n"), ("S3cret\r", "S3cret\r")],
)
def test_a_password_file_is_read_less_one_trailing_newline(tmp_path: Path, written: str, read: str) -> None:
    secret = tmp_path / "password"
    secret.write_bytes(written.encode())
    settings = load_settings(env={"SONGSDB_USER": "sa", "SONGSDB_PASSWORD_FILE": str(secret)}, env_file=None)
    assert settings.password == read


@given(st.text(min_size=1).filter(lambda t: not t.endswith("\r")))
def test_any_password_written_with_a_newline_reads_back_as_written(password: str) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        secret = Path(folder) / "password"
        secret.write_bytes((password + "\n").encode())
        assert load_settings(env={"SONGSDB_PASSWORD_FILE": str(secret)}, env_file=None).password == password


def test_each_roles_secrets_and_connection_strings_come_from_files(tmp_path: Path) -> None:
    (tmp_path / "worker").write_text("Work#Pass=3\n")
    (tmp_path / "ops_dsn").write_text("DRIVER={FreeTDS};SERVER=db;UID=ops_login;PWD={Ops;Pass};\n")
    (tmp_path / "web_dsn").write_text("DRIVER={FreeTDS};SERVER=db;UID=web_login;PWD=WebPass#1;\n")
    env = {
        "SONGSDB_CONNECTION_STRING_FILE": str(tmp_path / "web_dsn"),
        "SONGSDB_WORKER_USER": "worker_login",
        "SONGSDB_WORKER_PASSWORD_FILE": str(tmp_path / "worker"),
        "SONGSDB_OPS_CONNECTION_STRING_FILE": str(tmp_path / "ops_dsn"),
    }
    web = load_settings(env=env, env_file=None)
    assert parse_connection_string(web.odbc())["UID"] == "web_login"
    worker = load_settings(env=env, env_file=None, role="worker")
    assert (worker.user, worker.password, worker.connection_string) == ("worker_login", "Work#Pass=3", None)
    ops = load_settings(env=env, env_file=None, role="ops")
    assert parse_connection_string(ops.odbc())["PWD"] == "Ops;Pass"
    for settings in (web, worker, ops):
        assert "Pass" not in repr(settings)


def test_a_password_file_named_in_the_env_file_is_read(tmp_path: Path) -> None:
    (tmp_path / "password").write_text("FromFile\n")
    path = tmp_path / ".env.songs-db"
    path.write_text(f"SONGSDB_USER=sa\nSONGSDB_PASSWORD_FILE={tmp_path / 'password'}\n")
    assert load_settings(env={}, env_file=path).password == "FromFile"


@pytest.mark.parametrize(
    ("variable", "role"),
    [("SONGSDB_PASSWORD", "web"), ("SONGSDB_CONNECTION_STRING", "web"), ("SONGSDB_WORKER_PASSWORD", "worker"), ("SONGSDB_OPS_CONNECTION_STRING", "ops")],
)
def test_a_value_and_its_file_together_are_an_error_naming_both(tmp_path: Path, variable: str, role: str) -> None:
    (tmp_path / "secret").write_text("FromFile\n")
    env = {"SONGSDB_USER": "u", variable: "Given", f"{variable}_FILE": str(tmp_path / "secret")}
    if role != "web":
        env[f"SONGSDB_{role.upper()}_USER"] = "role_user"
    with pytest.raises(ConfigurationError, match=f"both {variable} and {variable}_FILE are set") as info:
        load_settings(env=env, env_file=None, role=role)
    assert "Given" not in str(info.value) and "FromFile" not in str(info.value)


def test_a_value_and_its_file_together_in_the_env_file_are_an_error_too(tmp_path: Path) -> None:
    path = tmp_path / ".env.songs-db"
    path.write_text(f"SONGSDB_PASSWORD=x\nSONGSDB_PASSWORD_FILE={path}\n")
    with pytest.raises(ConfigurationError, match=r"SONGSDB_PASSWORD and SONGSDB_PASSWORD_FILE are set \(in .*\.env\.songs-db\)"):
        load_settings(env={}, env_file=path)


def test_the_environment_beats_the_env_file_whichever_form_each_uses(tmp_path: Path) -> None:
    (tmp_path / "password").write_text("FromSecret\n")
    path = tmp_path / ".env.songs-db"
    path.write_text("SONGSDB_PASSWORD=FromEnvFile\n")
    assert load_settings(env={"SONGSDB_PASSWORD_FILE": str(tmp_path / "password")}, env_file=path).password == "FromSecret"
    path.write_text(f"SONGSDB_PASSWORD_FILE={tmp_path / 'password'}\n")
    assert load_settings(env={"SONGSDB_PASSWORD": "FromEnv"}, env_file=path).password == "FromEnv"


def test_an_explicit_password_wins_and_the_file_is_not_read(tmp_path: Path) -> None:
    settings = load_settings(env={"SONGSDB_PASSWORD_FILE": str(tmp_path / "absent")}, env_file=None, password="Given")
    assert settings.password == "Given"


def test_a_missing_secret_file_is_an_error_naming_the_variable_and_path(tmp_path: Path) -> None:
    absent = tmp_path / "absent"
    with pytest.raises(ConfigurationError, match="SONGSDB_WORKER_PASSWORD_FILE") as info:
        load_settings(env={"SONGSDB_WORKER_USER": "w", "SONGSDB_WORKER_PASSWORD_FILE": str(absent)}, env_file=None, role="worker")
    assert str(absent) in str(info.value) and "No such file" in str(info.value)
    with pytest.raises(ConfigurationError, match=f"SONGSDB_CONNECTION_STRING_FILE .*{tmp_path}"):
        load_settings(env={"SONGSDB_CONNECTION_STRING_FILE": str(tmp_path)}, env_file=None)  # a folder


def test_an_unreadable_or_empty_secret_file_is_named_and_its_contents_never_shown(tmp_path: Path) -> None:
    binary = tmp_path / "binary"
    binary.write_bytes(b"Sup3r$ecret\xff\n")
    with pytest.raises(ConfigurationError, match="SONGSDB_PASSWORD_FILE names a file that is not UTF-8") as info:
        load_settings(env={"SONGSDB_PASSWORD_FILE": str(binary)}, env_file=None)
    assert str(binary) in str(info.value) and "Sup3r" not in str(info.value) and "xff" not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(ConfigurationError, match=f"SONGSDB_PASSWORD_FILE names an empty file: {empty}"):
        load_settings(env={"SONGSDB_PASSWORD_FILE": str(empty)}, env_file=None)


def test_file_variables_are_no_arguments() -> None:
    with pytest.raises(ConfigurationError, match="password_file"):
        load_settings(env={}, env_file=None, password_file="/run/secrets/x")
