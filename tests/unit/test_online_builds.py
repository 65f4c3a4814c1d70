"""Online index builds in the SQL Server rendering ask only for what the edition and the index allow.

No server here: the checks read the rendered scripts. An ``ONLINE = ON`` build must sit under a
condition that is false on Standard (EngineEdition 2) and Express (4) of every version: those
editions refuse online index operations (Msg 1712), and an online branch they can reach stops the
deployment. ``RESUMABLE = ON`` never goes with a filtered index: CREATE INDEX cannot resume the
build of one (CREATE INDEX (Transact-SQL), resumable operations).
"""

from __future__ import annotations

import re

import pytest

from songsdb.migrations import discover, render, sql_root

EDITION = "CAST(SERVERPROPERTY('EngineEdition') AS int)"
VERSION = "CAST(SERVERPROPERTY('ProductMajorVersion') AS int)"
EXEC = re.compile(r"\bEXEC\s*\(\s*N'(?P<statement>(?:[^']|'')*)'\s*\)", re.S | re.I)


def branches(text: str) -> list[tuple[str, str]]:
    """(condition, statement) of each ``IF ... EXEC (N'...')``: the condition is what follows the last IF before it."""
    found = []
    for m in EXEC.finditer(text):
        before = re.sub(r"--[^\n]*", "", text[: m.start()])
        condition = re.split(r"\bIF\b", before)[-1]
        found.append((condition, m.group("statement")))
    return found


def sqlserver_scripts() -> list[tuple[str, str]]:
    return [(s.name, render(s, {"engine": "sqlserver", "database": "SongsDB"}).text) for s in discover(sql_root())]


def evaluate(condition: str, edition: int, version: int) -> bool:
    """The branch condition for a server of that edition and major version (the few forms the scripts use)."""
    text = re.sub(r"--[^\n]*", "", condition).replace(EDITION, "E").replace(VERSION, "V")
    text = re.sub(r"(?<![<>!])=", "==", text).replace(" IN ", " in ").replace("AND", "and").replace("OR", "or")
    assert set(re.sub(r"\b(?:E|V|in|and|or)\b", "", text)) <= set("0123456789(),<>= \n"), f"unexpected condition: {condition!r}"
    return bool(eval(" ".join(text.split()), {}, {"E": edition, "V": version}))  # arithmetic on two names, checked above


ONLINE_BUILDS = [
    (name, condition, statement)
    for name, text in sqlserver_scripts()
    for condition, statement in branches(text)
    if "ONLINE = ON" in statement.upper()
]


def test_the_scripts_have_online_builds_to_check() -> None:
    assert len(ONLINE_BUILDS) >= 15


@pytest.mark.parametrize(("name", "condition", "statement"), ONLINE_BUILDS, ids=[f"{n}:{i}" for i, (n, _, _) in enumerate(ONLINE_BUILDS)])
def test_standard_and_express_never_reach_an_online_build(name: str, condition: str, statement: str) -> None:
    for edition in (2, 4):  # Standard, Express
        for version in (15, 16, 17):
            assert not evaluate(condition, edition, version), f"{name}: edition {edition}, version {version} builds online"
    assert any(evaluate(condition, edition, 16) for edition in (3, 5, 8)), f"{name}: no edition takes this branch"


@pytest.mark.parametrize(("name", "condition", "statement"), ONLINE_BUILDS, ids=[f"{n}:{i}" for i, (n, _, _) in enumerate(ONLINE_BUILDS)])
def test_a_filtered_index_is_never_built_resumable(name: str, condition: str, statement: str) -> None:
    creates_filtered = re.search(r"CREATE\s+(UNIQUE\s+)?INDEX\b.*\bWHERE\b", statement, re.S | re.I)
    assert not (creates_filtered and "RESUMABLE = ON" in statement.upper()), f"{name}: {statement[:80]}"


def test_the_check_catches_the_condition_that_let_standard_2022_build_online() -> None:
    wrong = f" {EDITION} IN (5, 8) OR {VERSION} >= 16\n    "
    assert evaluate(wrong, 2, 16) and not evaluate(f" {EDITION} IN (5, 8)\n", 2, 16)
