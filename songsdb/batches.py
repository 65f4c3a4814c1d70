"""Split a T-SQL script into batches on ``GO``, the way sqlcmd does.

``GO`` is not T-SQL: it is a client-side separator. sqlcmd treats a line as a
separator when, ignoring surrounding white space and letter case, it is
``GO``, optionally followed by a repeat count (``GO 5``) and a ``--`` comment.
It never separates inside a string literal, a quoted or [bracketed]
identifier or a (nested) block comment, and ``GOTO label`` or a name that
merely starts with GO (``GOAL``) is ordinary text.

The split is lossless: ``"".join(b.text + b.separator for b in batches)``
gives back the input exactly, which the property tests rely on.

sqlcmd commands (``:on error exit``, ``:setvar``, ``:r``...) are not T-SQL either:
sqlcmd runs a line that starts with ``:`` (white space before it allowed) as a
command, at once, and never sends it to the server. Such a line stays in
``Batch.text`` (so the split stays lossless) and is listed in
``Batch.commands``; ``Batch.sql`` is the text to send, with each command line
left empty so that line numbers still point into the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Batch", "split_batches", "join_batches"]

_GO_LINE = re.compile(r"[ \t]*GO(?:[ \t]+(?P<count>\d+))?[ \t]*(?:--[^\n]*)?\r?\n?\Z", re.IGNORECASE)
# sqlcmd's commands: a colon then a name (":on error exit", ":setvar x 1", ":r file.sql", ":exit(...)")
# or ":!!" at the start of a line. "::fn_x()" (old T-SQL syntax) is not one: a name follows the colon.
_COMMAND_LINE = re.compile(r"[ \t]*:(?:!!|[A-Za-z]+\b)")


@dataclass(frozen=True)
class Batch:
    """One batch: its text, the 1-based line it starts on and how often to run it."""

    text: str
    start_line: int
    repeat: int = 1
    separator: str = ""
    commands: tuple[str, ...] = ()  # the sqlcmd command lines in this batch, in order, without their line endings

    @property
    def sql(self) -> str:
        """What to send to the server: ``text`` with each sqlcmd command line left empty."""
        if not self.commands:
            return self.text
        out: list[str] = []
        state: tuple[str, int] = ("code", 0)
        for line in _lines(self.text):
            if _is_command(line, state):
                out.append(line[len(line.rstrip("\r\n")) :])  # keep only the line ending
                continue
            out.append(line)
            state = _scan_line(line, state)
        return "".join(out)

    @property
    def is_empty(self) -> bool:
        """True when the batch holds only white space and sqlcmd commands (nothing for the server)."""
        return not self.sql.strip()


def _scan_line(line: str, state: tuple[str, int]) -> tuple[str, int]:
    """Advance the lexical state over one line; return the state at its end.

    States: ("code", 0), ("string", 0) for '...' literals, ("quoted", 0) for
    "..." identifiers, ("bracket", 0) for [...] identifiers, and
    ("comment", depth) inside nested /* */ comments. A ``--`` comment ends
    with its line, so it never carries over.
    """
    kind, depth = state
    i, n = 0, len(line)
    while i < n:
        ch = line[i]
        pair = line[i : i + 2]
        if kind == "comment":
            if pair == "/*":
                depth, i = depth + 1, i + 2
            elif pair == "*/":
                depth, i = depth - 1, i + 2
                if depth == 0:
                    kind = "code"
            else:
                i += 1
        elif kind in ("string", "quoted", "bracket"):
            close = {"string": "'", "quoted": '"', "bracket": "]"}[kind]
            if ch == close:
                if line[i + 1 : i + 2] == close:  # doubled quote is an escape
                    i += 2
                    continue
                kind = "code"
            i += 1
        elif pair == "--":
            return kind, depth  # rest of the line is a comment
        elif pair == "/*":
            kind, depth, i = "comment", 1, i + 2
        elif ch == "'":
            kind, i = "string", i + 1
        elif ch == '"':
            kind, i = "quoted", i + 1
        elif ch == "[":
            kind, i = "bracket", i + 1
        else:
            i += 1
    return kind, depth


def _is_command(line: str, state: tuple[str, int]) -> bool:
    """True for a sqlcmd command line: one starting with ``:`` outside any string, identifier or comment."""
    return state[0] == "code" and _COMMAND_LINE.match(line) is not None


def _lines(script: str) -> list[str]:
    """Lines with their endings; only ``\n`` ends a line, as for sqlcmd."""
    parts = script.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def split_batches(script: str) -> list[Batch]:
    """Split ``script`` on sqlcmd ``GO`` lines.

    Returns every batch, empty ones included, so that joining them with their
    separators gives back ``script``; callers skip ``Batch.is_empty`` ones.
    A repeat count of 0 is kept as 0 (sqlcmd then runs the batch no times).
    """
    batches: list[Batch] = []
    state: tuple[str, int] = ("code", 0)
    current: list[str] = []
    commands: list[str] = []
    start_line = 1
    for number, line in enumerate(_lines(script), start=1):
        match = _GO_LINE.match(line) if state[0] == "code" else None
        if match:
            count = match.group("count")
            batches.append(Batch("".join(current), start_line, int(count) if count else 1, line, tuple(commands)))
            current, commands, start_line = [], [], number + 1
            continue
        current.append(line)
        if _is_command(line, state):  # sqlcmd runs it itself; it does not change the lexical state
            commands.append(line.strip())
            continue
        state = _scan_line(line, state)
    batches.append(Batch("".join(current), start_line, commands=tuple(commands)))
    return batches


def join_batches(batches: list[Batch]) -> str:
    """Inverse of :func:`split_batches`."""
    return "".join(b.text + b.separator for b in batches)
