"""The migration scripts, read-only: discovery, ordering, rendering, checksums and plans.

Nothing in this module talks to a server; :mod:`songsdb.migrator` applies what
it plans, and ``songsdb script`` prints it for a DBA.

Layout (under the ``sql`` folder):

* ``schema/NNNN_description.sql`` — versioned, applied once, in number order,
  never edited after release (an edited one is refused).
* ``views/schema.Name.sql`` then ``procs/schema.Name.sql`` — repeatable, one
  object each, re-applied whenever their checksum changes.

A script whose header holds the line ``-- songsdb:no-transaction`` runs
outside a transaction (for statements SQL Server refuses inside one).

Every deployment, by ``migrate`` or by a DBA's script, first passes the guard rails of
:func:`deployment_guards` (never a system database; on SQL Server the compatibility level,
dbo owning the schemas, read committed snapshot) and takes lock waits of at most
:data:`DDL_LOCK_TIMEOUT_MS`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from songsdb.batches import Batch, split_batches
from songsdb.errors import MigrationError

__all__ = [
    "ENGINES",
    "Script",
    "RenderedScript",
    "AppliedRow",
    "ScriptState",
    "sql_root",
    "discover",
    "normalise",
    "checksum",
    "render",
    "plan",
    "history_insert",
    "HISTORY_BOOTSTRAP",
    "SESSION_OPTIONS",
    "session_settings",
    "record_batch",
    "strip_comments",
    "references",
    "dependency_order",
    "create_database_batches",
    "deployment_guards",
    "build_deployment_script",
    "pending_order",
    "DDL_LOCK_TIMEOUT_MS",
    "DEADLOCK_PRIORITY",
    "MAINTENANCE_STEPS",
    "RCSI_SCRIPT",
]

ENGINES = ("sqlserver", "babelfish")
VERSIONED = "versioned"
REPEATABLE = "repeatable"
_VERSIONED_NAME = re.compile(r"^(?P<version>\d{4})_[a-z0-9_]+\.sql$")
_REPEATABLE_NAME = re.compile(r"^(?P<schema>[A-Za-z_]\w*)\.(?P<object>[A-Za-z_]\w*)\.sql$")
_NO_TRANSACTION = re.compile(r"^\s*--\s*songsdb:\s*no-transaction\s*$", re.IGNORECASE | re.MULTILINE)
_MAINTENANCE_STEP = re.compile(r"^\s*--\s*songsdb:\s*maintenance-step\s*$", re.IGNORECASE | re.MULTILINE)
_AFTER_REPEATABLES = re.compile(r"^\s*--\s*songsdb:\s*after-repeatables\s*$", re.IGNORECASE | re.MULTILINE)
_REPEATABLE_FOLDERS = ("functions", "views", "procs")

HISTORY_TABLE = "deploy.SchemaHistory"

# The versioned script that turns READ_COMMITTED_SNAPSHOT on (SQL Server). Until it has run, the
# guard rails do not ask for it; after, they refuse a database where it is off again.
RCSI_SCRIPT = "schema/0014_read_committed_snapshot.sql"

# How long a deployment's statement waits for a lock before it fails with 1222 (and its script is
# rolled back, then tried again: songsdb.migrator.DdlRetry). SQL Server grants locks in order: while
# a DDL statement's Sch-M request waits behind one long transaction, every later request on that
# table waits behind it, snapshot readers' Sch-S included (a lock convoy; the DBA review of session
# 6, M3). So the wait is short: 1.5 s, below the 2 s the claim procedures give their own lock waits
# (worker.ClaimNextJob, worker.ClaimNextJobs: SET LOCK_TIMEOUT 2000), so a claim, heartbeat or read
# queued behind a waiting deploy is delayed by at most 1.5 s and never fails because of it; the
# deploy gives up, lets the queue drain during its back-off, and asks again. SET LOCK_TIMEOUT
# (Transact-SQL): "When a wait for a lock exceeds the time-out value, an error is returned"; it does
# not bound CREATE/ALTER/DROP DATABASE, which is why 0014 says WITH NO_WAIT itself. Babelfish maps it
# to PostgreSQL's lock_timeout (error 33557097, "canceling statement due to lock timeout").
DDL_LOCK_TIMEOUT_MS = 1_500

# The deploy's session is always the one a deadlock rolls back, never the application's
# (SET DEADLOCK_PRIORITY (Transact-SQL): "the session with the lower deadlock priority is chosen as
# the deadlock victim"); the migrator then tries the script again (songsdb.migrator.DdlRetry).
DEADLOCK_PRIORITY = "SET DEADLOCK_PRIORITY LOW;\n"

# Versioned scripts that stop the deploy on purpose (a step that must wait for a maintenance window
# on a large table) rather than fail: `-- songsdb:maintenance-step` in a new script's header, or
# listed here for the ones already applied somewhere (their checksums are recorded; they cannot be
# edited to carry the marker). Such a script refuses with RAISERROR (N'NNNN: ...', 16, 1) naming its
# own number, and RETURN: the migrator then stops applying versioned scripts, still applies every
# pending view, function and procedure (they must work at the schema before the step; the author of
# a step checks that), and raises naming the step (songsdb.migrator.Migrator.migrate).
MAINTENANCE_STEPS = frozenset({"schema/0043_songs_key_not_null.sql", "schema/0045_songs_clustered_on_song_key.sql"})

# SQL Server stores ANSI_NULLS and QUOTED_IDENTIFIER with every procedure and view it creates, and
# filtered indexes need these set to create them or write through them. ODBC drivers turn most of
# them on; classic sqlcmd leaves QUOTED_IDENTIFIER OFF unless given -I. So every session the
# migrator opens, and the top of every DBA script, sets the full list SSDT's scripts open with.
SESSION_OPTIONS = (
    "SET ANSI_NULLS, ANSI_PADDING, ANSI_WARNINGS, ARITHABORT, CONCAT_NULL_YIELDS_NULL, QUOTED_IDENTIFIER ON;\n"
    "SET NUMERIC_ROUNDABORT OFF;\n"
)


def session_settings(engine: str | None, lock_timeout_ms: int = DDL_LOCK_TIMEOUT_MS) -> str:
    """Every setting a deployment's session runs under: the one list, for ``migrate`` and the DBA script.

    A script may change any of them (``SET LOCK_TIMEOUT -1``, ``SET XACT_ABORT OFF``, ``SET
    IMPLICIT_TRANSACTIONS ON``, another isolation level ...), and what it sets outlives it on the
    session: the migrator therefore sends this text before every try of every script, and again
    before each script's history row (:func:`record_batch`); the DBA script opens with it and repeats
    it before every script. :data:`SESSION_OPTIONS` (how objects are created), ``NOCOUNT``,
    ``XACT_ABORT`` (an error rolls the script back), ``IMPLICIT_TRANSACTIONS OFF`` (the history row
    commits with the script, never in a transaction nobody commits), read committed, the lock
    timeout (:data:`DDL_LOCK_TIMEOUT_MS`) and, on SQL Server, :data:`DEADLOCK_PRIORITY`
    (``engine`` None, before the engine is known: not yet).
    """
    return (
        SESSION_OPTIONS
        + "SET NOCOUNT ON;\n"
        "SET XACT_ABORT ON;\n"
        "SET IMPLICIT_TRANSACTIONS OFF;\n"
        "SET TRANSACTION ISOLATION LEVEL READ COMMITTED;\n"
        f"SET LOCK_TIMEOUT {int(lock_timeout_ms)};\n"
        + (deadlock_priority(engine) if engine else "")
    )

# Run before anything else, by `migrate` and at the top of every `script`. The history is the
# migrator's own table, made and evolved here (never by a versioned script: it must exist before the
# first one runs): Attempts (how many tries the row's run took; NULL in rows written before it, and
# for a baseline) is added, nullable, to a history made by an earlier release, a metadata-only
# change, before this deploy writes its first row.
HISTORY_BOOTSTRAP = """\
IF SCHEMA_ID(N'deploy') IS NULL
    EXEC (N'CREATE SCHEMA deploy AUTHORIZATION dbo;');
