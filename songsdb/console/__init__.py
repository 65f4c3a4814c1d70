"""The operations console (issue #20): queue, failures, jobs, requests and songs in one place, safe to expose.

``create_app()`` / ``songsdb console`` run it alone; ``mount(app, client)`` adds it to a Flask service.
"""

from __future__ import annotations

from songsdb.console.app import create_app, mount, serve
from songsdb.console.auth import ConsoleSettings, check_bind, load_console_settings

__all__ = ["create_app", "mount", "serve", "ConsoleSettings", "check_bind", "load_console_settings"]
