"""FastAPI (and any ASGI app): one X-Request-ID per request, on every songsdb call it makes and on its response.

    from fastapi import FastAPI
    from songsdb.fastapi import init_app

    app = FastAPI()
    init_app(app, errors=True)

:class:`RequestIdMiddleware` is a pure ASGI middleware (no ``BaseHTTPMiddleware``: nothing is
buffered and nothing runs in another task). For each request it takes ``X-Request-ID`` (1 to 100
printable ASCII characters, no spaces: what the database stores) or, when it is missing or
unusable, generates one (a UUID); binds it in songsdb's request-id context
(:data:`songsdb.context.request_id_var`) for the whole request, where async endpoints, sync
endpoints and sync dependencies (FastAPI runs those in threads, in a copy of the request's
context) all see it; puts it in ``request.state.request_id``; and returns it in the response's
``X-Request-ID`` header, error responses included. Every songsdb call the request makes without
``request_id=`` records it on its rows and audit rows, through :class:`songsdb.aio.AsyncSongsDatabase`
or the sync client alike.

With ``init_app(app, errors=True)`` songsdb's errors are answered as ``songsdb.flask`` answers
them (:func:`error_response`): 400 for a rejected parameter (``{"error": ..., "field": "file_id",
"number": 50002}``), 404 for a missing song or job, 409 for a conflict, 503 with ``Retry-After``
when the database cannot be reached (``"outcome_unknown": true`` when a write may have committed).

Needs the ``fastapi`` extra: ``pip install 'songsdb[fastapi]'``.
"""

from __future__ import annotations

import uuid

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from songsdb.context import request_id_var, usable_request_id
from songsdb.errors import SongsDbError, http_answer

__all__ = ["HEADER", "RequestIdMiddleware", "init_app", "request_id", "usable_request_id", "error_response"]

HEADER = "X-Request-ID"


class RequestIdMiddleware:
    """Bind each request's X-Request-ID (taken or generated) for songsdb, and answer with it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        value = usable_request_id(Headers(scope=scope).get(HEADER)) or str(uuid.uuid4())
        scope.setdefault("state", {})["request_id"] = value

        async def answer(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[HEADER] = value
            await send(message)

        token = request_id_var.set(value)
        try:
            await self.app(scope, receive, answer)
        finally:
            request_id_var.reset(token)


def request_id(request: Request) -> str:
    """The current request's id; also a dependency: ``rid: str = Depends(request_id)``."""
    found = getattr(request.state, "request_id", None)
    if not isinstance(found, str):
        raise RuntimeError("no request id: call songsdb.fastapi.init_app(app) when creating the app")
    return found


def error_response(request: Request, error: Exception) -> JSONResponse:
    """A JSON answer for a songsdb error (the handler ``init_app(errors=True)`` installs).

    Only a rejected parameter's message reaches the client (it says what to send instead); every
    other body says what kind of error it was and carries the request id, so nothing from the
    server beyond that leaves the service.
    """
    status, body, headers = http_answer(error)
    return JSONResponse({**body, "request_id": getattr(request.state, "request_id", None)}, status_code=status, headers=headers)


def init_app(app: FastAPI, *, errors: bool = False) -> None:
    """Add :class:`RequestIdMiddleware`; with ``errors=True`` also answer every songsdb error with :func:`error_response`."""
    app.add_middleware(RequestIdMiddleware)
    if errors:
        app.add_exception_handler(SongsDbError, error_response)
