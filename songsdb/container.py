"""A SQL Server container through the Docker SDK: its specification, its SA password, its readiness.

``songsdb up`` (songsdb/local.py) and the test harness build on these pieces. Nothing here
imports docker until a function needs an engine; every "cannot" says what to do about it.
"""

from __future__ import annotations

import os
import secrets
import shutil
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
    "check_port_free",
    "ensure_image",
    "ensure_container",
    "find_container",
    "describe",
    "wait_healthy",
    "ContainerSpec",
    "DockerUnavailable",
    "generate_password",
    "meets_password_policy",
    "docker_client",
    "no_engine_message",
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
    host_ip: str = "127.0.0.1"  # the host address the port is published on (0.0.0.0: every interface)
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
            "ports": {"1433/tcp": (self.host_ip, self.host_port)},
            "volumes": {host: {"bind": inside, "mode": "rw"} for host, inside in self.mounts.items()},
            "healthcheck": {
                "test": [
                    "CMD-SHELL",
                    # the password through the environment: an argument would show in every `ps` on the host
                    'SQLCMDPASSWORD="$MSSQL_SA_PASSWORD" /opt/mssql-tools18/bin/sqlcmd -C -S localhost -U sa -Q "SELECT 1" -b -o /dev/null',
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


def _existing_server_hint() -> str:
    # the short form: the CLI prints it the way it can be typed here (songsdb.cli.as_typed)
    return (
        "or point SONGSDB_SERVER (with SONGSDB_USER and SONGSDB_PASSWORD, or SONGSDB_CONNECTION_STRING) at an "
        "existing SQL Server and run songsdb migrate"
    )


def no_engine_message(error: BaseException, docker_host: str | None, dockerd_installed: bool, as_root: bool) -> str:
    """What to do when no Docker engine answers: the cause a newcomer can act on, never just an exception class.

    ``docker_host`` is ``$DOCKER_HOST`` (None: the default socket); ``dockerd_installed`` says whether the
    engine is on this machine at all.
    """
    sudo = "" if as_root else "sudo "
    where = docker_host or "unix:///var/run/docker.sock"
    text = f"{error!s} {error!r}".lower()
    if "permission denied" in text or "permissionerror" in text:
        todo = (
            f"this user may not use it (permission denied): add yourself to the docker group "
            f"({sudo}usermod -aG docker $USER, then log in again), or run as root"
        )
    elif dockerd_installed:
        todo = f"Docker is installed but not running: start it ({sudo}systemctl start docker, or {sudo}dockerd &)"
    else:
        todo = f"install Docker (Debian: {sudo}apt-get install docker.io) and start it ({sudo}systemctl start docker)"
    return f"no Docker engine answers at {where}: {todo}; {_existing_server_hint()}"


def docker_client() -> Any:
    """A Docker client that has answered a ping, or :class:`DockerUnavailable` saying how to get one."""
    try:
        import docker
    except ImportError:
        raise DockerUnavailable(
            "the Docker SDK is not installed: pip install 'songsdb[local]' into the environment that runs songsdb "
            "(in a checkout, bash scripts/setup does it; only `up` and the container commands need it, the client "
            "does not)"
        ) from None
    try:
        client = docker.from_env(timeout=10)
        client.ping()
    except Exception as exc:  # DockerException, connection errors
        as_root = hasattr(os, "geteuid") and os.geteuid() == 0
        installed = shutil.which("dockerd") is not None or shutil.which("docker") is not None
        raise DockerUnavailable(no_engine_message(exc, os.environ.get("DOCKER_HOST"), installed, as_root)) from None
    return client


def _cannot_start(image: str, reason: str) -> DockerUnavailable:
    return DockerUnavailable(
        f"Docker could not start {image}: {reason}; pull or build it first (docker pull {image}), pick another "
        f"with --image, {_existing_server_hint()}"
    )


def ensure_image(client: Any, image: str, say: Callable[[str], None] | None = None) -> None:
    """Make sure the engine has ``image``: present, or pulled now; else :class:`DockerUnavailable`.

    ``up`` calls it before it makes any folder, so a machine that cannot run the container is left as it was.
    """
    import docker.errors

    try:
        client.images.get(image)
        return
    except docker.errors.ImageNotFound:
        pass
    except docker.errors.DockerException as exc:
        raise _cannot_start(image, getattr(exc, "explanation", None) or str(exc)) from None
    if say:
        say(f"pulling   {image} (first run only; this can take minutes)")
    try:
        client.images.pull(image)
    except docker.errors.DockerException as exc:
        reason = getattr(exc, "explanation", None) or str(exc)
        raise _cannot_start(image, f"the image is not here and could not be pulled ({reason})") from None


def check_port_free(port: int | None) -> None:
    """:class:`SongsDbError` when something already listens on ``port`` (so Docker could not publish it)."""
    if port is not None and port_in_use(port):
        raise SongsDbError(
            f"port {port} is already in use (another SQL Server?); stop it, "
            f"or pick a free port with --port {port + 1 if port < 65535 else 14330}"
        )


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
    check_port_free(spec.host_port)
    import docker.errors

    try:
        container = client.containers.run(**spec.run_kwargs())
    except docker.errors.DockerException as exc:  # image missing and no registry, bad mount, ...
        raise _cannot_start(spec.image, getattr(exc, "explanation", None) or str(exc)) from None
    container.reload()
    return container, True


def describe(container: Any) -> dict[str, Any]:
    """What `docker inspect` says about state, health, port (and the host address it is published on), restart
    policy, image and mounts."""
    container.reload()
    attrs = container.attrs
    state = attrs.get("State", {})
    ports = (attrs.get("NetworkSettings", {}).get("Ports") or {}).get("1433/tcp") or []
    return {
        "name": container.name,
        "status": state.get("Status"),
        "health": (state.get("Health") or {}).get("Status"),
        "host_port": int(ports[0]["HostPort"]) if ports else None,
        "host_ip": (ports[0].get("HostIp") or "0.0.0.0") if ports else None,
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
