"""SongsDatabase: the thin, typed, thread-safe client of the original design, every method of every role.

Every method is one stored-procedure call. The only SQL text the client builds is a call,
``EXEC api.Procedure @Param = ?, ...`` or its ODBC call escape (:mod:`songsdb.statements`); all
logic, validation and auditing live in ``sql/procs``. Rows come back as the frozen dataclasses of
:mod:`songsdb.models`; server errors as :mod:`songsdb.errors`.

The class is the three role mixins over one executor: :class:`~songsdb.api_web.WebApi` (``api.*``),
:class:`~songsdb.api_worker.WorkerApi` (``worker.*``), :class:`~songsdb.api_ops.OpsApi`
(``ops.*``), over :class:`~songsdb.executor.Executor` (pool, transactions, retries, errors). It
connects as one login (``role=``), so only that role's methods succeed; a service that uses one
role is better served by its client (:class:`~songsdb.WebClient`, :class:`~songsdb.WorkerClient`,
:class:`~songsdb.OpsClient`), where another role's method is a static error instead of a
PermissionDenied.
"""

from __future__ import annotations

from contextlib import _GeneratorContextManager
from typing import TYPE_CHECKING, TypeVar, cast

from songsdb.api_ops import OpsApi
from songsdb.api_web import WebApi
from songsdb.api_worker import WorkerApi
from songsdb.executor import _Transaction

__all__ = ["SongsDatabase", "Transaction"]

D = TypeVar("D", bound="SongsDatabase")


class SongsDatabase(WebApi, WorkerApi, OpsApi):
    """The songsdb client. Safe to share between threads; use as a context manager or call close().

    ``SongsDatabase(settings=None, *, role="web", pool_size=8, pool_timeout=30.0, max_idle=30.0,
    max_lifetime=1800.0, retry=None, connect=None, configure=None, **overrides)``: see
    :class:`~songsdb.executor.Executor`.

    >>> with SongsDatabase() as db:                                  # doctest: +SKIP
    ...     song_id = db.create_song("file-1", "a.mp3", title="Intro")
    ...     job_id = db.create_job(song_id, "demucs", "separation")
    """

    if TYPE_CHECKING:  # the block's handle is a Transaction (Executor.transaction gives _bind's result)

        def transaction(self) -> _GeneratorContextManager[Transaction]: ...

    def _bind(self: D, state: _Transaction) -> D:
        return cast(D, Transaction(self, state))


class Transaction(SongsDatabase):
    """The client inside one ``with db.transaction() as tx:`` block: every method runs on its connection.

    It owns that connection (no context variable decides where a call goes), so it can be handed to
    other code, and used from another thread, as a framework's dependency does; its calls run one at
    a time. It cannot open, nest or close transactions itself: the block does.
    """

    def __init__(self, owner: SongsDatabase, state: _Transaction) -> None:
        self.__dict__.update(owner.__dict__)  # the owner's settings, pool and retry policy
        self._bound = state
