"""A small, bounded, thread-safe pool of pyodbc connections.

pyodbc connections may move between threads but must not be used by two at once
(pyodbc.threadsafety == 1), so each call borrows one connection and gives it back.
At most ``max_size`` exist at a time; a borrower waits up to ``timeout`` seconds.
A connection returned as broken is closed instead of kept.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from songsdb.errors import DatabaseUnavailable

__all__ = ["ConnectionPool"]


class ConnectionPool:
    """Borrow with :meth:`acquire`, give back with :meth:`release`."""

    def __init__(self, connect: Callable[[], Any], max_size: int = 8, timeout: float = 30.0) -> None:
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        self._connect = connect
        self._timeout = timeout
        self._slots = threading.BoundedSemaphore(max_size)
        self._idle: list[Any] = []
        self._lock = threading.Lock()
        self.max_size = max_size

    @property
    def idle(self) -> int:
        """How many open connections wait in the pool."""
        with self._lock:
            return len(self._idle)

    def acquire(self) -> Any:
        """An open connection: an idle one, or a new one. Connection errors propagate unchanged."""
        if not self._slots.acquire(timeout=self._timeout):
            raise DatabaseUnavailable(f"no free connection within {self._timeout:.0f} s (pool of {self.max_size})")
        with self._lock:
            if self._idle:
                return self._idle.pop()
        try:
            return self._connect()
        except BaseException:
            self._slots.release()
            raise

    def release(self, conn: Any, broken: bool = False) -> None:
        """Give ``conn`` back; a broken one is closed."""
        try:
            if broken:
                _close(conn)
            else:
                with self._lock:
                    self._idle.append(conn)
        finally:
            self._slots.release()

    def close(self) -> None:
        """Close the idle connections (borrowed ones are closed when given back broken, or by close again)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            _close(conn)


def _close(conn: Any) -> None:
    try:
        conn.close()
    except Exception:  # already gone
        pass
