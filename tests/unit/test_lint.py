"""The migration linter: each rule fires on the bad form and stays quiet on the good one; suppression,
grandfathering, line numbers, and the repository's own sql/ passing for both engines."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from songsdb.lint import (
    EXEMPT,
    GRANDFATHERED,
    RULES,
    Finding,
    _tokenize,
    format_findings,
    grandfathered_in,
    lint,
    lint_all,
    main,
)
from songsdb.migrations import ENGINES, Script, checksum, discover, render, strip_comments, template_context

NO_TX = "-- songsdb:no-transaction\n"
README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def versioned(source: str, name: str = "schema/0099_test.sql") -> Script:
    return Script(name, "versioned", int(name.split("/")[1][:4]), source)


def repeatable(name: str, source: str) -> Script:
    return Script(name, "repeatable", None, source)


def findings(source: str, engine: str = "sqlserver", others: tuple[Script, ...] = ()) -> list[Finding]:
    script = versioned(source)
    return lint(script, render(script, template_context(engine, "SongsDB")).text, engine=engine, repeatable=others)


def rules(source: str, engine: str = "sqlserver", others: tuple[Script, ...] = ()) -> list[tuple[int, str]]:
    return [(f.line, f.rule) for f in findings(source, engine, others)]


# ----- 1. offline-index ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE INDEX IX_Songs_Title ON dbo.Songs (Title);",
        "CREATE UNIQUE NONCLUSTERED INDEX IX_Songs_Title ON [dbo].[Songs] (Title) WITH (FILLFACTOR = 90);",
        "CREATE CLUSTERED INDEX IX_Songs_Title ON dbo.Songs (Title)",
        "ALTER INDEX IX_Songs_Artist ON dbo.Songs REBUILD;",
        "ALTER TABLE dbo.Songs ADD CONSTRAINT UQ_Songs_Title UNIQUE (Title);",
    ],
)
def test_an_index_built_offline_on_an_existing_table_is_flagged(statement: str) -> None:
    assert rules(NO_TX + statement) == [(2, "offline-index")]


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE INDEX IX_Songs_Title ON dbo.Songs (Title) WITH (ONLINE = ON, RESUMABLE = ON, MAXDOP = 2);",
        "CREATE UNIQUE NONCLUSTERED INDEX IX_Songs_Title ON dbo.Songs (Title)\n    WHERE Title IS NOT NULL\n    WITH (ONLINE = ON);",
        "ALTER INDEX IX_Songs_Artist ON dbo.Songs REBUILD WITH (ONLINE = ON, RESUMABLE = ON);",
        "ALTER INDEX IX_Songs_Artist ON dbo.Songs REORGANIZE;",
        "ALTER TABLE dbo.Songs ADD CONSTRAINT UQ_Songs_Title UNIQUE (Title) WITH (ONLINE = ON);",
    ],
)
def test_an_online_index_build_is_quiet(statement: str) -> None:
    assert rules(NO_TX + statement) == []


def test_the_online_options_may_be_rendered_for_sql_server_only() -> None:
    source = NO_TX + (
        "CREATE INDEX IX_Songs_Title ON dbo.Songs (Title)\n"
        '{% if engine == "sqlserver" %}    WITH (ONLINE = ON, RESUMABLE = ON){% endif %};\n'
    )
    assert rules(source, "sqlserver") == [] and rules(source, "babelfish") == []
    assert rules(NO_TX + "CREATE INDEX IX_Songs_Title ON dbo.Songs (Title);\n", "babelfish") == []  # no ONLINE there
    assert rules(NO_TX + "CREATE INDEX IX_Songs_Title ON dbo.Songs (Title);\n", "sqlserver") == [(2, "offline-index")]


def test_an_index_on_a_table_the_script_creates_is_not_on_an_existing_table() -> None:
    source = "CREATE TABLE dbo.Genres (Id int NOT NULL, Name nvarchar(50) NOT NULL);\nGO\nCREATE INDEX IX_Genres_Name ON dbo.Genres (Name);\n"
    assert rules(source) == []
    assert rules(source.replace("ON dbo.Genres (Name)", "ON dbo.Songs (Title)")) == [(3, "index-in-transaction"), (3, "offline-index")]


def test_the_edition_branch_in_dynamic_sql_is_read_and_its_offline_fallback_needs_a_reason() -> None:
    source = NO_TX + (
        "IF CAST(SERVERPROPERTY('EngineEdition') AS int) IN (3, 5, 8)\n"
        "    EXEC (N'CREATE INDEX IX_Songs_Title ON dbo.Songs (Title) WITH (ONLINE = ON, RESUMABLE = ON);');\n"
        "ELSE\n"
        "    EXEC sp_executesql N'CREATE INDEX IX_Songs_Title\n        ON dbo.Songs (Title);';\n"
    )
    assert rules(source) == [(5, "offline-index")]  # one index, two arms: not a second build
    marked = source.replace("ELSE\n", "ELSE -- songsdb:lint-ok offline-index Standard edition has no online build: run it in a window\n")
    assert rules(marked) == []


# ----- 2. index-in-transaction, and one index per no-transaction script ----------------------------


def test_an_index_build_inside_the_scripts_transaction_is_flagged() -> None:
    online = "CREATE INDEX IX_Songs_Title ON dbo.Songs (Title) WITH (ONLINE = ON, RESUMABLE = ON);\n"
    assert rules(online) == [(1, "index-in-transaction")]
    assert rules(NO_TX + online) == []


def test_a_no_transaction_script_builds_one_index() -> None:
    first = "CREATE INDEX IX_Songs_Title ON dbo.Songs (Title) WITH (ONLINE = ON);\nGO\n"
    second = "CREATE INDEX IX_Songs_Album ON dbo.Songs (Album) WITH (ONLINE = ON);\nGO\n"
    assert rules(NO_TX + first + second) == [(4, "one-index-per-script")]
    assert rules(NO_TX + first) == []


# ----- 3. several-ddl-in-transaction ---------------------------------------------------------------


def test_several_changes_to_existing_tables_in_one_transaction_are_flagged_from_the_second() -> None:
    one = "ALTER TABLE dbo.Songs ADD Genre nvarchar(50) NULL;\nGO\n"
    two = "ALTER TABLE dbo.ProcessingJobs ADD Note nvarchar(50) NULL;\nGO\n"
    three = "DROP INDEX IX_Songs_Artist ON dbo.Songs;\nGO\n"
    assert rules(one + two + three) == [(3, "several-ddl-in-transaction"), (5, "several-ddl-in-transaction")]
    assert "change 3 of 3" in findings(one + two + three)[1].message
    assert rules(one) == []
    assert rules(NO_TX + one + two) == []


def test_changes_to_a_table_the_script_creates_do_not_count() -> None:
    source = "CREATE TABLE dbo.Genres (Id int NOT NULL);\nGO\nALTER TABLE dbo.Genres ADD Name nvarchar(50) NULL;\nGO\nALTER TABLE dbo.Genres ALTER COLUMN Name nvarchar(80) NULL;\n"
    assert rules(source) == []
    assert rules(source.replace("CREATE TABLE dbo.Genres", "CREATE TABLE dbo.Moods")) != []


# ----- 4. check-constraint-with-check --------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "ALTER TABLE dbo.Songs ADD CONSTRAINT CK_Songs_Title CHECK (LEN(Title) > 0);",
        "ALTER TABLE dbo.Songs WITH CHECK ADD CONSTRAINT CK_Songs_Title CHECK (LEN(Title) > 0);",
        "ALTER TABLE dbo.Songs ADD CONSTRAINT FK_Songs_Albums FOREIGN KEY (AlbumId) REFERENCES dbo.Albums (Id);",
        "ALTER TABLE dbo.Songs WITH CHECK CHECK CONSTRAINT CK_Songs_Title;",
        "ALTER TABLE dbo.Songs ADD Rating tinyint NULL CONSTRAINT CK_Songs_Rating CHECK (Rating <= 5);",
    ],
)
def test_a_constraint_validated_against_existing_rows_is_flagged(statement: str) -> None:
    assert rules(statement) == [(1, "check-constraint-with-check")]


@pytest.mark.parametrize(
    "statement",
    [
        "ALTER TABLE dbo.Songs WITH NOCHECK ADD CONSTRAINT CK_Songs_Title CHECK (LEN(Title) > 0);",
        "ALTER TABLE dbo.Songs WITH NOCHECK ADD CONSTRAINT FK_Songs_Albums FOREIGN KEY (AlbumId) REFERENCES dbo.Albums (Id);",
        "ALTER TABLE dbo.Songs CHECK CONSTRAINT CK_Songs_Title;",
        "ALTER TABLE dbo.Songs NOCHECK CONSTRAINT CK_Songs_Title;",
        "ALTER TABLE dbo.Songs ADD CONSTRAINT DF_Songs_Id DEFAULT (NEWID()) FOR Id;",
    ],
)
def test_a_constraint_added_with_nocheck_or_a_default_is_quiet(statement: str) -> None:
    assert rules(statement) == []


# ----- 5. rewriting-alter-column -------------------------------------------------------------------


def test_alter_column_is_flagged_unless_online() -> None:
    assert rules("ALTER TABLE dbo.Songs ALTER COLUMN Title nvarchar(800) NULL;") == [(1, "rewriting-alter-column")]
    assert rules("ALTER TABLE dbo.Songs ALTER COLUMN Title nvarchar(800) NULL WITH (ONLINE = ON);") == []


# ----- 6. add-column-not-null-nonconstant-default --------------------------------------------------


@pytest.mark.parametrize(
    "column",
    [
        "PublicId uniqueidentifier NOT NULL CONSTRAINT DF_Songs_PublicId DEFAULT (NEWID())",
        "PublicId uniqueidentifier NOT NULL DEFAULT NEWSEQUENTIALID()",
        "Seq int NOT NULL CONSTRAINT DF_Songs_Seq DEFAULT (dbo.NextNumber())",
        "Token uniqueidentifier NULL CONSTRAINT DF_Songs_Token DEFAULT (NEWID()) WITH VALUES",
        "Plays int NOT NULL",
    ],
)
def test_a_column_that_must_be_written_into_every_row_is_flagged(column: str) -> None:
    assert rules(f"ALTER TABLE dbo.Songs ADD {column};") == [(1, "add-column-not-null-nonconstant-default")]


@pytest.mark.parametrize(
    "column",
    [
        "Token uniqueidentifier NULL CONSTRAINT DF_Songs_Token DEFAULT (NEWID())",
        "Genre nvarchar(50) NULL",
        "Plays int NULL CONSTRAINT DF_Songs_Plays DEFAULT (0)",
    ],
)
def test_a_nullable_column_is_quiet(column: str) -> None:
    assert rules(f"ALTER TABLE dbo.Songs ADD {column};") == []


CONSTANT_NOT_NULL = [
    "Plays int NOT NULL CONSTRAINT DF_Songs_Plays DEFAULT (0)",
    "CheckedAt datetime2(3) NOT NULL CONSTRAINT DF_Songs_CheckedAt DEFAULT (SYSUTCDATETIME())",
    "Plays int NULL CONSTRAINT DF_Songs_Plays DEFAULT (0) WITH VALUES",
]


@pytest.mark.parametrize("column", CONSTANT_NOT_NULL)
def test_a_not_null_column_with_a_constant_default_outside_an_enterprise_guard_is_flagged(column: str) -> None:
    """The DBA review of session 6, M2: metadata-only on Enterprise and Azure, every row rewritten on Standard."""
    [finding] = findings(f"ALTER TABLE dbo.Songs ADD {column};")
    assert (finding.line, finding.rule) == (1, "add-column-not-null-default-off-enterprise")
    assert "Standard and Express" in finding.message and "IN (3, 5, 8)" in finding.message


@pytest.mark.parametrize(
    "guarded",
    [
        "IF CAST(SERVERPROPERTY('EngineEdition') AS int) IN (3, 5, 8)\n    {add}\nELSE\n    {nullable}",
        "IF COL_LENGTH(N'dbo.Songs', N'X') IS NULL AND CAST(SERVERPROPERTY('EngineEdition') AS int) IN (5, 8)\n    {add}",
        "IF CAST(SERVERPROPERTY('EngineEdition') AS int) IN (5, 8)\n    OR (CAST(SERVERPROPERTY('EngineEdition') AS int) = 3 "
        "AND CAST(SERVERPROPERTY('ProductMajorVersion') AS int) >= 16)\n    EXEC (N'{add}');",
        "IF CAST(SERVERPROPERTY('EngineEdition') AS int) = 3\nBEGIN\n    PRINT N'enterprise';\n"
        "    IF COL_LENGTH(N'dbo.Songs', N'X') IS NULL\n        {add}\nEND;",
    ],
)
def test_the_same_column_guarded_for_enterprise_and_azure_is_quiet(guarded: str) -> None:
    text = guarded.format(add="ALTER TABLE dbo.Songs ADD Plays int NOT NULL CONSTRAINT DF_Songs_Plays DEFAULT (0);",
                          nullable="ALTER TABLE dbo.Songs ADD Plays int NULL;")
    assert rules(NO_TX + text) == []  # without a transaction: both arms name the table (several-ddl-in-transaction)


@pytest.mark.parametrize(
    "unguarded",
    [
        # the other arm of the guard
        "IF CAST(SERVERPROPERTY('EngineEdition') AS int) IN (3, 5, 8)\n    PRINT N'x';\nELSE\n    {add}",
        # a guard that lets Standard (2) through, and one OR'ed with a test of something else (B1's mistake)
        "IF CAST(SERVERPROPERTY('EngineEdition') AS int) IN (2, 3)\n    {add}",
        "IF CAST(SERVERPROPERTY('EngineEdition') AS int) IN (5, 8) OR CAST(SERVERPROPERTY('ProductMajorVersion') AS int) >= 16\n    {add}",
        "IF CAST(SERVERPROPERTY('EngineEdition') AS int) <> 4\n    {add}",
        # a guard whose arm ended before the statement
        "IF CAST(SERVERPROPERTY('EngineEdition') AS int) = 3\n    PRINT N'x';\n{add}",
        "IF CAST(SERVERPROPERTY('EngineEdition') AS int) = 3\nBEGIN\n    PRINT N'x';\nEND;\n{add}",
        "IF COL_LENGTH(N'dbo.Songs', N'X') IS NULL\n    {add}",
        # a one-statement arm without its ";": what follows is not in it (the DBA's m5)
        "IF CAST(SERVERPROPERTY('EngineEdition') AS int) IN (3, 5, 8)\n    PRINT N'online'\n{add}",
        "IF CAST(SERVERPROPERTY('EngineEdition') AS int) IN (3, 5, 8)\n    EXEC dbo.Nothing\n{add}",
        "IF CAST(SERVERPROPERTY('EngineEdition') AS int) = 3\n    SET NOCOUNT ON\n{add}",
        # an edition comparison inside IIF or CASE yields a value: the IF compares that, and may negate it
        "IF IIF(CAST(SERVERPROPERTY('EngineEdition') AS int) IN (3, 5, 8), 0, 1) = 1\n    {add}",
        "IF CASE WHEN CAST(SERVERPROPERTY('EngineEdition') AS int) IN (3, 5, 8) THEN 0 ELSE 1 END = 1\n    {add}",
        "IF (CASE WHEN CAST(SERVERPROPERTY('EngineEdition') AS int) = 3 THEN 1 ELSE 0 END) = 0\n    {add}",
    ],
)
def test_a_guard_that_lets_standard_edition_through_does_not_count(unguarded: str) -> None:
    text = unguarded.format(add="ALTER TABLE dbo.Songs ADD Plays int NOT NULL CONSTRAINT DF_Songs_Plays DEFAULT (0);")
    assert [rule for _, rule in rules(text)] == ["add-column-not-null-default-off-enterprise"]


ADD_NOT_NULL = "ALTER TABLE dbo.Songs ADD Plays int NOT NULL CONSTRAINT DF_Songs_Plays DEFAULT (0);"


def test_a_statement_in_the_guards_begin_block_or_its_one_statement_arm_is_still_guarded() -> None:
    """The statement-keyword rule for arms without ";" must not lose what the guard does hold."""
    for guarded in (
        "IF CAST(SERVERPROPERTY('EngineEdition') AS int) IN (3, 5, 8)\nBEGIN\n    PRINT N'online'\n    {add}\nEND\n",
        "IF CAST(SERVERPROPERTY('EngineEdition') AS int) IN (3, 5, 8)\n    {add}",
        "IF (CAST(SERVERPROPERTY('EngineEdition') AS int) IN (3, 5, 8))\n    {add}",
        "IF CONVERT(int, SERVERPROPERTY('EngineEdition')) = 3\n    {add}",
        "IF EXISTS (SELECT 1 FROM sys.objects) AND CAST(SERVERPROPERTY('EngineEdition') AS int) = 3\n    {add}",
    ):
        assert rules(NO_TX + guarded.format(add=ADD_NOT_NULL)) == [], guarded


def test_a_statement_after_the_begin_end_block_of_an_edition_guard_is_outside_it() -> None:
    """The DBA's second reading: the guard's arm was the block; what follows END runs on every edition."""
    closed = "IF CAST(SERVERPROPERTY('EngineEdition') AS int) IN (3, 5, 8)\nBEGIN\n    PRINT N'online';\nEND\n{add}"
    assert [rule for _, rule in rules(closed.format(add=ADD_NOT_NULL))] == ["add-column-not-null-default-off-enterprise"]
    inside = "IF CAST(SERVERPROPERTY('EngineEdition') AS int) IN (3, 5, 8)\nBEGIN\n    PRINT N'online';\n    {add}\nEND\n"
    assert rules(inside.format(add=ADD_NOT_NULL)) == []  # in the block: guarded
    nested = ("IF CAST(SERVERPROPERTY('EngineEdition') AS int) = 3\nBEGIN\n    IF COL_LENGTH(N'dbo.Songs', N'X') IS NULL\n"
              "    BEGIN\n        PRINT N'x';\n    END\n    {add}\nEND\n")
    assert rules(NO_TX + nested.format(add=ADD_NOT_NULL)) == []  # after an inner block, still in the outer guard's


NEGATED_GUARDS = [
    "IF NOT (CAST(SERVERPROPERTY('EngineEdition') AS int) IN (3, 5, 8))\n    {add}",
    "IF NOT CAST(SERVERPROPERTY('EngineEdition') AS int) = 3\n    {add}",
    "IF COL_LENGTH(N'dbo.Songs', N'Plays') IS NULL AND NOT CAST(SERVERPROPERTY('EngineEdition') AS int) IN (5, 8)\n    {add}",
]


def test_a_negated_edition_guard_lets_standard_edition_through_and_a_not_elsewhere_does_not_undo_one() -> None:
    for negated in [*NEGATED_GUARDS, "IF CAST(SERVERPROPERTY('EngineEdition') AS int) NOT IN (3, 5, 8)\n    {add}",
                    "IF CAST(SERVERPROPERTY('EngineEdition') AS int) <> 3\n    {add}"]:
        assert [rule for _, rule in rules(negated.format(add=ADD_NOT_NULL))] == ["add-column-not-null-default-off-enterprise"], negated
    for condition in (  # the NOT of another test, or NOT NULL, leaves the edition's comparison a guard
        "CAST(SERVERPROPERTY('EngineEdition') AS int) IN (3, 5, 8) AND NOT EXISTS (SELECT 1 FROM sys.columns AS c WHERE c.name = N'Plays')",
        "NOT (COL_LENGTH(N'dbo.Songs', N'Plays') IS NOT NULL) AND CAST(SERVERPROPERTY('EngineEdition') AS int) = 3",
    ):
        assert rules(f"IF {condition}\n    {ADD_NOT_NULL}") == [], condition


LOB_COLUMNS = [
    "Notes nvarchar(max) NOT NULL CONSTRAINT DF_Songs_Notes DEFAULT (N'')",
    "Cover [varbinary](MAX) NOT NULL CONSTRAINT DF_Songs_Cover DEFAULT (0x00)",
    "Tags varchar(max) NULL CONSTRAINT DF_Songs_Tags DEFAULT ('') WITH VALUES",
    "Doc xml NOT NULL CONSTRAINT DF_Songs_Doc DEFAULT (N'<a/>')",
    # the ISO synonyms, in several words (the DBA's m5)
    "Notes national character varying(max) NOT NULL CONSTRAINT DF_Songs_Notes DEFAULT (N'')",
    "Notes NATIONAL CHAR VARYING (MAX) NOT NULL CONSTRAINT DF_Songs_Notes DEFAULT (N'')",
    "Notes character varying(max) NOT NULL CONSTRAINT DF_Songs_Notes DEFAULT ('')",
    "Cover binary varying(max) NOT NULL CONSTRAINT DF_Songs_Cover DEFAULT (0x00)",
]


@pytest.mark.parametrize("column", LOB_COLUMNS)
def test_a_lob_column_filled_with_its_default_is_flagged_on_every_edition_guard_or_not(column: str) -> None:
    """ALTER TABLE (Transact-SQL): a LOB column's default is written into every row, Enterprise included."""
    add = f"ALTER TABLE dbo.Songs ADD {column};"
    [plain] = findings(add)
    assert plain.rule == "add-lob-column-with-default" and "every edition" in plain.message
    guarded = f"IF CAST(SERVERPROPERTY('EngineEdition') AS int) IN (3, 5, 8)\n    {add}"
    assert [rule for _, rule in rules(guarded)] == ["add-lob-column-with-default"]
    assert rules(add, engine="babelfish") == []  # PostgreSQL 11+ stores a constant default without a rewrite
    # nullable without WITH VALUES: existing rows stay NULL, nothing is written; a short type keeps its own rule
    assert rules("ALTER TABLE dbo.Songs ADD Notes nvarchar(max) NULL CONSTRAINT DF_Songs_Notes DEFAULT (N'');") == []
    short = "ALTER TABLE dbo.Songs ADD Notes nvarchar(400) NOT NULL CONSTRAINT DF_Songs_Notes DEFAULT (N'');"
    assert [rule for _, rule in rules(short)] == ["add-column-not-null-default-off-enterprise"]
    assert [rule for _, rule in rules("ALTER TABLE dbo.Songs ADD Notes nvarchar(max) NOT NULL;")] == [
        "add-column-not-null-nonconstant-default"  # no default at all: Msg 4901 on a table with rows
    ]


