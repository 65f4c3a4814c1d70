"""The ops procedures behind the operations console and /metrics (issue #20 §4), on a real engine.

Each test works under a model name of its own (tests/integration/opsdata.py), so rows other tests
left in the shared database never count.
"""

from __future__ import annotations

import time
import uuid

import pytest

from songsdb.database import SongsDatabase
from songsdb.errors import InvalidStatusTransition, JobNotFound, ValidationError

from .opsdata import completed_job, failed_job, model, song

pytestmark = pytest.mark.integration


def test_failed_jobs_come_newest_first_with_their_error_and_stack_filtered_by_model_and_type(
    songsdb_web: SongsDatabase, songsdb_worker: SongsDatabase, songsdb_ops: SongsDatabase
) -> None:
    mine, other = model(), model()
    first = failed_job(songsdb_web, songsdb_worker, mine, message="first", stack="stack one")
    second = failed_job(songsdb_web, songsdb_worker, mine, job_type="chroma", message="second")
    failed_job(songsdb_web, songsdb_worker, other, message="someone else's")
    completed_job(songsdb_web, songsdb_worker, mine)

    rows = songsdb_ops.failed_jobs(model_name=mine)
    assert [r.job_id for r in rows] == [second, first]
    assert (rows[1].error_message, rows[1].error_stack, rows[1].song_title, rows[1].status) == ("first", "stack one", "Intro", "failed")
    assert [r.job_id for r in songsdb_ops.failed_jobs(model_name=mine, job_type="separation")] == [first]
    chroma = [r.job_id for r in songsdb_ops.failed_jobs(job_type="chroma", limit=500)]
    assert second in chroma and first not in chroma
    everything = [r.job_id for r in songsdb_ops.failed_jobs(limit=500)]
    assert everything.index(second) < everything.index(first)


def test_failed_jobs_page_by_keyset_without_repeats_or_gaps_even_after_a_retry(
    songsdb_web: SongsDatabase, songsdb_worker: SongsDatabase, songsdb_ops: SongsDatabase
) -> None:
    mine = model()
    made = [failed_job(songsdb_web, songsdb_worker, mine) for _ in range(5)]
    page1 = songsdb_ops.failed_jobs(model_name=mine, limit=2)
    songsdb_ops.retry_job(page1[-1].job_id)  # the cursor job is no longer failed: the next page still follows it
    page2 = songsdb_ops.failed_jobs(model_name=mine, after_job_id=page1[-1].job_id, limit=2)
    page3 = songsdb_ops.failed_jobs(model_name=mine, after_job_id=page2[-1].job_id, limit=2)
    assert [r.job_id for r in page1 + page2 + page3] == made[::-1]
    assert songsdb_ops.failed_jobs(model_name=mine, after_job_id=page3[-1].job_id, limit=2) == []
    with pytest.raises(JobNotFound):
        songsdb_ops.failed_jobs(after_job_id=uuid.uuid4())
    with pytest.raises(ValidationError) as refused:
        songsdb_ops.failed_jobs(job_type="karaoke")  # type: ignore[arg-type]
    assert refused.value.number == 50003


def test_held_jobs_name_their_worker_and_show_an_expired_lease_as_negative_seconds_left(
    songsdb_web: SongsDatabase, songsdb_worker: SongsDatabase, songsdb_ops: SongsDatabase
) -> None:
    mine = model()
    live = songsdb_web.create_job(song(songsdb_web), mine, "separation")
    dying = songsdb_web.create_job(song(songsdb_web), mine, "transcription")
    claimed = songsdb_worker.claim_next_job("gpu-live", job_types=["separation"], model_names=[mine], lease_seconds=600)
    assert claimed is not None and claimed.id == live
    short = songsdb_worker.claim_next_job("gpu-dying", job_types=["transcription"], model_names=[mine], lease_seconds=1)
    assert short is not None and short.id == dying
    time.sleep(1.5)  # the lease of gpu-dying runs out

    held = {h.job_id: h for h in _all_held(songsdb_ops)}
    assert (held[live].worker_id, held[live].held_by, held[live].expired) == ("gpu-live", "worker", False)
    assert held[live].lease_seconds_left is not None and held[live].lease_seconds_left > 500
    assert (held[dying].worker_id, held[dying].expired) == ("gpu-dying", True)
    order = [h.job_id for h in _all_held(songsdb_ops)]
    assert order.index(dying) < order.index(live)  # expired leases first