GO
IF OBJECT_ID(N'deploy.SchemaHistory', N'U') IS NULL
BEGIN
    CREATE TABLE deploy.SchemaHistory
    (
        Id int IDENTITY (1, 1) NOT NULL,
        ScriptName nvarchar(260) NOT NULL,
        Kind varchar(10) NOT NULL,
        Version int NULL,
        Checksum char(64) NOT NULL,
        AppliedAt datetime2(3) NOT NULL
            CONSTRAINT DF_SchemaHistory_AppliedAt DEFAULT (SYSUTCDATETIME()),
        AppliedBy nvarchar(128) NOT NULL
            CONSTRAINT DF_SchemaHistory_AppliedBy DEFAULT (SUSER_SNAME()),
        DurationMs int NULL,
        Success bit NOT NULL,
        Note nvarchar(400) NULL,
        Attempts int NULL,
        CONSTRAINT PK_SchemaHistory PRIMARY KEY (Id),
        CONSTRAINT CK_SchemaHistory_Kind CHECK (Kind IN ('versioned', 'repeatable'))
    );
    CREATE INDEX IX_SchemaHistory_ScriptName ON deploy.SchemaHistory (ScriptName, Id);
END;
GO
IF COL_LENGTH(N'deploy.SchemaHistory', N'Attempts') IS NULL
    ALTER TABLE deploy.SchemaHistory ADD Attempts int NULL;
