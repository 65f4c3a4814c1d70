"""A service's own tests against a real SQL Server, with no conftest.py and no fixtures of its own.

songsdb's pytest plugin comes with ``pip install songsdb`` and provides the fixtures used here:
``songsdb_web``, ``songsdb_worker`` and ``songsdb_ops`` are clients signed in as the three duty
roles, on a database migrated once for the session and emptied before each test.

    SONGSDB_TEST_DSN='DRIVER={FreeTDS};SERVER=127.0.0.1;PORT=1433;UID=sa;PWD=...;TDS_Version=7.4;' pytest

Without a server (and without a Docker engine that can start one) these tests are skipped and
the run ends with one line saying how to enable them; ``--songsdb-require-server`` fails instead.
The tests run in file order: the second shows that the first's committed rows are gone.
"""

import pytest

from songsdb import SongsDatabase
from songsdb.errors import PermissionDenied


def test_an_uploaded_song_is_found_by_its_file_id(songsdb_web: SongsDatabase) -> None:
    song_id = songsdb_web.create_song("file-1", "a.mp3", title="Intro", artist="The Band")
    song = songsdb_web.get_song("file-1")
    assert song is not None and song.id == song_id and song["Title"] == "Intro" and song.artist == "The Band"


def test_each_test_starts_from_an_empty_database(songsdb_web: SongsDatabase) -> None:
    assert songsdb_web.get_song("file-1") is None  # the test above committed it; it is gone
    assert songsdb_web.list_songs() == []
    songsdb_web.create_song("file-1", "a.mp3")  # so the same file id registers again
    assert [s.file_id for s in songsdb_web.list_songs()] == ["file-1"]


def test_code_that_commits_its_own_transaction(songsdb_web: SongsDatabase) -> None:
    with songsdb_web.transaction() as tx:
        song_id = tx.create_song("file-tx", "b.mp3")
        tx.create_job(song_id, "demucs", "separation")
    assert [j.song_id for j in songsdb_web.list_jobs()] == [song_id]


def test_its_rows_are_gone_before_the_next_test(songsdb_web: SongsDatabase, songsdb_ops: SongsDatabase) -> None:
    assert songsdb_web.list_jobs() == [] and songsdb_ops.job_summary() == []


def test_a_worker_runs_what_the_web_queued(
    songsdb_web: SongsDatabase, songsdb_worker: SongsDatabase, songsdb_ops: SongsDatabase
) -> None:
    song_id = songsdb_web.create_song("file-2", "c.mp3")
    job_id = songsdb_web.create_job(song_id, "demucs", "separation")
    job = songsdb_worker.claim_next_job("gpu-1", model_names=["demucs"])
    assert job is not None and job.id == job_id and job.claim_token is not None
    songsdb_worker.complete_job(job_id, job.claim_token, tracks=[{"stem_name": "vocals", "file_path": "/v.wav"}])
    assert [t.stem_name for t in songsdb_web.get_song_results(song_id).tracks] == ["vocals"]
    assert [(s.job_id, s.status) for s in songsdb_ops.job_summary()] == [(job_id, "completed")]


def test_each_client_has_only_its_roles_rights(songsdb_web: SongsDatabase, songsdb_worker: SongsDatabase) -> None:
    assert songsdb_worker.claim_next_job("gpu-1") is None  # the worker may claim (nothing is queued)
    with pytest.raises(PermissionDenied):
        songsdb_web.claim_next_job("gpu-1")
    with pytest.raises(PermissionDenied):
        songsdb_worker.create_song("file-3", "d.mp3")
