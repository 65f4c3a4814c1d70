"""A migration linter for T-SQL: the versioned scripts that would take the application offline.

Squawk does this for PostgreSQL migrations. Each rule names an operation that, on a populated
database, blocks readers or writers for longer than a moment, or cuts off code that is still
running (the DBA review of 0008-0013, finding B3, met most of them by hand), says which lock it
takes on what and for how long, and the online form. Nothing here talks to a server.

* Versioned scripts (``schema/``) get every rule in :data:`RULES`. Tables a script creates
  itself are new and empty, so only tables created by earlier scripts count as *existing*.
* Repeatable scripts (procedures, views, functions) are re-created on every change; the one
  thing linted there is table DDL (``ALTER TABLE``, ``DROP TABLE`` on a non-temporary table).
* ``-- songsdb:lint-ok <rule> <reason>`` on a statement's first line, or the line just above
  it, suppresses that rule for that statement (``<rule>,<rule>`` several rules, for one reason
  that covers them all: a statement may have more findings than it has lines for markers). The reason is required: a lint-ok without one
  suppresses nothing and is a finding itself.
* Scripts already applied in production (:data:`GRANDFATHERED`) cannot be edited, so they are
  not linted; one whose source no longer has its recorded checksum is a finding. A script already
  on main when a later rule came that flags it is exempt from that one rule (:data:`EXEMPT`), by
  checksum too.

A finding's line is 1-based in the *rendered* text (Jinja applied for the engine), which is
what runs and what the deployment script shows; a Jinja block that renders to nothing moves the
lines after it up.

How it reads T-SQL, and its limits (there is no grammar; this is a tokenizer and keyword
patterns, small enough to read):

* The rendered text is split into batches on ``GO`` (:func:`songsdb.batches.split_batches`), then
  tokenized: comments dropped (``--`` and nested ``/* */``; like
  :func:`songsdb.migrations.strip_comments`, but keeping line numbers), strings and ``[...]`` or
  ``"..."`` identifiers kept whole.
* A statement of interest starts at ``CREATE [UNIQUE] [[NON]CLUSTERED] [COLUMNSTORE] INDEX``,
  ``CREATE TABLE``, ``ALTER TABLE``, ``ALTER INDEX``, ``DROP TABLE|INDEX|PROCEDURE|VIEW|FUNCTION``,
  ``TRUNCATE TABLE``, ``GRANT``, ``REVOKE`` or ``DENY``, wherever it stands (after ``IF ...``,
  ``BEGIN`` or ``ELSE`` too), and ends at ``;``, at the next such start, at a keyword that can only
  begin another statement (``IF``, ``ELSE``, ``BEGIN``, ``END``, ``SELECT``, ``EXEC`` ...) outside
  parentheses, or at the end of its batch.
* Dynamic SQL is read when it is one literal: ``EXEC (N'...')`` and ``EXEC sp_executesql N'...'``;
  a string built from pieces or variables is not seen.
* The body of a ``CREATE``/``ALTER PROCEDURE``, ``VIEW``, ``FUNCTION`` or ``TRIGGER`` in a
  versioned script runs when called, not when deployed, and is skipped.
* Branches are not evaluated: an index built in both arms of an ``IF ... ELSE`` counts once (by
  its name), and each arm is linted on its own (an offline fallback for Standard edition needs a
  lint-ok saying so).
* What a default costs is judged by name: ``NEWID``, ``NEWSEQUENTIALID``, ``RAND``,
  ``CRYPT_GEN_RANDOM`` and user functions (``schema.fn(...)``) are not runtime constants; literals
  and ``SYSUTCDATETIME()``-like functions are. A LOB column (``varchar(max)``, ``nvarchar(max)``,
  ``varbinary(max)``, ``xml``, ``text``, ``ntext``, ``image``, ``geography``, ``geometry``,
  ``hierarchyid``, and the ISO synonyms such as ``national character varying(max)``) added NOT NULL or WITH VALUES with a default is written into every row on every
  edition, guarded or not. Not seen: CLR and ``sql_variant`` columns, ``IDENTITY`` and ``PERSISTED``
  computed columns added to an existing table (each fills every row), dropping a clustered
  primary key (rewrites the table as a heap), ``SELECT ... INTO`` as creating a table, and tables
  that are small enough not to matter (say so in a lint-ok).
* The edition is seen only where a statement sits in an ``IF`` whose every ``OR``-ed part compares
  ``SERVERPROPERTY('EngineEdition')`` with 3, 5 or 8 (``= 3``, ``IN (5, 8)``; not negated: ``NOT``,
  ``<>`` and ``NOT IN`` let the other editions through; nor inside ``IIF(...)`` or ``CASE ... END``, whose
  value the ``IF`` compares), found by reading back over ``BEGIN ... END`` blocks, ``;`` and statement
  keywords (a statement after an ``IF``'s ``BEGIN ... END``, or after its one-statement arm written
  without ``;``, is not in it): a column added ``NOT NULL`` (or ``WITH VALUES``) with a
  constant default outside one is a finding (written into every row on Standard and Express); an
  edition held in a variable is not recognised (say so in a lint-ok).
* ``SET XACT_ABORT OFF``, ``SET LOCK_TIMEOUT``, ``SET IMPLICIT_TRANSACTIONS ON`` and ``SET DEADLOCK_PRIORITY`` are
  seen at a versioned script's own level (not in a module body nor in dynamic SQL, where SQL Server
  reverts them when it ends); a value held in a variable (``SET LOCK_TIMEOUT @t``) counts too.
* Also not seen: data changes (a large ``UPDATE`` backfill in the script's transaction), ``sp_rename`` (a
  contract step like a drop), ``ALTER DATABASE`` and ``CREATE TRIGGER``.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from songsdb.batches import split_batches
from songsdb.errors import MigrationError
from songsdb.migrations import (
    ENGINES,
    VERSIONED,
    RenderedScript,
    Script,
    checksum,
    discover,
    object_name,
    references,
    render,
    template_context,
)

__all__ = ["RULES", "GRANDFATHERED", "EXEMPT", "Finding", "lint", "lint_rendered", "lint_all", "grandfathered_in", "format_findings", "main"]

RULES: Mapping[str, str] = {
    "offline-index": "an index build on an existing table without ONLINE = ON locks the table for the whole build",
    "index-in-transaction": "an index build inside the script's transaction holds its locks until the script commits",
    "one-index-per-script": "a no-transaction script that builds two indexes is left half-applied when the second fails",
    "several-ddl-in-transaction": "Sch-M locks on existing tables accumulate until the script commits",
    "check-constraint-with-check": "a CHECK or FOREIGN KEY validated WITH CHECK scans the whole table under Sch-M",
    "rewriting-alter-column": "ALTER COLUMN may rewrite every row under Sch-M",
    "add-column-not-null-nonconstant-default": "a NOT NULL column with a non-constant default (or none) rewrites every row (or fails)",
    "add-column-not-null-default-off-enterprise": (
        "a NOT NULL (or WITH VALUES) column with a constant default rewrites every row under Sch-M on Standard and Express"
    ),
    "add-lob-column-with-default": (
        "a NOT NULL (or WITH VALUES) varchar(max), nvarchar(max), varbinary(max), xml or other LOB column with a default "
        "writes it into every row under Sch-M on every edition, Enterprise and Azure SQL included"
    ),
    "drop-called-object": "a procedure, view or function dropped while code still calls it, or before its replacement exists",
    "drop-table": "a contract step: the table's data and every reader of it are gone",
    "drop-column": "a contract step: code of the previous release that names the column fails",
    "revoke-or-deny": "a contract step: every session of the role is refused from that instant",
    "table-ddl-in-repeatable": "repeatable scripts re-create code; table changes belong in a versioned script",
    "session-setting-in-versioned-script": (
        "SET XACT_ABORT OFF, SET LOCK_TIMEOUT, SET IMPLICIT_TRANSACTIONS ON or SET DEADLOCK_PRIORITY changes how the rest "
        "of the script runs (an error no longer rolls it back; a lock wait unbounded or a retry's safety gone)"
    ),
    "edited-applied-script": "a grandfathered script whose source changed after it was applied",
    "lint-ok-without-reason": "a lint-ok comment must say why the statement is safe",
}

# Versioned scripts applied in production before the linter existed: name -> checksum(Script.source).
# Recomputed by tests/unit/test_lint.py; never add a script to it that is not in production already.
GRANDFATHERED: Mapping[str, str] = {
    "schema/0001_create_interface_schema_and_role.sql": "7609bc7519403e693fcf020570e43ee314f66abc7fef129b5d9d764b6f961901",
    "schema/0002_create_songs.sql": "992cefd8fa6824975dffb664c4ac9b32cb8690114ce254820bd64b30eb26718a",
    "schema/0003_create_processing_jobs.sql": "e098508cb8764b41e350258eeeb7cb764cbc6e646e1f2b61127687655bb35479",
    "schema/0004_create_results.sql": "fdd14fd44ceb9a1f8596ce4de08bea6b3b0a0d1071ff30649760212377f55ae1",
    "schema/0005_create_audit_log.sql": "585a7339199a8997e4c74baca1c6ddf4104fc0c8966455d0d64a71d378950b77",
    "schema/0006_add_job_leases.sql": "618c4f5990635a9bece0eabd01788fcf5affbb68ab02f779879173acd1a64f83",
    "schema/0007_grant_app_role_on_babelfish.sql": "f5582df0d4bbcc9b0f0eb62471f047b8379cf8840db596596c3ddca088f7170e",
    "schema/0008_roles_by_duty.sql": "f1236436916a57171d107736cffc5e479d9e235a7f1d1178e9286972eeb885d0",
    "schema/0009_babelfish_grants_by_duty.sql": "bad6369041a5cf75b53d5bdfb6aac19eeb3948eee781c17d7f4fab874953d612",
    "schema/0010_retire_moved_procedures.sql": "e9a2f0fa2edd8e9447942cc72986af530e61d6b9a8cf047acef4ac1002b4a40d",
    "schema/0011_job_holders_public_ids_access_paths.sql": "02a615ffcdf86f88f5af88efd421a6990dba84c328391033c0b44c9e5a8a4f78",
    "schema/0012_audit_actions_by_pattern.sql": "89da99f723f831bb2d5dcd7a69cc00f14c36d53654278e5a833f7fd95304f838",
    "schema/0013_claim_by_model.sql": "030c0103cbaa93411044894414d2e814b309a685b81fe7b16182bf640210864f",
}


# Versioned scripts already on main when a rule was added that flags them: exempt from that rule only
# (every other rule still applies), as long as the source keeps its checksum. They cannot be edited to
# carry a lint-ok (the migrator records their checksums), and a pending one must not stop a deploy.
# (script, rule) -> checksum(Script.source); tests/unit/test_lint.py recomputes them.
EXEMPT: Mapping[tuple[str, str], str] = {
    # Delayed bit NOT NULL DEFAULT 0, in the script's transaction: a rewrite of dbo.ProcessingJobs under Sch-M on
    # Standard and Express, once, at this script's deploy, its wait for the lock bounded by DDL_LOCK_TIMEOUT_MS
    # (the DBA review of session 6, M2; README, "The migration linter")
    ("schema/0024_job_attempts.sql", "add-column-not-null-default-off-enterprise"): (
        "2ecf75b67d6f7beacacbb06d0324147ef5204165c1f44c22f78d284c8ccb38bf"
    ),
}


@dataclass(frozen=True, order=True)
class Finding:
    """One problem: ``file`` (e.g. ``schema/0014_x.sql``), ``line`` (1-based, in the rendered text), ``rule``, ``message``."""

    file: str
    line: int
    rule: str
    message: str


# ----- tokens and statements -------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    text: str  # as written
    word: str  # upper case, without [] or "" quoting; a symbol is itself; "" for a string literal
    line: int


_LEXEME = re.compile(
    r"(?P<space>\s+)|(?P<comment>--[^\n]*)"
    r"|(?P<string>N?'(?:[^']|'')*(?:'|\Z))"
    r"|(?P<bracket>\[(?:[^\]]|\]\])*(?:\]|\Z))|(?P<quoted>\"(?:[^\"]|\"\")*(?:\"|\Z))"
    r"|(?P<word>[#@]*[A-Za-z_][\w@$#]*|\d+(?:\.\d*)?)|(?P<symbol>::|.)",
    re.DOTALL,
)
_LINT_OK = re.compile(r"--\s*songsdb:\s*lint-ok\b[ \t]*(?P<rule>[\w-]*(?:,[\w-]+)*)[ \t]*(?P<reason>[^\n]*?)\s*$")
_START = re.compile(
    r"^(?:(?P<create_index>CREATE(?: UNIQUE)?(?: (?:NON)?CLUSTERED)?(?: COLUMNSTORE)? INDEX)"
    r"|(?P<module>(?:CREATE(?: OR ALTER)?|ALTER) (?:PROC|PROCEDURE|VIEW|FUNCTION|TRIGGER))"
    r"|(?P<create_table>CREATE TABLE)|(?P<alter_table>ALTER TABLE)|(?P<alter_index>ALTER INDEX)"
    r"|(?P<drop_table>DROP TABLE)|(?P<drop_index>DROP INDEX)|(?P<drop_object>DROP (?:PROC|PROCEDURE|VIEW|FUNCTION))"
    r"|(?P<truncate>TRUNCATE TABLE)|(?P<permission>GRANT|REVOKE|DENY))(?: |$)"
)
# keywords that only ever begin a statement (outside parentheses, and not in a permission list or ON DELETE ...)
_ENDERS = frozenset(
    "IF ELSE WHILE BEGIN END DECLARE PRINT EXEC EXECUTE RETURN THROW RAISERROR SELECT INSERT UPDATE DELETE "
    "MERGE COMMIT ROLLBACK SAVE USE WAITFOR".split()
)
_CONTINUES = frozenset({",", "WITH", "GRANT", "REVOKE", "DENY", "ON", "FOR", "."})
_DROPPED = frozenset({"TABLE", "INDEX", "PROC", "PROCEDURE", "VIEW", "FUNCTION", "TRIGGER", "COLUMN", "CONSTRAINT"})  # ... IF EXISTS
_NONCONSTANT = frozenset({"NEWID", "NEWSEQUENTIALID", "RAND", "CRYPT_GEN_RANDOM"})


@dataclass(frozen=True)
class _Statement:
    kind: str  # a group name of _START
    tokens: tuple[_Token, ...]  # from its first keyword to its end, without the ";"
    before: tuple[_Token, ...] = ()  # its batch's tokens before it (for dynamic SQL: up to the EXEC, then the string's)

    @property
    def line(self) -> int:
        return self.tokens[0].line

    @property
    def words(self) -> list[str]:
        return [t.word for t in self.tokens]


def _block_comment_end(text: str, i: int) -> int:
    depth = 0
    while i < len(text):
        pair = text[i : i + 2]
        if pair == "/*":
            depth, i = depth + 1, i + 2
        elif pair == "*/":
            depth, i = depth - 1, i + 2
            if depth == 0:
                return i
        else:
            i += 1
    return i


def _tokenize(text: str, first_line: int) -> list[_Token]:
    tokens: list[_Token] = []
    i, line = 0, first_line
    while i < len(text):
        if text.startswith("/*", i):
            end = _block_comment_end(text, i)
        else:
            match = _LEXEME.match(text, i)
            assert match is not None  # the last alternative matches any character
            end, kind, lexeme = match.end(), match.lastgroup, match.group()
            if kind in ("bracket", "quoted"):
                close = lexeme[0].replace("[", "]")
                tokens.append(_Token(lexeme, lexeme[1:].removesuffix(close).replace(close * 2, close).upper(), line))
            elif kind == "string":
                tokens.append(_Token(lexeme, "", line))
            elif kind in ("word", "symbol"):
                tokens.append(_Token(lexeme, lexeme.upper(), line))
        line += text.count("\n", i, end)
        i = end
    return tokens


def _is_string(token: _Token) -> bool:
    return token.word == "" and (token.text[:1] == "'" or token.text[:2].upper() == "N'")


def _dynamic_sql(tokens: list[_Token], i: int) -> tuple[str, int, int] | None:
    """``EXEC (N'...')`` or ``EXEC [sys.]sp_executesql [@stmt =] N'...'`` at ``i``: (its SQL, its line, tokens used)."""
    words = [t.word for t in tokens[i : i + 7]]
    if words[:1] not in (["EXEC"], ["EXECUTE"]):
        return None
    if words[1:2] == ["("] and words[3:4] == [")"]:
        at, used = 2, 4
    else:
        at = 3 if words[1:3] == ["SYS", "."] else 1
        if words[at : at + 1] != ["SP_EXECUTESQL"]:
            return None
        at += 3 if words[at + 1 : at + 3] == ["@STMT", "="] else 1
        used = at + 1
    if i + at >= len(tokens) or not _is_string(tokens[i + at]):
        return None
    literal = tokens[i + at].text
    body = literal[literal.index("'") + 1 :].removesuffix("'").replace("''", "'")
    return body, tokens[i + at].line, used


def _statements(tokens: list[_Token], skip_bodies: bool, prefix: tuple[_Token, ...] = ()) -> list[_Statement]:
    """The statements of interest in one batch's tokens, in order (see the module docstring)."""
    found: list[_Statement] = []
    current: list[_Token] = []
    kind, depth, i, began = "", 0, 0, 0
    while i < len(tokens):
        token = tokens[i]
        previous = tokens[i - 1].word if i else ""
        # "ON" continues a statement (GRANT ... ON, ... ON dbo.T), except the value of SET <option> ON
        set_on = previous == "ON" and i >= 3 and tokens[i - 3].word == "SET"
        boundary = depth == 0 and (previous not in _CONTINUES or set_on)
        start = _START.match(" ".join(t.word for t in tokens[i : i + 6])) if boundary else None
        dynamic = _dynamic_sql(tokens, i) if boundary else None
        ender = boundary and token.word in _ENDERS and not (token.word == "IF" and previous in _DROPPED)
        if token.word == ";" or start or dynamic or ender:
            if current:
                found.append(_Statement(kind, tuple(current), prefix + tuple(tokens[:began])))
            current, kind, depth = [], "", 0
        if dynamic:
            sql, line, used = dynamic
            found += _statements(_tokenize(sql, line), skip_bodies, prefix + tuple(tokens[:i]))
            i += used
            continue
        if start:
            kind = start.lastgroup or ""
            if kind == "module" and skip_bodies:
                break  # the rest of the batch is the body: it runs when called, not when deployed
            current, began = [token], i
        elif current and token.word != ";":
            current.append(token)
            depth += {"(": 1, ")": -1}.get(token.word, 0)
        i += 1
    if current:
        found.append(_Statement(kind, tuple(current), prefix + tuple(tokens[:began])))
    return found


