"""Job keys on a real engine (issue #21 §2): a create repeated with its key queues nothing twice."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest

from songsdb import errors
from songsdb.config import Settings
from songsdb.database import SongsDatabase

from .helpers import scalar


@pytest.fixture(scope="module")
def keys_settings(databases) -> Settings:
    return databases.new(migrate=True)


@pytest.fixture(scope="module")
def db(keys_settings: Settings) -> Iterator[SongsDatabase]:
    with SongsDatabase(keys_settings) as client:
        yield client


@pytest.fixture
def model() -> str:
    return f"m-{uuid.uuid4().hex[:12]}"


def song(db: SongsDatabase) -> uuid.UUID:
    return db.create_song(f"file-{uuid.uuid4()}", "a.mp3")


def key() -> str:
    return f"req-{uuid.uuid4()}"


def jobs_of(settings: Settings, model: str) -> int:
    return int(scalar(settings, "SELECT COUNT(*) FROM dbo.ProcessingJobs WHERE ModelName = ?;", model))


def created_audits(settings: Settings, job_id: uuid.UUID) -> int:
    return int(scalar(
        settings, "SELECT COUNT(*) FROM dbo.AuditLog WHERE EntityType = 'job' AND EntityId = ? AND Action = 'created';",
        str(job_id),
    ))


def test_a_create_repeated_with_its_key_returns_the_first_job_and_writes_nothing(
    db: SongsDatabase, keys_settings: Settings, model: str
) -> None:
    s, k = song(db), key()
    first = db.create_job(s, model, "separation", job_key=k)
    again = db.create_job(s, model, "separation", job_key=k)
    assert again == first
    assert jobs_of(keys_settings, model) == 1
    assert created_audits(keys_settings, first) == 1


def test_creates_without_a_key_still_queue_a_job_each(db: SongsDatabase, keys_settings: Settings, model: str) -> None:
    s = song(db)
    assert db.create_job(s, model, "separation") != db.create_job(s, model, "separation")
    assert jobs_of(keys_settings, model) == 2


def test_a_key_returns_its_job_after_it_finished(db: SongsDatabase, keys_settings: Settings, model: str) -> None:
    s, k = song(db), key()
    job_id = db.create_job(s, model, "chroma", job_key=k)
    claimed = db.claim_next_job("w1", model_names=[model])
    assert claimed is not None and claimed.id == job_id
    db.complete_job(job_id, claimed.claim_token)
    assert db.create_job(s, model, "chroma", job_key=k) == job_id
    assert db.get_job(job_id).status == "completed"
    assert jobs_of(keys_settings, model) == 1


def test_keys_are_compared_exactly(db: SongsDatabase, keys_settings: Settings, model: str) -> None:
    s, k = song(db), key()
    assert db.create_job(s, model, "chroma", job_key=k.upper()) != db.create_job(s, model, "chroma", job_key=k.lower())
    assert jobs_of(keys_settings, model) == 2


@pytest.mark.parametrize("change", ["song", "model", "job_type"])
def test_a_key_used_for_another_song_model_or_type_is_a_duplicate_job_key_that_writes_nothing(
    db: SongsDatabase, keys_settings: Settings, model: str, change: str
) -> None:
    s, k = song(db), key()
    db.create_job(s, model, "separation", job_key=k)
    other_song = song(db) if change == "song" else s
    other_model = f"{model}x" if change == "model" else model
    other_type = "transcription" if change == "job_type" else "separation"
    with pytest.raises(errors.DuplicateJobKey) as caught:
        db.create_job(other_song, other_model, other_type, job_key=k)
    assert isinstance(caught.value, errors.Conflict)
    assert (caught.value.number, caught.value.parameter) == (50205, "job_key")
    assert jobs_of(keys_settings, model) == 1 and jobs_of(keys_settings, f"{model}x") == 0


def test_a_key_longer_than_200_characters_is_refused(db: SongsDatabase, model: str) -> None:
    with pytest.raises(errors.ValidationError) as caught:
        db.create_job(song(db), model, "separation", job_key="k" * 201)
    assert caught.value.parameter == "job_key"


def test_concurrent_creates_with_one_key_make_exactly_one_job(keys_settings: Settings, db: SongsDatabase, model: str) -> None:
    s, k = song(db), key()
    start = threading.Barrier(8)
    ids: list[uuid.UUID] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def create() -> None:
        try:
            with SongsDatabase(keys_settings, pool_size=1) as own:
                own.get_song_by_id(s)  # connected before the barrier, so the creates meet at the server
                start.wait()
                job_id = own.create_job(s, model, "separation", job_key=k)
            with lock:
                ids.append(job_id)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=create) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert len(ids) == 8 and len(set(ids)) == 1
    assert jobs_of(keys_settings, model) == 1
    assert created_audits(keys_settings, ids[0]) == 1


def test_enqueue_with_keys_returns_existing_jobs_in_place_and_queues_only_the_new(
    db: SongsDatabase, keys_settings: Settings, model: str
) -> None:
    s, k1, k2 = song(db), key(), key()
    first = db.enqueue_jobs(s, [{"model_name": model, "job_type": "separation", "job_key": k1}])
    again = db.enqueue_jobs(s, [
        {"model_name": model, "job_type": "transcription"},
        {"model_name": model, "job_type": "separation", "job_key": k1},
        {"model_name": model, "job_type": "chroma", "job_key": k2},
        {"model_name": model, "job_type": "chroma", "job_key": k2},
    ])
    assert [j.job_type for j in again] == ["transcription", "separation", "chroma", "chroma"]
    assert again[1].id == first[0].id
    assert again[2].id == again[3].id != again[0].id
    assert jobs_of(keys_settings, model) == 3
    assert all(created_audits(keys_settings, j.id) == 1 for j in again)
    repeat = db.enqueue_jobs(s, [
        {"model_name": model, "job_type": "separation", "job_key": k1},
        {"model_name": model, "job_type": "chroma", "job_key": k2},
    ])
    assert [j.id for j in repeat] == [first[0].id, again[2].id]
    assert jobs_of(keys_settings, model) == 3


def test_enqueue_with_a_key_of_another_job_is_refused_whole(db: SongsDatabase, keys_settings: Settings, model: str) -> None:
    s, k = song(db), key()
    db.create_job(s, model, "separation", job_key=k)
    with pytest.raises(errors.DuplicateJobKey):
        db.enqueue_jobs(s, [(model, "chroma"), {"model_name": model, "job_type": "transcription", "job_key": k}])
    with pytest.raises(errors.DuplicateJobKey):
        db.enqueue_jobs(s, [
            {"model_name": model, "job_type": "chroma", "job_key": "same"},
            {"model_name": model, "job_type": "transcription", "job_key": "same"},
        ])
    assert jobs_of(keys_settings, model) == 1


def test_concurrent_enqueues_with_one_key_make_exactly_one_job(
    keys_settings: Settings, db: SongsDatabase, model: str
) -> None:
    s, k = song(db), key()
    start = threading.Barrier(6)
    ids: list[uuid.UUID] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def enqueue() -> None:
        try:
            with SongsDatabase(keys_settings, pool_size=1) as own:
                own.get_song_by_id(s)
                start.wait()
                [job] = own.enqueue_jobs(s, [{"model_name": model, "job_type": "separation", "job_key": k}])
            with lock:
                ids.append(job.id)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=enqueue) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert len(ids) == 6 and len(set(ids)) == 1
    assert jobs_of(keys_settings, model) == 1
