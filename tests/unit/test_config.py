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
