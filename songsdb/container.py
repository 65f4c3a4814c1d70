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
    "port_in_use",
    "ensure_container",
    "find_container",
    "describe",
    "wait_healthy",
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
    labels: dict[str, str] = field(default_factory=dict)

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
        if self.labels:
            kwargs["labels"] = dict(self.labels)
        return kwargs


def docker_client() -> Any:
    """A Docker client that has answered a ping, or :class:`DockerUnavailable`."""
    try:
        import docker
    except ImportError:
        raise DockerUnavailable(
            "the Docker SDK is not installed: pip install 'songsdb[local]' (only `songsdb up` and the container "
            "commands need it; the client does not)"
        ) from None
    try:
        client = docker.from_env(timeout=10)
        client.ping()
    except Exception as exc:  # DockerException, connection errors
        raise DockerUnavailable(
            f"no Docker engine answers ({type(exc).__name__}): install and start one (Debian: apt-get install "
            "docker.io; then dockerd, or systemctl start docker), or use an existing SQL Server instead: "
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


def port_in_use(port: int, host: str = "0.0.0.0") -> bool:
    """True when something already listens on ``port`` (so Docker could not publish it)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def find_container(client: Any, name: str) -> Any | None:
    """The container called ``name``, running or not, or None."""
    import docker.errors

    try:
        return client.containers.get(name)
    except docker.errors.NotFound:
        return None


def ensure_container(client: Any, spec: ContainerSpec) -> tuple[Any, bool]:
    """Reuse (and start) the container named ``spec.name``, or create it; returns (container, created)."""
    existing = find_container(client, spec.name)
    if existing is not None:
        if existing.status != "running":
            existing.start()
            existing.reload()
        return existing, False
    if spec.host_port is not None and port_in_use(spec.host_port):
        raise SongsDbError(
            f"port {spec.host_port} is already in use (another SQL Server?); stop it, "
            f"or pick a free port with --port {spec.host_port + 1 if spec.host_port < 65535 else 14330}"
        )
    import docker.errors

    try:
        container = client.containers.run(**spec.run_kwargs())
    except docker.errors.DockerException as exc:  # image missing and no registry, bad mount, ...
        reason = getattr(exc, "explanation", None) or str(exc)
        raise DockerUnavailable(
            f"Docker could not start {spec.image}: {reason}; pull or build it first, pick another with --image, "
            "or use an existing SQL Server (SONGSDB_* settings and songsdb migrate)"
        ) from None
    container.reload()
    return container, True


def describe(container: Any) -> dict[str, Any]:
    """What `docker inspect` says about state, health, port, restart policy, image and mounts."""
    container.reload()
    attrs = container.attrs
    state = attrs.get("State", {})
    ports = (attrs.get("NetworkSettings", {}).get("Ports") or {}).get("1433/tcp") or []
    return {
        "name": container.name,
        "status": state.get("Status"),
        "health": (state.get("Health") or {}).get("Status"),
        "host_port": int(ports[0]["HostPort"]) if ports else None,
        "restart_policy": (attrs.get("HostConfig", {}).get("RestartPolicy") or {}).get("Name"),
        "image": attrs.get("Config", {}).get("Image"),
        "mounts": {m["Source"]: m["Destination"] for m in attrs.get("Mounts", [])},
        "labels": attrs.get("Config", {}).get("Labels") or {},
    }


def container_env(container: Any) -> dict[str, str]:
    """The container's environment, as ``docker inspect`` shows it."""
    pairs = container.attrs.get("Config", {}).get("Env") or []
    return dict(item.split("=", 1) for item in pairs if "=" in item)


def wait_healthy(container: Any, timeout: float = 120.0, interval: float = 1.0) -> str:
    """Wait for Docker's health check to say healthy; returns the last health status seen."""
    deadline = time.monotonic() + timeout
    status = "unknown"
    while time.monotonic() < deadline:
        container.reload()
        status = ((container.attrs.get("State") or {}).get("Health") or {}).get("Status") or "none"
        if status in ("healthy", "none"):
            return status
        time.sleep(interval)
    return status
