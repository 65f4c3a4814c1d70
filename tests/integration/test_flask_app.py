"""The reference Flask service (examples/flask_app.py) on a real engine, as the web role.

What a request wrote is read back as the administrator: the audit rows after the last one that
existed before the request, and row counts. Each "writes nothing" sits next to a request that
writes, measured the same way.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from songsdb.config import Settings
from songsdb.database import SongsDatabase
from songsdb.flask import HEADER

from .helpers import query, scalar

flask = pytest.importorskip("flask", reason="flask is in the test extra (songsdb[flask])")


@pytest.fixture
def client(songsdb_web: SongsDatabase) -> Iterator[Any]:
    from examples.flask_app import create_app

    app = create_app(songsdb_web)
    app.testing = True
    yield app.test_client()


class Trail:
    """What the requests of one test wrote, read as the administrator."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.mark = self.last_audit_id()

    def last_audit_id(self) -> int:
        return int(scalar(self.settings, "SELECT COALESCE(MAX(Id), 0) FROM dbo.AuditLog;"))

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


def upload(client: Any, file_id: str, request_id: str | None = None, **form: str) -> Any:
    data = {"file": (io.BytesIO(b"\0" * 1234), "My Song.MP3"), "file_id": file_id, **form}
    headers = {HEADER: request_id} if request_id else {}
    return client.post("/upload", data=data, headers=headers, content_type="multipart/form-data")


def test_an_upload_registers_the_song_and_its_request_id_is_on_every_audit_row_it_caused(
    client: Any, songsdb_web: SongsDatabase, songsdb_database: Settings
) -> None:
    trail = Trail(songsdb_database)
    response = upload(client, "file-up", "req-upload-1", title="Intro", artist="The Band")
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.headers[HEADER] == "req-upload-1"
    song_id = response.get_json()["song_id"]
    song = songsdb_web.get_song("file-up")
    assert (str(song.id), song.title, song.artist, song.file_size, song.file_extension, song.original_filename) == (
        song_id, "Intro", "The Band", 1234, "mp3", "My Song.MP3",
    )
    assert trail.since_mark() == [("req-upload-1", "song", song_id, "created")]


def test_without_the_header_a_generated_id_is_answered_and_recorded(client: Any, songsdb_database: Settings) -> None:
    trail = Trail(songsdb_database)
    response = upload(client, "file-gen")
    generated = response.headers[HEADER]
    assert response.status_code == 201 and uuid.UUID(generated)
    caused = trail.since_mark()
    assert caused and {row[0] for row in caused} == {generated}


def test_processing_queues_a_job_that_carries_the_request_id_as_do_all_its_audit_rows(
    client: Any, songsdb_web: SongsDatabase, songsdb_database: Settings
) -> None:
    song_id = upload(client, "file-proc", "req-a").get_json()["song_id"]
    trail = Trail(songsdb_database)
    response = client.post("/process/demucs/file-proc", json={"job_type": "transcription"}, headers={HEADER: "req-process-1"})
    assert response.status_code == 202, response.get_data(as_text=True)
    assert response.headers[HEADER] == "req-process-1"
    job_id = response.get_json()["job_id"]
    job = songsdb_web.get_job(job_id)
    assert (str(job.song_id), job.job_type, job.status, job.request_id) == (song_id, "transcription", "queued", "req-process-1")
    caused = trail.since_mark()
    assert ("req-process-1", "job", job_id, "created") in caused
    assert {row[0] for row in caused} == {"req-process-1"}

    shown = client.get(f"/jobs/{job_id}")
    assert shown.status_code == 200
    body = shown.get_json()
    assert (body["id"], body["status"], body["request_id"], body["job_type"]) == (job_id, "queued", "req-process-1", "transcription")
    assert "claim_token" not in body
    assert trail.since_mark() == []  # reading writes no audit row


def test_a_missing_song_is_a_404_that_writes_nothing(client: Any, songsdb_database: Settings) -> None:
    upload(client, "file-here")
    trail = Trail(songsdb_database)
    before = trail.counts()
    response = client.post("/process/demucs/file-not-here", headers={HEADER: "req-404"})
    assert response.status_code == 404 and response.headers[HEADER] == "req-404"
    assert response.get_json() == {"error": "song not found", "file_id": "file-not-here"}
    assert trail.counts() == before and trail.since_mark() == []
    assert client.post("/process/demucs/file-here").status_code == 202  # the same request for a song that exists
    assert trail.counts() != before and trail.since_mark() != []