def test_a_constant_default_is_quiet_rendered_for_babelfish_and_on_a_new_table() -> None:
    """PostgreSQL 11+ stores a constant default without rewriting the table; a new table has no rows."""
    assert rules("ALTER TABLE dbo.Songs ADD Plays int NOT NULL CONSTRAINT DF_Songs_Plays DEFAULT (0);", engine="babelfish") == []
    assert rules("CREATE TABLE dbo.New (Id int NOT NULL);\nGO\nALTER TABLE dbo.New ADD Plays int NOT NULL DEFAULT (0);") == []


def test_only_the_columns_own_null_and_default_count_not_those_inside_a_check() -> None:
    check = "CONSTRAINT CK_Songs_Rating CHECK (Rating IS NOT NULL OR dbo.Allowed(NEWID()) = 1)"
    assert rules(f"ALTER TABLE dbo.Songs WITH NOCHECK ADD Rating tinyint NULL {check};") == []
    assert rules(f"ALTER TABLE dbo.Songs WITH NOCHECK ADD Rating tinyint NOT NULL CONSTRAINT DF_Songs_Rating DEFAULT (0) {check};") == [
        (1, "add-column-not-null-default-off-enterprise")  # the column's own constant default, not the CHECK's NEWID()
    ]
    assert rules(f"ALTER TABLE dbo.Songs WITH NOCHECK ADD Rating tinyint NOT NULL {check};") == [(1, "add-column-not-null-nonconstant-default")]


