"""Reads procedures out of sql/procs for the contract tests: parameters, declared and selected columns."""

from __future__ import annotations

import re
from dataclasses import dataclass

from songsdb.migrations import discover, sql_root

_ALTER = re.compile(r"ALTER\s+PROCEDURE\s+(\w+\.\w+)(.*?)\bAS\s*\n\s*BEGIN\b", re.IGNORECASE | re.DOTALL)
_PARAM = re.compile(r"@(\w+)\s+\w+")
_RETURNS = re.compile(r"^\s*Returns(?: (\d))?:\s*(.*)$")
_IDENT = re.compile(r"^[A-Za-z_]\w*$")


@dataclass(frozen=True)
class Procedure:
    name: str
    parameters: tuple[str, ...]
    declared: dict[int, list[str]]  # result set number (1-based) -> columns from the header
    selected: list[list[str]]  # the column lists of the body's SELECTs that return rows, in order
    body: str


def _header(source: str) -> str:
    match = re.match(r"\s*/\*(.*?)\*/", source, re.DOTALL)
    return match.group(1) if match else ""


def declared_columns(header: str) -> dict[int, list[str]]:
    """'Returns: A, B,' lines (continued while a line ends with a comma) -> {1: [A, B, ...]}."""
    result: dict[int, list[str]] = {}
    lines = header.splitlines()
    i = 0
    while i < len(lines):
        match = _RETURNS.match(lines[i])
        if match:
            number = int(match.group(1) or 1)
            text = match.group(2).strip()
            while text.endswith(",") and i + 1 < len(lines):
                i += 1
                text += " " + lines[i].strip()
            names = [n.strip() for n in text.split(",")]
            if all(_IDENT.match(n) for n in names):
                result[number] = names
        i += 1
    return result


def _split_top_level(text: str) -> list[str]:
    items, depth, current = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            items.append("".join(current))
            current = []
        else:
            current.append(ch)
    items.append("".join(current))
    return [i.strip() for i in items if i.strip()]


def _item_name(item: str) -> str:
    alias = re.search(r"\bAS\s+\[?(\w+)\]?\s*$", item, re.IGNORECASE)
    if alias:
        return alias.group(1)
    return re.sub(r"[\[\]]", "", item.split(".")[-1]).strip()


def selected_columns(body: str) -> list[list[str]]:
    """Column names of each row-returning SELECT (not SET x = (SELECT ...), not INSERT ... SELECT, not EXISTS)."""
    sets = []
    code = re.sub(r"--[^\n]*", "", body)
    for match in re.finditer(r"(?m)^(\s*)SELECT(?:\s+TOP\s*\(\s*@?\w+\s*\))?\s*\n(.*?)(?:\n\s*FROM\b|;\s*$)", code, re.DOTALL | re.IGNORECASE):
        preceding = code[: match.start()].rstrip()
        if preceding.endswith("(") or re.search(r"(INSERT INTO [^;]*?\)|UNION ALL)$", preceding, re.IGNORECASE):
            continue
        sets.append([_item_name(i) for i in _split_top_level(match.group(2))])
    # rows returned straight from a write: OUTPUT without INTO (api.LogAudit)
    for match in re.finditer(r"(?m)^\s*OUTPUT\s*\n(.*?)\n\s*(?:VALUES|SELECT|WHERE)\b", code, re.DOTALL | re.IGNORECASE):
        if not re.search(r"\bINTO\b", match.group(1), re.IGNORECASE):
            sets.append([_item_name(i) for i in _split_top_level(match.group(1))])
    return sets


def procedures() -> dict[str, Procedure]:
    found: dict[str, Procedure] = {}
    for script in discover(sql_root()):
        if not script.name.startswith("procs/"):
            continue
        match = _ALTER.search(script.source)
        assert match, f"{script.name}: no ALTER PROCEDURE ... AS BEGIN"
        name = match.group(1)
        assert script.name == f"procs/{name}.sql", f"{script.name} defines {name}"
        params = tuple(_PARAM.findall(match.group(2)))
        body = script.source[match.end():]
        found[name.lower()] = Procedure(name, params, declared_columns(_header(script.source)), selected_columns(body), body)
    return found
