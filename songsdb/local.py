"""`songsdb up` and the other local-server commands, in stages that can be run and tested apart.

``up`` = a Docker engine that answers -> the image present (or pulled) and the port free -> volume
(create or reuse) -> container (create or reuse, started) -> wait for a login -> provision (database,
migrations, one login per duty role) -> ``.env.songs-db`` (0600, git-ignored). Nothing is made on
disk before the engine, the image and the port are known to be there; a volume made by a run whose
container then failed to start is removed again while it is empty.
Running it again reuses the container, the volume and the passwords; data survives ``down``.

The container's port is published on 127.0.0.1 unless ``bind`` says otherwise: the sa login is not
offered to the network. Messages name commands in their short form (``songsdb up``); this module never
imports the CLI, which prints them the way they can be typed (:func:`songsdb.cli.as_typed`).
"""

from __future__ import annotations

import ipaddress
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from songsdb.config import ENV_FILE, Settings
from songsdb.container import (
    DEFAULT_IMAGE,
    ContainerSpec,
    check_port_free,
    container_env,
    describe,
    docker_client,
    ensure_container,
    ensure_image,
    find_container,
    generate_password,
    wait_for_login,
)
from songsdb.envfile import LocalCredentials, ensure_gitignored, read_env_file, role_login, write_env_file
from songsdb.errors import ConfigurationError, DatabaseUnavailable, SongsDbError
from songsdb.volumes import MOUNTS, Volume, VolumeMetadata, create_volume, discard_if_empty, find_volume

__all__ = ["UpOptions", "UpResult", "up", "provision", "admin_settings", "backup", "restore", "space"]

Say = Callable[[str], None]
# one login per duty role (sql/schema/0008_roles_by_duty.sql, 0047_retention_role.sql)
ROLE_LOGINS = {
    "web": "songsdb_web_login",
    "worker": "songsdb_worker_login",
    "ops": "songsdb_ops_login",
    "retention": "songsdb_retention_login",
}
_BACKUP_NAME = re.compile(r"^[A-Za-z0-9_.-]+\.bak$")


@dataclass
class UpOptions:
    """What ``songsdb up`` may be told; every field has the documented default."""

    image: str = DEFAULT_IMAGE
    port: int = 1433
    bind: str = "127.0.0.1"  # the host address the port is published on; 0.0.0.0 for every interface
    volume: str | None = None
    container: str = "songs-db"
    database: str = "SongsDB"
    env_file: Path = field(default_factory=lambda: Path(ENV_FILE))
    volumes_root: Path | None = None
    timeout: float = 180.0
    driver: str | None = None


@dataclass(frozen=True)
class UpResult:
    """What ``up`` did."""

    volume: Volume
    container_created: bool
    server_version: str
    applied: tuple[str, ...]
    env_file: Path


def _local_settings(host: str, port: int, database: str, user: str, password: str, driver: str | None) -> Settings:
    return Settings(
        server=host,
        port=port,
        database=database,
        user=user,
        password=password,
        driver=driver,
        trust_server_certificate=True,  # the container's own self-signed certificate, and only it
    )


def provision(admin: Settings, logins: dict[str, tuple[str, str]], *, create_database: bool = False) -> tuple[str, ...]:
    """Migrate the database (creating it first only with ``create_database``) and give each duty role its login.

    ``logins`` maps a role (web, worker, ops, retention) to its login's (name, password); `up` uses ``ROLE_LOGINS``
    and ``create_database=True``. A login that exists already keeps its password (sql
    ``ensure_role_login.sql`` never resets one); its user and role membership are still made sure of.
    """
    import pyodbc

    from songsdb.config import ROLES
    from songsdb.migrator import Migrator, drain

    report = Migrator(admin).migrate(create_database=create_database)
    batch = (Path(__file__).parent / "local_sql" / "ensure_role_login.sql").read_text(encoding="utf-8")
    conn = pyodbc.connect(admin.odbc(), autocommit=True, timeout=admin.login_timeout)
    try:
        cursor = conn.cursor()
        for role, (login, password) in logins.items():
            cursor.execute(batch, login, password, ROLES[role])
            drain(cursor)
    finally:
        conn.close()
    return report.applied


def _check_bind(address: str) -> None:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise ConfigurationError(
            f"--bind takes an IP address of this host (127.0.0.1, the default: this machine only; 0.0.0.0: every "
            f"interface), not {address!r}"
        ) from None