# ----- 7. drop-called-object -----------------------------------------------------------------------

CALLER = repeatable("procs/api.GetSongs.sql", "ALTER PROCEDURE api.GetSongs AS EXEC core.OldHelper;")
MOVED = repeatable("procs/worker.Heartbeat.sql", "ALTER PROCEDURE worker.Heartbeat AS RETURN 0;")


def test_dropping_a_procedure_a_current_script_still_calls_is_flagged() -> None:
    [finding] = findings("DROP PROCEDURE IF EXISTS core.OldHelper;", others=(CALLER, MOVED))
    assert (finding.line, finding.rule) == (1, "drop-called-object")
    assert "procs/api.GetSongs.sql still calls it" in finding.message


def test_dropping_a_procedure_before_its_replacement_exists_is_flagged() -> None:
    [finding] = findings("DROP PROCEDURE api.Heartbeat;", others=(CALLER, MOVED))
    assert "its replacement (procs/worker.Heartbeat.sql) is created only after every versioned script" in finding.message
    [again] = findings("DROP VIEW dbo.vw_X;", others=(repeatable("views/dbo.vw_X.sql", "CREATE VIEW dbo.vw_X AS SELECT 1 AS A;"),))
    assert "views/dbo.vw_X.sql creates it again only after" in again.message