def _name(tokens: Sequence[_Token], i: int) -> tuple[str, str, int]:
    """The (possibly dotted) name at ``i``: as written, its key (lower case, schema-qualified) and the index after it."""
    parts: list[_Token] = []
    while i < len(tokens) and tokens[i].word not in ("", "(", ")", ",", ".", "=", ";"):
        parts.append(tokens[i])
        if i + 1 < len(tokens) and tokens[i + 1].word == "." and i + 2 < len(tokens):
            i += 2
        else:
            i += 1
            break
    words = [p.word.lower() for p in parts]
    if len(words) == 1 and not words[0].startswith(("#", "@")):
        words.insert(0, "dbo")
    return ".".join(p.text for p in parts), ".".join(words[-2:]), i


def _skip_if_exists(tokens: Sequence[_Token], i: int) -> int:
    return i + 2 if [t.word for t in tokens[i : i + 2]] == ["IF", "EXISTS"] else i


def _names(tokens: Sequence[_Token], i: int) -> list[tuple[str, str]]:
    """``[IF EXISTS] a, b, ...`` from ``i``: each as written and as key."""
    out = []
    i = _skip_if_exists(tokens, i)
    while i < len(tokens):
        shown, key, i = _name(tokens, i)
        if shown:
            out.append((shown, key))
        while i < len(tokens) and tokens[i].word != ",":
            i += 1
        i += 1
    return out


