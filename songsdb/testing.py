"""songsdb's pytest plugin: a real server, a migrated database and a client per duty role.

Installed with songsdb and registered through the ``pytest11`` entry point, so a service's
tests need no conftest.py::

    def test_an_upload_is_found_by_its_file_id(songsdb_web):
        song_id = songsdb_web.create_song("file-1", "a.mp3", title="Intro")
        assert songsdb_web.get_song("file-1").id == song_id

The server, in order: ``SONGSDB_TEST_DSN`` (an ODBC connection string for a login that may
create databases and logins); else a throwaway SQL Server container where a Docker engine can
run one (``pip install 'songsdb[local]'``); else every test that needs it is skipped, and the
run ends with one line saying how to enable them. ``--songsdb-require-server`` (or
``SONGSDB_REQUIRE_SERVER=1``) turns that skip into a failure, for CI that has a server.

Fixtures (per session unless marked "per test"):

- ``songsdb_server``: settings of the administrator's login, pointed at master;
- ``songsdb_engine``: ``"sqlserver"`` or ``"babelfish"``;
- ``songsdb_databases``: a :class:`~songsdb.testdb.DatabaseFactory` (names carry the xdist
  worker), every database it made dropped at the end;
- ``songsdb_session_database``: this session's database, migrated, a login per duty role in it;
- ``songsdb_database`` (per test): the administrator's settings for this test's database. It is
  the session's, emptied of every row before the test (children first, so it works whatever
  transactions the code under test opened and committed); a test marked
  ``@pytest.mark.songsdb_fresh_database`` gets a new migrated database of its own instead
  (a migration takes seconds: mark only the tests that need it);
- ``songsdb_settings`` (per test): role -> settings of that role's login on ``songsdb_database``;
- ``songsdb_web``, ``songsdb_worker``, ``songsdb_ops``, ``songsdb_retention`` (per test): a
  ``SongsDatabase`` per duty role on ``songsdb_database``, closed after the test (every method, as
  the original design has; the retention login may run only the cleanup);
- ``songsdb_web_client``, ``songsdb_worker_client``, ``songsdb_ops_client`` (per test): the typed
  role clients (:class:`~songsdb.WebClient`, :class:`~songsdb.WorkerClient`,
  :class:`~songsdb.OpsClient`) on the same logins, for services written against one role.

Importing this module loads neither pyodbc nor docker: a project without a driver still runs.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, NoReturn

import pytest

from songsdb.config import Settings
from songsdb.testdb import DatabaseFactory, connect, drop_database

if TYPE_CHECKING:
    from songsdb.clients import OpsClient, WebClient, WorkerClient
    from songsdb.database import SongsDatabase

__all__ = ["ENABLE", "DatabaseFactory", "connect", "drop_database", "require_server"]

ENABLE = (
    "integration tests need a T-SQL engine: set SONGSDB_TEST_DSN to an ODBC connection string "
    "(e.g. 'DRIVER={FreeTDS};SERVER=127.0.0.1;PORT=1433;UID=sa;PWD=...;TDS_Version=7.4;') "
    "or run a Docker engine that can start mcr.microsoft.com/mssql/server:2022-latest"
)
REQUIRE_OPTION = "--songsdb-require-server"
REQUIRE_VARIABLE = "SONGSDB_REQUIRE_SERVER"
FRESH_MARKER = "songsdb_fresh_database"
_TRUE = {"1", "true", "yes", "on", "y"}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("songsdb").addoption(
        REQUIRE_OPTION,
        action="store_true",
        default=False,
        dest="songsdb_require_server",
        help=f"fail, not skip, the tests that need a T-SQL engine when none is found (or set {REQUIRE_VARIABLE}=1)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{FRESH_MARKER}: songsdb_database (and the role clients) use a new migrated database for this test"
    )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line per reason the plugin skipped tests for (normally one: how to enable them)."""
    counts: dict[str, int] = {}
    for report in terminalreporter.stats.get("skipped", []):
        reason = skip_reason(report)
        if reason.startswith(ENABLE):
            counts[reason] = counts.get(reason, 0) + 1
    for reason, count in counts.items():
        terminalreporter.write_line(f"SKIPPED {count} test(s): {reason}")


def skip_reason(report: object) -> str:
    """The reason of a skipped test's report, without pytest's ``Skipped: `` prefix."""
    longrepr = getattr(report, "longrepr", None)
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return str(reason).removeprefix("Skipped: ")


def require_server(config: pytest.Config) -> bool:
    """Whether a missing server is a failure (``--songsdb-require-server`` or ``SONGSDB_REQUIRE_SERVER=1``)."""
    if config.getoption("songsdb_require_server", default=False):
        return True
    return os.environ.get(REQUIRE_VARIABLE, "").strip().lower() in _TRUE


def _no_server(config: pytest.Config, reason: str) -> NoReturn:
    if require_server(config):
        pytest.fail(f"{reason} ({REQUIRE_OPTION} or {REQUIRE_VARIABLE}=1 makes this a failure)", pytrace=False)
    pytest.skip(reason)