def _all_held(ops: SongsDatabase) -> list:
    rows, after = [], None
    while True:
        page = ops.held_jobs(after_job_id=after, limit=2)
        rows += page
        if len(page) < 2:
            return rows
        after = page[-1].job_id


def test_a_request_trail_is_every_audit_row_of_the_request_in_order_and_the_jobs_they_name(
    songsdb_web: SongsDatabase, songsdb_worker: SongsDatabase, songsdb_ops: SongsDatabase
) -> None:
    request = f"req-{uuid.uuid4().hex}"
    mine = model()
    job_id = completed_job(songsdb_web, songsdb_worker, mine, request_id=request)
    songsdb_web.create_song(f"file-{uuid.uuid4().hex}", "b.mp3", request_id=f"other-{request}")

    trail = songsdb_ops.request_trail(request)
    assert [(e.entity_type, e.action) for e in trail.entries] == [
        ("song", "created"), ("job", "created"), ("job", "claimed"), ("job", "completed")
    ]
    assert [e.id for e in trail.entries] == sorted(e.id for e in trail.entries)
    assert all(e.source for e in trail.entries)
    assert [(j.job_id, j.status) for j in trail.jobs] == [(job_id, "completed")]
    rest = songsdb_ops.request_trail(request, after_audit_id=trail.entries[1].id)
    assert [e.action for e in rest.entries] == ["claimed", "completed"]
    assert songsdb_ops.request_trail(f"nobody-{request}").entries == ()


def test_a_job_detail_has_its_song_and_its_state_history_and_an_unknown_job_is_not_found(
    songsdb_web: SongsDatabase, songsdb_worker: SongsDatabase, songsdb_ops: SongsDatabase
) -> None:
    job_id = failed_job(songsdb_web, songsdb_worker, model(), title="Outro", message="boom", stack="line 1\nline 2")
    songsdb_ops.retry_job(job_id, user_id="alice")
    detail = songsdb_ops.job_detail(job_id)
    assert (detail.job.job_id, detail.job.song_title, detail.job.status) == (job_id, "Outro", "queued")
    assert detail.job.song_file_id is not None and detail.job.song_file_id.startswith("file-")
    assert (detail.job.error_message, detail.job.error_stack) == ("boom", "line 1\nline 2")
    assert [h.action for h in detail.history] == ["created", "claimed", "failed", "retried"]
    assert detail.history[-1].user_id == "alice"
    with pytest.raises(JobNotFound):
        songsdb_ops.job_detail(uuid.uuid4())


def test_songs_are_found_by_file_id_or_by_the_start_of_their_title_keyset_paged(
    songsdb_web: SongsDatabase, songsdb_ops: SongsDatabase
) -> None:
    tag = uuid.uuid4().hex[:8]
    ids = [song(songsdb_web, f"{tag} 100% Pure {n}") for n in range(3)]
    song(songsdb_web, f"{tag} 100X Pure")  # % matches itself, not any text
    found = songsdb_ops.find_songs(title=f"{tag} 100%")
    assert sorted(s.id for s in found) == sorted(ids)
    assert [s.title for s in found] == sorted(s.title for s in found)
    first = songsdb_ops.find_songs(title=f"{tag} 100%", limit=2)
    rest = songsdb_ops.find_songs(title=f"{tag} 100%", after_song_id=first[-1].id, limit=2)
    assert [s.id for s in first + rest] == [s.id for s in found]
    one = found[0]
    assert [s.id for s in songsdb_ops.find_songs(file_id=one.file_id)] == [one.id]
    assert songsdb_ops.find_songs(file_id=f"missing-{tag}") == []
    with pytest.raises(ValidationError) as refused:
        songsdb_ops.find_songs()
    assert refused.value.number == 50001


def test_throughput_counts_the_jobs_completed_and_failed_per_minute(
    songsdb_web: SongsDatabase, songsdb_worker: SongsDatabase, songsdb_ops: SongsDatabase
) -> None:
    def totals() -> tuple[int, int]:
        rows = songsdb_ops.throughput(minutes=30)
        return sum(r.completed for r in rows), sum(r.failed for r in rows)

    before = totals()
    mine = model()
    completed_job(songsdb_web, songsdb_worker, mine)
    completed_job(songsdb_web, songsdb_worker, mine)
    failed_job(songsdb_web, songsdb_worker, mine)
    after = totals()
    assert (after[0] - before[0], after[1] - before[1]) == (2, 1)
    rows = songsdb_ops.throughput(minutes=30)
    assert all(r.minute_start.second == 0 and r.minute_start.microsecond == 0 for r in rows)
    assert [r.minute_start for r in rows] == sorted(r.minute_start for r in rows)


