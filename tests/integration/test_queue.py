"""The work queue on a real engine: exactly-once claims, leases with fencing, retries, poison jobs."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from songsdb import errors
from songsdb.config import Settings
from songsdb.database import SongsDatabase

from .helpers import scalar


@pytest.fixture(scope="module")
def queue_settings(databases) -> Settings:
    return databases.new(migrate=True)


@pytest.fixture(scope="module")
def db(queue_settings: Settings) -> Iterator[SongsDatabase]:
    with SongsDatabase(queue_settings) as client:
        yield client


@pytest.fixture
def model() -> str:
    """A model name of this test's own, so claims filtered by it see only this test's jobs."""
    return f"m-{uuid.uuid4().hex[:12]}"


def song(db: SongsDatabase) -> uuid.UUID:
    return db.create_song(f"file-{uuid.uuid4()}", "a.mp3")


def test_an_empty_queue_gives_none(db: SongsDatabase, model: str) -> None:
    assert db.claim_next_job("w1", model_names=[model]) is None


def test_claims_go_by_priority_then_age_and_carry_a_lease(db: SongsDatabase, model: str) -> None:
    s = song(db)
    low, high_old, high_new = db.enqueue_jobs(s, [(model, "separation", 0), (model, "chroma", 5), (model, "separation", 5)])
    first = db.claim_next_job("w1", model_names=[model], lease_seconds=60)
    assert first is not None and first.id == high_old.id
    assert (first.status, first.worker_id, first.attempts) == ("running", "w1", 1)
    assert first.claim_token is not None and first.lease_expires_at is not None
    assert db.get_job(first.id).claim_token is None  # only the claim hands the token out
    assert db.claim_next_job("w1", model_names=[model]).id == high_new.id
    assert db.claim_next_job("w1", model_names=[model]).id == low.id
    assert db.claim_next_job("w1", model_names=[model]) is None


def test_claims_filter_by_job_type(db: SongsDatabase, model: str) -> None:
    s = song(db)
    db.enqueue_jobs(s, [(model, "separation"), (model, "transcription")])
    job = db.claim_next_job("w1", job_types=["transcription"], model_names=[model])
    assert job is not None and job.job_type == "transcription"
    assert db.claim_next_job("w1", job_types=["transcription"], model_names=[model]) is None



def test_claims_filtered_by_several_models_go_by_priority_across_every_type_and_model(db: SongsDatabase) -> None:
    """One seek per (job type, model) pair, then the first of those in claim order; other models never."""
    mine, also_mine, other = (f"m-{uuid.uuid4().hex[:12]}" for _ in range(3))
    s = song(db)
    low, _not_mine, high, mid = db.enqueue_jobs(
        s, [(mine, "separation", 1), (other, "separation", 9), (also_mine, "chroma", 8), (mine, "transcription", 5)]
    )
    claimed = [db.claim_next_job("w1", model_names=[mine, also_mine]) for _ in range(4)]
    assert [job.id if job else None for job in claimed] == [high.id, mid.id, low.id, None]
    assert db.claim_next_job("w1", job_types=["separation"], model_names=[other, mine]).model_name == other

def test_many_workers_complete_every_job_exactly_once(queue_settings: Settings, db: SongsDatabase, model: str) -> None:
    s = song(db)
    jobs = db.enqueue_jobs(s, [(model, "separation")] * 40)
    completed: list[uuid.UUID] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        try:
            with SongsDatabase(queue_settings, pool_size=1) as own:
                while (job := own.claim_next_job(f"w{n}", model_names=[model], lease_seconds=120)) is not None:
                    own.complete_job(job.id, job.claim_token, tracks=[{"stem_name": "vocals", "file_path": f"/{job.id}"}])
                    with lock:
                        completed.append(job.id)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert sorted(completed) == sorted(j.id for j in jobs)  # none lost, none twice
    assert len(set(completed)) == 40
    assert all(db.get_job(j.id).status == "completed" for j in jobs)
    claims = scalar(
        queue_settings,
        "SELECT COUNT(*) FROM dbo.AuditLog AS a INNER JOIN dbo.ProcessingJobs AS j "
        "ON a.EntityId = CONVERT(nvarchar(36), j.JobId) WHERE j.ModelName = ? AND a.Action = 'claimed';",
        model,
    )
    assert claims == 40


def test_a_dead_workers_job_is_claimed_again_and_its_late_completion_refused(db: SongsDatabase, model: str) -> None:
    s = song(db)
    [queued] = db.enqueue_jobs(s, [(model, "separation")])
    dead = db.claim_next_job("dead", model_names=[model], lease_seconds=1)
    assert dead is not None and db.claim_next_job("other", model_names=[model]) is None  # leased: not claimable yet
    time.sleep(1.5)
    alive = db.claim_next_job("alive", model_names=[model], lease_seconds=60)
    assert alive is not None and alive.id == queued.id
    assert alive.claim_token != dead.claim_token and alive.attempts == 2
    with pytest.raises(errors.LeaseLost, match="alive"):
        db.complete_job(dead.id, dead.claim_token, tracks=[{"stem_name": "zombie", "file_path": "/z"}])
    with pytest.raises(errors.LeaseLost):
        db.heartbeat(dead.id, dead.claim_token, progress=99)
    with pytest.raises(errors.LeaseLost):
        db.fail_job(dead.id, dead.claim_token, "late failure")
    assert db.get_song_results(s).tracks == ()
    done = db.complete_job(alive.id, alive.claim_token, tracks=[{"stem_name": "vocals", "file_path": "/v"}])
    assert done.status == "completed" and done.worker_id == "alive"
    assert [t.stem_name for t in db.get_song_results(s).tracks] == ["vocals"]


def test_heartbeats_extend_the_lease_and_record_progress(db: SongsDatabase, model: str) -> None:
    db.enqueue_jobs(song(db), [(model, "chroma")])
    job = db.claim_next_job("w1", model_names=[model], lease_seconds=1)
    beat = db.heartbeat(job.id, job.claim_token, progress=30, message="half-way", lease_seconds=60)
    assert beat.progress == 30 and beat.message == "half-way" and beat.lease_expires_at > job.lease_expires_at
    time.sleep(1.2)
    assert db.claim_next_job("w2", model_names=[model]) is None  # the heartbeat kept it


def test_a_poison_job_fails_for_good_after_max_attempts_keeping_its_last_error(db: SongsDatabase, model: str) -> None:
    [job] = db.enqueue_jobs(song(db), [{"model_name": model, "job_type": "separation", "max_attempts": 2}])
    first = db.claim_next_job("w1", model_names=[model])
    requeued = db.fail_job(first.id, first.claim_token, "CUDA out of memory", error_stack="Traceback 1", retry_delay_seconds=0)
    assert (requeued.status, requeued.attempts, requeued.error_message) == ("queued", 1, "CUDA out of memory")
    second = db.claim_next_job("w2", model_names=[model])
    assert second.id == job.id and second.attempts == 2
    final = db.fail_job(second.id, second.claim_token, "segfault in demucs", error_stack="Traceback 2", retry_delay_seconds=0)
    assert (final.status, final.error_message, final.error_stack) == ("failed", "segfault in demucs", "Traceback 2")
    assert final.completed_at is not None
    assert db.claim_next_job("w3", model_names=[model]) is None


def test_failures_back_off_before_the_next_attempt(db: SongsDatabase, model: str) -> None:
    db.enqueue_jobs(song(db), [(model, "separation")])
    job = db.claim_next_job("w1", model_names=[model])
    failed = db.fail_job(job.id, job.claim_token, "transient")
    assert failed.status == "queued" and (failed.available_at - failed.updated_at).total_seconds() >= 29
    assert db.claim_next_job("w1", model_names=[model]) is None  # not before its back-off


def test_an_expired_lease_on_the_last_attempt_fails_the_job(db: SongsDatabase, model: str) -> None:
    [job] = db.enqueue_jobs(song(db), [{"model_name": model, "job_type": "chroma", "max_attempts": 1}])
    db.claim_next_job("dies", model_names=[model], lease_seconds=1)
    time.sleep(1.5)
    assert db.claim_next_job("w2", model_names=[model]) is None
    failed = db.get_job(job.id)
    assert failed.status == "failed" and "expired" in failed.error_message


def test_illegal_calls_get_typed_errors_and_change_nothing(db: SongsDatabase, model: str) -> None:
    db.enqueue_jobs(song(db), [(model, "separation"), (model, "separation")])
    job = db.claim_next_job("w1", model_names=[model])
    before = db.get_job(job.id)
    with pytest.raises(errors.LeaseLost):
        db.complete_job(job.id, uuid.uuid4())
    with pytest.raises(errors.JobNotFound):
        db.complete_job(uuid.uuid4(), job.claim_token)
    with pytest.raises(errors.ValidationError, match="@LeaseSeconds"):
        db.heartbeat(job.id, job.claim_token, lease_seconds=-5)
    with pytest.raises(errors.ValidationError, match="@LeaseSeconds"):
        db.claim_next_job("w1", model_names=[model], lease_seconds=-1)
    with pytest.raises(errors.ValidationError, match="separation"):
        db.complete_job(job.id, job.claim_token, transcription={"full_text": "wrong type"})
    with pytest.raises(errors.ValidationError, match="@Tracks"):
        db.complete_job(job.id, job.claim_token, tracks=[{"stem_name": "v"}])
    assert db.get_job(job.id) == before
    other = db.claim_next_job("w2", model_names=[model])
    db.cancel_job(other.id)
    with pytest.raises(errors.InvalidStatusTransition, match="cancelled"):
        db.complete_job(other.id, other.claim_token, tracks=[{"stem_name": "v", "file_path": "/v"}])
    assert db.get_job(other.id).status == "cancelled"


def test_completion_writes_transcriptions_and_analyses_with_the_status(db: SongsDatabase, model: str) -> None:
    s = song(db)
    db.enqueue_jobs(s, [(model, "transcription"), (model, "chroma")])
    t = db.claim_next_job("w1", job_types=["transcription"], model_names=[model])
    db.complete_job(t.id, t.claim_token, transcription={"language": "en", "full_text": "hi", "segments": [{"t": 0}], "model_name": "whisper"}, result_metadata={"secs": 3})
    c = db.claim_next_job("w1", job_types=["chroma"], model_names=[model])
    with pytest.raises(errors.ValidationError, match="@ChromaVector"):
        db.complete_job(c.id, c.claim_token, chroma_analysis={"key_name": "A", "chroma_vector": [1, 2]})
    assert db.get_job(c.id).status == "running"  # nothing written by the refused completion
    db.complete_job(c.id, c.claim_token, chroma_analysis={"key_name": "A", "mode": "minor", "tempo": 90, "chroma_vector": [0.5] * 12})
    results = db.get_song_results(s)
    assert [r.full_text for r in results.transcriptions] == ["hi"] and results.transcriptions[0].segments == [{"t": 0}]
    assert [(r.key_name, r.mode, r.tempo) for r in results.analyses] == [("A", "minor", 90.0)]
    assert db.get_job(t.id).result_metadata == {"secs": 3}



def test_a_model_name_longer_than_any_stored_one_is_refused_not_cut(db: SongsDatabase, model: str) -> None:
    """ModelName is nvarchar(50): cut to 50 characters, a longer filter would claim another model's job."""
    stored = (model + "x" * 50)[:50]
    s = song(db)
    db.enqueue_jobs(s, [(stored, "separation")])
    with pytest.raises(errors.ValidationError, match="@ModelNames.*up to 50 characters"):
        db.claim_next_job("w1", model_names=[stored + "-other"])
    assert db.claim_next_job("w1", model_names=[stored]).model_name == stored


