"""The integration tests' fixtures: the names they have always used, served by songsdb's pytest plugin.

The plugin (``songsdb/testing.py``, loaded through its ``pytest11`` entry point, or by
``tests/conftest.py`` when the entry point is missing) finds the server: ``SONGSDB_TEST_DSN``,
else a throwaway ``mcr.microsoft.com/mssql/server:2022-latest`` container where a Docker engine
answers, else a skip whose one line (``ENABLE``) says how to enable them. Each test session
gets fresh, uniquely named databases, dropped at the end. Never SQLite, PostgreSQL or a fake.
"""

from __future__ import annotations

import pytest

from songsdb.config import Settings
from songsdb.testdb import DatabaseFactory, connect, drop_database
from songsdb.testing import ENABLE

__all__ = ["ENABLE", "DatabaseFactory", "connect", "drop_database"]


@pytest.fixture(scope="session")
def server(songsdb_server: Settings) -> Settings:
    """Settings for a login on a real engine, pointed at master."""
    return songsdb_server


@pytest.fixture(scope="session")
def engine(songsdb_engine: str) -> str:
    """"sqlserver" or "babelfish", from @@VERSION."""
    return songsdb_engine


@pytest.fixture(scope="session")
def databases(songsdb_databases: DatabaseFactory) -> DatabaseFactory:
    """Makes uniquely named databases on the server and drops them all at the end."""
    return songsdb_databases


@pytest.fixture(scope="session")
def migrated(databases: DatabaseFactory) -> Settings:
    """Settings for this session's migrated database (shared by the tests; don't break its schema)."""
    return databases.new(migrate=True)


@pytest.fixture
def fresh_database(databases: DatabaseFactory) -> Settings:
    """Settings for an empty database of this test's own."""
    return databases.new(migrate=False)