def _container_server(config: pytest.Config) -> Iterator[Settings]:
    """A throwaway SQL Server container on a free port, removed at the end (docker imported only here)."""
    from songsdb.config import choose_driver
    from songsdb.container import ContainerSpec, DockerUnavailable, docker_client, generate_password, wait_for_login

    try:
        client = docker_client()
    except DockerUnavailable:
        _no_server(config, ENABLE)
    spec = ContainerSpec(name=f"songsdb-test-{uuid.uuid4().hex[:8]}", sa_password=generate_password(), host_port=None, restart=None)
    try:
        container = client.containers.run(**spec.run_kwargs())
    except Exception as exc:  # image missing and no registry reachable, among others
        _no_server(config, f"{ENABLE} (the Docker engine answered but could not start {spec.image}: {type(exc).__name__})")
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
def songsdb_server(request: pytest.FixtureRequest) -> Iterator[Settings]:
    """Settings for a login on a real engine that may create databases and logins, pointed at master."""
    dsn = os.environ.get("SONGSDB_TEST_DSN")
    if dsn:
        yield Settings(connection_string=dsn).with_database("master")
        return
    yield from _container_server(request.config)


@pytest.fixture(scope="session")
def songsdb_engine(songsdb_server: Settings) -> str:
    """``"sqlserver"`` or ``"babelfish"``, from ``@@VERSION``."""
    from songsdb.testdb import detect_server_engine

    return detect_server_engine(songsdb_server)


@pytest.fixture(scope="session")
def songsdb_databases(songsdb_server: Settings, songsdb_engine: str) -> Iterator[DatabaseFactory]:
    """Makes uniquely named databases (per xdist worker); drops them, and its logins, at the end."""
    factory = DatabaseFactory(songsdb_server, songsdb_engine)
    try:
        yield factory
    finally:
        factory.drop_all()


@pytest.fixture(scope="session")
def songsdb_session_database(songsdb_databases: DatabaseFactory) -> Settings:
    """This session's migrated database (administrator's settings), a login per duty role in it."""
    return songsdb_databases.new(roles=True)


@pytest.fixture
def songsdb_database(request: pytest.FixtureRequest, songsdb_databases: DatabaseFactory) -> Iterator[Settings]:
    """This test's database: the session's, emptied first; or, marked songsdb_fresh_database, its own."""
    if request.node.get_closest_marker(FRESH_MARKER) is None:
        shared: Settings = request.getfixturevalue("songsdb_session_database")
        songsdb_databases.empty(shared)
        yield shared
        return
    own = songsdb_databases.new(roles=True)
    try:
        yield own
    finally:
        songsdb_databases.drop(own.target_database)


@pytest.fixture
def songsdb_settings(songsdb_databases: DatabaseFactory, songsdb_database: Settings) -> dict[str, Settings]:
    """Role (web, worker, ops, retention) -> settings of that role's login on this test's database."""
    return songsdb_databases.role_settings(songsdb_database)


def _client(settings: dict[str, Settings], role: str) -> Iterator[SongsDatabase]:
    from songsdb.database import SongsDatabase

    db = SongsDatabase(settings[role], role=role)
    try:
        yield db
    finally:
        db.close()


@pytest.fixture
def songsdb_web(songsdb_settings: dict[str, Settings]) -> Iterator[SongsDatabase]:
    """A SongsDatabase signed in as the web role (schema ``api``) on this test's database."""
    yield from _client(songsdb_settings, "web")


@pytest.fixture
def songsdb_worker(songsdb_settings: dict[str, Settings]) -> Iterator[SongsDatabase]:
    """A SongsDatabase signed in as the worker role (schema ``worker``) on this test's database."""
    yield from _client(songsdb_settings, "worker")


@pytest.fixture
def songsdb_ops(songsdb_settings: dict[str, Settings]) -> Iterator[SongsDatabase]:
    """A SongsDatabase signed in as the operations role (schema ``ops``) on this test's database."""
    yield from _client(songsdb_settings, "ops")


@pytest.fixture
def songsdb_retention(songsdb_settings: dict[str, Settings]) -> Iterator[SongsDatabase]:
    """A SongsDatabase signed in as the retention role (the cleanup only: ``cleanup_old_data``) on this test's database."""
    yield from _client(songsdb_settings, "retention")


@pytest.fixture
def songsdb_web_client(songsdb_settings: dict[str, Settings]) -> Iterator[WebClient]:
    """A :class:`~songsdb.WebClient` (``api.*`` only) signed in as the web role on this test's database."""
    from songsdb.clients import WebClient

    with WebClient(songsdb_settings["web"]) as client:
        yield client


@pytest.fixture
def songsdb_worker_client(songsdb_settings: dict[str, Settings]) -> Iterator[WorkerClient]:
    """A :class:`~songsdb.WorkerClient` (``worker.*`` only) signed in as the worker role on this test's database."""
    from songsdb.clients import WorkerClient

    with WorkerClient(songsdb_settings["worker"]) as client:
        yield client


@pytest.fixture
def songsdb_ops_client(songsdb_settings: dict[str, Settings]) -> Iterator[OpsClient]:
    """An :class:`~songsdb.OpsClient` (``ops.*`` only) signed in as the operations role on this test's database."""
    from songsdb.clients import OpsClient

    with OpsClient(songsdb_settings["ops"]) as client:
        yield client
