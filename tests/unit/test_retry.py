"""The retry policy: what is retried, and how long it waits."""

from __future__ import annotations

import random

import pytest

from songsdb.retry import RetryPolicy


def err(number: int | None, state: str = "42000") -> Exception:
    suffix = f" ({number})" if number is not None else ""
    return Exception(state, f"[{state}] [FreeTDS][SQL Server]boom{suffix} (SQLExecDirectW)")


POLICY = RetryPolicy(attempts=4)


@pytest.mark.parametrize("number", [1205, 1222, 40613, 40501, 40197, 49918, 49919, 49920, 4060])
def test_errors_that_commit_nothing_are_retried_for_reads_and_writes(number: int) -> None:
    assert POLICY.should_retry(err(number), 1, write=False)
    assert POLICY.should_retry(err(number), 1, write=True)


@pytest.mark.parametrize("number", [233, 10053, 10054, 10060])
def test_a_lost_connection_is_retried_for_reads_only(number: int) -> None:
    assert POLICY.should_retry(err(number, "08S01"), 1, write=False)
    assert not POLICY.should_retry(err(number, "08S01"), 1, write=True)


def test_a_failed_connect_is_retried_even_for_writes() -> None:
    assert POLICY.should_retry(err(None, "08001"), 1, write=True, connecting=True)
    assert not POLICY.should_retry(err(18456, "28000"), 1, write=True, connecting=True)


def test_timeouts_are_never_retried() -> None:
    assert not POLICY.should_retry(err(None, "HYT00"), 1, write=False)
    assert not POLICY.should_retry(err(None, "HYT00"), 1, write=False, connecting=True)


def test_nothing_is_retried_inside_a_callers_transaction() -> None:
    assert not POLICY.should_retry(err(1205), 1, write=False, in_transaction=True)


def test_application_errors_are_not_retried() -> None:
    assert not POLICY.should_retry(err(50101), 1, write=False)
    assert not POLICY.should_retry(err(2627, "23000"), 1, write=True)


def test_attempts_are_bounded() -> None:
    assert POLICY.should_retry(err(1205), 3, write=True)
    assert not POLICY.should_retry(err(1205), 4, write=True)
    assert not RetryPolicy(attempts=1).should_retry(err(1205), 1, write=False)


def test_delays_grow_exponentially_with_full_jitter_and_a_cap() -> None:
    policy = RetryPolicy(attempts=10, base_delay=0.1, max_delay=1.0)
    rng = random.Random(7)
    for attempt, ceiling in [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8), (5, 1.0), (9, 1.0)]:
        samples = [policy.delay(attempt, rng) for _ in range(200)]
        assert all(0 <= s <= ceiling for s in samples)
        assert max(samples) > ceiling * 0.8  # jitter spreads over the whole range


def test_bad_policies_are_refused() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(base_delay=2, max_delay=1)


def test_a_missing_database_or_a_refused_login_is_never_retried() -> None:
    assert not POLICY.should_retry(err(911, "08004"), 1, write=False, connecting=True)
    assert not POLICY.should_retry(err(18456, "28000"), 1, write=False, connecting=True)


def test_babelfishs_lock_timeout_is_retried_like_sql_servers_1222() -> None:
    error = Exception("42000", "[42000] [FreeTDS][SQL Server]canceling statement due to lock timeout (33557097) (SQLExecDirectW)")
    policy = RetryPolicy(attempts=3)
    assert policy.should_retry(error, 1, write=True) and policy.should_retry(error, 1, write=False)
    other = Exception("42000", "[42000] [FreeTDS][SQL Server]value too long for type character varying(16) (33557097) (SQLExecDirectW)")
    assert not policy.should_retry(other, 1, write=True)
