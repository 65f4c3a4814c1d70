"""OpenTelemetry for every client call, in the stable semantic conventions for Microsoft SQL Server.

With the ``songsdb[otel]`` extra installed (``opentelemetry-api``; an SDK and an exporter are the
service's own choice), each call of a client is one ``CLIENT`` span named after the procedure it
runs (``api.CreateSong``: the conventions' ``{target}`` form, the stored procedure being the
target), with

- ``db.system.name = "microsoft.sql_server"`` (also on Babelfish, which speaks SQL Server's
  protocol and dialect), ``db.stored_procedure.name``, ``db.namespace`` (the database),
  ``server.address``, ``server.port``, and ``songsdb.request_id`` (the call's X-Request-ID);
- on failure ``db.response.status_code`` (the SQL Server error number, as text, when there is
  one), ``error.type`` (that number, else the exception's qualified class name) and the span's
  status set to ERROR.

Metrics (meter ``songsdb``): ``db.client.operation.duration`` (histogram, seconds, by procedure
and outcome: the attributes above that are not per call), ``db.client.connection.count`` (per
pool, ``db.client.connection.state`` ``idle`` or ``used``), ``db.client.connection.max``,
``db.client.connection.pending_requests`` and ``db.client.connection.wait_time`` (histogram,
seconds, each time a call had to wait for a pooled connection).

Clients find the global providers by themselves (``opentelemetry.trace.set_tracer_provider``);
:func:`instrument` gives one client providers of its own (tests, a service with two pipelines).
Without opentelemetry, or with ``OTEL_SDK_DISABLED=true``, a client keeps no observer and a call
costs one attribute check (``bench/client_overhead.py`` measures it).
"""

from __future__ import annotations

import importlib.util
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from songsdb.context import request_id_var
from songsdb.errors import SongsDbError, native_error_number

if TYPE_CHECKING:  # pragma: no cover
    from songsdb.executor import Executor
    from songsdb.pool import ConnectionPool

__all__ = ["Observer", "available", "observer_for", "instrument", "DB_SYSTEM"]

T = TypeVar("T")
DB_SYSTEM = "microsoft.sql_server"
# the buckets the conventions advise for db.client.operation.duration (seconds)
DURATION_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0)


def available() -> bool:
    """Whether opentelemetry is installed and not switched off (``OTEL_SDK_DISABLED=true``)."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    try:  # the API itself: a bare "opentelemetry" namespace (opentelemetry-proto alone, say) is not enough
        return importlib.util.find_spec("opentelemetry.trace") is not None and importlib.util.find_spec("opentelemetry.metrics") is not None
    except ModuleNotFoundError:  # the parent package is missing
        return False


class Observer:
    """What one client reports to: a tracer, the duration histogram, and its pool's instruments."""

    def __init__(self, executor: Executor, tracer_provider: Any = None, meter_provider: Any = None) -> None:
        from opentelemetry import metrics, trace

        from songsdb import __version__

        self._trace = trace
        self._tracer = trace.get_tracer("songsdb", __version__, tracer_provider=tracer_provider)
        instruments = _Instruments.of(meter_provider or metrics.get_meter_provider(), __version__)
        self._duration = instruments.duration
        host, port, database = executor.settings.endpoint()
        self._base: dict[str, Any] = {"db.system.name": DB_SYSTEM, "db.namespace": database, "server.address": host}
        try:
            self._base["server.port"] = int(port)
        except ValueError:
            pass
        instruments.attach(executor._pool, f"{executor.role}@{host}:{port}/{database}")

    def call(self, procedure: str, params: Mapping[str, Any], run: Callable[[], T]) -> T:
        """Run one call (``run``) inside its span, and record its duration."""
        attributes = dict(self._base)
        attributes["db.stored_procedure.name"] = procedure
        request_id = params.get("RequestId") or request_id_var.get()
        span_attributes = dict(attributes)
        if request_id is not None:
            span_attributes["songsdb.request_id"] = str(request_id)
        started = time.perf_counter()
        with self._tracer.start_as_current_span(
            procedure, kind=self._trace.SpanKind.CLIENT, attributes=span_attributes,
            record_exception=True, set_status_on_exception=False,
        ) as span:
            try:
                return run()
            except BaseException as exc:
                failure = _failure(exc)
                attributes.update(failure)
                span.set_attributes(failure)
                span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, type(exc).__name__))
                raise
            finally:
                self._duration.record(time.perf_counter() - started, attributes)