def _reachable(host_ip: str | None) -> str:
    """The address a client here connects to for a port published on ``host_ip`` (every interface: loopback)."""
    if not host_ip or ipaddress.ip_address(host_ip).is_unspecified:
        return "127.0.0.1"
    return host_ip


def _volume_for(options: UpOptions, existing: Any | None) -> tuple[Volume, bool]:
    """The volume to mount, and whether it was created just now."""
    if existing is not None:
        name = describe(existing)["labels"].get("songsdb.volume")
        if name:
            found = find_volume(name, options.volumes_root)
            return (found, False) if found is not None else (create_volume(options.volumes_root), True)
    found = find_volume(options.volume, options.volumes_root)
    return (found, False) if found is not None else (create_volume(options.volumes_root), True)


def up(options: UpOptions, client: Any | None = None, say: Say = print) -> UpResult:
    """The one command: see the module docstring."""
    _check_bind(options.bind)
    client = client or docker_client()
    env = read_env_file(options.env_file)
    existing = find_container(client, options.container)
    if existing is None:  # before any folder is made: can a new container start at all?
        ensure_image(client, options.image, say)
        check_port_free(options.port)
    volume, new_volume = _volume_for(options, existing)
    sa_password = (
        container_env(existing).get("MSSQL_SA_PASSWORD") if existing is not None else None
    ) or env.get("SONGSDB_ADMIN_PASSWORD") or generate_password()
    if existing is None and any((volume.path / "data").iterdir()) and "SONGSDB_ADMIN_PASSWORD" not in env:
        say(f"warning: {volume.name} holds data but {options.env_file} has no SA password; the login may fail")
    spec = ContainerSpec(
        name=options.container,
        sa_password=sa_password,
        image=options.image,
        host_port=options.port,
        host_ip=options.bind,
        mounts=volume.mounts(),
        labels={"songsdb.volume": volume.name},
    )
    say(f"volume    {volume.path}{' (new)' if new_volume else ''}")
    try:
        container, created = ensure_container(client, spec)
    except SongsDbError:
        if new_volume and discard_if_empty(volume):
            say(f"volume    {volume.path} removed again (the container did not start)")
        raise
    info = describe(container)
    port = info["host_port"] or options.port
    host_ip = info["host_ip"] or options.bind
    say(f"container {container.name} ({'created' if created else 'reused'}) from {info['image']} on {host_ip}:{port}")
    if not created and host_ip != options.bind:  # e.g. made before up published on 127.0.0.1 only
        say(
            f"warning: {container.name} publishes port {port} on {host_ip}, not {options.bind}; `songsdb down`, then "
            f"this up again, makes it again on {options.bind} (the volume and its data stay)"
        )
    host = _reachable(host_ip)
    previous = volume.read_metadata()
    volume.write_metadata(
        VolumeMetadata(
            volume=volume.name,
            created_at=previous.created_at if previous else datetime.now(timezone.utc).isoformat(),
            image=options.image,
            container=options.container,
            port=port,
            database=options.database,
        )
    )
    admin = _local_settings(host, port, options.database, "sa", sa_password, options.driver)

    def waiting(left: float, error: BaseException) -> None:
        say(f"waiting for SQL Server to accept a login ({left:.0f} s left)")

    try:
        version = wait_for_login(admin.with_database("master"), timeout=options.timeout, interval=3.0, on_wait=waiting)
    except DatabaseUnavailable as exc:
        tail = container.logs(tail=20).decode("utf-8", "replace")
        raise DatabaseUnavailable(f"{exc}\nlast lines of the container's log:\n{tail}") from None
    logins = {}
    for role, login in ROLE_LOGINS.items():
        user, password = role_login(env, role)
        logins[role] = (login, password if user == login and password else generate_password())
    applied = provision(admin, logins, create_database=True)  # the local server is up's own: it makes the database
    write_env_file(
        options.env_file,
        LocalCredentials(
            host,
            port,
            options.database,
            logins,
            "sa",
            sa_password,
            options.driver,
        ),
    )
    ensure_gitignored(options.env_file.resolve().parent, options.env_file.name)
    say(f"database  {options.database}: {len(applied)} script(s) applied; logins {', '.join(ROLE_LOGINS.values())}")
    say(f"settings  {options.env_file} (mode 0600; passwords are in it, not printed)")
    say(f"next      songsdb check   (then songsdb status; in Python, SongsDatabase() reads {options.env_file})")
    return UpResult(volume, created, version.splitlines()[0], applied, options.env_file)


