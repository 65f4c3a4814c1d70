"""The console as an app of its own (``songsdb console``), or mounted in a service as a blueprint.

    from songsdb import OpsClient
    from songsdb.console import create_app, mount

    app = create_app()                                  # OpsClient() from SONGSDB_OPS_* settings
    mount(service_app, OpsClient(), url_prefix="/ops")  # inside an existing Flask service

Needs the ``console`` extra: ``pip install 'songsdb[console]'``.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from songsdb.console import auth
from songsdb.console.views import make_blueprint

__all__ = ["create_app", "mount", "serve"]


def mount(app: Flask, client: Any, settings: auth.ConsoleSettings | None = None, *, url_prefix: str | None = None) -> None:
    """Register the console's blueprint on ``app`` over ``client`` (an OpsClient)."""
    app.register_blueprint(make_blueprint(client, settings or auth.load_console_settings(), url_prefix))


def create_app(client: Any = None, settings: auth.ConsoleSettings | None = None) -> Flask:
    """A Flask app serving only the console, at its root."""
    if client is None:
        from songsdb.clients import OpsClient

        client = OpsClient()
    app = Flask("songsdb.console", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024  # forms carry ids and a token, nothing more
    mount(app, client, settings)
    app.extensions["songsdb_console.client"] = client
    return app


def serve(settings: auth.ConsoleSettings, client: Any = None) -> None:  # pragma: no cover - runs a server
    """Check the bind address, then serve on it (Werkzeug's threaded server; behind a proxy, run ``create_app`` under gunicorn)."""
    auth.check_bind(settings)
    app = create_app(client, settings)
    app.run(host=settings.host, port=settings.port, threaded=True, use_reloader=False)