def test_any_other_drop_is_a_contract_step_that_a_reasoned_lint_ok_accepts() -> None:
    assert rules("DROP FUNCTION dbo.Unused;", others=(CALLER,)) == [(1, "drop-called-object")]
    marked = "-- songsdb:lint-ok drop-called-object nothing has called it since release 12\nDROP FUNCTION dbo.Unused;"
    assert rules(marked, others=(CALLER,)) == []


def test_a_view_dropped_and_created_by_its_own_repeatable_script_is_quiet() -> None:
    view = repeatable("views/dbo.vw_X.sql", "DROP VIEW IF EXISTS dbo.vw_X;\nGO\nCREATE VIEW dbo.vw_X AS SELECT 1 AS A;\nGO\n")
    assert lint(view, view.source) == []


# ----- 8. drop-table, drop-column ------------------------------------------------------------------


def test_dropping_an_existing_table_or_column_is_a_contract_step() -> None:
    assert rules("DROP TABLE IF EXISTS dbo.OldResults;") == [(1, "drop-table")]
    [column] = findings("ALTER TABLE dbo.Songs DROP CONSTRAINT CK_Songs_Album, COLUMN Album, Artist;")
    assert column.rule == "drop-column" and "drops column Album, Artist of dbo.Songs" in column.message
    assert rules("-- songsdb:lint-ok drop-table unused since 0042, backed up in the release notes\nDROP TABLE dbo.OldResults;") == []