def _has(tokens: Sequence[_Token], *words: str) -> bool:
    seen = [t.word for t in tokens]
    return any(seen[k : k + len(words)] == list(words) for k in range(len(seen)))


def _outside_parentheses(tokens: Sequence[_Token]) -> list[_Token]:
    kept, depth = [], 0
    for token in tokens:
        if token.word == "(":
            depth += 1
        elif token.word == ")":
            depth -= 1
        elif depth == 0:
            kept.append(token)
    return kept


def _operand(tokens: Sequence[_Token], at: int) -> list[_Token]:
    """The operand at ``at``: a literal, a (dotted) name with the call's arguments after it, or a parenthesised group."""
    end = at
    if tokens[at].word != "(":
        end += 1
        while tokens[end : end + 1] and tokens[end].word == "." and end + 1 < len(tokens):
            end += 2
    if tokens[end : end + 1] and tokens[end].word == "(":
        depth, start, end = 0, end, len(tokens)
        for k in range(start, len(tokens)):
            depth += {"(": 1, ")": -1}.get(tokens[k].word, 0)
            if depth == 0:
                end = k + 1
                break
    return list(tokens[at:end])


def _split_commas(tokens: Sequence[_Token]) -> list[list[_Token]]:
    items: list[list[_Token]] = [[]]
    depth = 0
    for token in tokens:
        depth += {"(": 1, ")": -1}.get(token.word, 0)
        if token.word == "," and depth == 0:
            items.append([])
        else:
            items[-1].append(token)
    return [item for item in items if item]


