"""A claim by model seeks that model's queued jobs, however the backlog of other models is spread (issue #22).

A worker names its models (``model_names``). When the job table's statistics show one model (a bulk
load of another model's jobs, or one model holding most of the backlog), PostgreSQL estimated a
model read from a table variable as matching every queued job, read IX_ProcessingJobs_ClaimReady
in claim order and filtered the model: every queued job of the other model ahead of this worker's
was read, twice per claim (8 ms at 10,000 jobs, growing). The claims name each model as a scalar,
which Babelfish plans as a constant, so the planner estimates that model's own jobs and seeks
IX_ProcessingJobs_ClaimByModelReady. The test reads the plans the claims run with after such a load.
"""

from __future__ import annotations

import json
import uuid

import pytest

from songsdb.config import Settings
from songsdb.database import SongsDatabase

from .conftest import DatabaseFactory
from .helpers import profiled, query, scalar
from .test_long_lived_plans import NUMBERS
from .test_page_reads import NODE, big_reads

BACKLOG = 20_000


@pytest.fixture(scope="module")
def backlog(engine: str, databases: DatabaseFactory) -> Settings:
    """20,000 queued jobs of one model, with statistics that know them: one model in the table."""
    if engine != "babelfish":
        pytest.skip("the plans read here are PostgreSQL's (Babelfish)")
    target = databases.new(migrate=True)
    with SongsDatabase(target) as db:
        song = db.create_song("backlog-song", "a.mp3")
    query(
        target,
        "INSERT INTO dbo.ProcessingJobs (SongId, ModelName, JobType) "
        f"SELECT TOP (?) CAST(? AS uniqueidentifier), N'backlog-model', 'separation' FROM {NUMBERS};",
        BACKLOG, str(song),
    )
    query(target, "EXEC sp_updatestats;")
    return target


def session_plans(db: SongsDatabase, call: str) -> str:
    """The plans of every statement ``call`` ran on the client's own pooled session (``pool_size=1``:
    the session every earlier call of this client used, with the client's session set-up)."""
    conn = db._pool.acquire()
    try:
        return profiled(conn.raw.cursor(), call)
    finally:
        db._pool.release(conn)


@pytest.mark.parametrize("count", [None, 2], ids=["claim_next_job", "claim_next_jobs"])
def test_a_claim_by_model_seeks_its_model_behind_a_backlog_of_another(backlog: Settings, count: int | None) -> None:
    mine, reader = f"m-{uuid.uuid4().hex[:10]}", f"plan-{uuid.uuid4().hex[:10]}"
    models = [mine, "no-such-model"]
    with SongsDatabase(backlog, pool_size=1, max_idle=3600, max_lifetime=3600) as db:
        song = db.create_song(f"s-{uuid.uuid4()}", "a.mp3")
        # behind the 20,000 in claim order (same priority, later ids)
        wanted = [job.id for job in db.enqueue_jobs(song, [(mine, "separation")] * 20)]
        for _ in range(8):  # past the five calls after which PostgreSQL may switch a session to a generic plan
            taken = db.claim_next_job("warm", model_names=models) if count is None else db.claim_next_jobs("warm", count, model_names=models)
            assert taken
        procedure = "worker.ClaimNextJob" if count is None else "worker.ClaimNextJobs"
        plan = session_plans(
            db, f"EXEC {procedure} @WorkerId = N'{reader}', @ModelNames = N'{json.dumps(models)}', @LeaseSeconds = 60"
            + ("" if count is None else f", @Count = {count}") + ";",
        )
    assert "Query Text" in plan and NODE.search(plan), plan  # the profile was read: the checks below are not vacuous
    assert "ix_processingjobs_claimready" not in plan, plan  # not the claim index of every model, filtered
    assert big_reads(plan, 100) == [], plan  # no statement of the claim reads the backlog (or any big table)
    claimed = query(backlog, "SELECT JobId FROM dbo.ProcessingJobs WHERE WorkerId = ?;", reader)
    assert len(claimed) == (count or 1) and {uuid.UUID(str(r[0])) for r in claimed} <= set(wanted)
    assert scalar(backlog, "SELECT COUNT(*) FROM dbo.ProcessingJobs WHERE ModelName = N'backlog-model' AND Status = 'queued';") == BACKLOG


def test_a_batch_claim_over_several_models_takes_them_in_claim_order(songsdb_worker: SongsDatabase, songsdb_web: SongsDatabase) -> None:
    a, b, other = (f"m-{uuid.uuid4().hex[:10]}" for _ in range(3))
    song = songsdb_web.create_song(f"s-{uuid.uuid4()}", "a.mp3")
    low, _other, high, mid, tie_first, tie_second = songsdb_web.enqueue_jobs(
        song, [(a, "separation", 1), (other, "separation", 9), (b, "chroma", 8), (a, "transcription", 5),
               (b, "separation", 3), (a, "chroma", 3)],
    )
    batch = songsdb_worker.claim_next_jobs("gpu-order", 4, model_names=[b, a])
    assert [job.id for job in batch] == [high.id, mid.id, tie_first.id, tie_second.id]
    assert [job.id for job in songsdb_worker.claim_next_jobs("gpu-order", 4, model_names=[a, b])] == [low.id]


def test_a_claim_over_several_models_takes_the_first_in_claim_order_whichever_model_holds_it(
    songsdb_worker: SongsDatabase, songsdb_web: SongsDatabase
) -> None:
    """The models are visited in name order; the best head may be in the last one visited, and a
    priority tie between models goes to the older job."""
    u = uuid.uuid4().hex[:10]
    a, b = f"m-{u}-a", f"m-{u}-b"  # visited a, then b
    song = songsdb_web.create_song(f"s-{uuid.uuid4()}", "a.mp3")
    first_a, best_b, tied_b, last_a = songsdb_web.enqueue_jobs(
        song, [(a, "separation", 3), (b, "chroma", 5), (b, "separation", 3), (a, "transcription", 3)]
    )
    claimed = [songsdb_worker.claim_next_job("gpu-order", model_names=[b, a]) for _ in range(5)]
    assert [job.id if job else None for job in claimed] == [best_b.id, first_a.id, tied_b.id, last_a.id, None]