def _failure(exc: BaseException) -> dict[str, str]:
    """``db.response.status_code`` (when the server named a number) and ``error.type``."""
    number = getattr(exc, "number", None) if isinstance(exc, SongsDbError) else native_error_number(exc)
    if number is not None:
        return {"db.response.status_code": str(number), "error.type": str(number)}
    return {"error.type": f"{type(exc).__module__}.{type(exc).__qualname__}"}


class _Instruments:
    """One meter per meter provider, with the duration histogram and the pool instruments, which read
    every live pool attached to it (instruments are made once per provider, never once per client)."""

    _by_provider: dict[int, _Instruments] = {}
    _lock = threading.Lock()

    def __init__(self, provider: Any, version: str) -> None:
        from opentelemetry.metrics import Observation

        self._observation = Observation
        self._provider = provider  # kept alive, so its id (the key in _by_provider) is not reused
        meter = provider.get_meter("songsdb", version)
        self.pools: weakref.WeakKeyDictionary[ConnectionPool, str] = weakref.WeakKeyDictionary()
        self.duration = meter.create_histogram(
            "db.client.operation.duration", unit="s", description="Duration of database client operations.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self.wait_time = meter.create_histogram(
            "db.client.connection.wait_time", unit="s", description="The time it took to obtain an open connection from the pool.",
        )
        meter.create_observable_up_down_counter(
            "db.client.connection.count", callbacks=[self._count], unit="{connection}",
            description="The number of connections that are currently in the state described by the state attribute.",
        )
        meter.create_observable_up_down_counter(
            "db.client.connection.max", callbacks=[self._max], unit="{connection}",
            description="The maximum number of open connections allowed.",
        )
        meter.create_observable_up_down_counter(
            "db.client.connection.pending_requests", callbacks=[self._pending], unit="{request}",
            description="The number of current pending requests for an open connection.",
        )

    @classmethod
    def of(cls, provider: Any, version: str) -> _Instruments:
        with cls._lock:
            found = cls._by_provider.get(id(provider))
            if found is None:
                found = cls._by_provider[id(provider)] = cls(provider, version)
            return found

    def attach(self, pool: ConnectionPool, name: str) -> None:
        self.pools[pool] = name
        histogram = self.wait_time
        attributes = {"db.client.connection.pool.name": name}
        pool.on_wait = lambda seconds: histogram.record(seconds, attributes)

    def _each(self) -> Iterable[tuple[str, Any]]:
        for pool, name in list(self.pools.items()):
            yield name, pool.stats()

    def _count(self, _options: Any) -> Iterable[Any]:
        for name, stats in self._each():
            yield self._observation(stats.idle, {"db.client.connection.pool.name": name, "db.client.connection.state": "idle"})
            yield self._observation(stats.borrowed, {"db.client.connection.pool.name": name, "db.client.connection.state": "used"})

    def _max(self, _options: Any) -> Iterable[Any]:
        for name, stats in self._each():
            yield self._observation(stats.max_size, {"db.client.connection.pool.name": name})

    def _pending(self, _options: Any) -> Iterable[Any]:
        for name, stats in self._each():
            yield self._observation(stats.waiting, {"db.client.connection.pool.name": name})


def observer_for(executor: Executor) -> Observer | None:
    """The observer a new client gets: one on the global providers when opentelemetry is there, else None."""
    return Observer(executor) if available() else None


def instrument(client: Executor, *, tracer_provider: Any = None, meter_provider: Any = None) -> Executor:
    """Report ``client``'s calls to these providers (None: the global ones) and return it."""
    client._observer = Observer(client, tracer_provider, meter_provider)
    return client