def test_queue_metrics_give_open_work_and_what_finished_per_model_in_one_call(
    songsdb_web: SongsDatabase, songsdb_worker: SongsDatabase, songsdb_ops: SongsDatabase
) -> None:
    mine = model()
    failed_job(songsdb_web, songsdb_worker, mine)
    completed_job(songsdb_web, songsdb_worker, mine)
    songsdb_web.create_job(song(songsdb_web), mine, "chroma")
    songsdb_web.create_job(song(songsdb_web), mine, "chroma")

    metrics = songsdb_ops.queue_metrics(window_seconds=600)
    gauges = {g.job_type: g for g in metrics.queue if g.model_name == mine}
    assert {t: (g.queued, g.running, g.failed, g.expired_leases) for t, g in gauges.items()} == {
        "chroma": (2, 0, 0, 0), "separation": (0, 0, 1, 0)
    }
    oldest = gauges["chroma"].oldest_queued_seconds
    assert oldest is not None and oldest >= 0 and gauges["separation"].oldest_queued_seconds is None
    [done] = [f for f in metrics.finished if f.model_name == mine]
    assert (done.window_seconds, done.completed, done.failed, done.claimed) == (600, 1, 1, 2)
    assert 0 <= done.claim_seconds_max and done.claim_seconds_max * 2 >= done.claim_seconds_sum
    with pytest.raises(ValidationError):
        songsdb_ops.queue_metrics(window_seconds=1)


def test_an_operator_cancels_a_job_and_the_audit_row_names_the_operator_and_the_request(
    songsdb_web: SongsDatabase, songsdb_worker: SongsDatabase, songsdb_ops: SongsDatabase
) -> None:
    mine = model()
    job_id = songsdb_web.create_job(song(songsdb_web), mine, "separation")
    claimed = songsdb_worker.claim_next_job("gpu-1", model_names=[mine])
    assert claimed is not None
    request = f"console-{uuid.uuid4().hex}"
    job = songsdb_ops.cancel_job_by_operator(job_id, request_id=request, user_id="alice")
    assert (job.status, job.held_by, job.lease_expires_at) == ("cancelled", None, None)
    [row] = songsdb_ops.request_trail(request).entries
    assert (row.action, row.user_id, row.entity_id.lower()) == ("cancelled", "alice", str(job_id))
    assert row.details == {"from": "running", "to": "cancelled", "heldBy": "worker"}
    with pytest.raises(InvalidStatusTransition):
        songsdb_worker.heartbeat(job_id, claimed.claim_token, progress=50)
    with pytest.raises(InvalidStatusTransition):
        songsdb_ops.cancel_job_by_operator(job_id)
    with pytest.raises(JobNotFound):
        songsdb_ops.cancel_job_by_operator(uuid.uuid4())


def test_a_selection_is_retried_in_one_call_and_each_jobs_outcome_reported_in_order(
    songsdb_web: SongsDatabase, songsdb_worker: SongsDatabase, songsdb_ops: SongsDatabase
) -> None:
    mine = model()
    failed = [failed_job(songsdb_web, songsdb_worker, mine) for _ in range(2)]
    done = completed_job(songsdb_web, songsdb_worker, mine)
    missing = uuid.uuid4()
    request = f"console-{uuid.uuid4().hex}"
    outcomes = songsdb_ops.retry_jobs([failed[1], done, missing, failed[0], failed[1]], request_id=request, user_id="alice")
    assert [(o.job_id, o.outcome) for o in outcomes] == [
        (failed[1], "retried"), (done, "not_failed"), (missing, "not_found"), (failed[0], "retried")
    ]
    assert {songsdb_ops.job_detail(j).job.status for j in failed} == {"queued"}
    rows = songsdb_ops.request_trail(request).entries
    assert sorted((r.entity_id or "").lower() for r in rows) == sorted(str(j) for j in failed)
    assert {(r.action, r.user_id) for r in rows} == {("retried", "alice")}
    assert all(r.recorded_by and r.source and r.source.lower() == "ops.retryjobs" for r in rows)
    with pytest.raises(ValidationError) as refused:
        songsdb_ops.retry_jobs([])
    assert refused.value.number == 50004


