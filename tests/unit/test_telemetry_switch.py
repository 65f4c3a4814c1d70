"""Whether a client reports to OpenTelemetry: on when it is installed, off with OTEL_SDK_DISABLED=true."""

from __future__ import annotations

import pytest

from songsdb import telemetry
from songsdb.config import Settings
from songsdb.database import SongsDatabase

SETTINGS = Settings(connection_string="DRIVER={FreeTDS};SERVER=db.example,1444;DATABASE=Songs;UID=u;PWD=p;")


def test_a_client_reports_when_opentelemetry_is_installed_and_not_when_it_is_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("opentelemetry")
    monkeypatch.delenv("OTEL_SDK_DISABLED", raising=False)
    on = SongsDatabase(SETTINGS)
    assert isinstance(on._observer, telemetry.Observer)
    assert on._observer._base == {
        "db.system.name": "microsoft.sql_server", "db.namespace": "Songs", "server.address": "db.example", "server.port": 1444
    }
    assert on.with_timeout(5)._observer is on._observer  # views share it
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert SongsDatabase(SETTINGS)._observer is None


def test_a_failure_is_typed_by_the_servers_error_number_or_else_by_its_class() -> None:
    from songsdb.errors import QueryTimeout, SongNotFound

    assert telemetry._failure(SongNotFound("x", number=50101)) == {"db.response.status_code": "50101", "error.type": "50101"}
    assert telemetry._failure(QueryTimeout("slow")) == {"error.type": "songsdb.errors.QueryTimeout"}


def test_a_bare_opentelemetry_namespace_without_the_api_switches_tracing_off(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec

    def namespace_only(name: str, *args: object) -> object:
        if name in ("opentelemetry.trace", "opentelemetry.metrics"):
            return None  # e.g. opentelemetry-proto installed without opentelemetry-api
        return real(name, *args)  # type: ignore[arg-type]

    monkeypatch.delenv("OTEL_SDK_DISABLED", raising=False)
    monkeypatch.setattr(importlib.util, "find_spec", namespace_only)
    assert not telemetry.available()
    assert SongsDatabase(SETTINGS)._observer is None  # the client is built, without tracing