def _nonconstant_call(tokens: Sequence[_Token]) -> str | None:
    """The first function called in ``tokens`` that is not a runtime constant, or None."""
    for k in range(len(tokens) - 1):
        if tokens[k + 1].word != "(":
            continue
        if tokens[k].word in _NONCONSTANT:
            return tokens[k].text
        if k >= 2 and tokens[k - 1].word == "." and tokens[k - 2].word:  # schema.fn(...): a user function
            return f"{tokens[k - 2].text}.{tokens[k].text}"
    return None


# SERVERPROPERTY('EngineEdition'): 3 Enterprise (and Developer, Evaluation), 5 Azure SQL Database,
# 8 Azure SQL Managed Instance: the editions where adding a NOT NULL column with a runtime-constant
# default is a metadata change (ALTER TABLE (Transact-SQL), "Adding NOT NULL columns as an online
# operation": Enterprise edition); 2 Standard, 4 Express write the default into every row
_ONLINE_EDITIONS = frozenset({3, 5, 8})
_NOT_TRANSACTION_BEGIN = frozenset({"TRAN", "TRANSACTION", "DISTRIBUTED"})


# words that begin a statement, which no IF condition holds outside parentheses (IF, ELSE, WHILE, BEGIN and END
# are read by _enclosing_conditions itself)
_STATEMENT_WORDS = (_ENDERS | {"ALTER", "CREATE", "DROP", "TRUNCATE", "GRANT", "REVOKE", "DENY", "SET"}) - {
    "IF", "ELSE", "WHILE", "BEGIN", "END"
}


def _enclosing_conditions(before: Sequence[_Token]) -> list[Sequence[_Token] | None]:
    """The conditions of the IF arms around the statement that follows ``before``, innermost first (None: an ELSE arm).

    Read backwards, without a grammar: ``BEGIN ... END`` (and ``CASE ... END``) blocks closed before
    the statement are skipped, and a whole ``BEGIN ... END`` block before it, like a ``;``, means the
    statement is not in that ``IF``'s arm (``IF x BEGIN ... END ALTER TABLE ...``: the arm was the
    block); the search then moves out to the ``BEGIN`` of the block around it. So does a statement
    keyword (``PRINT``, ``EXEC``, ``ALTER`` ...) outside parentheses between the statement and an
    ``IF``: that was the ``IF``'s one-statement arm, written without its ``;``.
    """
    found: list[Sequence[_Token] | None] = []
    depth = parens = 0
    closed = False  # the statement is not in the arm of what comes next: go out to the enclosing BEGIN
    arm_end = len(before)  # where the arm of the IF being looked for starts
    for i in range(len(before) - 1, -1, -1):
        word = before[i].word
        following = before[i + 1].word if i + 1 < len(before) else ""
        previous = before[i - 1].word if i else ""
        if word == ")":
            parens += 1
        elif word == "(":
            parens -= 1
        elif parens > 0:
            continue
        elif word == "END":
            depth += 1
        elif word in ("BEGIN", "CASE") and not (word == "BEGIN" and following in _NOT_TRANSACTION_BEGIN):
            if depth:
                depth -= 1
                if not depth and word == "BEGIN":
                    closed = True  # a whole BEGIN ... END block before the statement: the arm it is the body of ended
            elif word == "BEGIN":  # the start of the block the statement is in
                closed, arm_end = False, i
        elif depth:
            continue
        elif word == ";":
            closed = True
        elif word in _STATEMENT_WORDS and previous not in _CONTINUES:
            # a statement (not in parentheses, not in a block) between an IF's condition and this one: it was
            # that IF's one-statement arm, written without its ";" (IF x PRINT N'y' ALTER TABLE ...)
            closed = True
        elif word == "ELSE" and not closed:
            found.append(None)
            closed = True
        elif word == "IF" and previous not in _DROPPED and not closed:
            found.append(before[i + 1 : arm_end])
            closed = True
    return found


# a NOT after one of these is the prefix operator (NOT x = 3), not part of x NOT IN / IS NOT / NOT LIKE
_BEFORE_PREFIX_NOT = frozenset({"", "(", "AND", "OR", "NOT", "IF", "WHILE", "WHEN"})


def _negated(tokens: Sequence[_Token], k: int) -> bool:
    """True when a prefix ``NOT`` governs the token at ``k``: ``NOT (... IN (3, 5, 8))``, ``NOT x = 3``.

    ``NOT`` binds tighter than ``AND`` and ``OR``: its operand runs to the next ``AND``/``OR`` at its
    own depth, or to the parenthesis that closes around it.
    """
    for n in range(k):
        before = tokens[n - 1] if n else None
        if tokens[n].word != "NOT" or (before is not None and (before.word not in _BEFORE_PREFIX_NOT or _is_string(before))):
            continue
        depth, end = 0, len(tokens)
        for m in range(n + 1, len(tokens)):
            word = tokens[m].word
            depth += {"(": 1, ")": -1}.get(word, 0)
            if depth < 0 or (depth == 0 and word in ("AND", "OR")):
                end = m
                break
        if n < k < end:
            return True
    return False


# calls that only read the edition (CAST(SERVERPROPERTY('EngineEdition') AS int)); a parenthesis after anything
# else that is a name is a call whose result is not the comparison (IIF(... IN (3, 5, 8), 0, 1), ISNULL(...))
_EDITION_CALLS = frozenset({"SERVERPROPERTY", "CAST", "TRY_CAST", "CONVERT", "TRY_CONVERT"})


