"""songsdb backup / restore / space against a real SQL Server (Babelfish has no BACKUP DATABASE)."""

from __future__ import annotations

import uuid

import pytest

from songsdb.config import Settings
from songsdb.database import SongsDatabase
from songsdb.local import backup, restore, space


@pytest.fixture
def sqlserver_only(engine: str) -> None:
    if engine != "sqlserver":
        pytest.skip("backup, restore and space need SQL Server (Babelfish 4.2 has no BACKUP DATABASE or sp_spaceused)")


@pytest.mark.usefixtures("sqlserver_only")
def test_a_backup_verifies_and_restores_the_data_it_holds(databases) -> None:
    settings: Settings = databases.new(migrate=True)
    with SongsDatabase(settings) as db:
        kept = db.create_song(f"file-{uuid.uuid4()}", "kept.mp3")
    name = backup(settings)
    assert name.startswith(settings.target_database) and name.endswith(".bak")
    with SongsDatabase(settings) as db:
        db.delete_song(kept)
        assert db.get_song_by_id(kept) is None
    restore(settings, name)
    with SongsDatabase(settings) as db:
        assert db.get_song_by_id(kept) is not None


@pytest.mark.usefixtures("sqlserver_only")
def test_space_reports_the_database_size(migrated: Settings) -> None:
    rows = space(migrated)
    assert rows and str(rows[0][0]).lower() == migrated.target_database.lower()

