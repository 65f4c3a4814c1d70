"""The current request's X-Request-ID, carried in a context variable.

A web framework hook sets it once per request; every mutating call that is not
given ``request_id=`` uses it. Context variables are per thread and per asyncio
task, so one request's ID never leaks into another's call, pooled connection or not.

Flask::

    from songsdb import request_id_var

    @app.before_request
    def _bind_request_id():
        g.songsdb_token = request_id_var.set(request.headers.get("X-Request-ID"))

    @app.teardown_request
    def _unbind_request_id(exc):
        request_id_var.reset(g.songsdb_token)
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["request_id_var", "request_context", "current_request_id", "usable_request_id"]

request_id_var: ContextVar[str | None] = ContextVar("songsdb_request_id", default=None)
_USABLE = re.compile(r"[!-~]{1,100}")  # printable ASCII without spaces; AuditLog.RequestId holds 100


def usable_request_id(value: str | None) -> str | None:
    """``value`` when it can be a request id as it is (what a web hook takes from X-Request-ID), else None."""
    return value if value is not None and _USABLE.fullmatch(value) else None


def current_request_id(explicit: str | None = None) -> str | None:
    """``explicit`` when given, else the context's request id (or None)."""
    return explicit if explicit is not None else request_id_var.get()


@contextmanager
def request_context(request_id: str | None) -> Iterator[None]:
    """Bind ``request_id`` for the calls made inside the ``with`` block."""
    token = request_id_var.set(request_id)
    try:
        yield
    finally:
        request_id_var.reset(token)
