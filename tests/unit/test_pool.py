"""The connection pool's rules, with a fake clock and fake connections (no server involved)."""

from __future__ import annotations

from typing import Any

import pytest

from songsdb.errors import DatabaseUnavailable
from songsdb.pool import ConnectionPool


class Conn:
    made = 0

    def __init__(self) -> None:
        Conn.made += 1
        self.number = Conn.made
        self.closed = False
        self.dead = False

    def cursor(self) -> Any:
        return self

    def close(self) -> None:
        self.closed = True


def make_pool(**kwargs: Any) -> tuple[ConnectionPool, list[float], list[Conn]]:
    now = [0.0]
    checked: list[Conn] = []

    def check(conn: Conn) -> None:
        checked.append(conn)
        if conn.dead:
            raise OSError("server restarted")

    pool = ConnectionPool(Conn, max_size=2, timeout=0.05, check=check, clock=lambda: now[0], **kwargs)
    return pool, now, checked


def test_a_recently_used_connection_is_handed_out_without_a_check() -> None:
    pool, now, checked = make_pool(max_idle=30)
    conn = pool.acquire()
    pool.release(conn)
    now[0] = 10
    assert pool.acquire() is conn and checked == []


def test_an_idle_connection_is_checked_and_a_dead_one_replaced() -> None:
    pool, now, checked = make_pool(max_idle=30)
    conn = pool.acquire()
    pool.release(conn)
    conn.raw.dead = True
    now[0] = 31
    fresh = pool.acquire()
    assert checked == [conn.raw] and fresh is not conn and conn.raw.closed
    pool.release(fresh)
    now[0] = 100
    assert pool.acquire() is fresh  # alive: checked, then handed out
    assert checked == [conn.raw, fresh.raw]


def test_an_old_connection_is_recycled() -> None:
    pool, now, _ = make_pool(max_lifetime=60)
    conn = pool.acquire()
    pool.release(conn)
    now[0] = 61
    assert pool.acquire() is not conn and conn.raw.closed


def test_a_connection_returned_after_close_is_closed_not_pooled() -> None:
    pool, _, _ = make_pool()
    borrowed = pool.acquire()
    pool.close()
    pool.release(borrowed)
    assert borrowed.raw.closed and pool.idle == 0
    again = pool.acquire()  # the pool still works afterwards
    pool.release(again)
    assert pool.idle == 1


def test_a_broken_connection_is_closed_and_its_slot_freed() -> None:
    pool, _, _ = make_pool()
    a, b = pool.acquire(), pool.acquire()
    with pytest.raises(DatabaseUnavailable, match="no free connection"):
        pool.acquire()
    pool.release(a, broken=True)
    assert a.raw.closed
    pool.release(b)
    assert pool.acquire() is b


def test_a_borrower_waits_for_a_connection_to_come_back() -> None:
    import threading

    pool = ConnectionPool(Conn, max_size=1, timeout=5)
    first = pool.acquire()
    got: list[Any] = []
    waiter = threading.Thread(target=lambda: got.append(pool.acquire()))
    waiter.start()
    waiter.join(0.1)
    assert waiter.is_alive() and not got  # every connection is out: it waits
    pool.release(first)
    waiter.join(5)
    assert got == [first]


def test_a_failed_connect_gives_its_slot_back() -> None:
    attempts = []

    def refuse() -> Any:
        attempts.append(1)
        raise OSError("connection refused")

    pool = ConnectionPool(refuse, max_size=1, timeout=0.05)
    for _ in range(3):  # with the slot leaked, the second try would wait and say "no free connection"
        with pytest.raises(OSError, match="refused"):
            pool.acquire()
    assert len(attempts) == 3
