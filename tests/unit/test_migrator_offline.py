"""The migrator's decisions that need no server: which databases it opens, and how it waits for the lock.

The driver is faked (``tests/unit/fake_odbc.py``); what SQL Server does is for the integration suite.
"""

from __future__ import annotations

from typing import Any

import pyodbc
import pytest

from songsdb.config import Settings, parse_connection_string
from songsdb.errors import DatabaseMissing, MigrationError
from songsdb.migrator import Migrator

from .fake_odbc import FakeConnection

DSN = "DRIVER={FreeTDS};SERVER=dbhost;PORT=1433;UID=deployer;PWD=Secret-1;DATABASE=SongsDb_typo;"


def missing(database: str) -> pyodbc.Error:
    """Babelfish's answer (both drivers) for a DATABASE= that does not exist."""
    return pyodbc.OperationalError(
        "08004", f'[08004] [FreeTDS][SQL Server]database "{database}" does not exist (911) (SQLDriverConnect)'
    )


def sql_server_missing(database: str) -> pyodbc.Error:
    """SQL Server's: 4060, then 18456 "login failed" in a second record."""
    return pyodbc.InterfaceError(
        "42000",
        f'[42000] [Microsoft][ODBC Driver 18 for SQL Server][SQL Server]Cannot open database "{database}" requested '
        "by the login. The login failed. (4060) (SQLDriverConnect); [28000] [Microsoft][ODBC Driver 18 for SQL "
        "Server][SQL Server]Login failed for user 'deployer'. (18456)",
    )


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The DATABASE= of every connection the code under test opens; each one fails as a missing database."""
    databases: list[str] = []

    def connect(text: str, **kwargs: Any) -> Any:
        database = parse_connection_string(text).get("DATABASE", "")
        databases.append(database)
        raise missing(database)

    monkeypatch.setattr(pyodbc, "connect", connect)
    return databases


def test_migrate_never_opens_master_and_a_missing_database_names_itself_and_the_option(opened: list[str]) -> None:
    with pytest.raises(DatabaseMissing) as info:
        Migrator(Settings(connection_string=DSN)).migrate()
    message = str(info.value)
    assert "'SongsDb_typo' does not exist on dbhost:1433" in message
    assert "songsdb migrate --create-database" in message and "Azure SQL Database" in message
    assert "Secret-1" not in message
    assert opened == ["SongsDb_typo"]  # never master: nothing was, or could have been, created


def test_only_create_database_goes_to_master(opened: list[str]) -> None:
    with pytest.raises(DatabaseMissing):
        Migrator(Settings(connection_string=DSN)).migrate(create_database=True)
    assert opened[0] == "master"


@pytest.mark.parametrize("command", ["status", "baseline"])
def test_status_and_baseline_never_create_a_database_either(opened: list[str], command: str) -> None:
    migrator = Migrator(Settings(connection_string=DSN))
    with pytest.raises(DatabaseMissing, match="--create-database"):
        migrator.status() if command == "status" else migrator.baseline(1)
    assert opened == ["SongsDb_typo"]


def test_sql_servers_cannot_open_database_is_a_missing_database_not_a_failed_login(monkeypatch: pytest.MonkeyPatch) -> None:
    def connect(text: str, **kwargs: Any) -> Any:
        raise sql_server_missing("SongsDb_typo")

    monkeypatch.setattr(pyodbc, "connect", connect)
    with pytest.raises(DatabaseMissing, match="'SongsDb_typo' does not exist"):
        Migrator(Settings(connection_string=DSN)).migrate()


def test_a_migrator_waits_for_the_lock_disconnected(monkeypatch: pytest.MonkeyPatch) -> None:
    """A waiting session in the database would make 0014's ALTER DATABASE ... WITH NO_WAIT fail."""
    answers = iter([-1, -999, 0])  # busy (SQL Server's and Babelfish's "not granted"), then granted
    connections: list[FakeConnection] = []

    def respond(sql: str, params: list[Any]) -> Any:
        if "sp_getapplock" in sql:
            assert "@LockTimeout = 0" in sql  # never waits inside the database
            return [(["result"], [(next(answers),)])]
        if sql.startswith("SET ") or "sp_releaseapplock" in sql:
            return []
        raise RuntimeError("stop here")  # the work under the lock is not this test's business

    def connect(text: str, **kwargs: Any) -> FakeConnection:
        if connections:
            assert all(c.closed for c in connections)  # the previous try disconnected first
        connections.append(FakeConnection(respond))
        return connections[-1]

    monkeypatch.setattr(pyodbc, "connect", connect)
    migrator = Migrator(Settings(connection_string=DSN))
    migrator.lock_poll_seconds = 0.01
    with pytest.raises(RuntimeError, match="stop here"):
        migrator.migrate()
    assert len(connections) == 3 and all(c.closed for c in connections)
    assert any("sp_releaseapplock" in sql for sql, _ in connections[-1].executed)  # released on the way out


def test_a_migrator_gives_up_after_its_lock_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    def respond(sql: str, params: list[Any]) -> Any:
        return [(["result"], [(-1,)])] if "sp_getapplock" in sql else []

    monkeypatch.setattr(pyodbc, "connect", lambda text, **kwargs: FakeConnection(respond))
    migrator = Migrator(Settings(connection_string=DSN), lock_timeout_ms=50)
    migrator.lock_poll_seconds = 0.01
    with pytest.raises(MigrationError, match=r"another migrator holds the lock 'songsdb.migrate.SongsDb_typo'"):
        migrator.migrate()


def test_every_migrator_session_bounds_its_lock_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = FakeConnection(lambda sql, params: [(["result"], [(-1,)])] if "sp_getapplock" in sql else [])
    monkeypatch.setattr(pyodbc, "connect", lambda text, **kwargs: conn)
    with pytest.raises(MigrationError):
        Migrator(Settings(connection_string=DSN), lock_timeout_ms=0).migrate()
    first = conn.executed[0][0]
    assert "QUOTED_IDENTIFIER ON" in first and "SET XACT_ABORT ON;" in first and "SET LOCK_TIMEOUT 30000;" in first