def test_dropping_a_temporary_or_new_table_or_a_constraint_is_quiet() -> None:
    assert rules("DROP TABLE IF EXISTS #stage;") == []
    assert rules("CREATE TABLE dbo.Scratch (Id int NULL);\nGO\nDROP TABLE dbo.Scratch;") == []
    assert rules("ALTER TABLE dbo.Songs DROP CONSTRAINT CK_Songs_Album;") == []


# ----- 9. revoke-or-deny ---------------------------------------------------------------------------


def test_revoking_or_denying_a_right_is_flagged_and_granting_is_not() -> None:
    [revoke] = findings("REVOKE SELECT, INSERT ON SCHEMA::dbo FROM songsdb_app;")
    assert revoke.rule == "revoke-or-deny" and revoke.message.startswith("REVOKE SELECT, INSERT ON SCHEMA::dbo FROM songsdb_app:")
    assert rules("DENY EXECUTE ON SCHEMA::api TO songsdb_worker;") == [(1, "revoke-or-deny")]
    assert rules("GRANT EXECUTE ON SCHEMA::api TO songsdb_web;\nGO\nGRANT CREATE TABLE, ALTER ON SCHEMA::dbo TO songsdb_ops WITH GRANT OPTION;") == []


# ----- repeatable scripts --------------------------------------------------------------------------