"""


@dataclass(frozen=True)
class Script:
    """One file under ``sql/``, as found on disk."""

    name: str  # e.g. "schema/0001_create_songs.sql"
    kind: str  # "versioned" or "repeatable"
    version: int | None
    source: str

    @property
    def transactional(self) -> bool:
        """False when the header opts out with ``-- songsdb:no-transaction``."""
        header = self.source.split("\nGO", 1)[0]
        return not _NO_TRANSACTION.search(header)

    @property
    def maintenance_step(self) -> bool:
        """True for a versioned script that may refuse to run outside a maintenance window (:data:`MAINTENANCE_STEPS`)."""
        if self.kind != VERSIONED:
            return False
        header = self.source.split("\nGO", 1)[0]
        return self.name in MAINTENANCE_STEPS or bool(_MAINTENANCE_STEP.search(header))

    @property
    def after_repeatables(self) -> bool:
        """True for a versioned script whose header says ``-- songsdb:after-repeatables``: a contract step.

        It is applied after the release's views, functions and procedures, not before them with the
        other versioned scripts: it cuts what only the previous release's code uses (a permission the
        new procedures no longer need), so during a deploy no call of the previous release's
        procedures meets it, and every call of this release's does.
        """
        if self.kind != VERSIONED:
            return False
        header = self.source.split("\nGO", 1)[0]
        return bool(_AFTER_REPEATABLES.search(header))


@dataclass(frozen=True)
class RenderedScript:
    """A script rendered for one engine, with the checksum of what will run."""

    script: Script
    text: str
    checksum: str

    @property
    def name(self) -> str:
        """The script's name, e.g. ``procs/api.GetSong.sql``."""
        return self.script.name

    @property
    def batches(self) -> list[Batch]:
        """Its non-empty batches, in order."""
        return [b for b in split_batches(self.text) if not b.is_empty]


@dataclass(frozen=True)
class AppliedRow:
    """The latest successful history row of one script."""

    name: str
    kind: str
    checksum: str


@dataclass(frozen=True)
class ScriptState:
    """What ``status`` says of one script.

    ``state`` is one of: ``applied``; ``pending`` (never applied); ``changed``
    (a repeatable script whose file differs from what was applied: it will be
    re-applied); ``edited`` (a versioned script whose file differs: drift,
    refused); ``missing`` (in the history, but no longer on disk: drift).
    """

    name: str
    kind: str
    state: str
    file_checksum: str | None
    applied_checksum: str | None

    @property
    def is_drift(self) -> bool:
        """True for states that stop a migration."""
        return self.state in ("edited", "missing")

    @property
    def will_apply(self) -> bool:
        """True for states that ``migrate`` applies."""
        return self.state in ("pending", "changed")


def sql_root() -> Path:
    """The folder holding schema/, views/ and procs/ (installed copy, else the source tree)."""
    packaged = Path(__file__).resolve().parent / "sql"
    if packaged.is_dir():
        return packaged
    source_tree = Path(__file__).resolve().parent.parent / "sql"
    if source_tree.is_dir():
        return source_tree
    raise MigrationError(f"no sql folder found at {packaged} or {source_tree}")


def discover(root: Path | None = None) -> list[Script]:
    """Every script in apply order: versioned by number, then the repeatable ones in dependency order, then
    the versioned contract steps (``-- songsdb:after-repeatables``) by number."""
    root = root or sql_root()
    versioned: dict[int, Script] = {}
    for path in sorted((root / "schema").glob("*.sql")):
        match = _VERSIONED_NAME.match(path.name)
        if not match:
            raise MigrationError(f"schema/{path.name}: versioned scripts are named NNNN_lower_case_words.sql")
        version = int(match.group("version"))
        if version in versioned:
            raise MigrationError(f"schema/{path.name}: version {version:04d} is also used by {versioned[version].name}")
        versioned[version] = Script(f"schema/{path.name}", VERSIONED, version, _read(path))
    scripts = [versioned[v] for v in sorted(versioned)]
    repeatable = []
    for folder in _REPEATABLE_FOLDERS:
        for path in sorted((root / folder).glob("*.sql"), key=lambda p: p.name.lower()):
            if not _REPEATABLE_NAME.match(path.name):
                raise MigrationError(f"{folder}/{path.name}: repeatable scripts are named schema.Object.sql")
            repeatable.append(Script(f"{folder}/{path.name}", REPEATABLE, None, _read(path)))
    before = [s for s in scripts if not s.after_repeatables]
    after = [s for s in scripts if s.after_repeatables]
    return before + dependency_order(repeatable) + after


def object_name(script: Script) -> str:
    """``procs/api.GetSong.sql`` defines ``api.getsong`` (lower case: names compare case-insensitively)."""
    return script.name.rsplit("/", 1)[-1][: -len(".sql")].lower()