def admin_settings(env_file: Path) -> Settings:
    """The administrator's settings from the env file ``up`` wrote."""
    env = read_env_file(env_file)
    if "SONGSDB_ADMIN_PASSWORD" not in env:
        raise SongsDbError(f"{env_file} has no administrator settings; run songsdb up first")
    return _local_settings(
        env.get("SONGSDB_SERVER", "127.0.0.1"),
        int(env.get("SONGSDB_PORT", "1433")),
        env.get("SONGSDB_DATABASE", "SongsDB"),
        env.get("SONGSDB_ADMIN_USER", "sa"),
        env["SONGSDB_ADMIN_PASSWORD"],
        env.get("SONGSDB_DRIVER"),
    )


def _run_ops(settings: Settings, *batches: str) -> list[tuple[Any, ...]]:
    """Operations commands (SQL Server only): each batch on one autocommit session to master."""
    import pyodbc

    from songsdb.migrator import drain

    conn = pyodbc.connect(settings.with_database("master").odbc(), autocommit=True, timeout=settings.login_timeout)
    rows: list[tuple[Any, ...]] = []
    try:
        cursor = conn.cursor()
        for batch in batches:
            cursor.execute(batch)
            rows.extend(drain(cursor))
    finally:
        conn.close()
    return rows


def backup(settings: Settings, now: datetime | None = None) -> str:
    """``BACKUP DATABASE ... WITH CHECKSUM`` into the container's backup folder, then ``RESTORE VERIFYONLY``."""
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%d%H%M%S")
    name = f"{settings.database}_{stamp}.bak"
    path = f"{MOUNTS['backup']}/{name}"
    _run_ops(
        settings,
        f"BACKUP DATABASE [{settings.database}] TO DISK = N'{path}' WITH CHECKSUM, INIT, FORMAT;",
        f"RESTORE VERIFYONLY FROM DISK = N'{path}' WITH CHECKSUM;",
    )
    return name


def restore(settings: Settings, file_name: str) -> None:
    """Replace the database with a backup file from the backup folder (a bare file name)."""
    if not _BACKUP_NAME.match(file_name):
        raise SongsDbError(f"backup file must be a bare name ending in .bak, as songsdb backup prints (got {file_name!r})")
    path = f"{MOUNTS['backup']}/{file_name}"
    db = settings.database
    _run_ops(
        settings,
        f"IF DB_ID(N'{db}') IS NOT NULL ALTER DATABASE [{db}] SET SINGLE_USER WITH ROLLBACK IMMEDIATE;",
        f"RESTORE DATABASE [{db}] FROM DISK = N'{path}' WITH REPLACE, CHECKSUM;",
        f"ALTER DATABASE [{db}] SET MULTI_USER;",
    )


def space(settings: Settings) -> list[tuple[Any, ...]]:
    """``sp_spaceused`` for the database."""
    return _run_ops(settings, f"USE [{settings.database}]; EXEC sp_spaceused;")


def shell_command(options: UpOptions) -> tuple[list[str], dict[str, str]]:
    """The ``docker exec`` command line of ``songsdb shell`` (sqlcmd inside the container), and what to add to
    its environment.

    The SA password is never in an argv, where ``ps`` shows it to every user: ``docker exec -e SQLCMDPASSWORD``
    passes the variable by name, the docker client takes its value from its own environment, and sqlcmd reads
    SQLCMDPASSWORD when it has no ``-P``.
    """
    password = read_env_file(options.env_file).get("SONGSDB_ADMIN_PASSWORD")
    if not password:
        raise SongsDbError(f"{options.env_file} has no administrator password; run songsdb up first")
    argv = [
        "docker", "exec", "-it", "-e", "SQLCMDPASSWORD", options.container,
        "/opt/mssql-tools18/bin/sqlcmd", "-C", "-S", "localhost", "-U", "sa", "-d", options.database,
    ]
    return argv, {"SQLCMDPASSWORD": password}


def stream_logs(container: Any, follow: bool, out: Any = None) -> None:
    """Print the container's log (and keep following it with ``follow``)."""
    out = out or sys.stdout.buffer
    if follow:
        for chunk in container.logs(stream=True, follow=True):
            out.write(chunk)
            out.flush()
    else:
        out.write(container.logs())
