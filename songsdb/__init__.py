"""songsdb: SQL Server persistence for the AI audio-processing backend.

    from songsdb import SongsDatabase

    with SongsDatabase() as db:            # settings from SONGSDB_* or .env.songs-db
        song_id = db.create_song("file-123", "song.mp3", title="Intro")

Importing the package is cheap: the client, its models and errors load on
first use, and neither docker nor jinja2 is imported by the client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    "SongsDatabase": "songsdb.database",
    "Settings": "songsdb.config",
    "load_settings": "songsdb.config",
    "request_id_var": "songsdb.context",
    "request_context": "songsdb.context",
    "ImportSummary": "songsdb.bulk",
    "ImportFailure": "songsdb.bulk",
    "BadRecord": "songsdb.bulk",
}

if TYPE_CHECKING:  # pragma: no cover
    from songsdb.bulk import BadRecord, ImportFailure, ImportSummary
    from songsdb.config import Settings, load_settings
    from songsdb.context import request_context, request_id_var
    from songsdb.database import SongsDatabase
    from songsdb.errors import *  # noqa: F403
    from songsdb.models import *  # noqa: F403


def __getattr__(name: str) -> Any:
    import importlib

    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    for module in ("songsdb.errors", "songsdb.models"):
        mod = importlib.import_module(module)
        if name in getattr(mod, "__all__", ()):
            return getattr(mod, name)
    raise AttributeError(f"module 'songsdb' has no attribute {name!r}")


__all__ = ["SongsDatabase", "Settings", "load_settings", "request_id_var", "request_context", "ImportSummary", "ImportFailure", "BadRecord", "__version__"]
