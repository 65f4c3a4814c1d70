"""The connection pool's rules, with a fake clock and fake connections (no server involved)."""

from __future__ import annotations

import gc
import json
import os
import signal
import threading
import time
import traceback
import weakref
from collections.abc import Callable
from typing import Any

import pytest

from songsdb.errors import PoolTimeout
from songsdb.pool import ConnectionPool


class Conn:
    made = 0

    def __init__(self) -> None:
        Conn.made += 1
        self.number = Conn.made
        self.closed = False
        self.dead = False
        self.autocommit = True  # as the client keeps a pooled pyodbc connection
        self.timeout = 30

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
    with pytest.raises(PoolTimeout, match="no free connection"):
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


# ----- fork safety: a child never uses, closes or frees what it inherited ---------------------------

posix_only = pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")


def in_child(body: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run ``body`` in a forked child and return what it returned (JSON through a pipe).

    The child always leaves with ``os._exit`` (no pytest teardown, no finalizers), and is killed
    by SIGALRM after 10 s, so a deadlock fails the test instead of hanging it.
    """
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        code = 1
        try:
            os.close(read)
            signal.signal(signal.SIGALRM, signal.SIG_DFL)
            signal.alarm(10)
            report = json.dumps(body())
            code = 0
        except BaseException:
            report = json.dumps({"error": traceback.format_exc()})
        finally:
            try:
                os.write(write, report.encode())
            finally:
                os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        output = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status), f"the child died with signal {os.WTERMSIG(status)} (a deadlock is killed by SIGALRM)"
    report = json.loads(output)
    assert os.WEXITSTATUS(status) == 0, report["error"]
    return report


@posix_only
def test_a_forked_child_opens_its_own_connection_and_never_touches_the_parents() -> None:
    pool, now, checked = make_pool(max_idle=30)
    conn = pool.acquire()
    pool.release(conn)
    parent_raw, parent_ref, made_before = conn.raw, weakref.ref(conn.raw), Conn.made
    now[0] = 100  # idle long enough that handing it out would check it: a round trip on the parent's session

    def child() -> dict[str, Any]:
        mine = pool.acquire()
        pool.release(mine)
        again = pool.acquire()  # the child pools its own connection
        gc.collect()  # the inherited objects stay referenced: pyodbc disconnects a connection it frees
        return {
            "new": mine.raw is not parent_raw,
            "made": Conn.made - made_before,
            "reused_own": again is mine,
            "parent_checked": parent_raw in checked,
            "parent_closed": parent_raw.closed,
            "parent_alive_after_gc": parent_ref() is not None,
        }

    assert in_child(child) == {
        "new": True, "made": 1, "reused_own": True,
        "parent_checked": False, "parent_closed": False, "parent_alive_after_gc": True,
    }
    # the parent's pool is as it was: its idle connection is still pooled, and usable
    assert pool.idle == 1 and Conn.made == made_before
    assert pool.acquire() is conn and not parent_raw.closed and checked == [parent_raw]


@posix_only
def test_a_connection_borrowed_before_a_fork_and_released_in_the_child_is_neither_pooled_nor_closed() -> None:
    pool, _, _ = make_pool()  # max_size=2
    first, second = pool.acquire(), pool.acquire()

    def child() -> dict[str, Any]:
        pool.release(first)
        pool.release(second, broken=True)
        idle = pool.idle
        own = [pool.acquire(), pool.acquire()]  # the two parent's borrowings count for nothing here ...
        try:
            pool.acquire()  # ... and the limit still holds: they did not free extra slots either
            limit = False
        except PoolTimeout:
            limit = True
        return {
            "idle": idle,
            "closed": [first.raw.closed, second.raw.closed],
            "own_are_new": all(c not in (first, second) for c in own),
            "limit_holds": limit,
        }

    assert in_child(child) == {"idle": 0, "closed": [False, False], "own_are_new": True, "limit_holds": True}
    pool.release(first)  # in the parent they come back as usual
    pool.release(second)
    assert pool.idle == 2 and not first.raw.closed and pool.acquire() is second


@posix_only
def test_the_child_gets_a_fresh_lock_when_another_thread_held_it_at_the_fork() -> None:
    pool = ConnectionPool(Conn, max_size=1, timeout=5)
    pool.release(pool.acquire())
    held, done = threading.Event(), threading.Event()

    def hold_the_lock() -> None:
        with pool._lock:
            held.set()
            done.wait(10)

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    held.wait(5)
    try:

        def child() -> dict[str, Any]:
            idle = pool.idle  # before any acquire: the at-fork hook made the lock fresh already
            conn = pool.acquire()
            pool.release(conn)
            return {"idle_at_start": idle, "idle_after": pool.idle}

        assert pool._lock.locked()  # the lock really is held while we fork
        assert in_child(child) == {"idle_at_start": 0, "idle_after": 1}
    finally:
        done.set()
        holder.join(5)
    assert pool.idle == 1  # and the parent's pool goes on


@posix_only
def test_a_pool_exhausted_at_the_fork_is_empty_in_the_child() -> None:
    pool = ConnectionPool(Conn, max_size=1, timeout=5)
    borrowed = pool.acquire()
    waiter = threading.Thread(target=lambda: pool.release(pool.acquire()))
    waiter.start()  # waits for the one connection
    waiter.join(0.1)
    assert waiter.is_alive()

    def child() -> dict[str, Any]:
        started = time.monotonic()
        conn = pool.acquire()  # neither the borrowed one nor the waiter exists here: no wait
        return {"new": conn is not borrowed, "waited": time.monotonic() - started > 1}

    assert in_child(child) == {"new": True, "waited": False}
    pool.release(borrowed)
    waiter.join(5)
    assert not waiter.is_alive() and pool.idle == 1


def test_a_pool_used_in_another_process_starts_afresh_at_its_next_acquire() -> None:
    # what the pid check does where no at-fork hook ran (no os.register_at_fork; uWSGI by default)
    pool, _, checked = make_pool()
    borrowed, idle = pool.acquire(), pool.acquire()
    pool.release(idle)
    pool._pid = -1  # as if this process were a child of the one that made them
    mine = pool.acquire()
    assert mine is not idle and mine is not borrowed and pool.idle == 0 and checked == []
    pool.release(borrowed)  # the other process's: dropped, not closed, not counted
    assert not borrowed.raw.closed and not idle.raw.closed and pool.idle == 0
    pool.release(mine)
    assert pool.idle == 1 and pool.acquire() is mine


@pytest.mark.parametrize("first_call", ["close", "release_broken", "idle"])
def test_without_the_hook_no_first_call_in_the_child_closes_the_parents_connections(first_call: str) -> None:
    pool, _, _ = make_pool()
    borrowed, idle = pool.acquire(), pool.acquire()
    pool.release(idle)
    pool._pid = -1  # a fork no at-fork hook saw, and nothing called in the child yet
    if first_call == "close":
        pool.close()
    elif first_call == "release_broken":
        pool.release(borrowed, broken=True)
    else:
        assert pool.idle == 0
    if first_call != "release_broken":
        pool.release(borrowed, broken=True)  # after the reset: set aside as well
    assert not idle.raw.closed and not borrowed.raw.closed
    mine = pool.acquire()
    assert mine not in (idle, borrowed)
    pool.release(mine)
    pool.close()  # the child's own are closed as usual
    assert mine.raw.closed and not idle.raw.closed


def test_close_after_a_fork_still_closes_the_childs_own_connections_only() -> None:
    pool, _, _ = make_pool()
    inherited = pool.acquire()
    pool._after_fork()  # what the at-fork hook runs in a child
    mine = pool.acquire()
    pool.close()
    pool.release(mine)
    pool.release(inherited)
    assert mine.raw.closed and not inherited.raw.closed and pool.idle == 0


def test_connections_made_together_are_not_all_replaced_together() -> None:
    now = [0.0]
    pool = ConnectionPool(Conn, max_size=50, max_lifetime=1000, clock=lambda: now[0])
    conns = [pool.acquire() for _ in range(50)]
    lifetimes = {round(c.lifetime, 6) for c in conns}
    assert len(lifetimes) > 40 and all(950 <= t <= 1000 for t in lifetimes)


def test_a_connection_given_back_inside_a_transaction_is_closed_not_pooled_and_counted() -> None:
    pool = ConnectionPool(Conn, max_size=2)
    conn = pool.acquire()
    conn.raw.autocommit = False  # a transaction its borrower never ended
    pool.release(conn)
    assert pool.idle == 0 and conn.raw.closed
    stats = pool.stats()
    assert (stats.connections_made, stats.connections_closed, stats.discarded_broken, stats.borrowed) == (1, 1, 1, 0)


def test_stats_count_waits_and_timeouts() -> None:
    pool = ConnectionPool(Conn, max_size=1, timeout=0.05)
    held = pool.acquire()
    with pytest.raises(PoolTimeout):
        pool.acquire()
    pool.release(held)
    stats = pool.stats()
    assert (stats.waits, stats.timeouts, stats.idle, stats.borrowed) == (1, 1, 1, 0) and stats.wait_seconds >= 0.04


def test_the_liveness_check_has_its_own_short_limit_and_restores_the_connections() -> None:
    from songsdb.pool import PING_TIMEOUT, ping

    seen: list[int] = []

    class Timed(Conn):
        def cursor(self) -> Any:
            seen.append(self.timeout)
            return super().cursor()

        def execute(self, sql: str) -> Any:
            return self

        def fetchall(self) -> list[Any]:
            return []

    conn = Timed()
    conn.timeout = 0  # no query limit
    ping(conn)
    assert seen == [PING_TIMEOUT] and conn.timeout == 0


def test_the_liveness_check_waits_for_its_answer_under_its_own_limit_as_the_connections_limit_too() -> None:
    """pyodbc's ``timeout`` is also the connection's limit, which bounds how long Microsoft's ODBC Driver 18
    waits for a cancel to be acknowledged: held at PING_TIMEOUT while the round trip runs, restored after."""
    from songsdb.pool import PING_TIMEOUT, ping

    during: list[int] = []

    class Timed(Conn):
        def execute(self, sql: str) -> Any:
            during.append(self.timeout)
            return self

        def fetchall(self) -> list[Any]:
            return []

    conn = Timed()
    conn.timeout = 0  # no query limit
    ping(conn)
    assert during == [PING_TIMEOUT] and conn.timeout == 0
