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
    "strip_comments",
    "references",
    "dependency_order",
    "create_database_batches",
    "build_deployment_script",
]

ENGINES = ("sqlserver", "babelfish")
VERSIONED = "versioned"
REPEATABLE = "repeatable"
_VERSIONED_NAME = re.compile(r"^(?P<version>\d{4})_[a-z0-9_]+\.sql$")
_REPEATABLE_NAME = re.compile(r"^(?P<schema>[A-Za-z_]\w*)\.(?P<object>[A-Za-z_]\w*)\.sql$")
_NO_TRANSACTION = re.compile(r"^\s*--\s*songsdb:\s*no-transaction\s*$", re.IGNORECASE | re.MULTILINE)
_REPEATABLE_FOLDERS = ("functions", "views", "procs")

HISTORY_TABLE = "deploy.SchemaHistory"

# SQL Server stores ANSI_NULLS and QUOTED_IDENTIFIER with every procedure and view it creates, and
# filtered indexes need these set to create them or write through them. ODBC drivers turn most of
# them on; classic sqlcmd leaves QUOTED_IDENTIFIER OFF unless given -I. So every session the
# migrator opens, and the top of every DBA script, sets the full list SSDT's scripts open with.
SESSION_OPTIONS = (
    "SET ANSI_NULLS, ANSI_PADDING, ANSI_WARNINGS, ARITHABORT, CONCAT_NULL_YIELDS_NULL, QUOTED_IDENTIFIER ON;\n"
    "SET NUMERIC_ROUNDABORT OFF;\n"
)

# Run before anything else, by `migrate` and at the top of every `script`.
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
        CONSTRAINT PK_SchemaHistory PRIMARY KEY (Id),
        CONSTRAINT CK_SchemaHistory_Kind CHECK (Kind IN ('versioned', 'repeatable'))
    );
    CREATE INDEX IX_SchemaHistory_ScriptName ON deploy.SchemaHistory (ScriptName, Id);
END;
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
    """Every script in apply order: versioned by number, then the repeatable ones in dependency order."""
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
    return scripts + dependency_order(repeatable)


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
    """Render ``script`` with Jinja2; an unknown variable is an error naming the file and line."""
    import jinja2

    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)
    try:
        text = environment.from_string(normalise(script.source)).render(**context)
    except jinja2.TemplateSyntaxError as exc:
        raise MigrationError(f"{script.name}, line {exc.lineno}: template error: {exc.message}") from None
    except jinja2.UndefinedError as exc:
        raise MigrationError(f"{script.name}: template error: {exc.message}") from None
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
    item: RenderedScript, success: bool, duration_ms: int | None = None, note: str | None = None
) -> str:
    """The statement that records ``item`` in deploy.SchemaHistory (values are literals, for the DBA script)."""
    version = "NULL" if item.script.version is None else str(item.script.version)
    duration = "NULL" if duration_ms is None else str(int(duration_ms))
    return (
        "INSERT INTO deploy.SchemaHistory (ScriptName, Kind, Version, Checksum, DurationMs, Success, Note)\n"
        f"VALUES ({_literal(item.name)}, '{item.script.kind}', {version}, '{item.checksum}', "
        f"{duration}, {1 if success else 0}, {_literal(note)});\n"
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


def build_deployment_script(
    items: Iterable[RenderedScript],
    engine: str,
    generated_at: datetime | None = None,
    create_database: str | None = None,
) -> str:
    """One sqlcmd-compatible file: exactly the batches ``migrate`` runs for ``items``, in order.

    It opens with the session options SQL Server needs (:data:`SESSION_OPTIONS`), so plain
    ``sqlcmd -b -d <database> -i <file>`` (QUOTED_IDENTIFIER OFF by default) creates every object
    with the right settings. With ``create_database`` it first creates that database when missing
    and switches to it, so it also runs from an empty server (``sqlcmd -b -i <file>``).
    """
    stamp = (generated_at or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")
    items = list(items)
    run = "sqlcmd -b -I -i <this file>" if create_database else "sqlcmd -b -I -d <database> -i <this file>"
    out = [
        f"-- songsdb deployment script for engine {engine!s}, generated {stamp}\n",
        f"-- {len(items)} script(s). Run with: {run}\n",
        SESSION_OPTIONS,
        "SET NOCOUNT ON;\nSET XACT_ABORT ON;\nGO\n",
    ]
    if create_database:
        out.append(create_database_batches(create_database))
    out += [HISTORY_BOOTSTRAP, "GO\n"]
    for item in items:
        mode = "in one transaction" if item.script.transactional else "WITHOUT a transaction (header opts out)"
        out.append(f"\n-- ===== {item.name} ({item.script.kind}, sha256 {item.checksum}), {mode}\n")
        if item.script.transactional:
            out.append("BEGIN TRANSACTION;\nGO\n")
        for batch in item.batches:
            text = batch.text if batch.text.endswith("\n") else batch.text + "\n"
            out.append(text + _separator(batch))
        out.append(history_insert(item, success=True))
        if item.script.transactional:
            out.append("COMMIT TRANSACTION;\n")
        out.append("GO\n")
    return "".join(out)