def test_a_long_transcript_is_stored_whole(db: SongsDatabase, model: str) -> None:
    """Whisper output is longer than 4000 characters; Babelfish's OPENJSON ... WITH would cut it there."""
    s = song(db)
    db.enqueue_jobs(s, [(model, "transcription")])
    job = db.claim_next_job("w1", job_types=["transcription"], model_names=[model])
    text = "ünïcode lyrics line. " * 1000
    segments = [{"start": i, "end": i + 1, "text": f"segment {i}"} for i in range(800)]
    db.complete_job(job.id, job.claim_token, transcription={"language": "en", "full_text": text, "segments": segments})
    (stored,) = db.get_song_results(s).transcriptions
    assert stored.full_text == text and stored.segments == segments


def test_transcript_fields_are_read_as_openjson_with_read_them(db: SongsDatabase, model: str) -> None:
    """Text fields take scalars only (an object there is NULL), segments an array only, as WITH did."""
    s = song(db)
    db.enqueue_jobs(s, [(model, "transcription")])
    job = db.claim_next_job("w1", job_types=["transcription"], model_names=[model])
    db.complete_job(
        job.id, job.claim_token,
        transcription={"language": {"code": "en"}, "full_text": ["a"], "segments": [], "model_name": "whisper"},
    )
    (stored,) = db.get_song_results(s).transcriptions
    assert (stored.language, stored.full_text, stored.segments, stored.model_name) == (None, None, [], "whisper")

