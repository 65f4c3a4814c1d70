"""Static gate: every .sql file, rendered for each engine, parses under sqlfluff's tsql dialect."""

from __future__ import annotations

import pytest

from songsdb.batches import split_batches
from songsdb.migrations import (
    ENGINES,
    HISTORY_BOOTSTRAP,
    build_deployment_script,
    discover,
    render,
    sql_root,
    template_context,
)

sqlfluff = pytest.importorskip("sqlfluff.core", reason="sqlfluff is in the test extra: pip install -e '.[test]'")

SCRIPTS = discover(sql_root())


def parse_errors(text: str, name: str) -> list[str]:
    linter = sqlfluff.Linter(config=sqlfluff.FluffConfig(overrides={"dialect": "tsql", "templater": "raw"}))
    result = linter.parse_string(text, fname=name)
    return [f"{name}, line {v.line_no}: {v.desc()}" for v in result.violations]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("script", SCRIPTS, ids=[s.name for s in SCRIPTS])
def test_every_sql_file_parses_as_tsql(script, engine: str) -> None:
    text = render(script, template_context(engine, "SongsDB")).text
    assert parse_errors(text, script.name) == []


def test_the_history_bootstrap_parses_as_tsql() -> None:
    assert parse_errors(HISTORY_BOOTSTRAP, "HISTORY_BOOTSTRAP") == []


@pytest.mark.parametrize("engine", ENGINES)
def test_the_deployment_scripts_own_batches_parse_as_tsql(engine: str) -> None:
    """The guard rails, the sqlcmd-mode check and the create-database batches (what the server gets of them)."""
    script = build_deployment_script([], engine, create_database="SongsDB")
    assert parse_errors("".join(b.sql + b.separator for b in split_batches(script)), f"deploy-{engine}.sql") == []


def test_the_gate_rejects_broken_sql_and_names_the_line() -> None:
    errors = parse_errors("SELECT 1;\nGO\nCREATE PROCEDUR api.X AS SELEC;\nGO\n", "broken.sql")
    assert errors and errors[0].startswith("broken.sql, line")


def test_every_batch_of_every_file_is_non_empty_sql() -> None:
    for script in SCRIPTS:
        batches = [b for b in split_batches(script.source) if not b.is_empty]
        assert batches, f"{script.name} has no batch"


def test_every_sql_file_passes_the_repositorys_lint_rules() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    linter = sqlfluff.Linter(config=sqlfluff.FluffConfig.from_path(str(root / "sql")))
    result = linter.lint_paths((str(root / "sql"),))
    files = [f for p in result.paths for f in p.files]
    problems = [f"{Path(f.path).name}, line {v.line_no}: {v.rule_code()} {v.desc()}" for f in files for v in f.violations]
    assert len(files) == len(SCRIPTS)
    assert problems == []
