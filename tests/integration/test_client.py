"""SongsDatabase against a real engine: every method's happy path, its errors, transactions,
request-id correlation, thread safety, sessions, and hostile input that must change nothing."""

from __future__ import annotations

import math
import os
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from songsdb import errors
from songsdb.config import Settings
from songsdb.context import request_context
from songsdb.database import SongsDatabase
from songsdb.models import Job, Song, columns

from .helpers import query, scalar

TABLES = ("Songs", "ProcessingJobs", "SeparatedTracks", "Transcriptions", "ChromaAnalysis", "AuditLog")


@pytest.fixture(scope="module")
def db(migrated: Settings) -> Iterator[SongsDatabase]:
    with SongsDatabase(migrated) as client:
        yield client


def counts(settings: Settings) -> dict[str, int]:
    return {t: int(scalar(settings, f"SELECT COUNT(*) FROM dbo.{t};")) for t in TABLES}


def new_file_id() -> str:
    return f"file-{uuid.uuid4()}"


def test_create_song_then_read_it_back_by_file_id_and_by_id(db: SongsDatabase) -> None:
    file_id = new_file_id()
    song_id = db.create_song(
        file_id, "take 1.mp3", title="Intro 😀", artist="Ünïcode", album="A", file_size=1234,
        duration=215.5, file_extension="mp3", original_filename="Take 1.MP3", metadata={"bpm": 120},
    )
    song = db.get_song(file_id)
    assert isinstance(song, Song) and song.id == song_id
    assert (song.title, song.artist, song.file_size, song.duration, song.metadata) == ("Intro 😀", "Ünïcode", 1234, 215.5, {"bpm": 120})
    assert song.status == "uploaded" and song.uploaded_at.tzinfo is not None
    assert db.get_song_by_id(song_id) == song


def test_unknown_songs_are_none(db: SongsDatabase) -> None:
    assert db.get_song(new_file_id()) is None
    assert db.get_song_by_id(uuid.uuid4()) is None


def test_a_second_song_with_the_same_file_id_is_a_duplicate_and_writes_nothing(db: SongsDatabase, migrated: Settings) -> None:
    file_id = new_file_id()
    db.create_song(file_id, "a.mp3")
    before = counts(migrated)
    with pytest.raises(errors.DuplicateSong, match=file_id):
        db.create_song(file_id, "b.mp3")
    assert counts(migrated) == before


def test_list_songs_filters_and_pages(db: SongsDatabase) -> None:
    artist = f"artist-{uuid.uuid4()}"
    for title in ("100% Pure", "Pure_Water", "Other"):
        db.create_song(new_file_id(), "a.mp3", title=title, artist=artist)
    assert {s.title for s in db.list_songs(artist=artist)} == {"100% Pure", "Pure_Water", "Other"}
    assert [s.title for s in db.list_songs(artist=artist, title_contains="% Pure")] == ["100% Pure"]
    assert [s.title for s in db.list_songs(artist=artist, title_contains="e_W")] == ["Pure_Water"]
    page1, page2 = db.list_songs(artist=artist, limit=2), db.list_songs(artist=artist, offset=2, limit=2)
    assert len(page1) == 2 and len(page2) == 1 and not {s.id for s in page1} & {s.id for s in page2}
    assert db.list_songs(artist=artist, status="failed") == []


def test_update_song_changes_only_what_is_given_and_audits_it(db: SongsDatabase) -> None:
    song_id = db.create_song(new_file_id(), "a.mp3", title="Old", artist="Keep")
    song = db.update_song(song_id, title="New", status="completed", request_id="req-update")
    assert (song.title, song.artist, song.status) == ("New", "Keep", "completed")
    assert [a.action for a in db.get_audit_trail(request_id="req-update")] == ["updated"]
    with pytest.raises(errors.SongNotFound):
        db.update_song(uuid.uuid4(), title="x")


