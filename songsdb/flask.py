"""Flask integration: one X-Request-ID per request, on every songsdb call it makes and on its response.

    from flask import Flask
    from songsdb import SongsDatabase
    from songsdb.flask import init_app

    app = Flask(__name__)
    db = SongsDatabase()
    init_app(app, db)          # the original design's name works too: setup_flask_app_hooks(app)

``db`` may be a :class:`~songsdb.SongsDatabase` or a role client (:class:`~songsdb.WebClient`,
...); a view gets it back typed with ``database()`` or ``database(WebClient)``.

Before any other ``before_request`` function, the hook takes the request's ``X-Request-ID``
(1 to 100 printable ASCII characters, no spaces: what the database stores) or, when it is
missing or unusable, generates one (a UUID). For the rest of the request it is bound in
songsdb's request-id context (:mod:`songsdb.context`), so every mutating call that is not given
``request_id=`` records it on its rows and audit rows; it is also ``flask.g.request_id``,
``flask.request.request_id`` (as the original design read it) and :func:`request_id`, and it
comes back in the response's ``X-Request-ID`` header, error responses included.

With ``init_app(app, db, errors=True)`` it also answers songsdb's errors the way every service
writes by hand, as JSON naming what went wrong (:func:`error_response`): 400 for a rejected
parameter (``{"error": ..., "field": "file_id", "number": 50002}``), 404 for a missing song or job,
409 for a conflict (a duplicate, a refused status change, a lost lease), 503 with ``Retry-After``
when the database cannot be reached (``"outcome_unknown": true`` when a write may have committed).

Needs the ``flask`` extra: ``pip install 'songsdb[flask]'``.
"""

from __future__ import annotations

import uuid
from contextvars import Token
from typing import TypeVar, overload

from flask import Flask, Response, g, request

from songsdb.context import request_id_var, usable_request_id
from songsdb.database import SongsDatabase
from songsdb.errors import SongsDbError, http_answer
from songsdb.executor import Executor

__all__ = ["HEADER", "init_app", "setup_flask_app_hooks", "request_id", "database", "usable_request_id", "error_response"]

HEADER = "X-Request-ID"
EXTENSION = "songsdb"
C = TypeVar("C", bound=Executor)


def request_id() -> str:
    """The current request's id (inside a request of an app set up with :func:`init_app`)."""
    found: str | None = g.get("request_id")
    if found is None:
        raise RuntimeError("no request id: call songsdb.flask.init_app(app) when creating the app")
    return found


@overload
def database() -> SongsDatabase: ...
@overload
def database(kind: type[C]) -> C: ...
def database(kind: type[Executor] = SongsDatabase) -> Executor:
    """The client given to :func:`init_app` for the current app, checked to be a ``kind``
    (``database(WebClient)`` for an app set up with a :class:`~songsdb.WebClient`)."""
    from flask import current_app

    db = current_app.extensions.get(EXTENSION)
    if db is None:
        raise RuntimeError("no songsdb client for this app: call songsdb.flask.init_app(app, db)")
    if not isinstance(db, kind):
        raise TypeError(f"this app's songsdb client is a {type(db).__name__}, not a {kind.__name__}: call database({type(db).__name__})")
    return db


def _bind() -> None:
    value = usable_request_id(request.headers.get(HEADER)) or str(uuid.uuid4())
    g.request_id = value
    g.songsdb_token = request_id_var.set(value)
    setattr(request, "request_id", value)  # the original design read request.request_id


def _answer(response: Response) -> Response:
    value = g.get("request_id")
    if value is not None:
        response.headers[HEADER] = value
    return response


def _unbind(error: BaseException | None) -> None:
    token: Token[str | None] | None = g.pop("songsdb_token", None)
    if token is None:
        return
    try:
        request_id_var.reset(token)
    except ValueError:  # torn down in another context than the one that bound it: that one ends anyway
        request_id_var.set(None)


def error_response(error: SongsDbError) -> tuple[dict[str, object], int, dict[str, str]]:
    """A JSON body, status and headers for a songsdb error (the handlers ``init_app(errors=True)`` installs).

    Only a rejected parameter's message reaches the client (it says what to send instead); every
    other body says what kind of error it was and carries the request id, so nothing from the
    server beyond that leaves the service.
    """
    status, body, headers = http_answer(error)
    return {**body, "request_id": g.get("request_id")}, status, headers


def init_app(app: Flask, db: Executor | None = None, *, errors: bool = False) -> None:
    """Bind each request's X-Request-ID for songsdb and answer with it; keep ``db`` for :func:`database`.

    ``errors=True`` also registers :func:`error_response` for every songsdb error. Calling it again
    for the same app only replaces ``db`` (the hooks are installed once).
    """
    if db is not None:
        app.extensions[EXTENSION] = db
    if errors:
        app.register_error_handler(SongsDbError, error_response)
    if app.extensions.get(f"{EXTENSION}.hooks"):
        return
    app.extensions[f"{EXTENSION}.hooks"] = True
    app.before_request_funcs.setdefault(None, []).insert(0, _bind)  # first, so earlier hooks' calls carry it
    app.after_request(_answer)
    app.teardown_request(_unbind)


def setup_flask_app_hooks(app: Flask) -> None:
    """The original design's name for :func:`init_app` (``server.logging_utils.setup_flask_app_hooks``)."""
    init_app(app)