def _in_expression(tokens: Sequence[_Token], k: int) -> bool:
    """True when the token at ``k`` is inside a ``CASE ... END`` or a call other than :data:`_EDITION_CALLS`
    (``IIF``, ``CHOOSE``, ``ISNULL`` ...): the comparison there yields a value the condition compares with
    something else, so it says nothing of which editions the IF lets through (``IF IIF(... IN (3, 5, 8), 0, 1) = 1``)."""
    opened: list[str] = []  # the word before each parenthesis still open at k
    cases = 0
    for n in range(k):
        word = tokens[n].word
        if word == "(":
            opened.append(tokens[n - 1].word if n else "")
        elif word == ")" and opened:
            opened.pop()
        elif word == "CASE":
            cases += 1
        elif word == "END" and cases:
            cases -= 1
    calls = [w for w in opened if w and (w[0].isalpha() or w[0] == "_") and w not in _BEFORE_PREFIX_NOT and w not in ("IN", "EXISTS")]
    return cases > 0 or any(w not in _EDITION_CALLS for w in calls)


def _edition_values(tokens: Sequence[_Token]) -> set[int] | None:
    """The EngineEdition values ``tokens`` (one disjunct of a condition) allow; None if it does not name them.

    None too for a negated comparison (``NOT (... IN (3, 5, 8))``, ``NOT ... = 3``, ``<> 3``, ``NOT IN``):
    it lets the other editions through.
    """
    values: set[int] = set()
    for k, token in enumerate(tokens):
        if not (_is_string(token) and token.text.lstrip("Nn").strip("'").lower() == "engineedition"):
            continue
        if _negated(tokens, k) or _in_expression(tokens, k):
            return None
        j = k + 1
        while j < len(tokens) and tokens[j].word in (")", "AS", "INT"):
            j += 1
        if tokens[j : j + 1] and tokens[j].word == "=" and tokens[j + 1 : j + 2] and tokens[j + 1].word.isdigit():
            values.add(int(tokens[j + 1].word))
        elif [t.word for t in tokens[j : j + 2]] == ["IN", "("]:
            j += 2
            while j < len(tokens) and tokens[j].word != ")":
                if tokens[j].word.isdigit():
                    values.add(int(tokens[j].word))
                elif tokens[j].word != ",":
                    return None
                j += 1
        else:
            return None  # <>, NOT IN, <, >: not a guard for the online editions
    return values or None


def _edition_guarded(before: Sequence[_Token]) -> bool:
    """True when an IF around the statement allows only EngineEdition 3, 5 or 8 (each OR'ed part names them)."""
    for condition in _enclosing_conditions(before):
        if not condition:
            continue
        parts: list[list[_Token]] = [[]]
        depth = 0
        for token in condition:
            depth += {"(": 1, ")": -1}.get(token.word, 0)
            if token.word == "OR" and depth == 0:
                parts.append([])
            else:
                parts[-1].append(token)
        allowed = [_edition_values(part) for part in parts]
        if all(values is not None and values <= _ONLINE_EDITIONS for values in allowed):
            return True
    return False


# ----- the rules ----------------------------------------------------------------------------------

_ONLINE = (
    "Build it online: WITH (ONLINE = ON, RESUMABLE = ON, MAXDOP = n) where the edition has it "
    "(SERVERPROPERTY('EngineEdition') IN (3, 5, 8): Enterprise/Developer, Azure SQL Database, Managed Instance), "
    "rendered for SQL Server only ({% if engine == \"sqlserver\" %}); elsewhere offline in a maintenance window, "
    "with a lint-ok saying so."
)
_OWN_SCRIPT = "Put it alone in its own script whose header has the line -- songsdb:no-transaction."
_CONTRACT = "Expand/contract: stop using it in one release, drop it in a later one, and mark the drop -- songsdb:lint-ok {rule} <why it is safe now>."

_Raw = tuple[int, str, str]  # line, rule, message


@dataclass
class _Build:
    statement: _Statement
    what: str  # e.g. "CREATE INDEX IX_X ON dbo.T"
    table: str
    key: str  # the index's identity, so both arms of an IF ... ELSE count once


def _alter_table(
    s: _Statement, table: str, rest: Sequence[_Token], builds: list[_Build], out: list[_Raw], engine: str
) -> None:
    """The findings of ``ALTER TABLE <table> <rest>`` on an existing table."""
    words = [t.word for t in rest]
    mode = words[1] if words[:1] == ["WITH"] and words[1:2] in (["CHECK"], ["NOCHECK"]) else ""
    rest = rest[2:] if mode else rest
    action = rest[0].word if rest else ""
    validate = (
        f"SQL Server reads every row of {table} (a foreign key also looks up each one in the referenced table) "
        f"under a Sch-M lock on {table}: no reader, not even a snapshot one, and no writer until the scan ends. "
        f"Where the data is known to comply, ALTER TABLE {table} WITH NOCHECK ADD ... (new rows are checked at once) "
        "and validate later, in a window, with WITH CHECK CHECK CONSTRAINT."
    )
    if action == "ADD":
        for item in _split_commas(rest[1:]):
            head = [t.word for t in item]
            named = head[:1] == ["CONSTRAINT"]
            kind = head[2] if named and len(head) > 2 else head[0]
            if named or kind in ("PRIMARY", "UNIQUE", "CHECK", "FOREIGN", "DEFAULT", "INDEX", "PERIOD"):
                builds_index, checks = kind in ("PRIMARY", "UNIQUE"), kind in ("CHECK", "FOREIGN")
            else:  # a column, maybe with its own constraints
                builds_index = "PRIMARY" in head or "UNIQUE" in head
                checks = "CHECK" in head or "REFERENCES" in head
                _add_column(s, table, item, out, engine)
            if builds_index:
                what = f"ADD {item[1].text if named else kind} to {table} (builds an index)"
                builds.append(_Build(s, what, table, what.lower()))
            if checks and mode != "NOCHECK":
                out.append((s.line, "check-constraint-with-check", f"adds a CHECK or FOREIGN KEY constraint to {table} WITH CHECK: {validate}"))
    elif action == "ALTER" and not _has(rest, "ONLINE", "=", "ON"):
        column = rest[2].text if len(rest) > 2 else "?"
        out.append((
            s.line,
            "rewriting-alter-column",
            f"ALTER COLUMN {column} on {table} can be a size-of-data operation (a wider or other type, NULL to NOT NULL, "
            f"a collation) that reads or rewrites every row under a Sch-M lock on {table}: no reader or writer until it ends. "
            "Online: WITH (ONLINE = ON) (SQL Server 2016+ Enterprise, Azure SQL), or expand/contract: add a new column, "
            "backfill it in batches, switch the code, drop the old column in a later release.",
        ))
    elif action == "DROP":
        kind, columns = "CONSTRAINT", []
        for item in _split_commas(rest[1:]):
            if item[0].word in ("COLUMN", "CONSTRAINT"):
                kind, item = item[0].word, item[1:]
            item = item[_skip_if_exists(item, 0) :]
            if kind == "COLUMN" and item:
                columns.append(item[0].text)
        if columns:
            out.append((
                s.line,
                "drop-column",
                f"drops column {', '.join(columns)} of {table}: a contract step; every statement of the previous release "
                "that still names it fails (Msg 207) from this moment. " + _CONTRACT.format(rule="drop-column"),
            ))
    elif action == "CHECK" and mode == "CHECK":
        out.append((s.line, "check-constraint-with-check", f"WITH CHECK CHECK CONSTRAINT validates existing rows: {validate}"))
    elif action == "REBUILD":
        builds.append(_Build(s, f"ALTER TABLE {table} REBUILD", table, f"rebuild {table}".lower()))


