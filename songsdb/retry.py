"""When to retry a failed call, and how long to wait: exponential back-off with full jitter.

Reads are retried on every transient error. Writes are retried only when the
error means the server committed nothing: a deadlock victim (1205) or lock
timeout (1222) rolled the transaction back, Azure SQL's throttling and
failover errors (40613, 40501, 40197, 49918-49920, 4060) refuse the work, and
a failure while connecting sent nothing. A connection lost mid-call (233,
10053, 10054, 10060) may have committed, so a write is not retried then.
Nothing is retried after a command timeout, or inside a caller's transaction
(the transaction is gone; only the caller can redo it).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from songsdb.errors import native_error_number, sqlstate

__all__ = ["RetryPolicy", "NOTHING_COMMITTED", "CONNECTION_LOST", "LOCK_CONFLICTS", "is_timeout", "lock_conflict"]


NOTHING_COMMITTED = frozenset({1205, 1222, 40613, 40501, 40197, 49918, 49919, 49920, 4060})
CONNECTION_LOST = frozenset({233, 10053, 10054, 10060})
_TIMEOUT_STATES = frozenset({"HYT00", "HYT01"})
# database does not exist; login failed; FreeTDS's "unable to connect" (20009): nothing listens
# there, and asking again three times only makes a newcomer wait for the same answer
NEVER_RETRIED = frozenset({911, 18452, 18456, 20009})


# Babelfish 4.2 answers a lock wait past SET LOCK_TIMEOUT with its generic number (33557097) and
# PostgreSQL's text, where SQL Server answers 1222; the statement was cancelled, nothing committed
_BABELFISH_LOCK_TIMEOUT = "canceling statement due to lock timeout"


# a deadlock victim (1205) and a lock wait past SET LOCK_TIMEOUT (1222): the session lost a race for a
# lock, and the server rolled its statement (1222) or its whole transaction (1205) back
LOCK_CONFLICTS = frozenset({1205, 1222})


def lock_conflict(error: BaseException) -> bool:
    """True for a deadlock victim or a lock timeout, on either engine (what the migrator tries again)."""
    if native_error_number(error) in LOCK_CONFLICTS:
        return True
    text = next((a for a in reversed(getattr(error, "args", ())) if isinstance(a, str)), "")
    return _BABELFISH_LOCK_TIMEOUT in text


def nothing_committed(error: BaseException) -> bool:
    """True when the error means the server rolled the call back: a write may be sent again."""
    if native_error_number(error) in NOTHING_COMMITTED:
        return True
    text = next((a for a in reversed(getattr(error, "args", ())) if isinstance(a, str)), "")
    return _BABELFISH_LOCK_TIMEOUT in text


def is_timeout(error: BaseException) -> bool:
    """True for the driver's command or login timeout."""
    return sqlstate(error) in _TIMEOUT_STATES


def is_connection_lost(error: BaseException) -> bool:
    """True when the session is gone (its connection must not go back to the pool)."""
    state = sqlstate(error) or ""
    return native_error_number(error) in CONNECTION_LOST or state.startswith("08")


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` in all (1 = never retry); delays grow from ``base_delay`` up to ``max_delay`` seconds."""

    attempts: int = 4
    base_delay: float = 0.05
    max_delay: float = 2.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < self.base_delay:
            raise ValueError("need 0 <= base_delay <= max_delay")

    def should_retry(
        self, error: BaseException, attempt: int, *, write: bool, connecting: bool = False, in_transaction: bool = False
    ) -> bool:
        """Whether try number ``attempt`` (1-based), which failed with ``error``, may be followed by another."""
        if attempt >= self.attempts or in_transaction or is_timeout(error):
            return False
        number = native_error_number(error)
        if number in NEVER_RETRIED:
            return False
        if connecting:
            return number in NOTHING_COMMITTED or is_connection_lost(error)
        if nothing_committed(error):
            return True
        return not write and is_connection_lost(error)

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed try ``attempt``: uniform in [0, min(max_delay, base_delay * 2**(attempt-1))]."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return (rng or random).uniform(0, ceiling)
