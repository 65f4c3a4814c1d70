"""songsdb's pytest plugin on a real engine: role clients, emptying between tests, a fresh database.

The downstream view of the same fixtures (a project with no conftest.py, run in its own
process) is test_downstream.py.
"""

from __future__ import annotations

import uuid

import pytest

from songsdb.clients import OpsClient, WebClient, WorkerClient
from songsdb.config import Settings
from songsdb.database import SongsDatabase
from songsdb.errors import PermissionDenied
from songsdb.testdb import DatabaseFactory, data_tables, database_prefix

from .helpers import query, scalar

TABLES = ("Songs", "ProcessingJobs", "JobAttempts", "SeparatedTracks", "Transcriptions", "ChromaAnalysis", "AuditLog")


def row_counts(settings: Settings) -> dict[str, int]:
    sql = "SELECT " + ", ".join(f"(SELECT COUNT(*) FROM dbo.{t})" for t in TABLES) + ";"
    return dict(zip(TABLES, (int(n) for n in query(settings, sql)[0])))


def fill(web: SongsDatabase, worker: SongsDatabase) -> None:
    """A row in every table, some of it committed by the code's own transaction."""
    with web.transaction() as tx:
        song_id = tx.create_song(f"file-{uuid.uuid4().hex[:8]}", "a.mp3")
        tx.create_job(song_id, "demucs-fill", "separation")
    job = worker.claim_next_job("gpu-1", model_names=["demucs-fill"])
    assert job is not None
    worker.complete_job(job.id, job.claim_token, tracks=[{"stem_name": "vocals", "file_path": "/v.wav"}])
    for job_type, result in (("transcription", {"transcription": {"full_text": "la"}}),
                             ("chroma", {"chroma_analysis": {"key_name": "C", "mode": "major"}})):
        web.create_job(song_id, "demucs-fill", job_type)  # type: ignore[arg-type]
        claimed = worker.claim_next_job("gpu-1", model_names=["demucs-fill"])
        assert claimed is not None
        worker.complete_job(claimed.id, claimed.claim_token, **result)  # type: ignore[arg-type]


def test_each_role_client_signs_in_as_its_own_login(
    songsdb_web: SongsDatabase, songsdb_worker: SongsDatabase, songsdb_ops: SongsDatabase,
    songsdb_settings: dict[str, Settings], songsdb_server: Settings,
) -> None:
    logins = {role: settings.user for role, settings in songsdb_settings.items()}
    assert set(logins) == {"web", "worker", "ops", "retention"} and len(set(logins.values())) == 4
    assert all(login and login.startswith("songsdb_t") and login.endswith(role) for role, login in logins.items())
    assert songsdb_web.create_song("file-roles", "a.mp3")
    assert songsdb_worker.claim_next_job("gpu-1", model_names=["none"]) is None
    assert songsdb_ops.job_summary() == []
    with pytest.raises(PermissionDenied):
        songsdb_web.job_summary()
    with pytest.raises(PermissionDenied):
        songsdb_ops.create_song("file-ops", "a.mp3")


def test_the_retention_fixture_signs_in_as_a_login_that_runs_the_cleanup_and_nothing_else(
    songsdb_retention: SongsDatabase, songsdb_settings: dict[str, Settings]
) -> None:
    assert songsdb_retention.role == "retention" and songsdb_settings["retention"].user == songsdb_retention.settings.user
    assert songsdb_retention.cleanup_old_data(30, dry_run=True).dry_run is True
    with pytest.raises(PermissionDenied):
        songsdb_retention.job_summary()
    with pytest.raises(PermissionDenied):
        songsdb_retention.create_song("file-retention", "a.mp3")


def test_the_typed_role_client_fixtures_sign_in_as_the_same_logins(
    songsdb_web_client: WebClient, songsdb_worker_client: WorkerClient, songsdb_ops_client: OpsClient,
) -> None:
    song = songsdb_web_client.create_song("file-typed", "a.mp3")
    songsdb_web_client.create_job(song, "demucs", "separation")
    job = songsdb_worker_client.claim_next_job("gpu-typed")
    assert job is not None and job.song_id == song
    assert [row.job_id for row in songsdb_ops_client.job_summary()] == [job.id]
    assert not hasattr(songsdb_worker_client, "create_song")  # only its role's methods


def test_emptying_deletes_every_row_the_tests_wrote_in_foreign_key_order(
    songsdb_web: SongsDatabase, songsdb_worker: SongsDatabase, songsdb_database: Settings,
    songsdb_databases: DatabaseFactory,
) -> None:
    history = scalar(songsdb_database, "SELECT COUNT(*) FROM deploy.SchemaHistory;")
    assert row_counts(songsdb_database) == dict.fromkeys(TABLES, 0)  # emptied before this test
    fill(songsdb_web, songsdb_worker)
    assert all(count > 0 for count in row_counts(songsdb_database).values()), row_counts(songsdb_database)
    songsdb_databases.empty(songsdb_database)
    assert row_counts(songsdb_database) == dict.fromkeys(TABLES, 0)
    assert scalar(songsdb_database, "SELECT COUNT(*) FROM deploy.SchemaHistory;") == history > 0


def test_the_tables_to_empty_are_the_applications_children_first(songsdb_session_database: Settings) -> None:
    order = [name.replace("[", "").replace("]", "").lower() for name in data_tables(songsdb_session_database)]
    assert set(order) == {f"dbo.{t.lower()}" for t in TABLES}  # not deploy.schemahistory: it has rows
    for child in ("dbo.separatedtracks", "dbo.transcriptions", "dbo.chromaanalysis"):
        assert order.index(child) < order.index("dbo.processingjobs") < order.index("dbo.songs")


def test_rows_a_test_commits(songsdb_web: SongsDatabase) -> None:
    with songsdb_web.transaction() as tx:
        tx.create_song("file-committed", "a.mp3")
    assert songsdb_web.get_song("file-committed") is not None


def test_are_gone_when_the_next_test_starts(songsdb_web: SongsDatabase) -> None:
    assert songsdb_web.get_song("file-committed") is None
    assert songsdb_web.list_songs() == []


FRESH: list[str] = []


@pytest.mark.songsdb_fresh_database
def test_a_test_marked_fresh_gets_a_migrated_database_of_its_own(
    songsdb_database: Settings, songsdb_session_database: Settings, songsdb_web: SongsDatabase,
    songsdb_databases: DatabaseFactory,
) -> None:
    name = songsdb_database.target_database
    assert name != songsdb_session_database.target_database and name.startswith(database_prefix())
    assert songsdb_web.server_info().database_name.lower() == name.lower()
    songsdb_web.create_song("file-fresh", "a.mp3")
    assert scalar(songsdb_session_database, "SELECT COUNT(*) FROM dbo.Songs WHERE FileId = 'file-fresh';") == 0
    assert name in songsdb_databases.names
    FRESH.append(name)


def test_the_fresh_database_is_dropped_after_its_test(songsdb_server: Settings, songsdb_databases: DatabaseFactory) -> None:
    if not FRESH:
        pytest.skip("runs after test_a_test_marked_fresh_gets_a_migrated_database_of_its_own")
    assert FRESH[0] not in songsdb_databases.names
    assert scalar(songsdb_server, "SELECT DB_ID(?);", FRESH[0]) is None
