"""The ``.env.songs-db`` file ``songsdb up`` writes: mode 0600, listed in ``.gitignore``.

One section per duty role: the web service's login (SONGSDB_USER / SONGSDB_PASSWORD, what
``SongsDatabase()`` reads), the GPU workers' (SONGSDB_WORKER_USER / ..._PASSWORD, read by
``SongsDatabase(role="worker")``), operations' (SONGSDB_OPS_USER / ..._PASSWORD) and the cleanup's
(SONGSDB_RETENTION_USER / ..._PASSWORD, ``songsdb cleanup``). The
administrator's (SONGSDB_ADMIN_USER / SONGSDB_ADMIN_PASSWORD: sa) sit in their own, clearly
marked section for songsdb up / migrate / backup only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

__all__ = ["LocalCredentials", "write_env_file", "read_env_file", "role_login", "ensure_gitignored"]


@dataclass(frozen=True)
class LocalCredentials:
    """Everything the env file records about the local server."""

    server: str
    port: int
    database: str
    logins: dict[str, tuple[str, str]] = field(repr=False)  # role -> (login, password)
    admin_user: str = "sa"
    admin_password: str = field(default="", repr=False)
    driver: str | None = None


_SECTIONS = {
    "web": ("web service: SongsDatabase() (role songsdb_web: EXECUTE on schema api)", "SONGSDB"),
    "worker": ("GPU workers: SongsDatabase(role='worker') (role songsdb_worker: EXECUTE on schema worker)", "SONGSDB_WORKER"),
    "ops": ("operations: SongsDatabase(role='ops'), songsdb queue, songsdb console (role songsdb_ops: EXECUTE on schema ops)", "SONGSDB_OPS"),
    "retention": (
        "retention: songsdb cleanup, SongsDatabase(role='retention') (role songsdb_retention: the cleanup and nothing else)",
        "SONGSDB_RETENTION",
    ),
}


def role_login(env: dict[str, str], role: str) -> tuple[str | None, str | None]:
    """The (login, password) the env file holds for ``role``."""
    prefix = _SECTIONS[role][1]
    return env.get(f"{prefix}_USER"), env.get(f"{prefix}_PASSWORD")


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def write_env_file(path: Path, creds: LocalCredentials) -> None:
    """Write ``path`` with mode 0600 (created that way, so it is never readable by others)."""
    lines = [
        "# Written by `songsdb up` for the local SQL Server container. Keep it out of git.",
        "",
        "# --- connection: shared by every role ---",
        f"SONGSDB_SERVER={creds.server}",
        f"SONGSDB_PORT={creds.port}",
        f"SONGSDB_DATABASE={creds.database}",
        "SONGSDB_ENCRYPT=yes",
        "# the local container's certificate is self-signed: trust it, and only it",
        "SONGSDB_TRUST_SERVER_CERTIFICATE=yes",
    ]
    if creds.driver:
        lines.append(f"SONGSDB_DRIVER={_quote(creds.driver)}")
    for role, (title, prefix) in _SECTIONS.items():
        if role not in creds.logins:
            continue
        user, password = creds.logins[role]
        lines += ["", f"# --- {title} ---", f"{prefix}_USER={user}", f"{prefix}_PASSWORD={_quote(password)}"]
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
