"""Every write to a job is fenced, the web service's own runs are never zombies, and procedures
respect the caller's transaction: on a real engine."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from songsdb import errors
from songsdb.config import Settings
from songsdb.database import SongsDatabase

from .helpers import scalar

TRACK = [{"stem_name": "vocals", "file_path": "/v.wav"}]


@pytest.fixture(scope="module")
def db(migrated: Settings) -> Iterator[SongsDatabase]:
    with SongsDatabase(migrated) as client:
        yield client


def new_job(db: SongsDatabase, job_type: str = "separation") -> tuple[uuid.UUID, str]:
    model = f"m-{uuid.uuid4().hex[:12]}"
    song = db.create_song(f"file-{uuid.uuid4()}", "a.mp3")
    return db.create_job(song, model, job_type), model


def results(migrated: Settings, job_id: uuid.UUID) -> int:
    return int(
        scalar(
            migrated,
            "SELECT (SELECT COUNT(*) FROM dbo.SeparatedTracks WHERE JobId = ?) + (SELECT COUNT(*) FROM dbo.Transcriptions "
            "WHERE JobId = ?) + (SELECT COUNT(*) FROM dbo.ChromaAnalysis WHERE JobId = ?);",
            str(job_id), str(job_id), str(job_id),
        )
    )


@pytest.mark.parametrize("job_type", ["separation", "transcription", "chroma"])
def test_a_stale_worker_is_refused_on_every_result_procedure_and_writes_nothing(db, migrated, job_type: str) -> None:
    job_id, model = new_job(db, job_type)
    stale = db.claim_next_job("gpu-old", model_names=[model], lease_seconds=1)
    time.sleep(1.2)
    fresh = db.claim_next_job("gpu-new", model_names=[model])
    assert stale is not None and fresh is not None and fresh.id == stale.id == job_id
    attempts = {
        "separation": lambda token: db.add_separated_tracks(job_id, TRACK, claim_token=token),
        "transcription": lambda token: db.add_transcription(job_id, full_text="la", claim_token=token),
        "chroma": lambda token: db.add_chroma_analysis(job_id, key_name="A", mode="minor", claim_token=token),
    }
    write = attempts[job_type]
    for call in (
        lambda: write(stale.claim_token),
        lambda: db.heartbeat(job_id, stale.claim_token, progress=50),
        lambda: db.complete_job(job_id, stale.claim_token),
        lambda: db.fail_job(job_id, stale.claim_token, "boom"),
    ):
        with pytest.raises(errors.LeaseLost, match="gpu-new"):
            call()
    assert results(migrated, job_id) == 0
    write(fresh.claim_token)  # the holder's token works on the same call
    assert results(migrated, job_id) == 1


def test_results_for_a_queued_job_are_refused(db, migrated) -> None:
    job_id, _ = new_job(db)
    with pytest.raises(errors.InvalidStatusTransition, match="queued, not running"):
        db.add_separated_tracks(job_id, TRACK, claim_token=uuid.uuid4())
    assert results(migrated, job_id) == 0


def test_a_cancelled_job_refuses_its_worker_on_the_next_call(db) -> None:
    job_id, model = new_job(db)
    job = db.claim_next_job("gpu-1", model_names=[model])
    assert db.cancel_job(job_id).status == "cancelled"
    with pytest.raises(errors.InvalidStatusTransition, match="cancelled"):
        db.add_separated_tracks(job_id, TRACK, claim_token=job.claim_token)
    with pytest.raises(errors.InvalidStatusTransition):
        db.heartbeat(job_id, job.claim_token)


def test_the_web_service_cannot_move_a_job_a_worker_holds_without_its_token(db) -> None:
    job_id, model = new_job(db)
    job = db.claim_next_job("gpu-1", model_names=[model])
    for status in ("completed", "failed", "queued", "running"):
        with pytest.raises(errors.JobHeld, match="held by worker 'gpu-1'"):
            db.update_job_status(job_id, status)
    with pytest.raises(errors.LeaseLost):
        db.update_job_status(job_id, "completed", claim_token=uuid.uuid4())
    done = db.update_job_status(job_id, "completed", claim_token=job.claim_token)
    assert (done.status, done.held_by, done.claim_token) == ("completed", None, None)


def test_the_original_designs_synchronous_flow_works(db) -> None:
    song_id = db.create_song(f"file-{uuid.uuid4()}", "test.mp3", title="Test Song", artist="Test Artist")
    job_id = db.create_job(song_id=song_id, model_name="demucs", job_type="separation")
    done = db.update_job_status(job_id, "completed", progress=100, message="Processing complete")
    assert (done.status, done.progress, done.message, done.held_by) == ("completed", 100, "Processing complete", None)
    assert done.started_at is not None and done.completed_at is not None


def test_a_job_the_web_runs_itself_has_a_lease_and_is_taken_back_when_it_expires(db) -> None:
    job_id, model = new_job(db)
    running = db.update_job_status(job_id, "running", progress=5, lease_seconds=1)
    assert (running.status, running.held_by, running.worker_id) == ("running", "web", "web")
    assert running.claim_token is not None and running.lease_expires_at is not None
    assert db.claim_next_job("gpu-1", model_names=[model]) is None  # held, lease still valid
    renewed = db.update_job_status(job_id, "running", progress=50, lease_seconds=1)
    assert renewed.lease_expires_at >= running.lease_expires_at
    time.sleep(1.2)  # the web service "died": its lease ran out
    assert any(q.model_name == model and q.expired_leases == 1 for q in db.queue_status())
    taken = db.claim_next_job("gpu-1", model_names=[model])
    assert taken is not None and (taken.id, taken.held_by, taken.attempts) == (job_id, "worker", 2)
    with pytest.raises(errors.JobHeld):
        db.update_job_status(job_id, "completed")  # the dead web service's late report is refused


def test_the_web_can_give_a_job_back_to_the_queue(db) -> None:
    job_id, model = new_job(db)
    db.update_job_status(job_id, "running")
    back = db.update_job_status(job_id, "queued")
    assert (back.status, back.held_by, back.claim_token, back.lease_expires_at) == ("queued", None, None, None)
    assert db.claim_next_job("gpu-1", model_names=[model]).id == job_id


def test_a_failed_call_inside_a_transaction_rolls_back_the_earlier_calls_and_says_so(db) -> None:
    first, second, third = (f"file-{uuid.uuid4()}" for _ in range(3))
    with pytest.raises(errors.TransactionRolledBack, match="DuplicateSong.*rolled the whole transaction back"):
        with db.transaction() as tx:
            tx.create_song(first, "a.mp3")
            try:
                tx.create_song(first, "a.mp3")
            except errors.DuplicateSong:
                pass  # caught inside the block: the transaction is still gone
            with pytest.raises(errors.TransactionRolledBack):
                tx.create_song(second, "b.mp3")  # later calls are not even sent
    assert db.get_song(first) is None and db.get_song(second) is None
    with db.transaction() as tx:  # the client and its pool are fine afterwards
        tx.create_song(third, "c.mp3")
    assert db.get_song(third) is not None


def test_a_validation_error_inside_a_transaction_also_rolls_it_back(db) -> None:
    file_id = f"file-{uuid.uuid4()}"
    with pytest.raises(errors.ValidationError):
        with db.transaction() as tx:
            tx.create_song(file_id, "a.mp3")
            tx.create_job(tx.get_song(file_id).id, "demucs", "no-such-type")
    assert db.get_song(file_id) is None


def test_a_claim_inside_a_transaction_is_refused_and_the_transaction_is_rolled_back(db) -> None:
    job_id, model = new_job(db)
    file_id = f"file-{uuid.uuid4()}"
    with pytest.raises(errors.TransactionNotAllowed, match="inside a transaction"):
        with db.transaction() as tx:
            tx.create_song(file_id, "a.mp3")
            tx.claim_next_job("gpu-1", model_names=[model])
    assert db.get_song(file_id) is None
    assert db.get_job(job_id).status == "queued"
    assert db.claim_next_job("gpu-1", model_names=[model]).id == job_id  # outside a transaction it works


def test_the_procedures_join_the_callers_transaction_and_commit_with_it(db) -> None:
    file_id = f"file-{uuid.uuid4()}"
    with db.transaction() as tx:
        song_id = tx.create_song(file_id, "a.mp3")
        job_id = tx.create_job(song_id, "demucs", "separation")
        tx.update_job_status(job_id, "completed")
    assert db.get_job(job_id).status == "completed"
    assert [a.action for a in db.get_audit_trail(entity_type="job", entity_id=str(job_id))][-1] == "status_changed"


def test_a_transaction_whose_first_call_changes_a_job_commits_or_rolls_back_with_it(db) -> None:
    """The first call of a transaction() block finds @@TRANCOUNT = 0 with IMPLICIT_TRANSACTIONS on
    (the driver's autocommit off): it must join that transaction, not begin and commit its own."""
    kept, _ = new_job(db)
    with db.transaction() as tx:
        tx.update_job_status(kept, "completed")
    assert db.get_job(kept).status == "completed"
    undone, _ = new_job(db)
    with pytest.raises(RuntimeError):
        with db.transaction() as tx:
            tx.update_job_status(undone, "completed")
            raise RuntimeError("the caller changed its mind")
    assert db.get_job(undone).status == "queued"


def test_the_web_taking_a_requeued_job_names_itself_not_the_last_worker(db) -> None:
    job_id, model = new_job(db)
    job = db.claim_next_job("gpu-1", model_names=[model])
    db.fail_job(job_id, job.claim_token, "CUDA out of memory", retry_delay_seconds=0)
    taken = db.update_job_status(job_id, "running")
    assert (taken.held_by, taken.worker_id) == ("web", "web")
