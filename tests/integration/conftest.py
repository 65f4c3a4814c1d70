"""One fixture chain gives integration tests a real T-SQL engine, or skips them with one line.

1. ``SONGSDB_TEST_DSN`` (an ODBC connection string to a login that may create databases), else
2. a throwaway ``mcr.microsoft.com/mssql/server:2022-latest`` container where a Docker engine answers, else
3. skip: ``ENABLE`` below says how to enable them.

Each test session gets a fresh, uniquely named database, migrated, and dropped at the end;
``fresh_database`` gives a test its own empty one. Never SQLite, PostgreSQL or a fake.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from songsdb.config import Settings, choose_driver
from songsdb.migrator import Migrator, detect_engine

ENABLE = (
    "integration tests need a T-SQL engine: set SONGSDB_TEST_DSN to an ODBC connection string "
    "(e.g. 'DRIVER={FreeTDS};SERVER=127.0.0.1;PORT=1433;UID=sa;PWD=...;TDS_Version=7.4;') "
    "or run a Docker engine that can start mcr.microsoft.com/mssql/server:2022-latest"
)


def _container_server() -> Iterator[Settings]:
    from songsdb.container import ContainerSpec, DockerUnavailable, docker_client, generate_password, wait_for_login

    try:
        client = docker_client()
    except DockerUnavailable:
        pytest.skip(ENABLE)
    spec = ContainerSpec(name=f"songsdb-test-{uuid.uuid4().hex[:8]}", sa_password=generate_password(), host_port=None, restart=None)
    try:
        container = client.containers.run(**spec.run_kwargs())
    except Exception as exc:  # image missing and no registry reachable, among others
        pytest.skip(f"{ENABLE} (the Docker engine answered but could not start {spec.image}: {type(exc).__name__})")
    try:
        container.reload()
        port = int(container.attrs["NetworkSettings"]["Ports"]["1433/tcp"][0]["HostPort"])
        import pyodbc

        settings = Settings(
            server="127.0.0.1",
            port=port,
            database="master",
            user="sa",
            password=spec.sa_password,
            driver=choose_driver(list(pyodbc.drivers())),
            trust_server_certificate=True,
        )
        wait_for_login(settings, timeout=180)
        yield settings
    finally:
        container.remove(force=True)


@pytest.fixture(scope="session")
def server() -> Iterator[Settings]:
    """Settings for a login on a real engine, pointed at master."""
    dsn = os.environ.get("SONGSDB_TEST_DSN")
    if dsn:
        yield Settings(connection_string=dsn).with_database("master")
        return
    yield from _container_server()


def connect(settings: Settings) -> Any:
    import pyodbc

    return pyodbc.connect(settings.odbc(), autocommit=True, timeout=30)


@pytest.fixture(scope="session")
def engine(server: Settings) -> str:
    """"sqlserver" or "babelfish", from @@VERSION."""
    conn = connect(server)
    try:
        return detect_engine(str(conn.cursor().execute("SELECT @@VERSION").fetchone()[0]))
    finally:
        conn.close()


def drop_database(server: Settings, name: str, engine: str) -> None:
    conn = connect(server)
    try:
        cursor = conn.cursor()
        if cursor.execute("SELECT DB_ID(?)", name).fetchone()[0] is None:
            return
        if engine == "sqlserver":
            cursor.execute(f"ALTER DATABASE [{name}] SET SINGLE_USER WITH ROLLBACK IMMEDIATE;")
        cursor.execute(f"DROP DATABASE [{name}];")
    finally:
        conn.close()


class DatabaseFactory:
    """Makes uniquely named databases on ``server`` and drops them all at the end."""

    def __init__(self, server: Settings, engine: str) -> None:
        self.server, self.engine, self.names = server, engine, []

    def new(self, migrate: bool = False) -> Settings:
        name = f"songsdb_test_{uuid.uuid4().hex[:10]}"
        self.names.append(name)
        settings = self.server.with_database(name)
        migrator = Migrator(settings)
        if migrate:
            migrator.migrate()
        else:
            migrator.create_database()
        return settings

    def drop_all(self) -> None:
        for name in self.names:
            drop_database(self.server, name, self.engine)


@pytest.fixture(scope="session")
def databases(server: Settings, engine: str) -> Iterator[DatabaseFactory]:
    factory = DatabaseFactory(server, engine)
    try:
        yield factory
    finally:
        factory.drop_all()


@pytest.fixture(scope="session")
def migrated(databases: DatabaseFactory) -> Settings:
    """Settings for this session's migrated database (shared by the tests; don't break its schema)."""
    return databases.new(migrate=True)


@pytest.fixture
def fresh_database(databases: DatabaseFactory) -> Settings:
    """Settings for an empty database of this test's own."""
    return databases.new(migrate=False)