def test_delete_song_takes_its_jobs_and_results_along_and_is_audited(db: SongsDatabase, migrated: Settings) -> None:
    song_id = db.create_song(new_file_id(), "a.mp3")
    job_id = db.create_job(song_id, "demucs", "separation")
    token = db.update_job_status(job_id, "running").claim_token
    db.add_separated_tracks(job_id, [{"stem_name": "vocals", "file_path": "/v.wav"}], claim_token=token)
    text_job = db.create_job(song_id, "whisper", "transcription")
    db.add_transcription(text_job, full_text="la la", claim_token=db.update_job_status(text_job, "running").claim_token)
    deleted = db.delete_song(song_id, request_id="req-delete")
    assert (deleted.jobs_deleted, deleted.tracks_deleted, deleted.transcriptions_deleted) == (2, 1, 1)
    assert db.get_song_by_id(song_id) is None and db.get_job(job_id) is None
    assert [(a.entity_type, a.action) for a in db.get_audit_trail(request_id="req-delete")] == [("song", "deleted")]
    with pytest.raises(errors.SongNotFound):
        db.delete_song(song_id)


def test_delete_songs_audit_row_counts_the_job_attempts_it_deleted(db: SongsDatabase) -> None:
    """The DBA review's m3: the song's jobs' attempts (dbo.JobAttempts) are counted in its 'deleted' row."""
    model = f"m-{uuid.uuid4().hex[:10]}"
    song_id = db.create_song(new_file_id(), "a.mp3")
    job_id = db.create_job(song_id, model, "separation", max_attempts=3)
    first = db.claim_next_job("gpu-1", model_names=[model])
    assert first is not None and first.id == job_id
    db.fail_job(job_id, first.claim_token, "out of memory", retry_delay_seconds=0)  # requeued: a second attempt follows
    second = db.claim_next_job("gpu-2", model_names=[model])
    assert second is not None and second.id == job_id
    db.delete_song(song_id, request_id="req-delete-attempts")
    [entry] = db.get_audit_trail(request_id="req-delete-attempts")
    assert (entry.entity_type, entry.action) == ("song", "deleted")
    assert entry.details is not None and entry.details["jobAttempts"] == 2 and entry.details["processingJobs"] == 1


def test_jobs_move_through_their_state_machine(db: SongsDatabase) -> None:
    song_id = db.create_song(new_file_id(), "a.mp3")
    job_id = db.create_job(song_id, "demucs", "separation", request_id="req-job")
    job = db.get_job(job_id)
    assert isinstance(job, Job) and (job.status, job.progress, job.request_id) == ("queued", 0, "req-job")
    running = db.update_job_status(job_id, "running", progress=40, message="separating")
    assert running.status == "running" and running.progress == 40 and running.started_at is not None
    done = db.update_job_status(job_id, "completed", result_metadata={"stems": 4})
    assert done.progress == 100 and done.completed_at is not None and done.result_metadata == {"stems": 4}
    assert [j.id for j in db.list_jobs(song_id=song_id)] == [job_id]
    assert db.list_jobs(song_id=song_id, status="queued") == []


def test_an_illegal_transition_names_the_allowed_ones_and_changes_nothing(db: SongsDatabase) -> None:
    song_id = db.create_song(new_file_id(), "a.mp3")
    job_id = db.create_job(song_id, "whisper", "transcription")
    db.update_job_status(job_id, "running")
    db.update_job_status(job_id, "completed")
    with pytest.raises(errors.InvalidStatusTransition, match="from completed to running. Allowed from completed: none"):
        db.update_job_status(job_id, "running")
    queued = db.create_job(song_id, "whisper", "transcription")
    with pytest.raises(errors.InvalidStatusTransition, match="Allowed from queued: running, completed, failed, cancelled"):
        db.update_job_status(queued, "queued")
    assert db.get_job(job_id).status == "completed" and db.get_job(queued).status == "queued"


def test_a_failed_job_is_retried_by_operations_not_by_the_web_service(db: SongsDatabase) -> None:
    job_id = db.create_job(db.create_song(new_file_id(), "a.mp3"), "demucs", "separation")
    failed = db.update_job_status(job_id, "failed", error_message="CUDA OOM", error_stack="Traceback ...")
    assert failed.error_message == "CUDA OOM" and failed.completed_at is not None
    with pytest.raises(errors.InvalidStatusTransition, match="ops.RetryJob"):
        db.update_job_status(job_id, "queued")
    again = db.retry_job(job_id)
    assert again.status == "queued" and again.completed_at is None


