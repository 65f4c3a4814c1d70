"""Batch claims and the sweep of expired leases on a real engine (issue #21 §4), through the duty roles' logins."""

from __future__ import annotations

import json
import multiprocessing
import time
import uuid
from typing import Any

import pytest

from songsdb import errors
from songsdb.config import Settings
from songsdb.database import SongsDatabase

from .helpers import query, scalar


def model() -> str:
    return f"m-{uuid.uuid4().hex[:12]}"


def test_a_batch_claim_gives_up_to_n_jobs_in_claim_order_each_with_its_own_token_lease_and_audit_row(
    songsdb_web: SongsDatabase, songsdb_worker: SongsDatabase, songsdb_database: Settings
) -> None:
    m = model()
    s = songsdb_web.create_song(f"file-{uuid.uuid4()}", "a.mp3")
    jobs = songsdb_web.enqueue_jobs(s, [(m, "separation", p) for p in (0, 5, 1, 9, 3)])
    batch = songsdb_worker.claim_next_jobs("gpu-1", 3, model_names=[m], lease_seconds=60)
    assert [j.priority for j in batch] == [9, 5, 3]
    assert all(j.status == "running" and j.worker_id == "gpu-1" and j.attempts == 1 for j in batch)
    assert len({j.claim_token for j in batch}) == 3 and all(j.lease_expires_at is not None for j in batch)
    claimed = query(
        songsdb_database,
        "SELECT EntityId FROM dbo.AuditLog WHERE Action = 'claimed' AND Source LIKE 'worker.claimnextjobs' ",
    )
    assert {str(r[0]).lower() for r in claimed} == {str(j.id) for j in batch}
    attempts = scalar(songsdb_database, "SELECT COUNT(*) FROM dbo.JobAttempts WHERE WorkerId = 'gpu-1';")
    assert attempts == 3
    for job in batch:  # each token is that job's own
        assert songsdb_worker.complete_job(job.id, job.claim_token).status == "completed"
    rest = songsdb_worker.claim_next_jobs("gpu-1", 8, model_names=[m])
    assert sorted(j.priority for j in rest) == [0, 1] and len(jobs) == 5
    assert songsdb_worker.claim_next_jobs("gpu-1", 8, model_names=[m]) == []


def _batch_worker(settings: Settings, m: str, n: int) -> list[str]:
    done: list[str] = []
    with SongsDatabase(settings, pool_size=1) as db:
        while batch := db.claim_next_jobs(f"proc-{n}", 8, model_names=[m], lease_seconds=300):
            for job in batch:
                db.complete_job(job.id, job.claim_token)
                done.append(str(job.id))
    return done


def test_eight_processes_batch_claiming_never_get_the_same_job_twice(
    songsdb_web: SongsDatabase, songsdb_settings: dict[str, Settings], songsdb_database: Settings
) -> None:
    m = model()
    s = songsdb_web.create_song(f"file-{uuid.uuid4()}", "a.mp3")
    ids = {str(j.id) for _ in range(2) for j in songsdb_web.enqueue_jobs(s, [(m, "chroma")] * 80)}
    with multiprocessing.get_context("fork").Pool(8) as pool:
        results: list[list[str]] = pool.starmap(_batch_worker, [(songsdb_settings["worker"], m, n) for n in range(8)])
    done = [job for result in results for job in result]
    assert len(done) == len(set(done)) == 160  # none twice
    assert set(done) == ids  # none lost
    assert sum(1 for r in results if r) > 1  # more than one process took part
    assert scalar(songsdb_database, "SELECT COUNT(*) FROM dbo.JobAttempts AS a INNER JOIN dbo.ProcessingJobs AS j "
                  "ON j.JobId = a.JobId WHERE j.ModelName = ? AND a.Outcome = 'completed';", m) == 160


def test_a_batch_claim_refuses_a_count_outside_1_to_100(songsdb_worker: SongsDatabase) -> None:
    with pytest.raises(errors.ValidationError) as caught:
        songsdb_worker.claim_next_jobs("gpu-1", 101)
    assert caught.value.parameter == "n"
    assert songsdb_worker.claim_next_jobs("gpu-1", 100, model_names=[model()]) == []


