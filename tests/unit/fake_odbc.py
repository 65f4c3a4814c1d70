"""A recording stand-in for a pyodbc connection, for unit tests of the client's plumbing only.

It proves nothing about SQL Server; the integration suite does that.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

FakeError = type("Error", (Exception,), {"__module__": "pyodbc"})


class FakeCursor:
    def __init__(self, conn: FakeConnection) -> None:
        self.conn = conn
        self.sets: list[tuple[list[str], list[tuple[Any, ...]]]] = []
        self.description: list[tuple[str]] | None = None

    def execute(self, sql: str, params: list[Any] | tuple[Any, ...] = ()) -> FakeCursor:
        if sql == "SELECT 1;":  # the pool's liveness check
            if self.conn.dead:
                raise FakeError("08S01", "[08S01] [FreeTDS][SQL Server]Write to the server failed (20006) (SQLExecDirectW)")
            self.sets = [(["one"], [(1,)])]
            self._advance()
            return self
        self.conn.executed.append((sql, list(params)))
        outcome = self.conn.respond(sql, params)
        if isinstance(outcome, Exception):
            raise outcome
        self.sets = list(outcome)
        self._advance()
        return self

    def _advance(self) -> None:
        self.current = self.sets.pop(0) if self.sets else None
        self.description = [(n,) for n in self.current[0]] if self.current else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        return list(self.current[1]) if self.current else []

    def fetchone(self) -> tuple[Any, ...] | None:
        rows = self.fetchall()
        return rows[0] if rows else None

    def nextset(self) -> bool:
        if not self.sets:
            return False
        self._advance()
        return True

    def close(self) -> None:
        pass


class FakeConnection:
    def __init__(self, respond: Callable[[str, list[Any]], Any]) -> None:
        self.respond = respond
        self.executed: list[tuple[str, list[Any]]] = []
        self.autocommit = True
        self.timeout = 0  # pyodbc's: the query limit a new cursor gets
        self.commits = 0
        self.rollbacks = 0
        self.closed = False
        self.dead = False  # set by a test: the server went away
        self.cursors_made = 0

    def cursor(self) -> FakeCursor:
        self.cursors_made += 1
        return FakeCursor(self)

    def commit(self) -> None:
        self.commits += 1

    def rollback(self) -> None:
        self.rollbacks += 1

    def close(self) -> None:
        self.closed = True


def server_error(number: int, state: str = "42000", text: str = "boom") -> Exception:
    return FakeError(state, f"[{state}] [FreeTDS][SQL Server]{text} ({number}) (SQLExecDirectW)")