def strip_comments(text: str) -> str:
    """``text`` without ``--`` and (nested) ``/* */`` comments; strings and [identifiers] are kept."""
    out: list[str] = []
    i, n, depth = 0, len(text), 0
    while i < n:
        pair = text[i : i + 2]
        if depth:
            if pair == "/*":
                depth, i = depth + 1, i + 2
            elif pair == "*/":
                depth, i = depth - 1, i + 2
            else:
                i += 1
            continue
        if pair == "/*":
            depth, i = 1, i + 2
        elif pair == "--":
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif text[i] in "'[":
            close = "'" if text[i] == "'" else "]"
            j = i + 1
            while j < n:
                if text[j] == close and text[j + 1 : j + 2] == close:
                    j += 2
                elif text[j] == close:
                    break
                else:
                    j += 1
            out.append(text[i : j + 1])
            i = j + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


_OBJECT_REFERENCE = re.compile(r"\b([A-Za-z_]\w*)\.([A-Za-z_]\w*)\b")
_STRING_LITERAL = re.compile(r"N?'(?:[^']|'')*'")


def references(script: Script, known: Iterable[str]) -> set[str]:
    """The objects among ``known`` (lower-case ``schema.name``) that ``script``'s code names, itself excluded.

    Comments and string literals do not count: only code that runs calls or reads an object.
    """
    wanted = set(known) - {object_name(script)}
    # a name inside a string (an audit entity, OBJECT_ID(N'...'), a message) is data, not a call
    code = _STRING_LITERAL.sub("''", strip_comments(script.source))
    return {f"{a}.{b}".lower() for a, b in _OBJECT_REFERENCE.findall(code)} & wanted


def dependency_order(scripts: list[Script]) -> list[Script]:
    """Repeatable scripts ordered so that each comes after every object its code uses.

    Helpers come before the procedures that call them, views before the procedures that read them,
    so a deploy never leaves a caller pointing at an old helper. Ties keep the given order (views,
    then procedures, by name). A cycle is an error naming its scripts.
    """
    by_name = {object_name(s): s for s in scripts}
    needs = {object_name(s): references(s, by_name) for s in scripts}
    ordered: list[Script] = []
    done: set[str] = set()
    while len(ordered) < len(scripts):
        ready = [s for s in scripts if object_name(s) not in done and needs[object_name(s)] <= done]
        if not ready:
            stuck = sorted(s.name for s in scripts if object_name(s) not in done)
            raise MigrationError(f"repeatable scripts depend on each other in a cycle: {', '.join(stuck)}")
        first = ready[0]
        ordered.append(first)
        done.add(object_name(first))
    return ordered


def _read(path: Path) -> str:
    return path.read_bytes().decode("utf-8-sig")


def normalise(text: str) -> str:
    """Text with any BOM removed and line endings turned into ``\\n``."""
    return text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def checksum(text: str) -> str:
    """SHA-256 (hex) of the normalised text."""
    return hashlib.sha256(normalise(text).encode("utf-8")).hexdigest()


def render(script: Script, context: Mapping[str, object]) -> RenderedScript:
    """Render ``script`` with Jinja2; an unknown variable is an error naming the file and line.

    A sqlcmd command (``:setvar``, ``:r``, ``:on error``...) in a script is refused: the migrator is
    not sqlcmd and would run the script without it, so the file would mean two things.
    """
    import jinja2

    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)
    try:
        text = environment.from_string(normalise(script.source)).render(**context)
    except jinja2.TemplateSyntaxError as exc:
        raise MigrationError(f"{script.name}, line {exc.lineno}: template error: {exc.message}") from None
    except jinja2.UndefinedError as exc:
        raise MigrationError(f"{script.name}: template error: {exc.message}") from None
    for batch in split_batches(text):
        if batch.commands:
            raise MigrationError(
                f"{script.name}, batch starting at line {batch.start_line}: sqlcmd command {batch.commands[0]!r}; "
                "scripts under sql/ are plain T-SQL (the deployment script adds what sqlcmd needs)"
            )
    return RenderedScript(script, text, checksum(text))


def template_context(engine: str, database: str) -> dict[str, object]:
    """What every script may use: ``engine`` ("sqlserver" or "babelfish") and ``database``."""
    if engine not in ENGINES:
        raise MigrationError(f"engine must be one of {', '.join(ENGINES)} (got {engine!r})")
    return {"engine": engine, "database": database}


def plan(rendered: Iterable[RenderedScript], applied: Iterable[AppliedRow]) -> list[ScriptState]:
    """Compare the files with the history; pure, so ``status`` and ``migrate`` agree."""
    history = {row.name: row for row in applied}
    states: list[ScriptState] = []
    for item in rendered:
        row = history.pop(item.name, None)
        if row is None:
            state = "pending"
        elif row.checksum == item.checksum:
            state = "applied"
        elif item.script.kind == VERSIONED:
            state = "edited"
        else:
            state = "changed"
        states.append(ScriptState(item.name, item.script.kind, state, item.checksum, row.checksum if row else None))
    for row in history.values():
        state = "retired" if row.kind == REPEATABLE else "missing"
        states.append(ScriptState(row.name, row.kind, state, None, row.checksum))
    return states


