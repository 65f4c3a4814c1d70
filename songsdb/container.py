"""A SQL Server container through the Docker SDK: its specification, its SA password, its readiness.

Only the pieces the test harness needs live here so far; ``songsdb up`` builds
on them. Nothing here imports docker until a function needs an engine.
"""

from __future__ import annotations

import secrets
import string
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from songsdb.config import Settings
from songsdb.errors import DatabaseUnavailable, SongsDbError

__all__ = [
    "DEFAULT_IMAGE",
    "ContainerSpec",
    "DockerUnavailable",
    "generate_password",
    "meets_password_policy",
    "docker_client",
    "wait_for_login",
]

DEFAULT_IMAGE = "mcr.microsoft.com/mssql/server:2022-latest"
_SYMBOLS = "!#%*+-.:=?@^_~"  # no quotes, ';', '{', '}' or '$': safe in shells, ODBC strings and .env files


class DockerUnavailable(SongsDbError):
    """No Docker engine answers, or it cannot provide the image."""


def meets_password_policy(password: str) -> bool:
    """SQL Server's policy: at least 8 characters from at least three of the four classes."""
    classes = [
        any(c.isupper() for c in password),
        any(c.islower() for c in password),
        any(c.isdigit() for c in password),
        any(not c.isalnum() for c in password),
    ]
    return len(password) >= 8 and sum(classes) >= 3


def generate_password(length: int = 24) -> str:
    """A random password (``secrets``) with all four character classes, safe to quote anywhere."""
    if length < 8:
        raise ValueError("length must be at least 8")
    pools = [string.ascii_uppercase, string.ascii_lowercase, string.digits, _SYMBOLS]
    chars = [secrets.choice(pool) for pool in pools]
    alphabet = "".join(pools)
    chars += [secrets.choice(alphabet) for _ in range(length - len(chars))]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)


@dataclass(frozen=True)
class ContainerSpec:
    """Everything ``docker run`` needs for one SQL Server container."""

    name: str
    sa_password: str = field(repr=False)
    image: str = DEFAULT_IMAGE
    host_port: int | None = 1433  # None: let Docker pick a free port
    mounts: dict[str, str] = field(default_factory=dict)  # host folder -> container folder
    restart: str | None = "unless-stopped"

    def run_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``docker.client.containers.run``."""
        kwargs: dict[str, Any] = {
            "image": self.image,
            "name": self.name,
            "detach": True,
            "environment": {"ACCEPT_EULA": "Y", "MSSQL_PID": "Developer", "MSSQL_SA_PASSWORD": self.sa_password},
            "ports": {"1433/tcp": self.host_port},
            "volumes": {host: {"bind": inside, "mode": "rw"} for host, inside in self.mounts.items()},
            "healthcheck": {
                "test": [
                    "CMD-SHELL",
                    '/opt/mssql-tools18/bin/sqlcmd -C -S localhost -U sa -P "$MSSQL_SA_PASSWORD" -Q "SELECT 1" -b -o /dev/null',
                ],
                "interval": 10 * 1_000_000_000,
                "timeout": 5 * 1_000_000_000,
                "retries": 10,
                "start_period": 20 * 1_000_000_000,
            },
        }
        if self.restart:
            kwargs["restart_policy"] = {"Name": self.restart}
        return kwargs


def docker_client() -> Any:
    """A Docker client that has answered a ping, or :class:`DockerUnavailable`."""
    try:
        import docker

        client = docker.from_env(timeout=10)
        client.ping()
    except Exception as exc:  # ImportError, DockerException, connection errors
        raise DockerUnavailable(
            f"no Docker engine answers ({type(exc).__name__}); use an existing SQL Server instead: "
            "set SONGSDB_SERVER/SONGSDB_USER/SONGSDB_PASSWORD (or SONGSDB_CONNECTION_STRING) and run songsdb migrate"
        ) from None
    return client


def wait_for_login(
    settings: Settings,
    timeout: float = 120.0,
    interval: float = 2.0,
    on_wait: Callable[[float, BaseException], None] | None = None,
    connect: Callable[[str], Any] | None = None,
) -> str:
    """Retry a login until it succeeds; return ``@@VERSION`` or raise DatabaseUnavailable with the last error."""
    if connect is None:
        import pyodbc

        def connect(odbc: str) -> Any:
            return pyodbc.connect(odbc, autocommit=True, timeout=5)

    deadline = time.monotonic() + timeout
    while True:
        try:
            conn = connect(settings.odbc())
            try:
                return str(conn.cursor().execute("SELECT @@VERSION").fetchone()[0])
            finally:
                conn.close()
        except Exception as exc:
            left = deadline - time.monotonic()
            if left <= 0:
                raise DatabaseUnavailable(f"no successful login within {timeout:.0f} s; last error: {exc}") from None
            if on_wait:
                on_wait(left, exc)
            time.sleep(min(interval, max(left, 0.0)))
