"""OpenTelemetry on a real engine: each call is one CLIENT span in SQL Server's stable conventions, with metrics.

Read back with the SDK's in-memory exporters (issue #20 §1); the providers are given to the
clients with songsdb.telemetry.instrument, so nothing global is touched.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk", reason="the telemetry tests need opentelemetry-sdk (the test extra)")

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from songsdb.config import Settings
from songsdb.database import SongsDatabase
from songsdb.errors import SongNotFound
from songsdb.telemetry import instrument

pytestmark = pytest.mark.integration


class Telemetry:
    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def points(self, name: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        found = []
        for resource in data.resource_metrics if data else []:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        found.extend(metric.data.data_points)
        return found


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    t = Telemetry()
    yield t
    t.tracer_provider.shutdown()
    t.meter_provider.shutdown()


@pytest.fixture
def traced_web(songsdb_settings: dict[str, Settings], telemetry: Telemetry) -> Iterator[SongsDatabase]:
    db = SongsDatabase(songsdb_settings["web"], role="web", pool_size=1, pool_timeout=10)
    instrument(db, tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider)
    yield db
    db.close()


def test_each_call_is_one_client_span_named_after_its_procedure_with_the_sql_server_attributes(
    traced_web: SongsDatabase, telemetry: Telemetry, songsdb_settings: dict[str, Settings]
) -> None:
    request = f"req-{uuid.uuid4().hex}"
    song_id = traced_web.create_song(f"file-{uuid.uuid4().hex}", "a.mp3", title="Intro", request_id=request)
    assert traced_web.get_song_by_id(song_id) is not None

    spans = telemetry.spans.get_finished_spans()
    assert [s.name for s in spans] == ["api.CreateSong", "api.GetSong"]
    created = spans[0]
    host, port, database = songsdb_settings["web"].endpoint()
    assert created.kind is SpanKind.CLIENT
    assert dict(created.attributes or {}) == {
        "db.system.name": "microsoft.sql_server",
        "db.stored_procedure.name": "api.CreateSong",
        "db.namespace": database,
        "server.address": host,
        "server.port": int(port),
        "songsdb.request_id": request,
    }
    assert created.status.status_code is StatusCode.UNSET
    assert "songsdb.request_id" not in (spans[1].attributes or {})  # no request id given, none in the context


def test_a_failed_call_carries_the_sql_server_error_number_as_status_code_and_error_type(
    traced_web: SongsDatabase, telemetry: Telemetry
) -> None:
    with pytest.raises(SongNotFound):
        traced_web.create_job(uuid.uuid4(), "htdemucs", "separation")
    [span] = telemetry.spans.get_finished_spans()
    attributes = dict(span.attributes or {})
    assert (span.name, attributes["db.response.status_code"], attributes["error.type"]) == ("api.CreateJob", "50101", "50101")
    assert span.status.status_code is StatusCode.ERROR
    assert any(e.name == "exception" for e in span.events)


def test_operation_duration_is_a_histogram_by_procedure_and_outcome(traced_web: SongsDatabase, telemetry: Telemetry) -> None:
    song_id = traced_web.create_song(f"file-{uuid.uuid4().hex}", "a.mp3")
    traced_web.get_song_by_id(song_id)
    traced_web.get_song_by_id(song_id)
    with pytest.raises(SongNotFound):
        traced_web.create_job(uuid.uuid4(), "htdemucs", "separation")

    points = telemetry.points("db.client.operation.duration")
    by_key = {(p.attributes["db.stored_procedure.name"], p.attributes.get("error.type")): p for p in points}
    assert by_key[("api.GetSong", None)].count == 2
    assert by_key[("api.CreateSong", None)].count == 1
    assert by_key[("api.CreateJob", "50101")].count == 1
    assert all(p.sum > 0 and p.attributes["db.system.name"] == "microsoft.sql_server" for p in points)


def test_the_pools_connections_by_state_and_the_wait_for_one_are_reported(
    traced_web: SongsDatabase, telemetry: Telemetry
) -> None:
    traced_web.get_song_by_id(uuid.uuid4())  # one connection made, then idle
    counts = {p.attributes["db.client.connection.state"]: p.value for p in telemetry.points("db.client.connection.count")
              if p.attributes["db.client.connection.pool.name"].startswith("web@")}
    assert counts == {"idle": 1, "used": 0}
    assert [p.value for p in telemetry.points("db.client.connection.max")] == [1]

    # a transaction holds the only connection; a call on another thread waits for it
    started = threading.Event()
    with traced_web.transaction() as tx:
        tx.get_song(uuid.uuid4())
        used = {p.attributes["db.client.connection.state"]: p.value for p in telemetry.points("db.client.connection.count")}
        assert used == {"idle": 0, "used": 1}
        waiter = threading.Thread(target=lambda: (started.set(), traced_web.get_song_by_id(uuid.uuid4())))
        waiter.start()
        started.wait()
        for _ in range(1000):  # until the other thread is waiting for the connection (no time is asserted)
            if traced_web._pool.stats().waiting == 1:
                break
            threading.Event().wait(0.01)
        assert [p.value for p in telemetry.points("db.client.connection.pending_requests")] == [1]
    waiter.join()
    waits = telemetry.points("db.client.connection.wait_time")
    assert [p.count for p in waits] == [1]