def drift_message(states: Iterable[ScriptState]) -> str | None:
    """One line per drifting script, or None when there is none."""
    lines = []
    for s in states:
        if s.state == "edited":
            lines.append(
                f"{s.name} was edited after it was applied "
                f"(applied checksum {s.applied_checksum}, file checksum {s.file_checksum}); "
                "versioned scripts are never edited: add a new script instead"
            )
        elif s.state == "missing":
            lines.append(f"{s.name} is in deploy.SchemaHistory but no longer on disk")
    return "\n".join(lines) or None


def _literal(value: str | None) -> str:
    return "NULL" if value is None else "N'" + value.replace("'", "''") + "'"


def history_insert(
    item: RenderedScript,
    success: bool,
    duration_ms: int | None = None,
    note: str | None = None,
    attempts: int | None = None,
) -> str:
    """The statement that records ``item`` in deploy.SchemaHistory (values are literals, for the DBA script).

    ``attempts``: how many tries the run took (None leaves the column out: a baseline, which runs nothing).
    """
    version = "NULL" if item.script.version is None else str(item.script.version)
    duration = "NULL" if duration_ms is None else str(int(duration_ms))
    columns, tries = ("DurationMs, Attempts", f"{duration}, {int(attempts)}") if attempts is not None else ("DurationMs", duration)
    return (
        f"INSERT INTO deploy.SchemaHistory (ScriptName, Kind, Version, Checksum, {columns}, Success, Note)\n"
        f"VALUES ({_literal(item.name)}, '{item.script.kind}', {version}, '{item.checksum}', "
        f"{tries}, {1 if success else 0}, {_literal(note)});\n"
    )


def record_batch(item: RenderedScript, insert: str, engine: str | None, lock_timeout_ms: int = DDL_LOCK_TIMEOUT_MS) -> str:
    """The batch that ends a script: its settings again, a check that it left no transaction open, ``insert``, COMMIT.

    The same batch in ``migrate`` (inside the retry: a lock lost on deploy.SchemaHistory or a failed
    COMMIT rolls the script back like a failure in its body) and in the DBA script. The settings come
    first so that what the script set (a lock timeout of -1, IMPLICIT_TRANSACTIONS ON) does not
    decide how its row is written; a script that left a transaction open (a BEGIN TRANSACTION without
    its COMMIT, or IMPLICIT_TRANSACTIONS ON in a script without one) fails here, and its work is rolled
    back rather than committed with the row, or left for nobody to commit.
    """
    expected = 1 if item.script.transactional else 0
    shown = item.name.replace("'", "''")
    return (
        session_settings(engine, lock_timeout_ms)
        + f"IF @@TRANCOUNT <> {expected}\n"
        "BEGIN\n"
        f"    DECLARE @Open int = @@TRANCOUNT - {expected};\n"
        f"    RAISERROR (N'songsdb: {shown} left %d transaction(s) open (one it began and did not commit, or "
        "IMPLICIT_TRANSACTIONS ON): a script must commit what it begins. It is not recorded as applied; what it did since its "
        "transaction opened is rolled back.', 16, 1, @Open);\n"
        "    RETURN;\n"
        "END;\n"
        + insert
        + ("COMMIT TRANSACTION;\n" if item.script.transactional else "")
    )


def _separator(batch: Batch) -> str:
    return "GO\n" if batch.repeat == 1 else f"GO {batch.repeat}\n"


def create_database_batches(database: str) -> str:
    """The batches that create ``database`` when it is missing and switch to it (for ``script --create-database``)."""
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$", database):
        raise MigrationError(f"database name {database!r} must be letters, digits and underscores")
    return (
        f"IF DB_ID(N'{database}') IS NULL\n    CREATE DATABASE [{database}];\nGO\n"
        f"USE [{database}];\nGO\n"
    )