def test_jobs_for_unknown_songs_and_unknown_jobs_are_not_found(db: SongsDatabase) -> None:
    with pytest.raises(errors.SongNotFound):
        db.create_job(uuid.uuid4(), "demucs", "separation")
    with pytest.raises(errors.JobNotFound):
        db.update_job_status(uuid.uuid4(), "running")
    assert db.get_job(uuid.uuid4()) is None


def test_results_are_stored_and_read_back_per_song(db: SongsDatabase) -> None:
    song_id = db.create_song(new_file_id(), "a.mp3")
    sep = db.create_job(song_id, "demucs", "separation")
    stems = db.add_separated_tracks(
        sep,
        [
            {"stem_name": "vocals", "file_path": "/s/vocals.wav", "file_size": 10, "format": "WAV", "sample_rate": 44100, "duration": 1.5},
            {"stem_name": "drums", "file_path": "/s/drums.wav"},
        ],
        claim_token=db.update_job_status(sep, "running").claim_token,
    )
    assert [s.stem_name for s in stems] == ["vocals", "drums"] and stems[0].sample_rate == 44100
    assert stems[0].format == "wav"  # closed-domain values are stored in one canonical case
    tj = db.create_job(song_id, "whisper", "transcription")
    tj_token = db.update_job_status(tj, "running").claim_token
    text = db.add_transcription(
        tj, full_text="hello", language="en", segments=[{"start": 0.0, "end": 1.0, "text": "hello"}],
        model_name="whisper-large", claim_token=tj_token,
    )
    cj = db.create_job(song_id, "chroma-v1", "chroma")
    cj_token = db.update_job_status(cj, "running").claim_token
    chroma = db.add_chroma_analysis(
        cj, key_name="f#", mode="MINOR", tempo=128.0, key_confidence=0.7, tempo_confidence=0.9,
        chroma_vector=[0.5] * 12, claim_token=cj_token,
    )
    assert (chroma.key_name, chroma.mode, text.song_id, chroma.song_id) == ("F#", "minor", song_id, song_id)
    results = db.get_song_results(song_id)
    assert [t.stem_name for t in results.tracks] == ["vocals", "drums"]
    assert results.transcriptions == (text,) and results.analyses == (chroma,)
    assert chroma.chroma_vector == [0.5] * 12 and text.segments[0]["text"] == "hello"
    with pytest.raises(errors.SongNotFound):
        db.get_song_results(uuid.uuid4())


def test_malformed_stems_are_refused_whole(db: SongsDatabase, migrated: Settings) -> None:
    job_id = db.create_job(db.create_song(new_file_id(), "a.mp3"), "demucs", "separation")
    token = db.update_job_status(job_id, "running").claim_token
    before = counts(migrated)
    cases = [
        ([], "1 to 32 stems"),
        ([{"stem_name": "vocals"}], "filePath"),
        ([{"stem_name": "v", "file_path": "/a"}, {"stem_name": "v", "file_path": "/b"}], "stemName repeats"),
        ([{"stem_name": "v", "file_path": "/a", "sample_rate": -1}], "sampleRate"),
        ([{"stem_name": "v", "file_path": "/a", "format": "wäv"}], "ASCII"),
    ]
    for tracks, message in cases:
        with pytest.raises(errors.ValidationError, match=message):
            db.add_separated_tracks(job_id, tracks, claim_token=token)
    transcription_job = db.create_job(db.create_song(new_file_id(), "b.mp3"), "whisper", "transcription")
    other_token = db.update_job_status(transcription_job, "running").claim_token
    with pytest.raises(errors.ValidationError, match="separation jobs"):
        db.add_separated_tracks(transcription_job, [{"stem_name": "v", "file_path": "/a"}], claim_token=other_token)
    with pytest.raises(errors.JobNotFound):
        db.add_separated_tracks(uuid.uuid4(), [{"stem_name": "v", "file_path": "/a"}], claim_token=uuid.uuid4())
    after = counts(migrated)
    assert after["SeparatedTracks"] == before["SeparatedTracks"]


def test_a_chroma_vector_needs_twelve_numbers(db: SongsDatabase) -> None:
    job_id = db.create_job(db.create_song(new_file_id(), "a.mp3"), "chroma-v1", "chroma")
    token = db.update_job_status(job_id, "running").claim_token
    for vector in ([0.1] * 11, [0.1] * 13, ["x"] * 12, {"a": 1}):
        with pytest.raises(errors.ValidationError, match="@ChromaVector"):
            db.add_chroma_analysis(job_id, chroma_vector=vector, claim_token=token)


