"""Apply the planned scripts to a server: one transaction per script, serialised by an app lock.

The order of work in :meth:`Migrator.migrate`:

1. only when asked (``create_database=True``, ``songsdb migrate --create-database``):
   create the database when it does not exist, from ``master``. Otherwise the
   migrator never connects to ``master``, and a missing database is an error
   naming it and the option (a mistyped name must not become a new database);
2. take a session-owned ``sp_getapplock`` on ``songsdb.migrate.<database>`` so
   concurrent migrators take turns (a killed migrator's session ends and its
   lock with it); one that has to wait does so disconnected (see ``_locked_session``);
3. read ``deploy.SchemaHistory`` (when it is there) and refuse drift (an
   edited versioned script, or one that vanished) before touching anything;
4. pass the guard rails (:func:`songsdb.migrations.deployment_guards`: never a
   system database; on SQL Server the compatibility level, dbo owning the
   schemas, read committed snapshot), then create ``deploy.SchemaHistory``
   when it is missing;
5. run each pending script, in :func:`songsdb.migrations.discover`'s order (versioned
   scripts by number, the repeatable ones, then the versioned contract steps marked
   ``-- songsdb:after-repeatables``, which cut what only the previous release's
   procedures used), in its own transaction (``XACT_ABORT ON``) with its
   history row; a failure rolls the script back, is recorded with
   ``Success = 0`` and raised naming the file, batch and line. Every try of every
   script starts from the migrator's session settings
   (:func:`songsdb.migrations.session_settings`, sent again before it and before
   its history row): every statement waits at most ``DDL_LOCK_TIMEOUT_MS`` for a
   lock (``SET LOCK_TIMEOUT``), and the session is the deadlock victim of choice
   (``SET DEADLOCK_PRIORITY LOW``, SQL Server). A script that loses a lock (lock
   timeout 1222, deadlock victim 1205), in its body, on its history row or at its
   COMMIT, was rolled back, or runs without a transaction and is re-entrant, so it
   is tried again from its top after a back-off (:class:`DdlRetry`: attempts per
   script, one deadline for the deploy); only its last failure is recorded, and
   every row says how many tries it took (``Attempts``);
6. a maintenance-window step (:data:`songsdb.migrations.MAINTENANCE_STEPS`) that
   refuses (``RAISERROR (N'NNNN: ...', 16, 1)`` naming its own number) stops the
   versioned scripts there (the contract steps after the repeatables too); every
   pending view, function and procedure is still applied, so the database never
   waits for its window with this release's schema under the previous release's
   procedures, and
   :class:`~songsdb.errors.MaintenanceStepRequired` names the step.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from songsdb.batches import split_batches
from songsdb.config import Settings, setting_variable
from songsdb.errors import (
    ConfigurationError,
    DatabaseMissing,
    MaintenanceStepRequired,
    MigrationError,
    map_database_error,
    native_error_number,
    server_message,
)
from songsdb.lint import format_findings, lint_rendered
from songsdb.migrations import (
    DDL_LOCK_TIMEOUT_MS,
    HISTORY_BOOTSTRAP,
    RCSI_SCRIPT,
    REPEATABLE,
    VERSIONED,
    AppliedRow,
    RenderedScript,
    ScriptState,
    build_deployment_script,
    deployment_guards,
    discover,
    drift_message,
    history_insert,
    pending_order,
    plan,
    record_batch,
    render,
    session_settings,
    template_context,
)
from songsdb.retry import lock_conflict

__all__ = [
    "Migrator", "MigrationReport", "DdlRetry", "RETRY_SECONDS_VARIABLE", "detect_engine", "drain", "read_committed_snapshot",
    "refusal",
]

log = logging.getLogger("songsdb.migrate")

_DATABASE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
LOCK_RESOURCE = "songsdb.migrate"
# "database does not exist" (Babelfish, SQL Server 911) and "cannot open database requested by the
# login" (SQL Server 4060, followed by a second record, 18456 "login failed", which is why the numbers
# of every record are read here: the database's name, checked by _DATABASE_NAME, holds no parenthesis)
_NO_DATABASE = re.compile(r"\((?:911|4060)\)(?: \(SQL\w+\))?(?:;|\s*$)")


# A maintenance-window step refuses with RAISERROR (N'NNNN: ...', 16, 1): message 50000 on both
# engines, its text opening with the script's own four-digit number
_REFUSAL = re.compile(r"^(?P<version>\d{4}): ")
_RAISERROR_NUMBER = 50000


# The setting that bounds, in seconds, how long one migrate spends on scripts that lost a lock (DdlRetry.seconds)
RETRY_SECONDS_VARIABLE = setting_variable("ddl_retry_seconds")


@dataclass(frozen=True)
class DdlRetry:
    """How a script that lost a lock (lock timeout 1222, deadlock victim 1205) is tried again.

    ``attempts`` in all per script (1 = never again); after failed try ``n`` the migrator waits a random
    time between half and all of ``min(max_delay, base_delay * 2 ** (n - 1))`` seconds: long enough for
    the queue behind the blocker to drain (never close to zero, unlike full jitter), jittered so that
    two deploys, or a deploy and a periodic job, do not meet again in step. The defaults try 6 times
    over about 8 to 16 s of back-off, plus up to 6 lock waits of ``DDL_LOCK_TIMEOUT_MS``.

    ``seconds`` is the deadline of the whole retry sequence of one ``migrate``: the time its failed
    tries took plus the back-offs after them, summed over every script, never passes it. A retry whose
    back-off would take the sum past it is not made; the script fails with its last error. It does not
    cut a try short (a try's statements are bounded by the lock timeout, and a script is never stopped
    half-way by the migrator), nor count the time of the tries that succeed. The default, 120 s, is
    about five scripts' worth of the default back-off: a deploy that has lost that much to lock
    conflicts is fighting a workload a person should look at (``SONGSDB_DDL_RETRY_SECONDS``).
    """

    attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 8.0
    seconds: float = 120.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < self.base_delay:
            raise ValueError("need 0 <= base_delay <= max_delay")
        if self.seconds < 0:
            raise ValueError("seconds must be 0 or more")

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed try ``attempt`` (1-based)."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return (rng or random).uniform(ceiling / 2, ceiling)

    @classmethod
    def from_setting(cls, value: str | float | None) -> DdlRetry:
        """The defaults, with ``seconds`` from ``value`` (``Settings.ddl_retry_seconds``, from
        ``SONGSDB_DDL_RETRY_SECONDS`` in the environment or ``.env.songs-db``) when it is set: a number, 0 or more."""
        text = "" if value is None else str(value).strip()
        if not text:
            return cls()
        try:
            seconds = float(text)
        except ValueError:
            seconds = -1.0
        if not seconds >= 0 or seconds == float("inf"):
            raise ConfigurationError(f"{RETRY_SECONDS_VARIABLE} must be a number of seconds, 0 or more (got {value!r})")
        return cls(seconds=seconds)


class _RetryClock:
    """What one migrate has spent on lock conflicts so far, against :attr:`DdlRetry.seconds`."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.spent = 0.0

    def allows(self, lost: float, pause: float) -> bool:
        """Count a failed try that took ``lost`` s; True when a back-off of ``pause`` s still ends within the deadline."""
        self.spent += lost
        if self.spent + pause > self.seconds:
            return False
        self.spent += pause
        return True