def deployment_guards(engine: str, enables_rcsi: bool) -> str:
    """One batch that refuses to deploy where songsdb cannot work; ``migrate`` runs it, every script holds it.

    * Never into ``master``, ``model``, ``msdb`` or ``tempdb`` (a forgotten ``sqlcmd -d`` lands in the
      login's default database, typically master).
    * SQL Server only, where its catalog views say what Babelfish's do not (Babelfish reports
      compatibility level 120 and its own schema owners, has no ownership chaining, and its
      PostgreSQL readers never wait for writers):

      - compatibility level 130 or higher (``OPENJSON`` needs it; 150, SQL Server 2019, is
        recommended: table variable deferred compilation plans the procedures' table variables);
      - ``dbo`` owns the ``api``, ``worker``, ``ops``, ``core`` and ``deploy`` schemas and no object in
        them or in ``dbo`` has another owner: the duty roles reach the tables only through ownership
        chaining, which an ``ALTER AUTHORIZATION`` would silently break;
      - ``READ_COMMITTED_SNAPSHOT`` is on, unless this deployment applies :data:`RCSI_SCRIPT`
        (``enables_rcsi``), which turns it on.

    A failed check is ``RAISERROR`` severity 16 (message 50000, outside the catalogue the client maps:
    this is the DBA's error, not the application's) and the batch stops: sqlcmd's ``-b`` or
    ``:on error exit`` stop the script there, ``migrate`` raises it.
    """
    if engine not in ENGINES:
        raise MigrationError(f"engine must be one of {', '.join(ENGINES)} (got {engine!r})")
    systems = ", ".join(f"N'{name}'" for name in ("master", "model", "msdb", "tempdb"))
    out = [
        "-- guard rails (songsdb/migrations.py, deployment_guards): refuse to deploy where songsdb cannot work\n",
        "DECLARE @Database nvarchar(128) = DB_NAME();\n",
        f"IF @Database IN ({systems})\n",
        "BEGIN\n",
        "    RAISERROR (N'songsdb: refusing to deploy into the system database %s. Connect to the application "
        "database (sqlcmd -d <database>), or make the script with songsdb script --create-database <name>.', "
        "16, 1, @Database);\n",
        "    RETURN;\n",
        "END;\n",
    ]
    if engine == "sqlserver":
        out += [
            "DECLARE @Level int = (SELECT d.compatibility_level FROM sys.databases AS d WHERE d.database_id = DB_ID());\n",
            "IF @Level < 130\n",
            "BEGIN\n",
            "    RAISERROR (N'songsdb: database %s is at compatibility level %d; songsdb needs 130 or higher "
            "(OPENJSON), 150 or higher recommended: ALTER DATABASE CURRENT SET COMPATIBILITY_LEVEL = 150;', "
            "16, 1, @Database, @Level);\n",
            "    RETURN;\n",
            "END;\n",
            "IF @Level < 150\n",
            "    RAISERROR (N'songsdb: warning: compatibility level %d; 150 or higher is recommended (table variable "
            "deferred compilation plans the procedures'' table variables).', 10, 1, @Level) WITH NOWAIT;\n",
            "DECLARE @Object nvarchar(300);\n",
            "DECLARE @Owner nvarchar(128);\n",
            "SELECT TOP (1)\n",
            "    @Object = s.name,\n",
            "    @Owner = USER_NAME(s.principal_id)\n",
            "FROM sys.schemas AS s\n",
            "WHERE\n",
            "    s.name IN (N'api', N'worker', N'ops', N'core', N'deploy')\n",
            "    AND s.principal_id <> DATABASE_PRINCIPAL_ID(N'dbo')\n",
            "ORDER BY s.name;\n",
            "IF @Object IS NOT NULL\n",
            "BEGIN\n",
            "    RAISERROR (N'songsdb: schema %s is owned by %s, not dbo: the duty roles reach the tables only through "
            "ownership chaining, which needs dbo to own every schema (ALTER AUTHORIZATION ON SCHEMA::%s TO dbo;).', "
            "16, 1, @Object, @Owner, @Object);\n",
            "    RETURN;\n",
            "END;\n",
            "SELECT TOP (1)\n",
            "    @Object = CONCAT(s.name, N'.', o.name),\n",
            "    @Owner = USER_NAME(o.principal_id)\n",
            "FROM sys.objects AS o\n",
            "INNER JOIN sys.schemas AS s\n",
            "    ON o.schema_id = s.schema_id\n",
            "WHERE\n",
            "    s.name IN (N'dbo', N'api', N'worker', N'ops', N'core', N'deploy')\n",
            "    AND o.principal_id IS NOT NULL\n",
            "    AND o.principal_id <> DATABASE_PRINCIPAL_ID(N'dbo')\n",
            "    AND o.is_ms_shipped = 0\n",
            "ORDER BY s.name, o.name;\n",
            "IF @Object IS NOT NULL\n",
            "BEGIN\n",
            "    RAISERROR (N'songsdb: %s is owned by %s, not by its schema''s owner dbo: that breaks the ownership "
            "chain the duty roles depend on (ALTER AUTHORIZATION ON OBJECT::%s TO SCHEMA OWNER;).', "
            "16, 1, @Object, @Owner, @Object);\n",
            "    RETURN;\n",
            "END;\n",
        ]
        if not enables_rcsi:
            out += [
                "IF (SELECT d.is_read_committed_snapshot_on FROM sys.databases AS d WHERE d.database_id = DB_ID()) = 0\n",
                "BEGIN\n",
                f"    RAISERROR (N'songsdb: READ_COMMITTED_SNAPSHOT is OFF in database %s, and this deployment does not "
                f"include {RCSI_SCRIPT}, which turns it on: the claim and the readers assume it. Turn it on while no "
                "other session is in the database: ALTER DATABASE CURRENT SET READ_COMMITTED_SNAPSHOT ON WITH NO_WAIT;', "
                "16, 1, @Database);\n",
                "    RETURN;\n",
                "END;\n",
            ]
    return "".join(out)


