"""The SQL stages of `songsdb up` against the engine SONGSDB_TEST_DSN names: database, migrations, and
one login per duty role, made by local tooling that never resets a password it finds."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from songsdb import errors
from songsdb.config import Settings
from songsdb.container import generate_password
from songsdb.database import SongsDatabase
from songsdb.local import provision
from songsdb.migrations import discover

from .conftest import drop_database
from .helpers import query
from .test_duties import as_login


@pytest.fixture
def target(server: Settings, databases, engine: str) -> Iterator[tuple[Settings, list[str]]]:
    settings = databases.new(migrate=False)
    made: list[str] = []
    yield settings, made
    drop_database(server, settings.target_database, engine)
    databases.names.remove(settings.target_database)
    for login in made:
        query(server, f"IF SUSER_ID(N'{login}') IS NOT NULL DROP LOGIN [{login}];")


def test_provisioning_migrates_and_gives_the_web_login_its_duty(target) -> None:
    settings, made = target
    login, password = f"songsdb_p{uuid.uuid4().hex[:8]}", generate_password()
    made.append(login)
    assert provision(settings, {"web": (login, password)}) == tuple(s.name for s in discover())
    with SongsDatabase(as_login(settings, login, password)) as db:
        song_id = db.create_song(f"file-{uuid.uuid4()}", "a.mp3", title="via the web login")
        assert db.get_song_by_id(song_id).title == "via the web login"
        assert db.server_info().schema_version is not None
        with pytest.raises(errors.PermissionDenied):
            db.claim_next_job("w1")


def test_provisioning_again_changes_nothing_and_never_resets_a_password(target) -> None:
    settings, made = target
    login, password = f"songsdb_p{uuid.uuid4().hex[:8]}", generate_password()
    made.append(login)
    provision(settings, {"worker": (login, password)})
    assert provision(settings, {"worker": (login, "a-different-password-1")}) == ()  # nothing left to migrate
    with SongsDatabase(as_login(settings, login, password), role="worker") as db:  # the first password still works
        assert db.claim_next_job("w1", model_names=[f"m-{uuid.uuid4().hex}"]) is None


def test_the_login_tooling_refuses_logins_it_does_not_own(target) -> None:
    import pyodbc

    settings, _ = target
    for name in ("sa", "app_login", "songsdb_x; DROP LOGIN sa"):
        with pytest.raises(pyodbc.Error, match=r"@Login.*songsdb_"):
            provision(settings, {"web": (name, generate_password())})
    with pytest.raises(KeyError):
        provision(settings, {"admin": ("songsdb_admin", generate_password())})