def refusal(item: RenderedScript, error: BaseException) -> str | None:
    """The message of a maintenance-window step that refused to run, or None for any other failure.

    A refusal is: a script that is a maintenance step (:data:`songsdb.migrations.MAINTENANCE_STEPS`
    or the ``-- songsdb:maintenance-step`` header line), failing with RAISERROR's message number
    50000 whose text opens with that script's own number (``0045: ...``) and names the maintenance
    window it needs ("in a maintenance window run ..."). Anything else (a lock
    timeout, a server error, another script's message) is a failure.
    """
    if not item.script.maintenance_step or native_error_number(error) != _RAISERROR_NUMBER:
        return None
    message = server_message(error)
    match = _REFUSAL.match(message)
    if match is None or int(match.group("version")) != item.script.version:
        return None
    # and it names the window: 0043's other message ("... deploy again so that 0042 numbers them") is a
    # failure to deploy again, not a step for the DBA's runbook
    return message if "maintenance window" in message.lower() else None


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
        if any(_NO_DATABASE.search(str(arg)) for arg in exc.args):
            server, port, database = settings.endpoint()
            raise DatabaseMissing(
                f"database {database!r} does not exist on {server}:{port}, or this login may not open it "
                f"({server_message(exc)}). Check the name (SONGSDB_DATABASE, --database); to create it, run "
                "songsdb migrate --create-database (SQL Server and Managed Instance only: on Azure SQL Database, "
                "create the database first, then migrate)"
            ) from None
        raise map_database_error(exc) from None