def test_every_mutation_is_audited_under_its_request_id(db: SongsDatabase) -> None:
    request_id = f"req-{uuid.uuid4()}"
    with request_context(request_id):
        song_id = db.create_song(new_file_id(), "a.mp3")
        job_id = db.create_job(song_id, "demucs", "separation")
        token = db.update_job_status(job_id, "running").claim_token
        db.add_separated_tracks(job_id, [{"stem_name": "bass", "file_path": "/b.wav"}], claim_token=token)
        db.log_audit("song", str(song_id), "viewed", user_id="u1", ip_address="10.0.0.1", user_agent="pytest", details={"page": 1})
    trail = db.get_audit_trail(request_id=request_id)
    assert [(a.entity_type, a.action) for a in trail] == [
        ("song", "created"), ("job", "created"), ("job", "status_changed"), ("job", "processed"), ("song", "viewed"),
    ]
    assert db.get_job(job_id).request_id == request_id
    assert trail[-1].details == {"page": 1} and trail[-1].ip_address == "10.0.0.1"
    by_entity = db.get_audit_trail(entity_type="job", entity_id=str(job_id).upper())
    by_entity_lower = db.get_audit_trail(entity_type="job", entity_id=str(job_id))
    assert len(by_entity) + len(by_entity_lower) >= 3


def test_audit_trail_needs_a_filter_and_known_values(db: SongsDatabase) -> None:
    with pytest.raises(errors.ValidationError, match="@RequestId"):
        db.get_audit_trail()
    with pytest.raises(errors.ValidationError, match="@Action"):
        db.log_audit("song", "x", "blew up!")
    with pytest.raises(errors.ValidationError, match="@Action"):
        db.log_audit("song", "x", "viewed,deleted")
    with pytest.raises(errors.ValidationError, match="@EntityType"):
        db.log_audit("song,job", "x", "viewed")
    with pytest.raises(errors.ValidationError, match="@IpAddress"):
        db.log_audit("song", "x", "viewed", ip_address="１０.0.0.1")
    assert db.log_audit("SONG", "x", "Uploaded").action == "uploaded"


def test_the_audit_table_itself_refuses_an_action_that_is_not_one_lower_case_word(migrated: Settings) -> None:
    import pyodbc

    for action in ("Created", "créé", "a b", "x"):
        with pytest.raises(pyodbc.Error, match="CK_AuditLog_Action|547"):
            query(migrated, "INSERT INTO dbo.AuditLog (EntityType, Action) VALUES ('song', ?);", action)
    query(migrated, "INSERT INTO dbo.AuditLog (EntityType, Action) VALUES ('song', 'shared_link');")


def test_job_summary_shows_titles_counts_and_durations(db: SongsDatabase) -> None:
    song_id = db.create_song(new_file_id(), "a.mp3", title="Summed", artist="Ann")
    job_id = db.create_job(song_id, "demucs", "separation")
    token = db.update_job_status(job_id, "running").claim_token
    db.add_separated_tracks(job_id, [{"stem_name": "vocals", "file_path": "/v"}, {"stem_name": "drums", "file_path": "/d"}], claim_token=token)
    db.update_job_status(job_id, "completed")
    [row] = db.job_summary(song_id=song_id)
    assert (row.job_id, row.song_title, row.song_artist, row.status, row.track_count) == (job_id, "Summed", "Ann", "completed", 2)
    assert row.duration_seconds is not None and row.duration_seconds >= 0


def test_transaction_rolls_back_every_call_in_it(db: SongsDatabase) -> None:
    keep, drop = new_file_id(), new_file_id()
    with db.transaction() as tx:
        tx.create_song(keep, "a.mp3")
    with pytest.raises(RuntimeError):
        with db.transaction() as tx:
            song_id = tx.create_song(drop, "a.mp3")
            tx.create_job(song_id, "demucs", "separation")
            raise RuntimeError("worker crashed")
    assert db.get_song(keep) is not None
    assert db.get_song(drop) is None


