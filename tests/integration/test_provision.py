"""The SQL stages of `songsdb up` against the engine SONGSDB_TEST_DSN names: database, migrations,
and an application login that may EXECUTE the api procedures and nothing more."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace

import pytest

from songsdb.config import Settings, format_connection_string, parse_connection_string
from songsdb.container import generate_password
from songsdb.database import SongsDatabase
from songsdb.local import provision

from .conftest import drop_database
from .helpers import query


@pytest.fixture
def app_login(server: Settings, databases, engine: str) -> Iterator[tuple[Settings, str, str]]:
    """A freshly provisioned database and the application login's settings for it."""
    target = databases.new(migrate=False)
    login = f"app_{uuid.uuid4().hex[:10]}"
    password = generate_password()
    applied = provision(target, password, app_login=login)
    assert applied  # the migrations ran
    pairs = parse_connection_string(target.odbc())
    for key in list(pairs):
        if key.lower() in ("uid", "pwd", "user id", "password"):
            del pairs[key]
    pairs.update(UID=login, PWD=password)
    yield replace(target, connection_string=format_connection_string(pairs)), login, password
    drop_database(server, target.target_database, engine)
    databases.names.remove(target.target_database)
    query(server, f"IF SUSER_ID(N'{login}') IS NOT NULL DROP LOGIN [{login}];")


def test_the_application_login_can_execute_the_api(app_login) -> None:
    settings, _, _ = app_login
    with SongsDatabase(settings) as db:
        song_id = db.create_song(f"file-{uuid.uuid4()}", "a.mp3", title="via the app login")
        assert db.get_song_by_id(song_id).title == "via the app login"
        job = db.enqueue_jobs(song_id, [("demucs", "separation")])[0]
        claimed = db.claim_next_job("w1", model_names=["demucs"])
        assert claimed is not None and claimed.id == job.id
        assert db.server_info().schema_version is not None


def test_the_application_login_has_no_right_on_any_table(app_login, engine: str) -> None:
    import pyodbc

    if engine == "babelfish":
        pytest.skip(
            "Babelfish 4.2 has no ownership chaining and no EXECUTE AS OWNER: 0007 grants the role its "
            "table rights there (see README, Engines)"
        )
    settings, _, _ = app_login
    for statement in (
        "SELECT TOP (1) Id FROM dbo.Songs;",
        "INSERT INTO dbo.AuditLog (EntityType, Action) VALUES ('system', 'viewed');",
        "DELETE FROM dbo.ProcessingJobs;",
        "EXEC dbo.sp_CleanupOldData @DaysToKeep = 1;",
    ):
        with pytest.raises(pyodbc.Error, match=r"(229|permission)"):
            query(settings, statement)


def test_provisioning_again_keeps_everything_and_resets_the_password(app_login, server: Settings) -> None:
    settings, login, _ = app_login
    database = settings.target_database
    admin = server.with_database(database)
    new_password = generate_password()
    assert provision(admin, new_password, app_login=login) == ()  # nothing left to migrate
    pairs = parse_connection_string(settings.odbc())
    pairs["PWD"] = new_password
    with SongsDatabase(replace(settings, connection_string=format_connection_string(pairs))) as db:
        assert db.server_info().database_name.lower() == database.lower()