def test_a_selection_is_cancelled_in_one_call_final_jobs_are_left_alone(
    songsdb_web: SongsDatabase, songsdb_worker: SongsDatabase, songsdb_ops: SongsDatabase
) -> None:
    mine = model()
    failed = failed_job(songsdb_web, songsdb_worker, mine)
    done = completed_job(songsdb_web, songsdb_worker, mine)
    running = songsdb_web.create_job(song(songsdb_web), mine, "chroma")
    claimed = songsdb_worker.claim_next_job("gpu-9", model_names=[mine], job_types=["chroma"])
    assert claimed is not None and claimed.id == running
    request = f"console-{uuid.uuid4().hex}"
    outcomes = songsdb_ops.cancel_jobs([failed, done, running], request_id=request, user_id="bob")
    assert [o.outcome for o in outcomes] == ["cancelled", "final", "cancelled"]
    assert songsdb_ops.job_detail(running).job.held_by is None
    details = {(r.entity_id or "").lower(): r.details for r in songsdb_ops.request_trail(request).entries}
    assert details == {
        str(failed): {"from": "failed", "to": "cancelled"},
        str(running): {"from": "running", "to": "cancelled", "heldBy": "worker"},
    }
    with pytest.raises(InvalidStatusTransition):
        songsdb_worker.heartbeat(running, claimed.claim_token, progress=10)


def test_a_delayed_job_failed_then_retried_by_retry_jobs_is_in_the_claim_indexes_and_claimable_at_once(
    songsdb_web: SongsDatabase, songsdb_worker: SongsDatabase, songsdb_ops: SongsDatabase, songsdb_database
) -> None:
    """The DBA review's m1: ops.RetryJobs set Delayed = 0 as ops.RetryJob does."""
    from .helpers import scalar

    mine = model()
    job_id = songsdb_web.create_job(song(songsdb_web), mine, "separation", max_attempts=3)
    claimed = songsdb_worker.claim_next_job("gpu-1", model_names=[mine])
    assert claimed is not None and claimed.id == job_id
    waiting = songsdb_worker.fail_job(job_id, claimed.claim_token, "busy", retry_delay_seconds=3600)
    assert waiting.status == "queued"  # requeued behind a back-off of an hour: delayed
    assert songsdb_web.update_job_status(job_id, "failed", error_message="given up").status == "failed"
    assert [o.outcome for o in songsdb_ops.retry_jobs([job_id])] == ["retried"]
    delayed = "SELECT CAST(Delayed AS int) FROM dbo.ProcessingJobs WHERE JobId = ?;"
    assert scalar(songsdb_database, delayed, str(job_id)) == 0  # in IX_ProcessingJobs_ClaimReady at once
    again = songsdb_worker.claim_next_job("gpu-2", model_names=[mine])
    assert again is not None and again.id == job_id


def test_cancelling_a_running_job_ends_its_worker_attempt_as_cancelled_one_job_or_a_selection(
    songsdb_web: SongsDatabase, songsdb_worker: SongsDatabase, songsdb_ops: SongsDatabase, songsdb_database
) -> None:
    """The DBA review's m2: ops.CancelJob and ops.CancelJobs end the attempt with the job, not leave it open."""
    from .helpers import query

    mine = model()
    jobs = [songsdb_web.create_job(song(songsdb_web), mine, "chroma") for _ in range(2)]
    claims = [songsdb_worker.claim_next_job(f"gpu-{n}", model_names=[mine]) for n in range(2)]
    assert all(c is not None for c in claims) and {c.id for c in claims if c} == set(jobs)
    songsdb_ops.cancel_job_by_operator(jobs[0], user_id="alice")
    assert [o.outcome for o in songsdb_ops.cancel_jobs([jobs[1]], user_id="bob")] == ["cancelled"]
    rows = query(
        songsdb_database,
        "SELECT JobId, Outcome, CASE WHEN EndedAt IS NULL THEN 0 ELSE 1 END FROM dbo.JobAttempts WHERE JobId IN (?, ?);",
        str(jobs[0]), str(jobs[1]),
    )
    assert sorted((str(r[0]).lower(), r[1], r[2]) for r in rows) == sorted((str(j), "cancelled", 1) for j in jobs)
    claim = next(c for c in claims if c and c.id == jobs[0])
    with pytest.raises(InvalidStatusTransition):  # its worker is told on its next call, as before
        songsdb_worker.heartbeat(jobs[0], claim.claim_token, progress=50)