def read_committed_snapshot(settings: Settings) -> tuple[str, bool | None]:
    """The engine, and whether ``READ_COMMITTED_SNAPSHOT`` is on in the settings' database.

    None on Babelfish, where it does not apply (PostgreSQL's readers never wait for writers), and on
    SQL Server when this login cannot see the database's row in ``sys.databases`` (every login can by
    default: VIEW ANY DATABASE is granted to public, Microsoft's "VIEW ANY DATABASE Permission").
    """
    conn = _connect(settings)
    try:
        cursor = conn.cursor()
        engine = detect_engine(str(cursor.execute("SELECT @@VERSION;").fetchone()[0]))
        if engine == "babelfish":
            return engine, None
        row = cursor.execute(
            "SELECT CAST(d.is_read_committed_snapshot_on AS int) FROM sys.databases AS d WHERE d.database_id = DB_ID();"
        ).fetchone()
        return engine, None if row is None else bool(row[0])
    finally:
        conn.close()


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

    def __init__(
        self,
        settings: Settings,
        root: Path | None = None,
        lock_timeout_ms: int = 300_000,
        ddl_lock_timeout_ms: int = DDL_LOCK_TIMEOUT_MS,
        ddl_retry: DdlRetry | None = None,
    ) -> None:
        self.settings = settings
        self.root = root
        self.lock_timeout_ms = lock_timeout_ms  # how long to wait for another migrator to finish
        self.ddl_lock_timeout_ms = ddl_lock_timeout_ms  # how long one statement waits for a lock
        # how a script that lost a lock is tried again; unless given, its deadline from the settings'
        # SONGSDB_DDL_RETRY_SECONDS, read (and checked) only by migrate (see the ddl_retry property)
        self._ddl_retry = ddl_retry
        self.lock_poll_seconds = 0.5
        self.sleep = time.sleep  # the back-off's wait (a test may replace it)
        self.database = settings.target_database
        if not _DATABASE_NAME.match(self.database):
            raise MigrationError(f"database name {self.database!r} must match {_DATABASE_NAME.pattern}")
        # per database: Babelfish shares app lock names between all its T-SQL databases
        self.lock_name = f"{LOCK_RESOURCE}.{self.database}"

    @property
    def ddl_retry(self) -> DdlRetry:
        """How a script that lost a lock is tried again: as given, else the defaults with the deadline of
        ``settings.ddl_retry_seconds`` (``SONGSDB_DDL_RETRY_SECONDS``). Only ``migrate`` reads it, so a bad
        value is a :class:`~songsdb.errors.ConfigurationError` there, before it connects, and never in
        ``status`` or ``script``, which retry nothing."""
        return self._ddl_retry or DdlRetry.from_setting(self.settings.ddl_retry_seconds)

    @ddl_retry.setter
    def ddl_retry(self, value: DdlRetry) -> None:
        self._ddl_retry = value

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

    def script(
        self, engine: str | None = None, create_database: str | None = None
    ) -> tuple[str, str, list[RenderedScript]]:
        """The DBA script and what it holds: every script rendered for ``engine`` (offline), or, with no
        ``engine``, what this database still needs (connects; ``songsdb script --pending``), its views,
        functions and procedures placed before the first pending maintenance-window step and again after the last
        versioned script that is not a contract step (:func:`songsdb.migrations.pending_order`).
        Returns the text, the engine and the scripts in the text's order (a repeatable one twice when a step is pending)."""
        if engine is not None:
            items = self.rendered(engine)
            return build_deployment_script(items, engine, create_database=create_database), engine, items
        engine, states = self.status()
        todo = {s.name for s in states if s.will_apply}
        items = pending_order(i for i in self.rendered(engine) if i.name in todo)  # in the order the text holds them
        return build_deployment_script(items, engine, create_database=create_database, pending=True), engine, items

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

    def migrate(self, create_database: bool = False) -> MigrationReport:
        """Apply every pending or changed script; refuse drift first.

        The database must exist: a missing one raises :class:`~songsdb.errors.DatabaseMissing` naming
        it, and nothing is created. ``create_database=True`` first creates it when missing (connecting
        to ``master``, so not on Azure SQL Database, where a database is made by its own tooling).
        """
        retry = self.ddl_retry  # a bad SONGSDB_DDL_RETRY_SECONDS stops here, before anything is touched
        if create_database:
            self.create_database()
        with self._locked_session() as conn:
            engine = self._engine(conn)
            items = self.rendered(engine)
            states = plan(items, self._applied(conn, create=False))
            problem = drift_message(states)
            if problem:
                raise MigrationError(problem)
            todo = {s.name for s in states if s.will_apply}
            # a pending script that would block the application is refused before anything runs
            # (songsdb.lint; an applied one is never re-linted, so a rule added later cannot block it)
            problems = [f for f in lint_rendered(items, engine) if f.file in todo]
            if problems:
                raise MigrationError(f"the migration linter refuses what would run:\n{format_findings(problems)}")
            self._guard(conn, engine, enables_rcsi=RCSI_SCRIPT in todo)  # before anything is written
            self._applied(conn, create=True)  # deploy.SchemaHistory, when missing (or without Attempts)
            clock = _RetryClock(retry.seconds)  # one deadline for every retry of this deploy
            applied: list[str] = []
            stopped: tuple[RenderedScript, str] | None = None
            for item in items:
                if item.name not in todo:
                    continue
                if stopped is not None and item.script.kind != REPEATABLE:
                    continue  # nothing versioned after a step that waits for its window
                message = self._apply(conn, item, engine, clock)
                if message is None:
                    applied.append(item.name)
                else:
                    stopped = (item, message)
            if stopped is not None:
                from songsdb.cli import command

                step, message = stopped
                log.warning("stopped at %s, a maintenance-window step: %s", step.name, message)
                raise MaintenanceStepRequired(
                    f"{step.name} is a maintenance-window step and refused to run: {message}\n"
                    f"Versioned scripts stop there; this release's views, functions and procedures were applied "
                    f"({sum(n.split('/')[0] != 'schema' for n in applied)} script(s)), and the services may run this "
                    f"release's client meanwhile. Do the step in a maintenance window as its header and the README's "
                    f"runbook (\"Songs' internal key\") say, then run {command('migrate')} again.",
                    script=step.name,
                    applied=tuple(applied),
                )
            return MigrationReport(engine, tuple(applied))

    def baseline(self, version: int) -> list[str]:
        """Record versioned scripts up to ``version`` as applied without running them (in an existing database)."""
        with self._locked_session() as conn:
            engine = self._engine(conn)
            self._guard(conn, engine, enables_rcsi=True)  # runs no script: read committed snapshot is migrate's concern
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
            conn.cursor().execute(session_settings(None, self.ddl_lock_timeout_ms))  # the engine is not known yet
            yield conn
        finally:
            conn.close()

    @contextmanager
    def _locked_session(self) -> Iterator[Any]:
        """A session holding the migrate lock (``sp_getapplock``, session-owned).

        A migrator that finds the lock taken waits *disconnected*, trying again every
        ``lock_poll_seconds`` until ``lock_timeout_ms`` have passed: a session that sat in the database
        while the other migrator ran ``0014`` would make its ``ALTER DATABASE ... SET
        READ_COMMITTED_SNAPSHOT ON WITH NO_WAIT`` fail, since that needs to be alone in the database.
        """
        deadline = time.monotonic() + self.lock_timeout_ms / 1000
        while True:
            with self._session() as conn:
                result = self._try_lock(conn)
                if result >= 0:
                    try:
                        yield conn
                    finally:
                        self._release(conn)
                    return
            left = deadline - time.monotonic()
            if left <= 0:  # -1 on SQL Server, -999 on Babelfish; every negative result means "not granted"
                raise MigrationError(
                    f"another migrator holds the lock {self.lock_name!r} (sp_getapplock returned {result}; "
                    f"waited {self.lock_timeout_ms} ms)"
                )
            time.sleep(min(self.lock_poll_seconds, left))

    def _try_lock(self, conn: Any) -> int:
        cursor = conn.cursor()
        cursor.execute(
            "DECLARE @result int;\n"
            "EXEC @result = sp_getapplock @Resource = ?, @LockMode = 'Exclusive', "
            "@LockOwner = 'Session', @LockTimeout = 0;\n"
            "SELECT @result;",
            self.lock_name,
        )
        return int(drain(cursor)[-1][0])

    def _release(self, conn: Any) -> None:
        try:
            conn.cursor().execute("EXEC sp_releaseapplock @Resource = ?, @LockOwner = 'Session';", self.lock_name)
        except Exception:  # the session is closing anyway; its lock goes with it
            log.debug("could not release %s", self.lock_name, exc_info=True)

    def _guard(self, conn: Any, engine: str, enables_rcsi: bool) -> None:
        """Run the guard rails; a refusal becomes a MigrationError with the server's message."""
        cursor = conn.cursor()
        try:
            cursor.execute(deployment_guards(engine, enables_rcsi))
            drain(cursor)
        except Exception as exc:
            if type(exc).__module__ != "pyodbc":
                raise
            raise MigrationError(f"{self.database}: {server_message(exc)}") from exc

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

    def _apply(self, conn: Any, item: RenderedScript, engine: str, clock: _RetryClock) -> str | None:
        """Run one script with its history row; None when applied, the message when a maintenance step refused.

        Every try starts from the migrator's session settings (:func:`songsdb.migrations.session_settings`,
        sent again before it: what an earlier try or script set does not carry over). A lock timeout or
        deadlock, in the script's body, on its history row or at its COMMIT, is tried again from the top,
        as :attr:`ddl_retry` says (its attempts, and one deadline for every retry of this deploy): a
        transactional script was rolled back whole, its row with it; a no-transaction one that failed in its
        body is re-entrant (it checks what is already done, as the next ``migrate`` relies on after any
        failure). A no-transaction script whose batches all ran and only its history row lost the lock is
        not run again (its work is committed, and the Babelfish arms of the index scripts are unguarded
        ``CREATE INDEX``): only its record batch is tried again, and the try counts in ``Attempts``. Only
        the last failure is recorded in deploy.SchemaHistory, with the number of tries, as the success is.
        """
        attempt = 1
        ran_ms: int | None = None  # a no-transaction script whose batches all ran: their duration (they are kept)
        while True:
            started = time.monotonic()
            try:
                self._run(conn, item, engine, attempt, ran_ms)
            except _ScriptFailed as failed:
                exc = failed.error
                if failed.ran_ms is not None:
                    ran_ms = failed.ran_ms
                self._rollback(conn)
                refused = refusal(item, exc)
                conflict = refused is None and lock_conflict(exc)
                late = False
                if conflict and attempt < self.ddl_retry.attempts:
                    pause = self.ddl_retry.delay(attempt)
                    if clock.allows(time.monotonic() - started, pause):
                        again = "its history row again: its batches ran and are kept" if ran_ms is not None else "rolled back"
                        log.warning(
                            "%s: %s lost a lock (%s); %s, trying again in %.1f s (attempt %d of %d)",
                            item.name, failed.brief, server_message(exc), again, pause, attempt + 1,
                            self.ddl_retry.attempts,
                        )
                        self.sleep(pause)
                        attempt += 1
                        continue
                    late = True
                self._record_failure(
                    conn, item, engine, started, attempt, note=None if refused is None else f"refused: {refused}"[:400]
                )
                if refused is not None:
                    return refused
                tries = f" (after {attempt} tries)" if attempt > 1 else ""
                deadline = (
                    f"; not tried again: this deploy's retries reached their deadline of {self.ddl_retry.seconds:g} s "
                    f"({RETRY_SECONDS_VARIABLE})"
                    if late
                    else ""
                )
                raise MigrationError(
                    f"{item.name}: {failed.where} failed{tries}: {server_message(exc)}{deadline}"
                    + self._paused_builds(conn, item, engine)
                ) from exc
            return None

    def _run(self, conn: Any, item: RenderedScript, engine: str, attempt: int, ran_ms: int | None = None) -> None:
        """One try of ``item``: its settings, its batches and the batch that records it.

        ``ran_ms`` (a no-transaction script whose batches all ran on an earlier try, whose history row then
        lost a lock): the batches are not run again (what they did is committed, and the Babelfish arms of
        the index scripts are unguarded CREATE INDEX, which fails when run twice); only the settings and the
        record batch are, with the batches' duration.
        """
        cursor = conn.cursor()
        transactional = item.script.transactional
        started = time.monotonic()
        batches = item.batches
        count = len(batches)
        try:
            cursor.execute(session_settings(engine, self.ddl_lock_timeout_ms))  # before every try of every script
            if transactional:
                cursor.execute("BEGIN TRANSACTION;")
        except Exception as exc:
            raise _ScriptFailed(exc, "its session settings", ran_ms=ran_ms) from exc
        if ran_ms is None or transactional:
            for number, batch in enumerate(batches, start=1):
                try:
                    for _ in range(batch.repeat):
                        cursor.execute(batch.sql)
                        drain(cursor)
                except Exception as exc:
                    raise _ScriptFailed(
                        exc, f"batch {number} of {count} (starting at line {batch.start_line})",
                        f"batch {number} (line {batch.start_line})",
                    ) from exc
            duration = int((time.monotonic() - started) * 1000)
        else:
            duration = ran_ms
        insert = history_insert(item, success=True, duration_ms=duration, attempts=attempt)
        try:  # the row and the COMMIT are part of the try: a failure here rolls the script back like one in its body
            cursor.execute(record_batch(item, insert, engine, self.ddl_lock_timeout_ms))
            drain(cursor)
        except Exception as exc:
            what = "its history row and COMMIT" if transactional else "its history row"
            raise _ScriptFailed(
                exc, f"{what} (after its {count} batch{'es' if count != 1 else ''})", ran_ms=None if transactional else duration
            ) from exc
        log.info("applied %s in %d ms", item.name, duration)

    def _rollback(self, conn: Any) -> None:
        conn.cursor().execute("IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION;")

    def _record_failure(
        self, conn: Any, item: RenderedScript, engine: str, started: float, attempts: int, note: str | None = None
    ) -> None:
        """The failure's history row; the caller has rolled the try back (:meth:`_apply`)."""
        duration = int((time.monotonic() - started) * 1000)
        cursor = conn.cursor()
        cursor.execute(session_settings(engine, self.ddl_lock_timeout_ms))
        cursor.execute(history_insert(item, success=False, duration_ms=duration, note=note, attempts=attempts))

    def _paused_builds(self, conn: Any, item: RenderedScript, engine: str) -> str:
        """After a no-transaction script failed on SQL Server: the RESUMABLE index builds it left paused, as advice.

        A RESUMABLE online build that fails (a lock lost at its start or end, a KILL, a failover, its
        MAX_DURATION) is not rolled back: it stays paused in sys.index_resumable_operations, keeping both
        copies of the index up to date and refusing other index DDL on its table, until it is resumed
        or aborted (SQL Server 2019+ and Azure; Azure SQL aborts a paused build after a day by default).
        The index scripts resume it when they run again (0019-0021 and 0031 re-issue the same statement, 0044
        says ALTER INDEX ... RESUME), so the advice is to migrate again, or abort it.

        Only the builds of the indexes this script names (:func:`_named_indexes`) are listed, each with its
        own ABORT: a paused build of anything else (a DBA's own rebuild) is none of this deploy's business.
        """
        if engine != "sqlserver" or item.script.transactional:
            return ""
        named = _named_indexes(item.text)
        if not named:
            return ""
        try:
            cursor = conn.cursor()
            rows = cursor.execute(
                "SELECT OBJECT_SCHEMA_NAME(r.object_id), OBJECT_NAME(r.object_id), r.name, CAST(r.percent_complete AS int) "
                "FROM sys.index_resumable_operations AS r WHERE r.state = 1 ORDER BY r.start_time;"
            ).fetchall()
        except Exception:  # the view needs SQL Server 2017+; the failure above is what matters
            log.debug("could not read sys.index_resumable_operations", exc_info=True)
            return ""
        ours = [r for r in rows if (str(r[0]).lower(), str(r[1]).lower(), str(r[2]).lower()) in named]
        if not ours:
            return ""
        builds = [(f"{_quote(r[0])}.{_quote(r[1])}", _quote(r[2]), r[3]) for r in ours]
        listed = "; ".join(f"{index} on {table} ({done}% done)" for table, index, done in builds)
        aborts = " ".join(f"ALTER INDEX {index} ON {table} ABORT;" for table, index, _ in builds)
        return (
            f". A RESUMABLE index build of this script is paused, not rolled back: {listed}. It keeps both copies of the "
            f"index up to date and blocks other index changes on its table until it ends: run migrate again to resume it "
            f"(the script re-issues its build), or give it up with {aborts}"
        )