# A client that ignores ":on error exit" (SSMS or Azure Data Studio outside SQLCMD mode, most other
# tools) fails to parse the script's first batch, so that batch's SET XACT_ABORT ON never runs, and
# carries on with the next batches anyway: a failing script would then be half applied and still
# recorded. The first batch leaves a mark in the session; the second stops everything after it when
# the mark is missing (SET NOEXEC ON: SQL Server compiles later batches but runs none, the check
# SSDT's publish scripts make for SQLCMD mode; Babelfish ignores NOEXEC, so there the error message
# is all it gives). The first batch also undoes a NOEXEC left by such a run in the same session,
# and the last batch removes the mark.
_SQLCMD_MARK = "EXEC sp_set_session_context @key = N'songsdb.deploy', @value = N'sqlcmd';\n"
_SQLCMD_UNMARK = "EXEC sp_set_session_context @key = N'songsdb.deploy', @value = NULL;\nGO\n"
_SQLCMD_CHECK = """\
IF SESSION_CONTEXT(N'songsdb.deploy') IS NULL
BEGIN
    RAISERROR (N'songsdb: run this script with sqlcmd -b (or in SQLCMD mode): its first line, :on error exit, stops it at the first error, and this client did not run that line. Nothing after this point runs.', 16, 1);
    SET NOEXEC ON;
END;
GO
"""


def deadlock_priority(engine: str) -> str:
    """:data:`DEADLOCK_PRIORITY` where it means something: SQL Server.

    Babelfish 4.2 accepts the statement and ignores it (its escape hatch
    ``babelfishpg_tsql.escape_hatch_session_settings`` is ``ignore`` by default; ``sys.dm_exec_sessions``
    still shows ``deadlock_priority`` 0 afterwards, and with the hatch set to ``strict`` it would be an
    error): PostgreSQL picks its deadlock victim by itself. So it is not sent there.
    """
    return DEADLOCK_PRIORITY if engine == "sqlserver" else ""