@pytest.mark.parametrize(
    ("model", "job_type", "parameter"),
    [("m" * 51, "separation", "@ModelName"), ("demucs", "karaoke", "@JobType")],
)
def test_a_bad_model_or_type_is_a_400_with_the_validation_message_that_writes_nothing(
    client: Any, songsdb_database: Settings, model: str, job_type: str, parameter: str
) -> None:
    upload(client, "file-bad")
    trail = Trail(songsdb_database)
    before = trail.counts()
    response = client.post(f"/process/{model}/file-bad", data={"job_type": job_type}, headers={HEADER: "req-400"})
    assert response.status_code == 400 and response.headers[HEADER] == "req-400"
    message = response.get_json()["error"]
    assert parameter in message and "Supported values are" in message
    assert trail.counts() == before and trail.since_mark() == []
    assert client.post("/process/demucs/file-bad", data={"job_type": "chroma"}).status_code == 202
    assert trail.counts() != before


def test_a_job_that_does_not_exist_is_a_404(client: Any) -> None:
    for job_id in (str(uuid.uuid4()), "not-a-uuid"):
        response = client.get(f"/jobs/{job_id}")
        assert response.status_code == 404 and response.get_json()["error"] == "job not found"


def test_a_file_id_registered_twice_is_a_409(client: Any) -> None:
    assert upload(client, "file-twice").status_code == 201
    again = upload(client, "file-twice")
    assert again.status_code == 409 and "file-twice" in again.get_json()["file_id"]


def test_results_show_what_a_worker_stored(client: Any, songsdb_worker: SongsDatabase) -> None:
    upload(client, "file-res")
    assert client.get("/songs/file-res/results").get_json()["tracks"] == []
    job_id = client.post("/process/demucs-res/file-res").get_json()["job_id"]
    job = songsdb_worker.claim_next_job("gpu-1", model_names=["demucs-res"])
    assert job is not None and str(job.id) == job_id
    songsdb_worker.complete_job(job.id, job.claim_token, tracks=[{"stem_name": "vocals", "file_path": "/out/v.wav"}])
    response = client.get("/songs/file-res/results")
    assert response.status_code == 200
    assert [(t["stem_name"], t["file_path"], t["job_id"]) for t in response.get_json()["tracks"]] == [
        ("vocals", "/out/v.wav", job_id)
    ]
    assert client.get("/songs/file-none/results").status_code == 404


class LosesAnswers(SongsDatabase):
    """A real client whose first write of each named method commits, then answers OutcomeUnknown (a lost reply)."""

    def __init__(self, *args: Any, lose: tuple[str, ...], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lose = set(lose)

    def _lost(self, name: str, result: Any) -> Any:
        from songsdb.errors import OutcomeUnknown

        if name in self.lose:
            self.lose.discard(name)
            raise OutcomeUnknown(f"{name}: the connection was lost before the answer came")
        return result

    def create_song(self, *args: Any, **kwargs: Any) -> Any:
        return self._lost("create_song", super().create_song(*args, **kwargs))

    def create_job(self, *args: Any, **kwargs: Any) -> Any:
        return self._lost("create_job", super().create_job(*args, **kwargs))


def test_a_process_request_sent_again_with_its_request_id_queues_one_job(client: Any, songsdb_database: Settings) -> None:
    upload(client, "file-again", "req-up")
    first = client.post("/process/demucs/file-again", headers={HEADER: "req-process-again"})
    again = client.post("/process/demucs/file-again", headers={HEADER: "req-process-again"})
    assert first.status_code == again.status_code == 202
    assert first.get_json()["job_id"] == again.get_json()["job_id"]
    assert scalar(songsdb_database, "SELECT COUNT(*) FROM dbo.ProcessingJobs WHERE RequestId = ?;", "req-process-again") == 1
    other = client.post("/process/demucs/file-again", headers={HEADER: "req-process-other"})
    assert other.status_code == 202 and other.get_json()["job_id"] != first.get_json()["job_id"]  # another request: another job
    reused = client.post("/process/whisper/file-again", headers={HEADER: "req-process-again"})
    assert reused.status_code == 409 and reused.get_json()["field"] == "job_key"


def test_writes_whose_answers_were_lost_answer_with_what_they_committed_once(
    songsdb_settings: dict[str, Settings], songsdb_database: Settings
) -> None:
    from examples.flask_app import create_app

    with LosesAnswers(songsdb_settings["web"], lose=("create_song", "create_job")) as db:
        app = create_app(db)
        app.testing = True
        client = app.test_client()
        uploaded = upload(client, "file-lost", "req-lost-up")
        assert uploaded.status_code == 201, uploaded.get_data(as_text=True)
        assert uploaded.get_json()["song_id"] == str(db.get_song("file-lost").id)
        queued = client.post("/process/demucs/file-lost", headers={HEADER: "req-lost-process"})
        assert queued.status_code == 202, queued.get_data(as_text=True)
        assert db.lose == set()  # both answers were lost once
    assert scalar(songsdb_database, "SELECT COUNT(*) FROM dbo.Songs WHERE FileId = ?;", "file-lost") == 1
    assert scalar(songsdb_database, "SELECT COUNT(*) FROM dbo.ProcessingJobs WHERE RequestId = ?;", "req-lost-process") == 1