def test_table_ddl_in_a_repeatable_script_is_flagged_and_code_is_not() -> None:
    bad = repeatable("procs/api.X.sql", "ALTER PROCEDURE api.X\nAS\nBEGIN\n    ALTER TABLE dbo.Songs ADD X int NULL;\n    DROP TABLE dbo.Old;\nEND;\n")
    assert [(f.line, f.rule) for f in lint(bad, bad.source)] == [(4, "table-ddl-in-repeatable"), (5, "table-ddl-in-repeatable")]
    good = repeatable(
        "procs/api.X.sql",
        "ALTER PROCEDURE api.X\nAS\nBEGIN\n    DROP TABLE IF EXISTS #stage;\n    CREATE TABLE #stage (Id int NULL);\n"
        "    ALTER TABLE #stage ADD Name nvarchar(10) NULL;\n    DECLARE @t TABLE (Id int);\n"
        "    CREATE INDEX IX_Songs_X ON dbo.Songs (Title);\nEND;\n",
    )
    assert lint(good, good.source) == []


def test_a_procedure_body_in_a_versioned_script_is_not_deploy_time_ddl() -> None:
    body = "CREATE PROCEDURE dbo.Tidy\nAS\n    ALTER TABLE dbo.Songs ALTER COLUMN Title nvarchar(10) NULL;\nGO\n"
    assert rules(body) == []
    assert rules(body + "ALTER TABLE dbo.Songs ALTER COLUMN Title nvarchar(10) NULL;\n") == [(5, "rewriting-alter-column")]


# ----- suppression ---------------------------------------------------------------------------------

OFFLINE = "CREATE INDEX IX_Songs_Title ON dbo.Songs (Title);"


def test_a_lint_ok_with_a_reason_on_the_line_or_the_line_above_suppresses_that_rule() -> None:
    assert rules(NO_TX + OFFLINE + " -- songsdb:lint-ok offline-index the table holds 40 rows in production") == []
    assert rules(NO_TX + "-- songsdb:lint-ok offline-index the table holds 40 rows\n" + OFFLINE) == []
    assert rules(NO_TX + "-- songsdb:lint-ok offline-index the table holds 40 rows\n\n" + OFFLINE) == [(4, "offline-index")]
    assert rules(NO_TX + "-- songsdb:lint-ok drop-table the table holds 40 rows\n" + OFFLINE) == [(3, "offline-index")]


def test_each_rule_needs_its_own_lint_ok() -> None:
    both = "-- songsdb:lint-ok offline-index 40 rows\n" + OFFLINE + " -- songsdb:lint-ok index-in-transaction 40 rows"
    assert rules(both) == []
    assert rules("-- songsdb:lint-ok offline-index 40 rows\n" + OFFLINE) == [(2, "index-in-transaction")]


def test_one_lint_ok_may_name_several_rules_for_one_reason_and_suppresses_only_those() -> None:
    assert rules("-- songsdb:lint-ok offline-index,index-in-transaction the table is empty in production\n" + OFFLINE) == []
    assert rules(OFFLINE + " -- songsdb:lint-ok offline-index,index-in-transaction the table is empty") == []
    assert rules("-- songsdb:lint-ok offline-index,drop-table the table is empty\n" + OFFLINE) == [(2, "index-in-transaction")]
    assert rules("-- songsdb:lint-ok offline-index,index-in-transaction\n" + OFFLINE) == [
        (1, "lint-ok-without-reason"), (2, "index-in-transaction"), (2, "offline-index"),
    ]


def test_a_lint_ok_without_a_reason_suppresses_nothing_and_is_a_finding() -> None:
    assert rules(NO_TX + "-- songsdb:lint-ok offline-index\n" + OFFLINE) == [(2, "lint-ok-without-reason"), (3, "offline-index")]
    assert rules(NO_TX + "-- songsdb:lint-ok\n" + OFFLINE) == [(2, "lint-ok-without-reason"), (3, "offline-index")]


# ----- grandfathering ------------------------------------------------------------------------------


def test_the_grandfathered_checksums_are_those_of_0001_to_0013_as_they_are() -> None:
    recomputed = {s.name: checksum(s.source) for s in discover() if s.kind == "versioned" and s.version is not None and s.version <= 13}
    assert dict(GRANDFATHERED) == recomputed
    assert len(GRANDFATHERED) == 13 and grandfathered_in(discover()) == sorted(GRANDFATHERED)