def test_enqueue_is_all_or_nothing(db: SongsDatabase, queue_settings: Settings, model: str) -> None:
    s = song(db)
    before = scalar(queue_settings, "SELECT COUNT(*) FROM dbo.ProcessingJobs;")
    with pytest.raises(errors.ValidationError, match="jobType"):
        db.enqueue_jobs(s, [(model, "separation"), (model, "karaoke")])
    assert scalar(queue_settings, "SELECT COUNT(*) FROM dbo.ProcessingJobs;") == before
    with pytest.raises(errors.SongNotFound):
        db.enqueue_jobs(uuid.uuid4(), [(model, "separation")])
    jobs = db.enqueue_jobs(s, [(model, "separation"), (model, "chroma", 3)], request_id="req-enqueue")
    assert [j.job_type for j in jobs] == ["separation", "chroma"] and jobs[1].priority == 3
    assert [a.action for a in db.get_audit_trail(request_id="req-enqueue")] == ["created", "created"]


def test_retry_job_requeues_a_failed_job_with_fresh_attempts(db: SongsDatabase, model: str) -> None:
    [job] = db.enqueue_jobs(song(db), [{"model_name": model, "job_type": "separation", "max_attempts": 1}])
    claimed = db.claim_next_job("w1", model_names=[model])
    db.fail_job(claimed.id, claimed.claim_token, "boom")
    retried = db.retry_job(job.id, request_id="req-retry")
    assert (retried.status, retried.attempts, retried.error_message) == ("queued", 0, "boom")
    with pytest.raises(errors.InvalidStatusTransition, match="only a failed job"):
        db.retry_job(job.id)
    assert db.claim_next_job("w1", model_names=[model]).id == job.id


