"""A tiny stand-in for the SQL Server image, built locally from Debian's busybox-static.

It is NOT SQL Server: it listens on 1433 (busybox httpd) and ships an
``/opt/mssql-tools18/bin/sqlcmd`` that always succeeds, so Docker's health check and the
container lifecycle (create, reuse, stop, remove, volumes, ports, restart policy) can be
exercised against a real Docker engine where no registry can be reached.
"""

from __future__ import annotations

import io
import shutil
import tarfile
from pathlib import Path
from typing import Any

STANDIN_TAG = "songsdb-standin:test"

DOCKERFILE = b"""FROM scratch
COPY busybox /bin/busybox
COPY sqlcmd /opt/mssql-tools18/bin/sqlcmd
RUN ["/bin/busybox", "--install", "-s", "/bin"]
EXPOSE 1433
CMD ["/bin/busybox", "httpd", "-f", "-p", "1433", "-h", "/var/opt/mssql"]
"""

SQLCMD = b"#!/bin/sh\n# stand-in: reports success, as the real sqlcmd does once SQL Server accepts logins\nexit 0\n"


def _add(archive: tarfile.TarFile, name: str, data: bytes, mode: int = 0o755) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    archive.addfile(info, io.BytesIO(data))


def busybox_path() -> Path | None:
    found = shutil.which("busybox") or ("/bin/busybox" if Path("/bin/busybox").exists() else None)
    return Path(found) if found else None


def build_standin(client: Any, busybox: Path) -> str:
    """Build (or reuse) the stand-in image; returns its tag."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        _add(archive, "Dockerfile", DOCKERFILE, 0o644)
        _add(archive, "busybox", busybox.read_bytes())
        _add(archive, "sqlcmd", SQLCMD)
    buffer.seek(0)
    client.images.build(fileobj=buffer, custom_context=True, tag=STANDIN_TAG, rm=True)
    return STANDIN_TAG