def test_a_grandfathered_script_is_skipped_and_the_same_text_under_a_new_name_is_not() -> None:
    [old] = [s for s in discover() if s.name == "schema/0013_claim_by_model.sql"]
    text = render(old, template_context("sqlserver", "SongsDB")).text
    assert lint(old, text) == []
    assert lint(Script(old.name, old.kind, old.version, old.source.replace("\n", "\r\n")), text) == []  # line endings do not count
    copy = versioned(old.source, "schema/0014_claim_by_model_again.sql")
    assert [(f.line, f.rule) for f in lint(copy, text)] == [(10, "index-in-transaction"), (10, "offline-index")]


def test_0024_is_exempt_from_the_later_enterprise_only_default_rule_alone_and_only_as_it_is() -> None:
    """0024 adds Delayed bit NOT NULL DEFAULT 0 unguarded (M2); it is on main and cannot be edited."""
    [job_attempts] = [s for s in discover() if s.name == "schema/0024_job_attempts.sql"]
    assert dict(EXEMPT) == {(job_attempts.name, "add-column-not-null-default-off-enterprise"): checksum(job_attempts.source)}
    text = render(job_attempts, template_context("sqlserver", "SongsDB")).text
    assert lint(job_attempts, text) == []
    edited = Script(job_attempts.name, "versioned", 24, job_attempts.source + "\n-- edited\n")
    assert [(f.line, f.rule) for f in lint(edited, text)] == [(47, "add-column-not-null-default-off-enterprise")]
    copy = versioned(job_attempts.source, "schema/0099_job_attempts_again.sql")  # the same text as a new script
    assert "add-column-not-null-default-off-enterprise" in {f.rule for f in lint(copy, text)}


def test_an_edited_grandfathered_script_is_a_finding() -> None:
    [old] = [s for s in discover() if s.name == "schema/0012_audit_actions_by_pattern.sql"]
    edited = Script(old.name, old.kind, old.version, old.source.replace("ADD CONSTRAINT", "WITH NOCHECK ADD CONSTRAINT"))
    [finding] = lint(edited, edited.source)
    assert (finding.file, finding.line, finding.rule) == (old.name, 1, "edited-applied-script")
    assert GRANDFATHERED[old.name] in finding.message and checksum(edited.source) in finding.message
    assert grandfathered_in([edited]) == [] and grandfathered_in([old]) == [old.name]


def test_the_linter_finds_what_the_dba_review_found_in_0008_to_0013() -> None:
    """Review 2026-11-30, B3: run as if they were new (under another name), the applied scripts fail."""
    scripts = discover()
    others = tuple(s for s in scripts if s.kind != "versioned")
    found: dict[str, set[str]] = {}
    for s in scripts:
        if s.version is not None and 8 <= s.version <= 13:
            copy = versioned(s.source, s.name.replace("schema/00", "schema/99"))
            text = render(copy, template_context("sqlserver", "SongsDB")).text
            found[s.name[7:11]] = {f.rule for f in lint(copy, text, repeatable=others)}
    assert found == {
        "0008": {"revoke-or-deny"},
        "0009": set(),
        "0010": {"drop-called-object"},
        "0011": {"check-constraint-with-check", "several-ddl-in-transaction", "offline-index", "index-in-transaction"},
        "0012": {"check-constraint-with-check", "several-ddl-in-transaction"},
        "0013": {"offline-index", "index-in-transaction"},
    }


# ----- line numbers --------------------------------------------------------------------------------


def test_a_finding_is_on_its_statements_first_line_past_comments_strings_and_batches() -> None:
    source = (
        "/* a header\n   over three lines, /* nested */\n   and -- this is no comment start */\n"
        "UPDATE dbo.Songs SET Title = N'-- not a comment /* nor this' WHERE Title = N'it''s\nGO\n';\nGO\n\n"
        "ALTER TABLE dbo.Songs\n    ALTER COLUMN Title nvarchar(800) NULL;\n"
    )
    assert rules(source) == [(9, "rewriting-alter-column")]


@pytest.mark.parametrize("engine", ENGINES)
def test_lines_are_those_of_the_rendered_text(engine: str) -> None:
    [old] = [s for s in discover() if s.name == "schema/0011_job_holders_public_ids_access_paths.sql"]
    copy = versioned(old.source, "schema/0099_copy.sql")
    text = render(copy, template_context(engine, "SongsDB")).text
    lines = text.split("\n")
    result = [f for f in lint(copy, text, engine=engine) if f.rule == "index-in-transaction"]
    assert len(result) == 9
    for finding in result:
        assert lines[finding.line - 1].startswith("CREATE INDEX "), (finding, lines[finding.line - 1])
    # on Babelfish the SQL Server-only block (lines 46-49) renders as one empty line: what follows moves up by 3
    assert result[0].line == (55 if engine == "sqlserver" else 52)


def test_the_tokenizer_drops_exactly_what_strip_comments_drops_from_every_script() -> None:
    for script in discover():
        text = render(script, template_context("sqlserver", "SongsDB")).text
        tokens = "".join(t.text for t in _tokenize(text, 1))
        assert re.sub(r"\s+", "", tokens) == re.sub(r"\s+", "", strip_comments(text)), script.name