def _quote(name: object) -> str:
    return "[" + str(name).replace("]", "]]") + "]"


_NAME = r"(?:\[(?:[^\]]|\]\])+\]|\"[^\"]+\"|[A-Za-z_@#][\w@#$]*)"
_INDEX_ON = re.compile(rf"\bINDEX\s+({_NAME})\s+ON\s+({_NAME}(?:\s*\.\s*{_NAME})?)", re.IGNORECASE)
_TABLE_CONSTRAINT = re.compile(
    rf"\bALTER\s+TABLE\s+({_NAME}(?:\s*\.\s*{_NAME})?)\s+ADD\s+CONSTRAINT\s+({_NAME})", re.IGNORECASE
)


def _bare(name: str) -> str:
    name = name.strip()
    if name[:1] == "[":
        return name[1:-1].replace("]]", "]").lower()
    return name.strip('"').lower()


def _split_table(text: str) -> tuple[str, str]:
    parts = [_bare(p) for p in re.findall(_NAME, text)]
    return (parts[0], parts[1]) if len(parts) == 2 else ("dbo", parts[0])


def _named_indexes(text: str) -> set[tuple[str, str, str]]:
    """(schema, table, index), lower case, of every index ``text`` builds, rebuilds or resumes
    (``CREATE ... INDEX i ON t``, ``ALTER INDEX i ON t``, also inside ``EXEC (N'...')``) and of every
    constraint it adds (``ALTER TABLE t ADD CONSTRAINT c``, a resumable one on SQL Server 2022)."""
    from songsdb.migrations import strip_comments

    body = strip_comments(text)
    named = {(*_split_table(m.group(2)), _bare(m.group(1))) for m in _INDEX_ON.finditer(body)}
    named |= {(*_split_table(m.group(1)), _bare(m.group(2))) for m in _TABLE_CONSTRAINT.finditer(body)}
    return named


class _ScriptFailed(Exception):
    """A try of a script failed: the driver's error, and where (``batch 2 of 3 (starting at line 5)``, ``its history row``)."""

    def __init__(self, error: BaseException, where: str, brief: str | None = None, ran_ms: int | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.where = where
        self.brief = brief or where  # for the retry's log line: "batch 2 (line 5)"
        # a no-transaction script whose batches all ran (and are committed): how long they took
        self.ran_ms = ran_ms