def _add_column(s: _Statement, table: str, item: Sequence[_Token], out: list[_Raw], engine: str) -> None:
    outside = _outside_parentheses(item)  # not the NOT NULL of a CHECK (x IS NOT NULL)
    words = [t.word for t in outside]
    column = item[0].text
    if words[1:2] == ["AS"] or "IDENTITY" in words:
        return  # computed and identity columns: see the module docstring
    not_null = _has(outside, "NOT", "NULL")
    if "DEFAULT" not in words:
        if not_null:
            out.append((
                s.line,
                "add-column-not-null-nonconstant-default",
                f"adds NOT NULL column {column} to {table} with no default: SQL Server refuses that on a table with rows "
                "(Msg 4901), so it passes on an empty test database and fails in production. Add it NULL, backfill it in "
                "batches, then make it NOT NULL in a later script; or give it a runtime-constant default.",
            ))
        return
    default = outside[words.index("DEFAULT")]
    at = next(k for k, t in enumerate(item) if t is default) + 1
    expression = _operand(item, at) if at < len(item) else []
    function = _nonconstant_call(expression)
    lob = _lob_type(item)
    if lob and not function and (not_null or _has(outside, "WITH", "VALUES")) and engine == "sqlserver":
        out.append((
            s.line,
            "add-lob-column-with-default",
            f"adds {lob} column {column} to {table} filled with its default for every existing row: for varchar(max), "
            "nvarchar(max), varbinary(max), xml and the other LOB types SQL Server writes the default into every row on "
            "every edition (the metadata-only NOT NULL column with a constant default is for other types; ALTER TABLE "
            "(Transact-SQL), \"Adding NOT NULL columns as an online operation\"), a size-of-data update under a Sch-M "
            f"lock on {table}: no reader, snapshot ones included, and no writer until it ends, and an edition guard does "
            "not help. Add it NULL without WITH VALUES (existing rows read NULL; the default fills new rows), backfill "
            "in batches if it needs a value, and make it NOT NULL in a later script if it must be; or say why the table is "
            "small (lint-ok).",
        ))
    elif function and (not_null or _has(outside, "WITH", "VALUES")):
        out.append((
            s.line,
            "add-column-not-null-nonconstant-default",
            f"adds column {column} to {table} filled with {function}(), which is not a runtime constant: every existing "
            f"row is written with its own value, a size-of-data update under a Sch-M lock on {table} (no reader or writer "
            "until it ends). A runtime-constant default (a literal, SYSUTCDATETIME()) is metadata-only on SQL Server 2012+ "
            "Enterprise and Azure SQL. Add the column NULL, backfill it in batches, then make it NOT NULL later.",
        ))
    elif (
        not function
        and (not_null or _has(outside, "WITH", "VALUES"))
        and engine == "sqlserver"
        and not _edition_guarded(s.before)
    ):
        out.append((
            s.line,
            "add-column-not-null-default-off-enterprise",
            f"adds column {column} to {table} filled with its default for every existing row: a metadata change only on "
            "Enterprise/Developer and Azure SQL (SERVERPROPERTY('EngineEdition') 3, 5, 8); on Standard and Express SQL "
            f"Server writes the default into every row, a size-of-data update under a Sch-M lock on {table} (no reader, "
            "snapshot ones included, and no writer until it ends). Guard it with IF CAST(SERVERPROPERTY('EngineEdition') "
            "AS int) IN (3, 5, 8), and elsewhere add it NULL, backfill it in batches and make it NOT NULL in a later "
            "script (or keep it nullable); or say why the table is small (lint-ok).",
        ))


_LOB_TYPES = frozenset({"XML", "TEXT", "NTEXT", "IMAGE", "GEOGRAPHY", "GEOMETRY", "HIERARCHYID"})
_MAX_TYPES = frozenset({"VARCHAR", "NVARCHAR", "VARBINARY"})


# the ISO synonyms of the types above, written in several words (data type synonyms, Transact-SQL)
_TYPE_SYNONYMS = {
    ("NATIONAL", "CHARACTER", "VARYING"): "NVARCHAR",
    ("NATIONAL", "CHAR", "VARYING"): "NVARCHAR",
    ("NCHAR", "VARYING"): "NVARCHAR",
    ("CHARACTER", "VARYING"): "VARCHAR",
    ("CHAR", "VARYING"): "VARCHAR",
    ("BINARY", "VARYING"): "VARBINARY",
    ("NATIONAL", "TEXT"): "NTEXT",
}


def _lob_type(item: Sequence[_Token]) -> str | None:
    """The column's type as written when it is a LOB type (``nvarchar(max)``, ``xml``, ``national character
    varying(max)`` ...), else None."""
    words = [t.word for t in item[1:8]]
    size = 1
    for synonym, name in _TYPE_SYNONYMS.items():
        if tuple(words[: len(synonym)]) == synonym:
            words, size = [name, *words[len(synonym) :]], len(synonym)
            break
    shown = " ".join(t.text for t in item[1 : 1 + size])
    if words[:1] and words[0] in _MAX_TYPES and words[1:4] == ["(", "MAX", ")"]:
        return f"{shown}({item[2 + size].text})"
    if words[:1] and words[0] in _LOB_TYPES:
        return shown
    return None


def _dropped_object(shown: str, key: str, repeatable: Sequence[Script]) -> str:
    callers = sorted(r.name for r in repeatable if key in references(r, {key}))
    same = [r.name for r in repeatable if object_name(r) == key]
    moved = [r.name for r in repeatable if object_name(r).split(".")[-1] == key.split(".")[-1] and object_name(r) != key]
    if callers:
        why = f"{', '.join(callers)} still call{'s' if len(callers) == 1 else ''} it and fail from here on (Msg 2812 or 208)"
    elif same:
        why = f"{same[0]} creates it again only after every versioned script has run: in between it does not exist"
    elif moved:
        why = f"its replacement ({moved[0]}) is created only after every versioned script has run: in between neither exists"
    else:
        why = "code of the previous release may still call it, and fails from this moment"
    return f"drops {shown}: {why}. " + _CONTRACT.format(rule="drop-called-object")


