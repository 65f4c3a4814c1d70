"""The ``.env.songs-db`` file ``songsdb up`` writes: mode 0600, listed in ``.gitignore``.

The application's settings (SONGSDB_USER / SONGSDB_PASSWORD: the least-privileged login)
are what ``SongsDatabase()`` reads; the administrator's (SONGSDB_ADMIN_USER /
SONGSDB_ADMIN_PASSWORD: sa) sit in their own, clearly marked section for operations only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

__all__ = ["LocalCredentials", "write_env_file", "read_env_file", "ensure_gitignored"]


@dataclass(frozen=True)
class LocalCredentials:
    """Everything the env file records about the local server."""

    server: str
    port: int
    database: str
    app_user: str
    app_password: str = field(repr=False)
    admin_user: str = "sa"
    admin_password: str = field(default="", repr=False)
    driver: str | None = None


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def write_env_file(path: Path, creds: LocalCredentials) -> None:
    """Write ``path`` with mode 0600 (created that way, so it is never readable by others)."""
    lines = [
        "# Written by `songsdb up` for the local SQL Server container. Keep it out of git.",
        "",
        "# --- application: what SongsDatabase() uses (EXECUTE on schema api only) ---",
        f"SONGSDB_SERVER={creds.server}",
        f"SONGSDB_PORT={creds.port}",
        f"SONGSDB_DATABASE={creds.database}",
        f"SONGSDB_USER={creds.app_user}",
        f"SONGSDB_PASSWORD={_quote(creds.app_password)}",
        "SONGSDB_ENCRYPT=yes",
        "# the local container's certificate is self-signed: trust it, and only it",
        "SONGSDB_TRUST_SERVER_CERTIFICATE=yes",
    ]
    if creds.driver:
        lines.append(f"SONGSDB_DRIVER={_quote(creds.driver)}")
    lines += [
        "",
        "# --- administrator: for songsdb up / migrate / backup only; never give these to a service ---",
        f"SONGSDB_ADMIN_USER={creds.admin_user}",
        f"SONGSDB_ADMIN_PASSWORD={_quote(creds.admin_password)}",
        "",
    ]
    text = "\n".join(lines)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, 0o600)  # an existing file keeps its old mode through O_TRUNC


def read_env_file(path: Path) -> dict[str, str]:
    """The variables in ``path`` (empty when it does not exist)."""
    if not path.is_file():
        return {}
    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def ensure_gitignored(directory: Path, name: str = ".env.songs-db") -> bool:
    """Add ``name`` to ``directory/.gitignore`` unless a line already lists it; True when added."""
    gitignore = directory / ".gitignore"
    lines = gitignore.read_text(encoding="utf-8").splitlines() if gitignore.is_file() else []
    if any(line.strip() in (name, f"/{name}") for line in lines):
        return False
    prefix = "" if not lines or lines[-1] == "" else "\n"
    with gitignore.open("a", encoding="utf-8") as handle:
        handle.write(f"{prefix}{name}\n" if lines else f"{name}\n")
    return True
