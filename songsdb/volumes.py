"""Persistent folders for the local SQL Server: ``~/.sqlcontainers/songs-db_<UTC yyyymmddHHMMSS>/``.

Each volume holds ``data/``, ``log/``, ``backup/`` (mounted into the container) and
``metadata.json`` (volume name, created at, image, container, port, database). Timestamped
names let several versions live side by side; the newest is reused unless one is named.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from songsdb.errors import ConfigurationError

__all__ = [
    "VOLUME_PREFIX",
    "MSSQL_UID",
    "MOUNTS",
    "Volume",
    "VolumeMetadata",
    "default_root",
    "create_volume",
    "discard_if_empty",
    "find_volume",
    "list_volumes",
]

VOLUME_PREFIX = "songs-db_"
MSSQL_UID = 10001  # the user SQL Server runs as inside Microsoft's Linux images
MOUNTS = {"data": "/var/opt/mssql/data", "log": "/var/opt/mssql/log", "backup": "/var/opt/mssql/backup"}
_NAME = re.compile(r"^songs-db_\d{14}$")


def default_root() -> Path:
    """``$SONGSDB_VOLUMES`` or ``~/.sqlcontainers``."""
    return Path(os.environ.get("SONGSDB_VOLUMES") or Path.home() / ".sqlcontainers")


@dataclass(frozen=True)
class VolumeMetadata:
    """What ``metadata.json`` records."""

    volume: str
    created_at: str
    image: str
    container: str
    port: int
    database: str


@dataclass(frozen=True)
class Volume:
    """One volume folder."""

    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def metadata_file(self) -> Path:
        return self.path / "metadata.json"

    def mounts(self) -> dict[str, str]:
        """Host folder -> container folder."""
        return {str(self.path / sub): inside for sub, inside in MOUNTS.items()}

    def read_metadata(self) -> VolumeMetadata | None:
        """The metadata, or None when the file is missing."""
        if not self.metadata_file.is_file():
            return None
        data = json.loads(self.metadata_file.read_text(encoding="utf-8"))
        return VolumeMetadata(**{k: data[k] for k in VolumeMetadata.__dataclass_fields__})

    def write_metadata(self, metadata: VolumeMetadata) -> None:
        self.metadata_file.write_text(json.dumps(asdict(metadata), indent=2) + "\n", encoding="utf-8")


def _prepare(path: Path) -> None:
    """Make ``path`` usable by SQL Server's uid 10001 inside the container (Linux hosts).

    As root the folder is handed to uid 10001; otherwise it is opened to everyone (0o777),
    since an unprivileged user cannot give files away. Docker Desktop (macOS, Windows) maps
    ownership itself.
    """
    path.mkdir(parents=True, exist_ok=True)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        os.chown(path, MSSQL_UID, 0)
        path.chmod(0o770)
    else:
        path.chmod(0o777)


def create_volume(root: Path | None = None, now: datetime | None = None) -> Volume:
    """A new, empty volume named after the UTC time."""
    root = root or default_root()
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%d%H%M%S")
    volume = Volume(root / f"{VOLUME_PREFIX}{stamp}")
    if volume.path.exists():
        raise ConfigurationError(f"volume {volume.path} already exists; wait a second or name another with --volume")
    volume.path.mkdir(parents=True)
    for sub in MOUNTS:
        _prepare(volume.path / sub)
    return volume


def discard_if_empty(volume: Volume) -> bool:
    """Remove ``volume`` when none of its folders holds a file (``up`` undoing a volume it just made); True if removed."""
    if not volume.path.is_dir():
        return False
    for entry in volume.path.iterdir():
        if entry.name not in MOUNTS or not entry.is_dir() or any(entry.iterdir()):
            return False
    shutil.rmtree(volume.path)
    return True


def list_volumes(root: Path | None = None) -> list[Volume]:
    """Every volume under ``root``, oldest first."""
    root = root or default_root()
    if not root.is_dir():
        return []
    return sorted((Volume(p) for p in root.iterdir() if p.is_dir() and _NAME.match(p.name)), key=lambda v: v.name)


def find_volume(name: str | None = None, root: Path | None = None) -> Volume | None:
    """The named volume (an error if it does not exist), or the newest one, or None."""
    volumes = list_volumes(root)
    if name is None:
        return volumes[-1] if volumes else None
    for volume in volumes:
        if volume.name == name:
            return volume
    known = ", ".join(v.name for v in volumes) or "none"
    raise ConfigurationError(f"no volume named {name!r} under {root or default_root()} (volumes: {known})")