def _versioned(script: Script, text: str, engine: str, repeatable: Sequence[Script]) -> list[_Raw]:
    statements = [s for b in split_batches(text) for s in _statements(_tokenize(b.text, b.start_line), skip_bodies=True)]
    created = {_name(s.tokens, 2)[1] for s in statements if s.kind == "create_table"}
    out: list[_Raw] = []
    builds: list[_Build] = []
    changes: list[tuple[_Statement, str]] = []  # (statement, its identity) on existing tables

    def existing(key: str) -> bool:
        return bool(key) and not key.startswith(("#", "@")) and key not in created

    for s in statements:
        words = s.words
        if s.kind == "create_index":
            at = words.index("INDEX") + 1
            index, _, at = _name(s.tokens, at)
            table, key, _ = _name(s.tokens, at + 1) if words[at : at + 1] == ["ON"] else ("", "", 0)
            if existing(key):
                builds.append(_Build(s, f"CREATE INDEX {index} ON {table}", table, f"{index} on {key}".lower()))
                changes.append((s, builds[-1].key))
        elif s.kind == "alter_index":
            index, _, at = _name(s.tokens, 2)
            table, key, after = _name(s.tokens, at + 1) if words[at : at + 1] == ["ON"] else ("", "", at)
            if existing(key):
                changes.append((s, f"alter index {index} on {key}".lower()))
                if words[after : after + 1] == ["REBUILD"]:
                    builds.append(_Build(s, f"ALTER INDEX {index} ON {table} REBUILD", table, f"{index} on {key}".lower()))
        elif s.kind == "alter_table":
            table, key, at = _name(s.tokens, 2)
            if existing(key):
                changes.append((s, " ".join(words).lower()))
                _alter_table(s, table, s.tokens[at:], builds, out, engine)
        elif s.kind in ("drop_index", "truncate"):
            shown, key, at = _name(s.tokens, _skip_if_exists(s.tokens, 2))
            if words[at : at + 1] == ["ON"]:
                shown, key, _ = _name(s.tokens, at + 1)
            elif s.kind == "drop_index":  # DROP INDEX table.index
                key = f"dbo.{key.split('.')[0]}"
            if existing(key):
                changes.append((s, " ".join(words).lower()))
        elif s.kind == "drop_table":
            for shown, key in _names(s.tokens, 2):
                if existing(key):
                    changes.append((s, " ".join(words).lower()))
                    out.append((
                        s.line,
                        "drop-table",
                        f"drops table {shown}: a contract step; its rows are gone and every reader of the previous release "
                        "fails (Msg 208) from this moment. " + _CONTRACT.format(rule="drop-table"),
                    ))
        elif s.kind == "drop_object":
            for shown, key in _names(s.tokens, 2):
                out.append((s.line, "drop-called-object", _dropped_object(shown, key, repeatable)))
        elif s.kind == "permission" and words[0] in ("REVOKE", "DENY"):
            sql = re.sub(r" ?(::|\.) ?| (?=[,)])|(?<=\() ", r"\1", " ".join(t.text for t in s.tokens))
            out.append((
                s.line,
                "revoke-or-deny",
                f"{sql}: an application-visible permission cut; every session of a login in that role is refused (Msg 229) "
                "from this moment, whichever release it runs. A contract step: move every login to its new role and deploy "
                "the code that uses it first, revoke in a later release, and mark it -- songsdb:lint-ok revoke-or-deny <why>.",
            ))

    for build in builds:
        s = build.statement
        if engine == "sqlserver" and not _has(s.tokens, "ONLINE", "=", "ON"):
            out.append((
                s.line,
                "offline-index",
                f"{build.what} runs offline: SQL Server holds a shared lock on {build.table} (no writer) for a nonclustered "
                "build, a Sch-M lock (no reader either) for a clustered one or a rebuild, for the whole build. " + _ONLINE,
            ))
        if script.transactional:
            out.append((
                s.line,
                "index-in-transaction",
                f"{build.what} runs inside the script's transaction: its locks on {build.table} are held until the whole "
                "script commits, not just for the build, and a RESUMABLE build cannot run (nor be paused and resumed) inside "
                "a user transaction. " + _OWN_SCRIPT,
            ))
    if not script.transactional:
        first = builds[0].key if builds else ""
        for build in builds:
            if build.key != first:
                out.append((
                    build.statement.line,
                    "one-index-per-script",
                    f"{build.what} is a second index build in a script without a transaction: when it fails, the first "
                    "one stays and nothing rolls it back, so the re-run fails on the index that exists. " + _OWN_SCRIPT,
                ))
    identities = list(dict.fromkeys(identity for _, identity in changes))
    if script.transactional and len(identities) > 1:
        seen: set[str] = set()
        for s, identity in changes:
            if identity in seen:
                continue
            seen.add(identity)
            if len(seen) > 1:
                out.append((
                    s.line,
                    "several-ddl-in-transaction",
                    f"change {len(seen)} of {len(identities)} to an existing table in this script's one transaction (the "
                    f"first is at line {changes[0][0].line}): each takes a Sch-M lock on its table (an index build a shared "
                    "one) and holds it until the script commits, so every table touched stays blocked, to readers (snapshot "
                    "ones too) and writers alike, for the sum of all the changes. One change per script, or a "
                    "-- songsdb:no-transaction script of quick metadata changes.",
                ))
    return out


_MODULE_START = re.compile(r"^(?:CREATE(?: OR ALTER)?|ALTER) (?:PROC|PROCEDURE|VIEW|FUNCTION|TRIGGER)(?: |$)")
_SESSION_ON_OFF = {"XACT_ABORT": "OFF", "IMPLICIT_TRANSACTIONS": "ON"}  # the value that is a finding
_SESSION_ANY = frozenset({"LOCK_TIMEOUT", "DEADLOCK_PRIORITY"})


