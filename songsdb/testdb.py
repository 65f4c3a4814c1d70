"""Throwaway databases on a real server, for tests: naming, creating, emptying and dropping them.

The machinery behind songsdb's pytest plugin (:mod:`songsdb.testing`), usable without pytest.
Every connection here is the administrator's (a login that may create databases and logins);
the duty-role logins a :class:`DatabaseFactory` makes are the ones the application would use.
"""

from __future__ import annotations

import os
import random
import re
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

from songsdb.config import ROLES, Settings, format_connection_string, parse_connection_string

T = TypeVar("T")

__all__ = ["DatabaseFactory", "connect", "detect_server_engine", "drop_database", "as_login", "database_prefix"]

_PREFIX = "songsdb_test_"
# Babelfish 4.2 updates one shared catalog row when it creates or drops a database or a login, so
# two sessions doing so at once (pytest-xdist workers) can fail with this; the loser just tries again.
_CATALOG_RACE = "tuple concurrently updated"


def _retrying_catalog_race(action: Callable[[], T], attempts: int = 8) -> T:
    """``action()``, again after a short random pause while Babelfish reports a concurrent catalog update."""
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except Exception as exc:
            if _CATALOG_RACE not in str(exc) or attempt == attempts:
                raise
            time.sleep(random.uniform(0.05, 0.25) * attempt)
    raise AssertionError("unreachable")


def connect(settings: Settings) -> Any:
    """An autocommit pyodbc connection for ``settings``."""
    import pyodbc

    return pyodbc.connect(settings.odbc(), autocommit=True, timeout=30)


