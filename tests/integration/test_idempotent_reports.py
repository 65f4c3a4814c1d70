"""A worker's reports repeated with their claim token (issue #21 §2): answered again, written once; stale tokens refused."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from songsdb import errors
from songsdb.config import Settings
from songsdb.database import SongsDatabase
from songsdb.models import ClaimedJob, JobType

from .helpers import query, scalar


@pytest.fixture(scope="module")
def reports_settings(databases) -> Settings:
    return databases.new(migrate=True)


@pytest.fixture(scope="module")
def db(reports_settings: Settings) -> Iterator[SongsDatabase]:
    with SongsDatabase(reports_settings) as client:
        yield client


@pytest.fixture
def model() -> str:
    return f"m-{uuid.uuid4().hex[:12]}"


def claimed(db: SongsDatabase, model: str, job_type: JobType = "separation", *, max_attempts: int = 3) -> ClaimedJob:
    s = db.create_song(f"file-{uuid.uuid4()}", "a.mp3")
    db.create_job(s, model, job_type, max_attempts=max_attempts)
    job = db.claim_next_job("w1", model_names=[model], lease_seconds=60)
    assert job is not None
    return job


def audits(settings: Settings, entity_id: object, action: str, entity_type: str = "job") -> int:
    return int(scalar(
        settings,
        "SELECT COUNT(*) FROM dbo.AuditLog WHERE EntityType = ? AND EntityId = ? AND Action = ?;",
        entity_type, str(entity_id), action,
    ))


def attempts(settings: Settings, job_id: uuid.UUID) -> list[tuple[int, str, str | None]]:
    return [
        (int(a), str(w), o)
        for a, w, o in query(
            settings, "SELECT Attempt, WorkerId, Outcome FROM dbo.JobAttempts WHERE JobId = ? ORDER BY Attempt;", str(job_id)
        )
    ]


STEMS = [{"stem_name": "vocals", "file_path": "/s/v.wav"}, {"stem_name": "drums", "file_path": "/s/d.wav"}]


def test_a_completion_repeated_with_its_token_answers_the_same_and_writes_nothing_twice(
    db: SongsDatabase, reports_settings: Settings, model: str
) -> None:
    job = claimed(db, model)
    first = db.complete_job(job.id, job.claim_token, tracks=STEMS)
    again = db.complete_job(job.id, job.claim_token, tracks=STEMS)
    assert (first.id, first.status) == (again.id, again.status) == (job.id, "completed")
    assert again.completed_at == first.completed_at
    assert len(db.get_song_results(job.song_id).tracks) == 2
    assert audits(reports_settings, job.id, "completed") == 1
    assert attempts(reports_settings, job.id) == [(1, "w1", "completed")]


def test_a_failure_repeated_after_the_job_was_requeued_and_claimed_by_another_worker_is_answered_not_refused(
    db: SongsDatabase, reports_settings: Settings, model: str
) -> None:
    job = claimed(db, model)
    first = db.fail_job(job.id, job.claim_token, "CUDA out of memory", retry_delay_seconds=0)
    assert first.status == "queued"
    again = db.fail_job(job.id, job.claim_token, "CUDA out of memory", retry_delay_seconds=0)
    assert again.id == job.id and again.status == "queued"
    other = db.claim_next_job("w2", model_names=[model], lease_seconds=60)
    assert other is not None and other.id == job.id and other.attempts == 2
    late = db.fail_job(job.id, job.claim_token, "CUDA out of memory", retry_delay_seconds=0)
    assert late.id == job.id and late.worker_id == "w2"  # answered; the job as it is now, still w2's
    assert audits(reports_settings, job.id, "failed") == 1
    # w2's claim is untouched, and w1's old token moves nothing else
    assert db.heartbeat(job.id, other.claim_token, progress=10).status == "running"
    with pytest.raises(errors.LeaseLost):
        db.complete_job(job.id, job.claim_token)
    with pytest.raises(errors.LeaseLost):
        db.heartbeat(job.id, uuid.uuid4())
    assert attempts(reports_settings, job.id) == [(1, "w1", "requeued"), (2, "w2", None)]


def test_a_final_failure_repeated_answers_failed_once(db: SongsDatabase, reports_settings: Settings, model: str) -> None:
    job = claimed(db, model, max_attempts=1)
    assert db.fail_job(job.id, job.claim_token, "bad input").status == "failed"
    assert db.fail_job(job.id, job.claim_token, "bad input").status == "failed"
    assert audits(reports_settings, job.id, "failed") == 1


def test_a_heartbeat_repeated_after_the_workers_own_completion_is_answered_without_writing(
    db: SongsDatabase, reports_settings: Settings, model: str
) -> None:
    job = claimed(db, model)
    db.heartbeat(job.id, job.claim_token, progress=50)
    db.complete_job(job.id, job.claim_token)
    late = db.heartbeat(job.id, job.claim_token, progress=50)
    assert (late.id, late.status, late.claim_token) == (job.id, "completed", None)
    assert audits(reports_settings, job.id, "updated") == 1


def test_stems_repeated_with_their_token_are_stored_once_while_running_and_after_completion(
    db: SongsDatabase, reports_settings: Settings, model: str
) -> None:
    job = claimed(db, model)
    first = db.add_separated_tracks(job.id, STEMS, claim_token=job.claim_token)
    again = db.add_separated_tracks(job.id, STEMS, claim_token=job.claim_token)
    assert [t.id for t in again] == [t.id for t in first] and len(first) == 2
    with pytest.raises(errors.ValidationError):  # another path for a stored stem is still refused
        db.add_separated_tracks(job.id, [{"stem_name": "vocals", "file_path": "/elsewhere.wav"}], claim_token=job.claim_token)
    db.complete_job(job.id, job.claim_token)
    late = db.add_separated_tracks(job.id, STEMS, claim_token=job.claim_token)
    assert [t.id for t in late] == [t.id for t in first]
    with pytest.raises(errors.InvalidStatusTransition):  # stems the attempt never stored: refused as before
        db.add_separated_tracks(job.id, [{"stem_name": "bass", "file_path": "/s/b.wav"}], claim_token=job.claim_token)
    assert audits(reports_settings, job.id, "processed") == 1


def test_a_transcription_repeated_with_its_token_is_stored_once(
    db: SongsDatabase, reports_settings: Settings, model: str
) -> None:
    job = claimed(db, model, "transcription")
    text = "la la  \\ \"quoted\" "
    first = db.add_transcription(job.id, full_text=text, language="en", segments=[{"start": 0}], claim_token=job.claim_token)
    again = db.add_transcription(job.id, full_text=text, language="en", segments=[{"start": 0}], claim_token=job.claim_token)
    assert again.id == first.id
    other = db.add_transcription(job.id, full_text=text + "!", language="en", claim_token=job.claim_token)
    assert other.id != first.id  # a different transcription is a new one
    db.fail_job(job.id, job.claim_token, "oops", retry_delay_seconds=0)
    late = db.add_transcription(job.id, full_text=text, language="en", segments=[{"start": 0}], claim_token=job.claim_token)
    assert late.id == first.id
    assert audits(reports_settings, first.id, "created", "transcription") == 1
    assert len(db.get_song_results(job.song_id).transcriptions) == 2


def test_an_analysis_repeated_with_its_token_is_stored_once(db: SongsDatabase, reports_settings: Settings, model: str) -> None:
    job = claimed(db, model, "chroma")
    args = {"key_name": "a", "mode": "Minor", "tempo": 120.5, "key_confidence": 0.25, "chroma_vector": [0.1] * 12}
    first = db.add_chroma_analysis(job.id, claim_token=job.claim_token, **args)  # type: ignore[arg-type]
    db.complete_job(job.id, job.claim_token)
    again = db.add_chroma_analysis(job.id, claim_token=job.claim_token, **args)  # type: ignore[arg-type]
    assert again.id == first.id
    assert len(db.get_song_results(job.song_id).analyses) == 1
    assert audits(reports_settings, first.id, "created", "chroma") == 1


def test_a_token_whose_lease_expired_and_was_reclaimed_is_still_refused_everywhere(
    db: SongsDatabase, reports_settings: Settings, model: str
) -> None:
    s = db.create_song(f"file-{uuid.uuid4()}", "a.mp3")
    db.create_job(s, model, "separation")
    dead = db.claim_next_job("dead", model_names=[model], lease_seconds=1)
    assert dead is not None
    db.add_separated_tracks(dead.id, STEMS[:1], claim_token=dead.claim_token)
    time.sleep(1.5)
    alive = db.claim_next_job("alive", model_names=[model], lease_seconds=60)
    assert alive is not None and alive.id == dead.id
    stale = dead.claim_token
    for call in (
        lambda: db.complete_job(dead.id, stale),
        lambda: db.fail_job(dead.id, stale, "x"),
        lambda: db.heartbeat(dead.id, stale),
        lambda: db.add_separated_tracks(dead.id, STEMS[:1], claim_token=stale),
    ):
        with pytest.raises(errors.LeaseLost):
            call()
    assert attempts(reports_settings, dead.id) == [(1, "dead", "expired"), (2, "alive", None)]
    assert db.complete_job(alive.id, alive.claim_token).status == "completed"  # the live token still works
