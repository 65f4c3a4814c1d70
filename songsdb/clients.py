"""One client per duty role: the executor and only the methods that role's login may run.

    from songsdb import WorkerClient

    with WorkerClient() as db:                  # SONGSDB_WORKER_USER's login; or WorkerClient(settings)
        job = db.claim_next_job("gpu-1")        # a ClaimedJob | None
        db.create_song(...)                     # a static error: no such method (api.* is the web role's)

Each connects as its role's login, as ``SongsDatabase(role=...)`` does; a service that needs two
roles holds two clients. :class:`~songsdb.SongsDatabase` keeps every method for the original design.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from songsdb.api_ops import OpsApi
from songsdb.api_web import WebApi
from songsdb.api_worker import WorkerApi
from songsdb.config import Settings
from songsdb.executor import Executor
from songsdb.retry import RetryPolicy

__all__ = ["WebClient", "WorkerClient", "OpsClient"]


class _RoleClient(Executor):
    """An executor whose role is its class's: ``WorkerClient(settings)`` takes no ``role``."""

    ROLE: ClassVar[str]

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        pool_size: int = 8,
        pool_timeout: float = 30.0,
        max_idle: float = 30.0,
        max_lifetime: float = 1800.0,
        retry: RetryPolicy | None = None,
        connect: Callable[[Settings], Any] | None = None,
        configure: Callable[[Any], None] | None = None,
        **overrides: Any,
    ) -> None:
        """``settings``, or the ``SONGSDB_*`` settings of this role's login; the rest as for
        :class:`~songsdb.SongsDatabase` (``overrides`` replace single settings: ``query_timeout=5``)."""
        super().__init__(
            settings, role=self.ROLE, pool_size=pool_size, pool_timeout=pool_timeout, max_idle=max_idle,
            max_lifetime=max_lifetime, retry=retry, connect=connect, configure=configure, **overrides,
        )


class WebClient(_RoleClient, WebApi):
    """The web service's client: ``api.*`` only, as the web login (``SONGSDB_USER``, role ``songsdb_web``)."""

    ROLE = "web"


class WorkerClient(_RoleClient, WorkerApi):
    """A GPU worker's client: ``worker.*`` only, as the worker login (``SONGSDB_WORKER_USER``, role ``songsdb_worker``)."""

    ROLE = "worker"


class OpsClient(_RoleClient, OpsApi):
    """Operations' client: ``ops.*`` only, as the operations login (``SONGSDB_OPS_USER``, role ``songsdb_ops``)."""

    ROLE = "ops"