FRAGMENTS = (
    "CREATE ALTER DROP TRUNCATE REVOKE DENY GRANT UNIQUE CLUSTERED INDEX TABLE PROCEDURE VIEW FUNCTION IF EXISTS "
    "ON ADD COLUMN CONSTRAINT CHECK NOCHECK FOREIGN KEY REFERENCES PRIMARY DEFAULT NOT NULL WITH VALUES ONLINE = "
    "REBUILD EXEC EXECUTE sp_executesql ( ) , ; . dbo.Songs #t @t N' ' -- /* */ [x ] \" \n GO\n ELSE BEGIN END "
    "NEWID() dbo.f() 0 songsdb:lint-ok offline-index"
).split(" ")


@given(st.lists(st.sampled_from(FRAGMENTS), max_size=60), st.booleans(), st.sampled_from(ENGINES))
def test_any_text_lints_without_error_and_every_finding_is_on_one_of_its_lines(words: list[str], transactional: bool, engine: str) -> None:
    text = ("" if transactional else NO_TX) + " ".join(words)
    for finding in lint(versioned(text), text, engine=engine):
        assert 1 <= finding.line <= text.count("\n") + 1 and finding.rule in RULES


# ----- the repository, the report, the README ------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_every_script_in_the_repository_passes_the_linter(engine: str) -> None:
    assert lint_all(discover(), engine) == []


def test_findings_print_one_line_each_and_a_summary() -> None:
    found = findings(NO_TX + OFFLINE + "\nGO\nDROP TABLE dbo.Old;")
    text = format_findings(found, ["schema/0001_x.sql"])
    assert text.splitlines()[0].startswith("schema/0099_test.sql:2: offline-index: CREATE INDEX IX_Songs_Title ON dbo.Songs runs offline")
    assert text.splitlines()[1].startswith("schema/0099_test.sql:4: drop-table: drops table dbo.Old")
    assert text.splitlines()[-1] == "2 findings in 1 script; 1 grandfathered script not linted"
    assert format_findings([]) == "no findings"


def test_python_m_songsdb_lint_reports_the_repository(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--engine", "sqlserver"]) == 0
    assert capsys.readouterr().out == "no findings; 13 grandfathered scripts not linted\n"


def test_the_readme_names_every_rule() -> None:
    section = README.split("\n### The migration linter", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
    missing = [rule for rule in RULES if f"`{rule}`" not in section]
    assert not missing, f"the README's linter section does not explain: {missing}"


# ----- session-setting-in-versioned-script (the DBA's m6) ----------------------------------------------


@pytest.mark.parametrize(
    "setting",
    [
        "SET XACT_ABORT OFF;",
        "SET LOCK_TIMEOUT -1;",
        "SET LOCK_TIMEOUT 600000",
        "set lock_timeout @Wait;",
        "SET IMPLICIT_TRANSACTIONS ON;",
        "SET DEADLOCK_PRIORITY HIGH;",
        "SET DEADLOCK_PRIORITY -10;",
        "SET ANSI_NULLS, IMPLICIT_TRANSACTIONS ON;",
    ],
)
def test_a_session_setting_that_changes_how_the_rest_of_a_versioned_script_runs_is_flagged(setting: str) -> None:
    for prefix in ("", NO_TX):
        source = prefix + f"{setting}\nALTER TABLE dbo.Songs ADD Plays int NULL;\n"
        assert (1 + bool(prefix), "session-setting-in-versioned-script") in rules(source), (prefix, setting)
    assert (3, "session-setting-in-versioned-script") in rules(f"IF 1 = 1\nBEGIN\n    {setting}\nEND;\n")  # in a block too


@pytest.mark.parametrize(
    "quiet",
    [
        "SET XACT_ABORT ON;\nSET IMPLICIT_TRANSACTIONS OFF;\nSET NOCOUNT ON;\n",
        "DECLARE @LockTimeout int = 5;\nSET @LockTimeout = 10;\n",
        "UPDATE dbo.Songs SET Title = N'x' WHERE Id = 0;\n",
        "EXEC (N'SET LOCK_TIMEOUT 30000; ALTER TABLE dbo.Songs ADD Plays int NULL;');\n",  # reverted when EXEC ends
        "GO\nCREATE OR ALTER PROCEDURE dbo.P AS\nBEGIN\n    SET XACT_ABORT OFF;\n    SET LOCK_TIMEOUT -1;\nEND;\n",  # reverted
        "-- SET LOCK_TIMEOUT -1; in a comment\nPRINT N'SET XACT_ABORT OFF';\n",
    ],
)
def test_the_settings_that_are_safe_or_revert_by_themselves_are_quiet(quiet: str) -> None:
    assert "session-setting-in-versioned-script" not in {rule for _, rule in rules(quiet)}


def test_a_session_setting_meant_in_a_versioned_script_is_accepted_with_a_reasoned_lint_ok() -> None:
    marked = "-- songsdb:lint-ok session-setting-in-versioned-script one statement that must wait for its lock, reset below\n"
    source = marked + "SET LOCK_TIMEOUT 60000;\nALTER TABLE dbo.Songs ADD Plays int NULL;\nSET LOCK_TIMEOUT 1500;\n"
    assert rules(source) == [(4, "session-setting-in-versioned-script")]  # the reset is a setting too: each needs its own
    assert rules(source.replace("SET LOCK_TIMEOUT 1500;\n", "")) == []
    assert [r for _, r in rules("-- songsdb:lint-ok session-setting-in-versioned-script\nSET XACT_ABORT OFF;\n")] == [
        "lint-ok-without-reason", "session-setting-in-versioned-script"
    ]