def test_a_procedure_error_inside_a_transaction_rolls_back_the_earlier_calls(db: SongsDatabase) -> None:
    file_id = new_file_id()
    with pytest.raises(errors.JobNotFound):
        with db.transaction() as tx:
            tx.create_song(file_id, "a.mp3")
            tx.update_job_status(uuid.uuid4(), "running")
    assert db.get_song(file_id) is None


def test_the_procedures_return_exactly_the_columns_the_models_read(migrated: Settings, db: SongsDatabase) -> None:
    import pyodbc

    song_id = db.create_song(new_file_id(), "a.mp3")
    conn = pyodbc.connect(migrated.odbc(), autocommit=True)
    try:
        cursor = conn.cursor()
        cursor.execute("EXEC api.GetSong @SongId = ?;", str(song_id))
        assert [d[0].lower() for d in cursor.description] == [c.lower() for c in columns(Song)]
    finally:
        conn.close()


def test_many_threads_share_one_client_safely(db: SongsDatabase) -> None:
    artist = f"threads-{uuid.uuid4()}"
    failures: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(10):
                song_id = db.create_song(new_file_id(), "a.mp3", artist=artist, title=f"{n}-{i}")
                assert db.get_song_by_id(song_id).title == f"{n}-{i}"
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert len(db.list_songs(artist=artist, limit=1000)) == 80


def test_a_thousand_calls_leak_no_sessions(migrated: Settings, db: SongsDatabase) -> None:
    import pyodbc

    # counted on one session of its own, which it leaves out: a session closed a moment ago can still
    # be listed for a while (Babelfish), so counting through new connections would count their ghosts;
    # and this process's sessions only: other test processes (pytest-xdist workers) open and close theirs
    counter = pyodbc.connect(migrated.odbc(), autocommit=True)

    def sessions() -> int:
        sql = "SELECT COUNT(*) FROM sys.dm_exec_sessions WHERE host_process_id = ? AND session_id <> @@SPID;"
        return int(counter.cursor().execute(sql, os.getpid()).fetchone()[0])

    db.close()  # the shared client's idle sessions would crowd the count (Babelfish 4.2 lists at most 10 rows)

    with SongsDatabase(migrated, pool_size=4) as client:
        client.get_song("warm-up")
        before = sessions()
        for i in range(1000):
            client.get_song(f"missing-{i}")
        assert sessions() == before
    deadline = time.monotonic() + 10  # a server may need a moment to retire a closed session
    while sessions() != before - 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sessions() == before - 1  # the pooled connection closed with the client
    counter.close()


@st.composite
def hostile_song(draw):
    field = draw(st.sampled_from(["file_id", "title", "duration", "file_size", "metadata", "status", "filename"]))
    value = {
        "file_id": st.one_of(st.just(""), st.text(min_size=101, max_size=300)),
        "filename": st.one_of(st.just(""), st.text(min_size=261, max_size=400)),
        "title": st.text(min_size=401, max_size=600),
        "duration": st.sampled_from([-1.0, -0.001, 1e9, math.inf]),
        "file_size": st.integers(max_value=-1, min_value=-(2**62)),
        "metadata": st.one_of(st.sampled_from(["not json", "[1, 2]", "{", "42"]), st.text(max_size=20).filter(lambda s: not s.strip().startswith("{"))),
        "status": st.text(min_size=1, max_size=20).filter(lambda s: s.lower() not in {"uploaded", "processing", "completed", "failed"}),
    }[field]
    return field, draw(value)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(hostile_song())
def test_hostile_input_gets_a_typed_error_and_changes_nothing(db: SongsDatabase, migrated: Settings, case) -> None:
    field, value = case
    before = counts(migrated)
    with pytest.raises(errors.ValidationError):
        if field == "status":
            song_id = db.create_song(new_file_id(), "a.mp3")
            before = counts(migrated)
            db.update_song(song_id, status=value)
        else:
            kwargs = {"file_id": new_file_id(), "filename": "a.mp3", field: value}
            db.create_song(**kwargs)
    assert counts(migrated) == before


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(title=st.text(min_size=1, max_size=200).filter(lambda s: "\x00" not in s))
def test_any_unicode_title_round_trips(db: SongsDatabase, title: str) -> None:
    song_id = db.create_song(new_file_id(), "a.mp3", title=title)
    assert db.get_song_by_id(song_id).title == title
