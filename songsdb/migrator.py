"""Apply the planned scripts to a server: one transaction per script, serialised by an app lock.

The order of work in :meth:`Migrator.migrate`:

1. create the database when it does not exist (from ``master``);
2. take a session-owned ``sp_getapplock`` on ``songsdb.migrate`` so concurrent
   migrators queue up (a killed migrator's session ends and its lock with it);
3. create ``deploy.SchemaHistory`` if needed, read it, and refuse drift
   (an edited versioned script, or one that vanished) before touching anything;
4. run each pending script in its own transaction (``XACT_ABORT ON``) with its
   history row; a failure rolls the script back, is recorded with
   ``Success = 0`` and raised naming the file, batch and line.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from songsdb.batches import split_batches
from songsdb.config import Settings
from songsdb.errors import MigrationError, map_database_error, server_message
from songsdb.migrations import (
    HISTORY_BOOTSTRAP,
    SESSION_OPTIONS,
    VERSIONED,
    AppliedRow,
    RenderedScript,
    ScriptState,
    discover,
    drift_message,
    history_insert,
    plan,
    render,
    template_context,
)

__all__ = ["Migrator", "MigrationReport", "detect_engine", "drain"]

log = logging.getLogger("songsdb.migrate")

_DATABASE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
LOCK_RESOURCE = "songsdb.migrate"


@dataclass(frozen=True)
class MigrationReport:
    """What one ``migrate`` call applied, in order."""

    engine: str
    applied: tuple[str, ...]


def detect_engine(version_text: str) -> str:
    """``babelfish`` when ``@@VERSION`` names Babelfish, else ``sqlserver``."""
    return "babelfish" if "babelfish" in version_text.lower() else "sqlserver"


def _connect(settings: Settings) -> Any:
    import pyodbc

    try:
        return pyodbc.connect(settings.odbc(), autocommit=True, timeout=settings.login_timeout)
    except pyodbc.Error as exc:
        raise map_database_error(exc) from None


def drain(cursor: Any) -> list[tuple[Any, ...]]:
    """Read every result set of the last execute, so errors in later statements surface."""
    rows: list[tuple[Any, ...]] = []
    while True:
        if cursor.description is not None:
            rows.extend(tuple(r) for r in cursor.fetchall())
        if not cursor.nextset():
            return rows


class Migrator:
    """Applies ``sql/`` to the database that ``settings`` names."""

    def __init__(self, settings: Settings, root: Path | None = None, lock_timeout_ms: int = 300_000) -> None:
        self.settings = settings
        self.root = root
        self.lock_timeout_ms = lock_timeout_ms
        self.database = settings.target_database
        if not _DATABASE_NAME.match(self.database):
            raise MigrationError(f"database name {self.database!r} must match {_DATABASE_NAME.pattern}")
        # per database: Babelfish shares app lock names between all its T-SQL databases
        self.lock_name = f"{LOCK_RESOURCE}.{self.database}"

    # ----- read-only -------------------------------------------------------------------------
    def rendered(self, engine: str) -> list[RenderedScript]:
        """Every script rendered for ``engine`` (no server needed)."""
        context = template_context(engine, self.database)
        return [render(script, context) for script in discover(self.root)]

    def status(self) -> tuple[str, list[ScriptState]]:
        """The engine and the state of every script; read-only (creates nothing)."""
        with self._session() as conn:
            engine = self._engine(conn)
            return engine, plan(self.rendered(engine), self._applied(conn, create=False))

    # ----- changes ---------------------------------------------------------------------------
    def create_database(self) -> bool:
        """Create the database when it does not exist; True when this call created it."""
        conn = _connect(self.settings.with_database("master"))
        try:
            cursor = conn.cursor()
            if cursor.execute("SELECT DB_ID(?)", self.database).fetchone()[0] is not None:
                return False
            try:
                cursor.execute(f"CREATE DATABASE [{self.database}]")
            except Exception:  # another migrator may have created it a moment ago
                if cursor.execute("SELECT DB_ID(?)", self.database).fetchone()[0] is None:
                    raise
                return False
            log.info("created database %s", self.database)
            return True
        finally:
            conn.close()

    def migrate(self) -> MigrationReport:
        """Apply every pending or changed script; refuse drift first."""
        self.create_database()
        with self._session() as conn, self._locked(conn):
            engine = self._engine(conn)
            items = self.rendered(engine)
            states = plan(items, self._applied(conn, create=True))
            problem = drift_message(states)
            if problem:
                raise MigrationError(problem)
            todo = {s.name for s in states if s.will_apply}
            applied = []
            for item in items:
                if item.name in todo:
                    self._apply(conn, item)
                    applied.append(item.name)
            return MigrationReport(engine, tuple(applied))

    def baseline(self, version: int) -> list[str]:
        """Record versioned scripts up to ``version`` as applied without running them."""
        self.create_database()
        with self._session() as conn, self._locked(conn):
            engine = self._engine(conn)
            items = [i for i in self.rendered(engine) if i.script.kind == VERSIONED]
            if not any(i.script.version == version for i in items):
                known = ", ".join(f"{i.script.version:04d}" for i in items)
                raise MigrationError(f"baseline version {version:04d} is not a script; versions are: {known}")
            done = {row.name for row in self._applied(conn, create=True)}
            marked = []
            for item in items:
                if item.script.version is not None and item.script.version <= version and item.name not in done:
                    conn.cursor().execute(history_insert(item, success=True, duration_ms=0, note="baseline"))
                    marked.append(item.name)
            return marked

    # ----- internals -------------------------------------------------------------------------
    @contextmanager
    def _session(self) -> Iterator[Any]:
        conn = _connect(self.settings)
        try:
            conn.cursor().execute(SESSION_OPTIONS + "SET XACT_ABORT ON;")
            yield conn
        finally:
            conn.close()

    @contextmanager
    def _locked(self, conn: Any) -> Iterator[None]:
        cursor = conn.cursor()
        cursor.execute(
            "DECLARE @result int;\n"
            "EXEC @result = sp_getapplock @Resource = ?, @LockMode = 'Exclusive', "
            "@LockOwner = 'Session', @LockTimeout = ?;\n"
            "SELECT @result;",
            self.lock_name,
            self.lock_timeout_ms,
        )
        result = drain(cursor)[-1][0]
        if result < 0:  # -1 timeout on SQL Server, -999 on Babelfish; all negatives mean "not granted"
            raise MigrationError(
                f"another migrator holds the lock {self.lock_name!r} (sp_getapplock returned {result} "
                f"after {self.lock_timeout_ms} ms)"
            )
        try:
            yield
        finally:
            try:
                cursor.execute(
                    "EXEC sp_releaseapplock @Resource = ?, @LockOwner = 'Session';", self.lock_name
                )
            except Exception:  # the session is closing anyway; its lock goes with it
                log.debug("could not release %s", LOCK_RESOURCE, exc_info=True)

    def _engine(self, conn: Any) -> str:
        return detect_engine(str(conn.cursor().execute("SELECT @@VERSION").fetchone()[0]))

    def _applied(self, conn: Any, create: bool) -> list[AppliedRow]:
        cursor = conn.cursor()
        if create:
            for batch in split_batches(HISTORY_BOOTSTRAP):
                if not batch.is_empty:
                    cursor.execute(batch.text)
        elif cursor.execute("SELECT OBJECT_ID(N'deploy.SchemaHistory', N'U')").fetchone()[0] is None:
            return []
        rows = cursor.execute(
            "SELECT h.ScriptName, h.Kind, h.Checksum FROM deploy.SchemaHistory AS h "
            "WHERE h.Success = 1 AND h.Id = (SELECT MAX(x.Id) FROM deploy.SchemaHistory AS x "
            "WHERE x.ScriptName = h.ScriptName AND x.Success = 1) ORDER BY h.Id;"
        ).fetchall()
        return [AppliedRow(str(r[0]), str(r[1]).strip(), str(r[2]).strip()) for r in rows]

    def _apply(self, conn: Any, item: RenderedScript) -> None:
        cursor = conn.cursor()
        transactional = item.script.transactional
        started = time.monotonic()
        batches = item.batches
        if transactional:
            cursor.execute("BEGIN TRANSACTION;")
        for number, batch in enumerate(batches, start=1):
            try:
                for _ in range(batch.repeat):
                    cursor.execute(batch.text)
                    drain(cursor)
            except Exception as exc:
                self._record_failure(conn, item, started)
                raise MigrationError(
                    f"{item.name}: batch {number} of {len(batches)} (starting at line {batch.start_line}) "
                    f"failed: {server_message(exc)}"
                ) from exc
        duration = int((time.monotonic() - started) * 1000)
        cursor.execute(history_insert(item, success=True, duration_ms=duration))
        if transactional:
            cursor.execute("COMMIT TRANSACTION;")
        log.info("applied %s in %d ms", item.name, duration)

    def _record_failure(self, conn: Any, item: RenderedScript, started: float) -> None:
        cursor = conn.cursor()
        cursor.execute("IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION;")
        duration = int((time.monotonic() - started) * 1000)
        cursor.execute(history_insert(item, success=False, duration_ms=duration))
