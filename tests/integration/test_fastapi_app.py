"""The reference FastAPI service (examples/fastapi_app.py) on a real engine, as the web role, through
FastAPI's TestClient.

What a request wrote is read back as the administrator: the audit rows after the last one that
existed before the request, and row counts. Each "writes nothing" sits next to a request that
writes, measured the same way. The transaction held by a sync generator dependency is driven by
concurrent requests on a pool of two connections while a separate session watches for a song
committed without its job.
"""

from __future__ import annotations

import io
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Annotated, Any

import pytest

from songsdb.config import Settings, format_connection_string, parse_connection_string
from songsdb.database import SongsDatabase, Transaction
from songsdb.retry import RetryPolicy

from .helpers import query, scalar

pytest.importorskip("fastapi", reason="fastapi is in the test extra (songsdb[fastapi])")

from fastapi import Depends, File, Form, UploadFile
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient

from examples.fastapi_app import InTransaction, create_app, transaction, upload_and_process

HEADER = "X-Request-ID"


@pytest.fixture
def client(songsdb_web: SongsDatabase) -> Iterator[TestClient]:
    with TestClient(create_app(songsdb_web)) as client:
        yield client


class Trail:
    """What the requests of one test wrote, read as the administrator."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.mark = int(scalar(settings, "SELECT COALESCE(MAX(Id), 0) FROM dbo.AuditLog;"))

    def since_mark(self) -> list[tuple[Any, ...]]:
        """(RequestId, EntityType, EntityId lower-cased, Action) of the audit rows since the mark; moves the mark."""
        rows = query(
            self.settings,
            "SELECT Id, RequestId, EntityType, EntityId, Action FROM dbo.AuditLog WHERE Id > ? ORDER BY Id;",
            self.mark,
        )
        if rows:
            self.mark = int(rows[-1][0])
        return [(r, e, (i or "").lower(), a) for _, r, e, i, a in rows]

    def counts(self) -> tuple[Any, ...]:
        """Rows in Songs, ProcessingJobs and AuditLog."""
        return query(
            self.settings,
            "SELECT (SELECT COUNT(*) FROM dbo.Songs), (SELECT COUNT(*) FROM dbo.ProcessingJobs), "
            "(SELECT COUNT(*) FROM dbo.AuditLog);",
        )[0]


def upload(client: TestClient, file_id: str, request_id: str | None = None, path: str = "/upload", **form: str) -> Any:
    headers = {HEADER: request_id} if request_id else {}
    files = {"file": ("My Song.MP3", io.BytesIO(b"\0" * 1234))}
    return client.post(path, files=files, data={"file_id": file_id, **form}, headers=headers)


# ----- the four routes ---------------------------------------------------------------------------
def test_an_upload_registers_the_song_and_its_request_id_is_on_every_audit_row_it_caused(
    client: TestClient, songsdb_web: SongsDatabase, songsdb_database: Settings
) -> None:
    trail = Trail(songsdb_database)
    response = upload(client, "file-up", "req-upload-1", title="Intro", artist="The Band")
    assert response.status_code == 201, response.text
    assert response.headers[HEADER] == "req-upload-1"
    song_id = response.json()["song_id"]
    song = songsdb_web.get_song("file-up")
    assert song is not None
    assert (str(song.id), song.title, song.artist, song.file_size, song.file_extension, song.original_filename) == (
        song_id, "Intro", "The Band", 1234, "mp3", "My Song.MP3",
    )
    assert trail.since_mark() == [("req-upload-1", "song", song_id, "created")]


def test_without_the_header_a_generated_id_is_answered_and_recorded(client: TestClient, songsdb_database: Settings) -> None:
    trail = Trail(songsdb_database)
    response = upload(client, "file-gen")
    generated = response.headers[HEADER]
    assert response.status_code == 201 and uuid.UUID(generated)
    caused = trail.since_mark()
    assert caused and {row[0] for row in caused} == {generated}


def test_processing_queues_a_job_that_carries_the_request_id_as_do_all_its_audit_rows(
    client: TestClient, songsdb_web: SongsDatabase, songsdb_database: Settings
) -> None:
    song_id = upload(client, "file-proc", "req-a").json()["song_id"]
    trail = Trail(songsdb_database)
    response = client.post("/process/demucs/file-proc", json={"job_type": "transcription"}, headers={HEADER: "req-process-1"})
    assert response.status_code == 202, response.text
    assert response.headers[HEADER] == "req-process-1"
    job_id = response.json()["job_id"]
    job = songsdb_web.get_job(job_id)
    assert job is not None
    assert (str(job.song_id), job.job_type, job.status, job.request_id) == (song_id, "transcription", "queued", "req-process-1")
    caused = trail.since_mark()
    assert ("req-process-1", "job", job_id, "created") in caused
    assert {row[0] for row in caused} == {"req-process-1"}

    shown = client.get(f"/jobs/{job_id}")
    assert shown.status_code == 200
    body = shown.json()
    assert (body["id"], body["status"], body["request_id"], body["job_type"]) == (job_id, "queued", "req-process-1", "transcription")
    assert "claim_token" not in body
    assert trail.since_mark() == []  # reading writes no audit row
    assert client.post("/process/demucs/file-proc", data={"job_type": "chroma"}).status_code == 202  # a form says it too


def test_results_show_what_a_worker_stored(client: TestClient, songsdb_worker: SongsDatabase) -> None:
    upload(client, "file-res")
    assert client.get("/songs/file-res/results").json()["tracks"] == []
    job_id = client.post("/process/demucs-res/file-res").json()["job_id"]
    job = songsdb_worker.claim_next_job("gpu-1", model_names=["demucs-res"])
    assert job is not None and str(job.id) == job_id and job.claim_token is not None
    songsdb_worker.complete_job(job.id, job.claim_token, tracks=[{"stem_name": "vocals", "file_path": "/out/v.wav"}])
    response = client.get("/songs/file-res/results")
    assert response.status_code == 200
    assert [(t["stem_name"], t["file_path"], t["job_id"]) for t in response.json()["tracks"]] == [("vocals", "/out/v.wav", job_id)]


# ----- the error answers -------------------------------------------------------------------------
def test_a_missing_song_is_a_404_that_writes_nothing(client: TestClient, songsdb_database: Settings) -> None:
    upload(client, "file-here")
    trail = Trail(songsdb_database)
    before = trail.counts()
    response = client.post("/process/demucs/file-not-here", headers={HEADER: "req-404"})
    assert response.status_code == 404 and response.headers[HEADER] == "req-404"
    assert response.json() == {"error": "song not found", "file_id": "file-not-here"}
    assert client.get("/songs/file-not-here/results").status_code == 404
    assert trail.counts() == before and trail.since_mark() == []
    assert client.post("/process/demucs/file-here").status_code == 202  # the same request for a song that exists
    assert trail.counts() != before and trail.since_mark() != []


@pytest.mark.parametrize(
    ("model", "job_type", "field", "number"),
    [("m" * 51, "separation", "model_name", 50002), ("demucs", "karaoke", "job_type", 50003)],
)
def test_a_bad_model_or_type_is_a_400_naming_the_field_and_number_that_writes_nothing(
    client: TestClient, songsdb_database: Settings, model: str, job_type: str, field: str, number: int
) -> None:
    upload(client, "file-bad")
    trail = Trail(songsdb_database)
    before = trail.counts()
    response = client.post(f"/process/{model}/file-bad", data={"job_type": job_type}, headers={HEADER: "req-400"})
    assert response.status_code == 400 and response.headers[HEADER] == "req-400"
    body = response.json()
    assert (body["field"], body["number"], body["request_id"]) == (field, number, "req-400")
    assert "Supported values are" in body["error"] or "@ModelName" in body["error"]
    assert trail.counts() == before and trail.since_mark() == []
    assert client.post("/process/demucs/file-bad", data={"job_type": "chroma"}).status_code == 202
    assert trail.counts() != before


def test_a_job_that_does_not_exist_is_a_404(client: TestClient) -> None:
    for job_id in (str(uuid.uuid4()), "not-a-uuid"):
        response = client.get(f"/jobs/{job_id}")
        assert response.status_code == 404 and response.json()["error"] == "job not found"


def test_a_file_id_registered_twice_is_a_409_with_its_number(client: TestClient) -> None:
    assert upload(client, "file-twice").status_code == 201
    again = upload(client, "file-twice", "req-409")
    assert again.status_code == 409 and again.headers[HEADER] == "req-409"
    assert again.json() == {"error": "DuplicateSong", "number": 50102, "request_id": "req-409"}


def test_a_server_that_cannot_be_reached_is_a_503_with_retry_after_on_both_kinds_of_route(songsdb_settings: dict[str, Settings]) -> None:
    pairs = parse_connection_string(songsdb_settings["web"].odbc())
    for key in list(pairs):  # the same server and driver, on a port where nothing listens
        if key.lower() == "port":
            pairs[key] = "9"
        elif key.lower() in ("server", "address") and "," in pairs[key]:
            pairs[key] = pairs[key].split(",")[0] + ",9"
    unreachable = replace(songsdb_settings["web"], connection_string=format_connection_string(pairs), login_timeout=5)
    with SongsDatabase(unreachable, retry=RetryPolicy(attempts=1)) as db, TestClient(create_app(db)) as client:
        for response in (
            client.get(f"/jobs/{uuid.uuid4()}", headers={HEADER: "req-503"}),  # the async client
            upload(client, "file-503", "req-503", path="/upload-and-process/demucs"),  # the sync dependency
        ):
            assert response.status_code == 503, response.text
            assert response.headers["Retry-After"] == "1" and response.headers[HEADER] == "req-503"
            assert response.json() == {"error": "database unavailable", "outcome_unknown": False, "request_id": "req-503"}


# ----- two writes in a transaction held by a sync generator dependency -----------------------------
def test_upload_and_process_writes_the_song_and_its_job_together_with_the_request_id(
    client: TestClient, songsdb_web: SongsDatabase, songsdb_database: Settings
) -> None:
    trail = Trail(songsdb_database)
    response = upload(client, "file-pair", "req-pair-1", path="/upload-and-process/demucs", job_type="chroma", title="Pair")
    assert response.status_code == 202, response.text
    assert response.headers[HEADER] == "req-pair-1"
    body = response.json()
    song, job = songsdb_web.get_song("file-pair"), songsdb_web.get_job(body["job_id"])
    assert song is not None and job is not None
    assert (str(song.id), song.title, str(job.song_id), job.job_type, job.request_id) == (
        body["song_id"], "Pair", body["song_id"], "chroma", "req-pair-1",
    )
    assert trail.since_mark() == [
        ("req-pair-1", "song", body["song_id"], "created"),
        ("req-pair-1", "job", body["job_id"], "created"),
    ]


def test_a_failing_endpoint_inside_the_dependency_transaction_writes_nothing(
    songsdb_web: SongsDatabase, songsdb_database: Settings
) -> None:
    app = create_app(songsdb_web)

    @app.post("/explode/{file_id}")
    def explode(file_id: str, tx: InTransaction) -> None:
        song_id = tx.create_song(file_id, "a.mp3")
        tx.create_job(song_id, "demucs", "separation")
        raise RuntimeError("the endpoint failed after both writes")

    trail = Trail(songsdb_database)
    before = trail.counts()
    with TestClient(app, raise_server_exceptions=False) as client:
        refused = upload(client, "file-refused", "req-tx-400", path="/upload-and-process/demucs", job_type="karaoke")
        assert refused.status_code == 400 and refused.json()["field"] == "job_type"  # create_song ran before it
        exploded = client.post("/explode/file-exploded", headers={HEADER: "req-tx-500"})
        assert exploded.status_code == 500
        assert trail.counts() == before and trail.since_mark() == []
        assert songsdb_web.get_song("file-refused") is None and songsdb_web.get_song("file-exploded") is None
        written = upload(client, "file-written", "req-tx-202", path="/upload-and-process/demucs", job_type="chroma")
        assert written.status_code == 202  # the same route, measured the same way, writes
        assert trail.counts() != before and {row[0] for row in trail.since_mark()} == {"req-tx-202"}
    assert songsdb_web._pool._borrowed == 0


@pytest.mark.parametrize("scope", ["function", "request"])
def test_concurrent_requests_through_the_dependency_transaction_are_atomic_and_leak_no_connection(
    songsdb_settings: dict[str, Settings], songsdb_database: Settings, scope: str
) -> None:
    """20 requests at once on a pool of 2; every fifth fails after its song was written.

    ``scope="function"`` is the example's route (the transaction ends before the response);
    ``"request"`` is FastAPI's default, which ends it after the response was sent: the pattern that
    used to leak connections. Meanwhile another session looks for a song committed without its job.
    """
    db = SongsDatabase(songsdb_settings["web"], pool_size=2)
    app = create_app(db)

    @app.post("/late/{model_name}", status_code=202)
    def late(
        model_name: str,
        tx: Annotated[Transaction, Depends(transaction)],  # the default scope
        file: Annotated[UploadFile | None, File()] = None,
        file_id: Annotated[str | None, Form()] = None,
        job_type: Annotated[str, Form()] = "separation",
    ) -> JSONResponse:
        return upload_and_process(model_name, tx, file, file_id, None, job_type)

    path = "/upload-and-process/demucs" if scope == "function" else "/late/demucs"
    watching = threading.Event()
    done = threading.Event()
    seen = {"polls": 0, "orphans": 0, "pairs": 0, "borrowed": 0}

    def watch() -> None:
        import pyodbc

        conn = pyodbc.connect(songsdb_database.odbc(), autocommit=True, timeout=30)
        try:
            cursor = conn.cursor()
            while True:
                finished = done.is_set()
                orphans, pairs = cursor.execute(
                    "SELECT (SELECT COUNT(*) FROM dbo.Songs AS s WHERE s.FileId LIKE 'pair-%' AND NOT EXISTS "
                    "(SELECT 1 FROM dbo.ProcessingJobs AS j WHERE j.SongId = s.Id)), "
                    "(SELECT COUNT(*) FROM dbo.ProcessingJobs AS j INNER JOIN dbo.Songs AS s ON s.Id = j.SongId "
                    "WHERE s.FileId LIKE 'pair-%');"
                ).fetchone()
                seen["polls"] += 1
                seen["orphans"] = max(seen["orphans"], int(orphans))
                seen["pairs"] = max(seen["pairs"], int(pairs))
                seen["borrowed"] = max(seen["borrowed"], db._pool._borrowed)  # transactions open at once
                watching.set()
                if finished:
                    return
        finally:
            conn.close()

    def one(i: int) -> Any:
        return upload(client, f"pair-{i}", f"req-{scope}-{i}", path=path, job_type="karaoke" if i % 5 == 4 else "chroma")

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        watching.wait(30)
        with db, TestClient(app) as client, ThreadPoolExecutor(20) as requests:
            responses = list(requests.map(one, range(20)))
            borrowed = db._pool._borrowed
    finally:
        done.set()
        watcher.join(60)

    statuses = [r.status_code for r in responses]
    assert statuses == [400 if i % 5 == 4 else 202 for i in range(20)], [r.text for r in responses if r.status_code >= 500]
    assert seen["borrowed"] == 2  # the requests did overlap: the pool was exhausted at times
    assert borrowed == 0 and db._pool._borrowed == 0  # every transaction gave its connection back
    assert seen["polls"] >= 2 and seen["orphans"] == 0 and seen["pairs"] == 16  # the watcher saw pairs, never half of one
    rows = query(
        songsdb_database,
        "SELECT s.FileId, j.Id, j.RequestId FROM dbo.Songs AS s LEFT JOIN dbo.ProcessingJobs AS j ON j.SongId = s.Id "
        "WHERE s.FileId LIKE 'pair-%';",
    )
    assert sorted((str(f), str(r)) for f, _, r in rows) == sorted((f"pair-{i}", f"req-{scope}-{i}") for i in range(20) if i % 5 != 4)
    audited = query(songsdb_database, "SELECT RequestId, COUNT(*) FROM dbo.AuditLog WHERE RequestId LIKE ? GROUP BY RequestId;", f"req-{scope}-%")
    assert sorted((str(r), int(n)) for r, n in audited) == sorted((f"req-{scope}-{i}", 2) for i in range(20) if i % 5 != 4)


def test_a_process_request_sent_again_with_its_request_id_queues_one_job(client: TestClient, songsdb_database: Settings) -> None:
    upload(client, "file-again", "req-up")
    first = client.post("/process/demucs/file-again", headers={HEADER: "req-process-again"})
    again = client.post("/process/demucs/file-again", headers={HEADER: "req-process-again"})
    assert first.status_code == again.status_code == 202
    assert first.json()["job_id"] == again.json()["job_id"]
    assert scalar(songsdb_database, "SELECT COUNT(*) FROM dbo.ProcessingJobs WHERE RequestId = ?;", "req-process-again") == 1
    other = client.post("/process/demucs/file-again", headers={HEADER: "req-process-other"})
    assert other.status_code == 202 and other.json()["job_id"] != first.json()["job_id"]
    reused = client.post("/process/whisper/file-again", headers={HEADER: "req-process-again"})
    assert reused.status_code == 409 and reused.json()["number"] == 50205


def test_writes_whose_answers_were_lost_answer_with_what_they_committed_once(
    songsdb_settings: dict[str, Settings], songsdb_database: Settings
) -> None:
    from .test_flask_app import LosesAnswers

    with LosesAnswers(songsdb_settings["web"], lose=("create_song", "create_job")) as db:
        with TestClient(create_app(db)) as client:
            uploaded = upload(client, "file-lost", "req-lost-up")
            assert uploaded.status_code == 201, uploaded.text
            song = db.get_song("file-lost")
            assert song is not None and uploaded.json()["song_id"] == str(song.id)
            queued = client.post("/process/demucs/file-lost", headers={HEADER: "req-lost-process"})
            assert queued.status_code == 202, queued.text
        assert db.lose == set()  # both answers were lost once
    assert scalar(songsdb_database, "SELECT COUNT(*) FROM dbo.Songs WHERE FileId = ?;", "file-lost") == 1
    assert scalar(songsdb_database, "SELECT COUNT(*) FROM dbo.ProcessingJobs WHERE RequestId = ?;", "req-lost-process") == 1