def _rows(settings: Settings, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    conn = connect(settings)
    try:
        cursor = conn.cursor()
        cursor.execute(sql, *params)
        return [tuple(row) for row in cursor.fetchall()] if cursor.description is not None else []
    finally:
        conn.close()


def detect_server_engine(server: Settings) -> str:
    """``"sqlserver"`` or ``"babelfish"``, from ``@@VERSION``."""
    from songsdb.migrator import detect_engine

    return detect_engine(str(_rows(server, "SELECT @@VERSION")[0][0]))


def drop_database(server: Settings, name: str, engine: str) -> None:
    """Drop database ``name`` if it exists (on SQL Server, disconnecting its sessions first)."""
    conn = connect(server)
    try:
        cursor = conn.cursor()
        if cursor.execute("SELECT DB_ID(?)", name).fetchone()[0] is None:
            return
        if engine == "sqlserver":
            cursor.execute(f"ALTER DATABASE [{name}] SET SINGLE_USER WITH ROLLBACK IMMEDIATE;")
        cursor.execute(f"DROP DATABASE [{name}];")
    finally:
        conn.close()


def as_login(target: Settings, login: str, password: str) -> Settings:
    """``target``'s server and database, signed in as ``login``."""
    pairs = parse_connection_string(target.odbc())
    for key in list(pairs):
        if key.lower() in ("uid", "pwd", "user id", "password", "trusted_connection"):
            del pairs[key]
    pairs.update(UID=login, PWD=password)
    return replace(target, user=login, password=password, connection_string=format_connection_string(pairs))


def database_prefix(worker: str | None = None) -> str:
    """``songsdb_test_``, or ``songsdb_test_gw0_`` under pytest-xdist worker ``gw0``."""
    worker = os.environ.get("PYTEST_XDIST_WORKER") if worker is None else worker
    tag = re.sub(r"[^A-Za-z0-9]", "", worker or "")[:8]
    return f"{_PREFIX}{tag}_" if tag else _PREFIX


def data_tables(settings: Settings) -> tuple[str, ...]:
    """The tables that hold no row now, children before the tables they reference.

    Called right after migrating, these are the tables the application fills (rows a migration
    seeds, and the migration history, are left alone); deleting in this order never trips a
    foreign key.
    """
    conn = connect(settings)
    try:
        cursor = conn.cursor()
        tables = {
            int(object_id): str(name)
            for name, object_id in cursor.execute(
                "SELECT QUOTENAME(s.name) + N'.' + QUOTENAME(t.name), t.object_id FROM sys.tables AS t "
                "INNER JOIN sys.schemas AS s ON s.schema_id = t.schema_id;"
            ).fetchall()
        }
        references = [
            (int(child), int(parent))
            for child, parent in cursor.execute(
                "SELECT parent_object_id, referenced_object_id FROM sys.foreign_keys;"
            ).fetchall()
            if child != parent
        ]
        empty = {
            object_id
            for object_id, name in tables.items()
            if cursor.execute(f"SELECT CASE WHEN EXISTS (SELECT 1 FROM {name}) THEN 1 ELSE 0 END;").fetchone()[0] == 0
        }
    finally:
        conn.close()
    return tuple(tables[i] for i in _children_first(empty, references))


def _children_first(tables: set[int], references: list[tuple[int, int]]) -> list[int]:
    """``tables`` ordered so that each comes before every table it references (cycles: as found)."""
    waiting = {t: {c for c, p in references if p == t and c in tables and c != t} for t in tables}
    ordered: list[int] = []
    while waiting:
        ready = sorted(t for t, children in waiting.items() if not children) or sorted(waiting)[:1]
        for table in ready:
            ordered.append(table)
            del waiting[table]
        for children in waiting.values():
            children.difference_update(ready)
    return ordered


def empty_tables(settings: Settings, tables: tuple[str, ...]) -> None:
    """Delete every row of ``tables``, in the order given, in one batch."""
    if tables:
        conn = connect(settings)
        try:
            conn.cursor().execute("".join(f"DELETE FROM {name};" for name in tables))
        finally:
            conn.close()


class DatabaseFactory:
    """Makes uniquely named databases on ``server`` (per xdist worker), and drops them all at the end.

    ``new(roles=True)`` also migrates the database and gives each duty role (web, worker, ops, retention)
    a login in it, the way ``songsdb up`` provisions one (:func:`songsdb.local.provision`). The
    logins are made once per factory, with unique names (logins are server-wide), and dropped
    after the databases.
    """

    def __init__(self, server: Settings, engine: str, prefix: str | None = None) -> None:
        self.server, self.engine = server, engine
        self.prefix = prefix if prefix is not None else database_prefix()
        self.names: list[str] = []
        self._tables: dict[str, tuple[str, ...]] = {}
        self._logins: dict[str, tuple[str, str]] = {}

    def new(self, migrate: bool = False, roles: bool = False) -> Settings:
        """A new database: empty, or migrated (``migrate``), or migrated with role logins (``roles``)."""
        from songsdb.migrator import Migrator

        name = f"{self.prefix}{uuid.uuid4().hex[:10]}"
        self.names.append(name)
        settings = self.server.with_database(name)
        _retrying_catalog_race(Migrator(settings).create_database)
        if roles:
            from songsdb.local import provision

            logins = self.role_logins()
            _retrying_catalog_race(lambda: provision(settings, logins))  # provisioning again changes nothing
        elif migrate:
            Migrator(settings).migrate()
        if migrate or roles:
            self._tables[name] = data_tables(settings)
        return settings

    def role_logins(self) -> dict[str, tuple[str, str]]:
        """Role -> (login, password) of this factory's duty-role logins (made by ``new(roles=True)``), one per ``config.ROLES``."""
        if not self._logins:
            from songsdb.container import generate_password

            tag = uuid.uuid4().hex[:8]
            self._logins = {role: (f"songsdb_t{tag}_{role}", generate_password()) for role in ROLES}
        return dict(self._logins)

    def role_settings(self, target: Settings) -> dict[str, Settings]:
        """Role -> settings of that role's login on ``target`` (a database made with ``roles=True``)."""
        return {role: as_login(target, login, password) for role, (login, password) in self.role_logins().items()}

    def empty(self, target: Settings) -> None:
        """Delete every row the tests wrote into ``target`` (a migrated database of this factory)."""
        name = target.target_database
        if name not in self._tables:
            raise ValueError(f"{name} was not migrated by this factory, so which tables to empty is not known")
        empty_tables(target, self._tables[name])

    def drop(self, name: str) -> None:
        """Drop one of this factory's databases now."""
        _retrying_catalog_race(lambda: drop_database(self.server, name, self.engine))
        self.names.remove(name)
        self._tables.pop(name, None)

    def drop_all(self) -> None:
        """Drop every database this factory made, then its logins."""
        for name in list(self.names):
            self.drop(name)
        for login, _ in self._logins.values():
            try:
                _retrying_catalog_race(lambda: self._drop_login(login))  # noqa: B023 (called at once)
            except Exception as exc:  # a session still open elsewhere: say so, don't fail the run
                warnings.warn(f"songsdb: could not drop test login {login}: {exc}", stacklevel=1)
        self._logins = {}

    def _drop_login(self, login: str) -> None:
        conn = connect(self.server)
        try:
            cursor = conn.cursor()
            if self.engine == "sqlserver":  # a client a test did not close still holds a session
                for (session,) in cursor.execute(
                    "SELECT session_id FROM sys.dm_exec_sessions WHERE login_name = ?;", login
                ).fetchall():
                    cursor.execute(f"KILL {int(session)};")
            cursor.execute(f"IF SUSER_ID(N'{login}') IS NOT NULL DROP LOGIN [{login}];")
        finally:
            conn.close()