def test_queue_status_counts_open_work_and_expired_leases(db: SongsDatabase, model: str) -> None:
    db.enqueue_jobs(song(db), [(model, "separation")] * 3)
    db.claim_next_job("w1", model_names=[model], lease_seconds=1)
    time.sleep(1.2)
    [row] = [r for r in db.queue_status() if r.model_name == model]
    assert (row.queued, row.running, row.failed, row.expired_leases) == (2, 1, 0, 1)
    assert row.oldest_queued_seconds is not None and row.oldest_queued_seconds >= 0


def test_the_example_worker_runs_jobs_until_the_queue_is_empty(db: SongsDatabase, model: str) -> None:
    from examples.gpu_worker import Worker, demo_handler

    s = song(db)
    db.enqueue_jobs(s, [(model, "separation"), (model, "transcription"), (model, "chroma")])
    done = Worker(db, demo_handler, "example", model_names=[model], stop_when_idle=True, heartbeat_seconds=0.2).run()
    assert sorted(j.job_type for j in done) == ["chroma", "separation", "transcription"]
    assert all(j.status == "completed" for j in done)
    results = db.get_song_results(s)
    assert len(results.tracks) == 4 and len(results.transcriptions) == 1 and len(results.analyses) == 1


def test_the_example_worker_fails_a_job_whose_handler_raises(db: SongsDatabase, model: str) -> None:
    from examples.gpu_worker import Worker

    def broken(job, report):
        raise RuntimeError("model weights missing")

    [job] = db.enqueue_jobs(song(db), [{"model_name": model, "job_type": "separation", "max_attempts": 1}])
    Worker(db, broken, "example", model_names=[model], stop_when_idle=True).run()
    failed = db.get_job(job.id)
    assert failed.status == "failed" and failed.error_message == "model weights missing"
    assert "RuntimeError" in failed.error_stack


def test_the_example_worker_survives_jobs_cancelled_refused_or_failing_loudly_and_goes_on(db: SongsDatabase, model: str) -> None:
    from examples.gpu_worker import Worker

    s = song(db)
    cancelled, loud, bad, fine = (
        db.enqueue_jobs(s, [{"model_name": model, "job_type": t, "max_attempts": 1}])[0]
        for t in ("separation", "transcription", "chroma", "separation")
    )

    def handler(job, report):
        if job.id == cancelled.id:
            db.update_job_status(job.id, "cancelled")  # an operator cancels it while it runs
            return {"tracks": [{"stem_name": "vocals", "file_path": "/v.wav"}]}
        if job.id == loud.id:
            raise RuntimeError("x" * 10_000)  # longer than the error message column
        if job.id == bad.id:
            return {"chroma_analysis": {"key_name": "C", "tempo": -1.0}}  # refused by worker.CompleteJob
        return {"tracks": [{"stem_name": "vocals", "file_path": "/ok.wav"}]}

    Worker(db, handler, "example", model_names=[model], stop_when_idle=True, heartbeat_seconds=0.2).run()
    assert db.get_job(cancelled.id).status == "cancelled"  # the worker dropped its result and went on
    failed = db.get_job(loud.id)
    assert failed.status == "failed" and failed.error_message == "x" * 4000 and "x" * 10_000 in failed.error_stack
    refused = db.get_job(bad.id)
    assert refused.status == "failed" and "tempo" in refused.error_message.lower()
    assert db.get_job(fine.id).status == "completed"  # and the loop reached the last job