def build_deployment_script(
    items: Iterable[RenderedScript],
    engine: str,
    generated_at: datetime | None = None,
    create_database: str | None = None,
    pending: bool = False,
) -> str:
    """One sqlcmd file: exactly the batches ``migrate`` runs for ``items``, behind guard rails.

    In order: ``:on error exit`` (line 1: sqlcmd stops at the first error even without ``-b``); the
    session's settings (:func:`session_settings`: the options SQL Server needs, so plain ``sqlcmd -d
    <database> -i <file>``, with QUOTED_IDENTIFIER OFF by default, creates every object with the right
    settings, ``XACT_ABORT``, a lock timeout of :data:`DDL_LOCK_TIMEOUT_MS` and, on SQL Server, a low
    deadlock priority); a check that the client ran that first batch; with ``create_database``, the
    batches that create that database when missing and switch to it (so it also runs from an empty
    server: ``sqlcmd -b -i <file>``); the guard rails of :func:`deployment_guards`; the history table;
    then each script, opening with the settings again and closing with :func:`record_batch`.

    ``pending`` (``songsdb script --pending``: ``items`` are what a populated database still needs):
    when a maintenance-window step is pending, the pending views, functions and procedures come twice
    (:func:`pending_order`): before the first pending step, where ``migrate`` applies them when the step
    refuses, so a refusal, which stops sqlcmd like any error, leaves this release's procedures in place;
    and again after the last versioned script that is not a contract step, where ``migrate`` applies
    them when nothing refuses, so a run that goes through ends with the database ``migrate`` makes.
    """
    stamp = (generated_at or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")
    items = list(items)
    step = next((i for i in items if i.script.maintenance_step), None) if pending else None
    if step is not None:
        items = pending_order(items)
    run = "sqlcmd -b -I -i <this file>" if create_database else "sqlcmd -b -I -d <database> -i <this file>"
    out = [
        ":on error exit\n",
        f"-- songsdb deployment script for engine {engine!s}, generated {stamp}\n",
        f"-- {len({i.name for i in items})} script(s). Run with: {run}\n",
        f"-- SET LOCK_TIMEOUT {DDL_LOCK_TIMEOUT_MS}: a statement that waits longer for a lock fails with 1222, its script "
        "is rolled back and sqlcmd stops (line 1): run the rest again (songsdb script --pending, or songsdb migrate, which "
        "retries); a waiting DDL statement holds up the later queries on its table for at most this long\n",
        "SET NOEXEC OFF;\n",
        session_settings(engine),
        _SQLCMD_MARK,
        "GO\n",
        _SQLCMD_CHECK,
    ]
    if create_database:
        out.append(create_database_batches(create_database))
    out += [deployment_guards(engine, enables_rcsi=any(i.name == RCSI_SCRIPT for i in items)), "GO\n"]
    out += [HISTORY_BOOTSTRAP, "GO\n"]
    repeatables_early = step is not None and any(
        i.script.kind == REPEATABLE for i in items[: items.index(step)]
    )
    seen: set[str] = set()
    for item in items:
        if item is step:
            out.append(_before_step(step, repeatables_early))
        mode = "in one transaction" if item.script.transactional else "WITHOUT a transaction (header opts out)"
        out.append(f"\n-- ===== {item.name} ({item.script.kind}, sha256 {item.checksum}), {mode}\n")
        if item.name in seen:
            out.append(
                "-- again, after the versioned scripts: where songsdb migrate applies it when no step refuses, "
                "compiled against the whole schema (a second history row, same checksum)\n"
            )
        seen.add(item.name)
        if item.script.maintenance_step:
            out.append(
                "-- a maintenance-window step: where it cannot run online it refuses (RAISERROR naming its number) and the "
                "script stops here; see its header and the README's runbook\n"
            )
        out.append(session_settings(engine))
        if item.script.transactional:
            out.append("BEGIN TRANSACTION;\n")
        out.append("GO\n")
        for batch in item.batches:
            text = batch.text if batch.text.endswith("\n") else batch.text + "\n"
            out.append(text + _separator(batch))
        out.append(record_batch(item, history_insert(item, success=True, attempts=1), engine))
        out.append("GO\n")
    out.append("\n" + _SQLCMD_UNMARK)
    return "".join(out)


def pending_order(items: Iterable[RenderedScript]) -> list[RenderedScript]:
    """``items`` with the repeatable scripts twice: right before the first maintenance-window step, and
    again after the last versioned script that is not a contract step (``-- songsdb:after-repeatables``,
    which stay last).

    The first copy is the one that matters when a step refuses: sqlcmd stops there, and the database
    keeps this release's procedures, as ``migrate`` leaves it when that step refuses (at the schema of
    the versioned scripts before it, so they are written to work there: CONTRIBUTING, a step's author
    checks it). When no step refuses, the script goes on through the versioned scripts after the step,
    and the second copy re-applies the procedures on the whole schema, where ``migrate`` applies them
    when nothing refuses: a procedure, view or function compiled against an earlier schema is compiled
    again against the final one, so the database ends as ``migrate`` leaves it. Each copy writes its
    history row (same checksum: ``status`` reads the latest success, so the script is just "applied").
    Without a pending step the order is ``migrate``'s. Idempotent: ``items`` already in this order (a
    second copy of a script) come back unchanged.
    """
    unique: dict[str, RenderedScript] = {}
    for item in items:
        unique.setdefault(item.name, item)
    ordered = list(unique.values())
    step = next((i for i in ordered if i.script.maintenance_step), None)
    if step is None:
        return ordered
    repeatable = [i for i in ordered if i.script.kind == REPEATABLE]
    versioned = [i for i in ordered if i.script.kind != REPEATABLE and not i.script.after_repeatables]
    contract = [i for i in ordered if i.script.kind != REPEATABLE and i.script.after_repeatables]
    if step not in versioned:  # a contract step that is also a maintenance step: it stays after the repeatables
        return versioned + repeatable + contract
    at = versioned.index(step)
    return versioned[:at] + repeatable + versioned[at:] + repeatable + contract


def _before_step(step: RenderedScript, repeatables_early: bool) -> str:
    """A PRINT, before a pending maintenance step, of what happens next and what to do."""
    done = (
        "This release''s views, functions and procedures were applied just above, at the schema before the step "
        "(and are applied again after the versioned scripts when the step runs). "
        if repeatables_early
        else ""
    )
    message = (
        f"songsdb: next is {step.name}, a maintenance-window step. Where it cannot run online it refuses and this "
        f"script stops there (exit code 1), everything above applied and recorded. {done}Then do the step in a "
        "maintenance window as its header and the README''s runbook say, and run songsdb script --pending (or songsdb "
        "migrate) again for the rest."
    )
    return (
        f"\n-- ===== before {step.name}: "
        + ("this release's views, functions and procedures came first, " if repeatables_early else "")
        + "as songsdb migrate applies them when the step refuses\n"
        f"PRINT N'{message}';\nGO\n"
    )
