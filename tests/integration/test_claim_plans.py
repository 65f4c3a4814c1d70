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
from .helpers import query, scalar
from .test_long_lived_plans import NUMBERS
from .test_page_reads import plans

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


def claim_plan(settings: Settings, procedure: str, models: list[str], count: int | None = None) -> str:
    args = "@WorkerId = N'plan-reader', @ModelNames = N'" + json.dumps(models) + "', @LeaseSeconds = 60"
    return plans(settings, f"EXEC {procedure} {args}{'' if count is None else f', @Count = {count}'};")


def enqueue(settings: Settings, model: str, n: int) -> list[uuid.UUID]:
    with SongsDatabase(settings) as db:
        song = db.create_song(f"s-{uuid.uuid4()}", "a.mp3")
        return [job.id for job in db.enqueue_jobs(song, [(model, "separation")] * n)]


@pytest.mark.parametrize("procedure, count", [("worker.ClaimNextJob", None), ("worker.ClaimNextJobs", 2)])
def test_a_claim_by_model_seeks_its_model_behind_a_backlog_of_another(backlog: Settings, procedure: str, count: int | None) -> None:
    mine = f"m-{uuid.uuid4().hex[:10]}"
    wanted = enqueue(backlog, mine, 3)  # behind the 20,000 in claim order (same priority, later ids)
    plan = claim_plan(backlog, procedure, [mine, "no-such-model"], count)
    assert "Query Text" in plan, plan  # the profile was read: the checks below are not vacuous
    # a seek by model (IX_ProcessingJobs_ClaimByModelReady, or OpenWork keyed by ModelName), not the
    # claim index of every model read in claim order with the model as a filter
    assert "Index Scan using ix_processingjobs_claimready" not in plan, plan
    removed = [int(line.split(":")[1]) for line in plan.splitlines() if "Rows Removed by Filter:" in line]
    assert max(removed, default=0) < 100, plan
    claimed = query(backlog, "SELECT JobId FROM dbo.ProcessingJobs WHERE WorkerId = N'plan-reader' AND ModelName = ?;", mine)
    assert {uuid.UUID(str(r[0])) for r in claimed} == set(wanted[: count or 1])
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