def test_an_expired_lease_of_a_type_no_worker_claims_is_requeued_or_failed_by_the_sweep_with_an_audit_row(
    songsdb_web: SongsDatabase, songsdb_worker: SongsDatabase, songsdb_ops: SongsDatabase, songsdb_database: Settings
) -> None:
    m = model()
    s = songsdb_web.create_song(f"file-{uuid.uuid4()}", "a.mp3")
    again, last = songsdb_web.enqueue_jobs(s, [
        {"model_name": m, "job_type": "transcription", "max_attempts": 2},
        {"model_name": m, "job_type": "transcription", "max_attempts": 1},
    ])
    held = songsdb_worker.claim_next_jobs("dead", 2, job_types=["transcription"], model_names=[m], lease_seconds=1)
    assert {j.id for j in held} == {again.id, last.id}
    time.sleep(1.5)
    assert songsdb_worker.claim_next_job("sep", job_types=["separation"]) is None  # no live worker of that type...
    assert {songsdb_web.get_job(j.id).status for j in held} == {"running"}  # ...so they stay running

    swept = songsdb_ops.sweep_expired_leases()
    assert {(j.id, j.status, j.worker_id, j.attempts) for j in swept} == {
        (again.id, "queued", "dead", 1), (last.id, "failed", "dead", 1)
    }
    assert songsdb_web.get_job(again.id).status == "queued"
    failed = songsdb_web.get_job(last.id)
    assert failed.status == "failed" and "expired" in (failed.error_message or "")
    audits: Any = query(
        songsdb_database,
        "SELECT EntityId, Details FROM dbo.AuditLog WHERE Action = 'failed' AND Source LIKE 'ops.sweepexpiredleases';",
    )
    assert {str(e).lower() for e, _ in audits} == {str(again.id), str(last.id)}
    details = [json.loads(str(d)) for _, d in audits]
    assert all(d["swept"] in (True, 1) and d["expiredWorker"] == "dead" for d in details)
    assert sorted(bool(d["requeued"]) for d in details) == [False, True]
    assert scalar(songsdb_database, "SELECT COUNT(*) FROM dbo.JobAttempts WHERE WorkerId = 'dead' AND Outcome = 'expired';") == 2
    for job in held:  # the dead worker's tokens move nothing
        with pytest.raises((errors.LeaseLost, errors.InvalidStatusTransition)):
            songsdb_worker.complete_job(job.id, job.claim_token)
    assert songsdb_ops.sweep_expired_leases() == []  # nothing left to sweep
    back = songsdb_worker.claim_next_job("alive", model_names=[m])
    assert back is not None and back.id == again.id and back.attempts == 2


def test_the_example_worker_resends_a_report_whose_answer_was_lost_and_survives_an_unreachable_claim(
    songsdb_web: SongsDatabase, songsdb_settings: dict[str, Settings], songsdb_database: Settings
) -> None:
    from examples.gpu_worker import Worker, demo_handler

    class Flaky(SongsDatabase):
        """The worker's real client, whose first claim cannot connect and whose first completion's answer is lost."""

        claims = 0
        completions = 0

        def claim_next_job(self, *args: Any, **kwargs: Any) -> Any:
            self.claims += 1
            if self.claims == 1:
                raise errors.NotConnected("no connection could be made")
            return super().claim_next_job(*args, **kwargs)

        def complete_job(self, *args: Any, **kwargs: Any) -> Any:
            job = super().complete_job(*args, **kwargs)
            self.completions += 1
            if self.completions == 1:
                raise errors.OutcomeUnknown("the connection was lost before the answer came")
            return job

    m = model()
    s = songsdb_web.create_song(f"file-{uuid.uuid4()}", "a.mp3")
    songsdb_web.enqueue_jobs(s, [(m, "separation"), (m, "chroma")])
    with Flaky(songsdb_settings["worker"]) as db:
        done = Worker(db, demo_handler, "flaky", model_names=[m], stop_when_idle=True, idle_seconds=0.1,
                      report_backoff=0.05).run()
        assert db.completions == 3  # the lost answer was sent again
    assert sorted(j.job_type for j in done) == ["chroma", "separation"] and all(j.status == "completed" for j in done)
    assert scalar(songsdb_database, "SELECT COUNT(*) FROM dbo.AuditLog WHERE Action = 'completed' AND RecordedBy IS NOT NULL "
                  "AND EntityId IN (SELECT CONVERT(nvarchar(36), JobId) FROM dbo.ProcessingJobs WHERE ModelName = ?);", m) == 2
    assert len(songsdb_web.get_song_results(s).tracks) == 4  # the stems written once


@pytest.mark.parametrize("batch", [False, True])
def test_a_job_waiting_out_its_back_off_stays_out_of_the_claim_index_and_comes_back_when_due(
    songsdb_web: SongsDatabase, songsdb_worker: SongsDatabase, songsdb_database: Settings, batch: bool
) -> None:
    m = model()
    s = songsdb_web.create_song(f"file-{uuid.uuid4()}", "a.mp3")
    [job] = songsdb_web.enqueue_jobs(s, [(m, "separation", 5)])
    first = songsdb_worker.claim_next_job("w1", model_names=[m])
    assert first is not None
    songsdb_worker.fail_job(first.id, first.claim_token, "transient", retry_delay_seconds=5)  # long enough for a slow machine to claim once before it is due
    delayed = "SELECT Delayed FROM dbo.ProcessingJobs WHERE JobId = ?;"
    assert scalar(songsdb_database, delayed, str(job.id)) in (1, True)  # out of IX_ProcessingJobs_ClaimReady (0025)
    [ready] = songsdb_web.enqueue_jobs(s, [(m, "separation", 0)])  # behind the delayed one in claim order

    def claim() -> Any:
        if batch:
            return [j.id for j in songsdb_worker.claim_next_jobs("w2", 8, model_names=[m])]
        found = songsdb_worker.claim_next_job("w2", model_names=[m])
        return [found.id] if found else []

    assert claim() == [ready.id]  # not before its back-off, and not in the way of the job behind it
    time.sleep(5.5)
    assert claim() == [job.id]  # due: moved back under the lock and claimed
    assert scalar(songsdb_database, delayed, str(job.id)) in (0, False)
