"""One request per call, counted on the wire by a loopback TDS proxy (tests/integration/tds_proxy.py).

Each public method is called a few times through the proxy after a warm-up call, and every call
must cost exactly one TDS request (an RPC: sp_prepexec the first time on a connection, sp_execute
after that): no sp_unprepare from a closed cursor, no sp_describe_undeclared_parameters for a
None argument, no extra batch.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from songsdb.config import Settings
from songsdb.database import SongsDatabase

from .helpers import endpoint, through
from .tds_proxy import counting_proxy

__all__ = ["CALLS", "endpoint", "through"]  # bench/sections.py counts round trips with these


@pytest.fixture(scope="module")
def wire(migrated: Settings) -> Iterator[tuple[SongsDatabase, Any]]:
    host, port = endpoint(migrated)
    with counting_proxy(host, port) as (proxy_port, counter):
        with SongsDatabase(through(migrated, proxy_port), pool_size=1) as db:
            yield db, counter


def requests_per_call(wire: tuple[SongsDatabase, Any], call: Callable[[SongsDatabase, int], Any], times: int = 3) -> list[int]:
    db, counter = wire
    call(db, -1)  # warm-up: connect, prepare
    counts = []
    for i in range(times):
        counter.reset()
        call(db, i)
        counts.append(counter.requests())
    return counts


def _song(db: SongsDatabase) -> uuid.UUID:
    return db.create_song(f"rt-{uuid.uuid4()}", "a.mp3")


CALLS: dict[str, Callable[[SongsDatabase, int], Any]] = {
    "get_song": lambda db, i: db.get_song("missing"),
    "get_song_by_id": lambda db, i: db.get_song_by_id(uuid.uuid4()),
    "create_song(file_id, filename)": lambda db, i: db.create_song(f"rt-{uuid.uuid4()}", "a.mp3"),
    "create_song with every option": lambda db, i: db.create_song(
        f"rt-{uuid.uuid4()}", "a.mp3", title="t", artist="a", album="b", file_size=1, duration=2.0,
        file_extension="mp3", original_filename="o.mp3", metadata={"k": 1}, request_id="r",
    ),
    "list_songs": lambda db, i: db.list_songs(limit=5),
    "get_job": lambda db, i: db.get_job(uuid.uuid4()),
    "list_jobs(status)": lambda db, i: db.list_jobs(status="queued", limit=5),
    "log_audit": lambda db, i: db.log_audit("song", "x", "viewed"),
    "get_audit_trail": lambda db, i: db.get_audit_trail(request_id="r"),
    "queue_status": lambda db, i: db.queue_status(),
    "job_summary": lambda db, i: db.job_summary(limit=5),
}


@pytest.mark.parametrize("name", list(CALLS))
def test_each_call_is_one_request_on_the_wire(wire: tuple[SongsDatabase, Any], name: str) -> None:
    assert requests_per_call(wire, CALLS[name]) == [1, 1, 1]


def test_the_job_lifecycle_is_one_request_per_call(wire: tuple[SongsDatabase, Any]) -> None:
    db, counter = wire
    model = f"rt-{uuid.uuid4().hex[:8]}"
    song = _song(db)
    seen = {}
    for step in range(2):  # the second round runs on prepared statements
        counter.reset()
        job_id = db.create_job(song, model, "separation")
        seen["create_job"] = counter.requests()
        counter.reset()
        db.update_job_status(job_id, "running", progress=3)
        seen["update_job_status"] = counter.requests()
        counter.reset()
        db.update_job_status(job_id, "queued")
        seen["update_job_status(queued)"] = counter.requests()
        counter.reset()
        job = db.claim_next_job("rt", model_names=[model])
        seen["claim_next_job"] = counter.requests()
        assert job is not None
        counter.reset()
        db.heartbeat(job.id, job.claim_token, progress=50)
        seen["heartbeat"] = counter.requests()
        counter.reset()
        db.complete_job(job.id, job.claim_token, tracks=[{"stem_name": "v", "file_path": "/v"}])
        seen["complete_job"] = counter.requests()
        assert set(seen.values()) == {1}, (step, seen)


def test_a_small_import_chunk_is_one_request_and_a_large_one_two(wire: tuple[SongsDatabase, Any]) -> None:
    """A chunk's JSON over 4000 characters travels as data-at-execution: both drivers then prepare
    and execute in two requests (sp_prepare + sp_execute, or sp_unprepare + sp_prepexec), exactly as
    raw pyodbc does with the same parameter; still two requests for a thousand songs."""

    def chunk(n: int) -> list[dict[str, str]]:
        return [{"file_id": f"rt-{uuid.uuid4()}", "filename": "a.mp3"} for _ in range(n)]

    assert requests_per_call(wire, lambda db, i: db.import_songs(chunk(3))) == [1, 1, 1]
    assert requests_per_call(wire, lambda db, i: db.import_songs(chunk(300))) == [2, 2, 2]