def _session_settings(text: str) -> list[_Raw]:
    """``SET XACT_ABORT OFF``, ``SET LOCK_TIMEOUT ...``, ``SET IMPLICIT_TRANSACTIONS ON``, ``SET DEADLOCK_PRIORITY ...``
    at a versioned script's own level (the list form ``SET IMPLICIT_TRANSACTIONS, ... ON`` too).

    Not inside a procedure, view, function or trigger body, nor in dynamic SQL (``EXEC (N'...')``):
    SQL Server reverts a SET made there when the module or the dynamic batch ends. At the script's level
    the setting holds for the rest of the script: with XACT_ABORT OFF a statement that fails (a lock
    timeout 1222 cancels only the statement) lets the batch go on and, in a no-transaction script, the
    statements after it commit, which the migrator's retry (run from the top, the script rolled back)
    does not expect; LOCK_TIMEOUT -1 waits for ever behind a long transaction, with every query on the
    table queued behind the DDL; IMPLICIT_TRANSACTIONS ON opens a transaction nobody commits.
    """
    out: list[_Raw] = []
    for batch in split_batches(text):
        tokens = _tokenize(batch.text, batch.start_line)
        words = [t.word for t in tokens]
        for i, token in enumerate(tokens):
            if _MODULE_START.match(" ".join(words[i : i + 4])) and (i == 0 or words[i - 1] not in _CONTINUES):
                break  # the rest of the batch is the module's body: its SETs end with it
            if token.word != "SET" or words[i + 1 : i + 2] in ([], [""]) or words[i + 1].startswith("@"):
                continue  # SET @variable = ...
            options, j = [], i + 1
            while j < len(words) and words[j] and words[j] not in (";", "ON", "OFF", "=", "("):
                if words[j] != ",":
                    options.append(words[j])
                if words[j] in _SESSION_ANY:
                    break
                j += 1
            value = words[j] if j < len(words) else ""
            for option in options:
                if option in _SESSION_ANY or _SESSION_ON_OFF.get(option) == value:
                    shown = f"SET {option}" + (f" {value}" if option in _SESSION_ON_OFF else " ...")
                    out.append((
                        token.line,
                        "session-setting-in-versioned-script",
                        f"{shown} at the script's own level holds for the rest of the script (the migrator resets it only "
                        "between scripts and tries): with XACT_ABORT OFF a failed statement (a lock timeout cancels only "
                        "the statement) lets the script go on, and in a no-transaction script what follows commits, so "
                        "the retry from its top no longer starts from nothing; a LOCK_TIMEOUT of -1 or more than the "
                        "deployment's 1.5 s queues every query on the table behind a waiting DDL statement; "
                        "IMPLICIT_TRANSACTIONS ON leaves a transaction open; a DEADLOCK_PRIORITY above LOW makes the "
                        "application's sessions the deadlock victims. Set it inside dynamic SQL (EXEC (N'...')) for the "
                        "statement that needs it, or mark it -- songsdb:lint-ok session-setting-in-versioned-script <why>.",
                    ))
    return out


def _repeatable(text: str) -> list[_Raw]:
    out: list[_Raw] = []
    for batch in split_batches(text):
        for s in _statements(_tokenize(batch.text, batch.start_line), skip_bodies=False):
            if s.kind in ("alter_table", "drop_table"):
                names = [_name(s.tokens, 2)[:2]] if s.kind == "alter_table" else _names(s.tokens, 2)
                for shown, key in names:
                    if key and not key.startswith(("#", "@")):
                        out.append((
                            s.line,
                            "table-ddl-in-repeatable",
                            f"{' '.join(s.words[:2])} {shown} in a repeatable script: these are re-run whenever they change "
                            "and only re-create procedures, views and functions; a table change belongs in a new versioned "
                            "script (sql/schema/NNNN_what_it_does.sql), applied once.",
                        ))
    return out


def _suppressed(name: str, text: str, raw: Iterable[_Raw]) -> list[Finding]:
    allowed: dict[int, set[str]] = {}
    findings = []
    for number, source_line in enumerate(text.split("\n"), start=1):
        marker = _LINT_OK.search(source_line)
        if not marker:
            continue
        if marker.group("rule") and marker.group("reason"):
            allowed.setdefault(number, set()).update(marker.group("rule").split(","))
        else:
            findings.append(Finding(name, number, "lint-ok-without-reason", (
                f"-- songsdb:lint-ok {marker.group('rule') or '<rule>'} needs a reason after the rule "
                "(why this statement is safe here, e.g. 'the table is empty in production'); without one it suppresses nothing"
            )))
    for line, rule, message in raw:
        if rule not in allowed.get(line, set()) | allowed.get(line - 1, set()):
            findings.append(Finding(name, line, rule, message))
    return sorted(set(findings))


# ----- the API ------------------------------------------------------------------------------------


def lint(script: Script, rendered_text: str, *, engine: str = "sqlserver", repeatable: Sequence[Script] = ()) -> list[Finding]:
    """The findings of one script, given its text rendered for ``engine``.

    ``repeatable`` are the current repeatable scripts (procedures, views, functions), for
    ``drop-called-object``; :func:`lint_rendered` passes them. A grandfathered script is not linted:
    it gives nothing, or one ``edited-applied-script`` finding when its source changed.
    """
    if engine not in ENGINES:
        raise MigrationError(f"engine must be one of {', '.join(ENGINES)} (got {engine!r})")
    if script.kind != VERSIONED:
        return _suppressed(script.name, rendered_text, _repeatable(rendered_text))
    recorded = GRANDFATHERED.get(script.name)
    if recorded is not None:
        actual = checksum(script.source)
        if actual == recorded:
            return []
        return [Finding(script.name, 1, "edited-applied-script", (
            f"was applied in production with source checksum {recorded}, but its source now has {actual}: a versioned "
            "script is never edited (the migrator refuses an applied one that changed); restore it and add a new script"
        ))]
    raw = _versioned(script, rendered_text, engine, repeatable) + _session_settings(rendered_text)
    findings = _suppressed(script.name, rendered_text, raw)
    source = checksum(script.source)
    return [f for f in findings if EXEMPT.get((f.file, f.rule)) != source]


def lint_rendered(items: Iterable[RenderedScript], engine: str) -> list[Finding]:
    """The findings of scripts already rendered for ``engine`` (what the migrator holds), sorted by file and line."""
    items = list(items)
    repeatable = [i.script for i in items if i.script.kind != VERSIONED]
    return sorted(f for i in items for f in lint(i.script, i.text, engine=engine, repeatable=repeatable))


def lint_all(scripts: Iterable[Script], engine: str, database: str = "SongsDB") -> list[Finding]:
    """Render every script for ``engine`` and lint it (no server needed); sorted by file and line."""
    context = template_context(engine, database)
    return lint_rendered([render(s, context) for s in scripts], engine)


def grandfathered_in(scripts: Iterable[Script]) -> list[str]:
    """The names of the scripts the linter skips: grandfathered, with their recorded checksum."""
    return [s.name for s in scripts if GRANDFATHERED.get(s.name) == checksum(s.source)]


def format_findings(findings: Sequence[Finding], grandfathered: Sequence[str] = ()) -> str:
    """One ``file:line: rule: message`` line per finding, then a one-line summary."""
    lines = [f"{f.file}:{f.line}: {f.rule}: {f.message}" for f in findings]
    files = len({f.file for f in findings})
    summary = f"{len(findings)} finding{'s' * (len(findings) != 1)} in {files} script{'s' * (files != 1)}" if findings else "no findings"
    if grandfathered:
        summary += f"; {len(grandfathered)} grandfathered script{'s' * (len(grandfathered) != 1)} not linted"
    return "\n".join([*lines, summary])


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m songsdb.lint [--engine E]``: lint sql/ for each engine; exit 1 when anything is found."""
    parser = argparse.ArgumentParser(prog="python -m songsdb.lint", description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--engine", choices=ENGINES, action="append", help="render for this engine (default: each in turn)")
    args = parser.parse_args(argv)
    scripts = discover()
    findings = sorted({f for engine in args.engine or ENGINES for f in lint_all(scripts, engine)})
    print(format_findings(findings, grandfathered_in(scripts)))
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
