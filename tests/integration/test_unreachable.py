"""A server that accepts the connection and never answers the login (a hung host, a half-open path),
through the real drivers: the caller gets songsdb's NotConnected, never the driver's HYT00.

The listener is on loopback and sends nothing; the driver is the one SONGSDB_TEST_DSN names.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from songsdb import errors
from songsdb.config import Settings, format_connection_string, parse_connection_string
from songsdb.database import SongsDatabase
from songsdb.retry import RetryPolicy


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections and never sends a byte."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


def pointed_at(server: Settings, port: int) -> Settings:
    """The test server's connection string, with its address swapped for the silent port."""
    pairs = parse_connection_string(server.odbc())
    keys = {k.lower(): k for k in pairs}
    if "port" in keys:  # FreeTDS: SERVER=host;PORT=n
        pairs[keys["server"]] = "127.0.0.1"
        pairs[keys["port"]] = str(port)
    else:  # Microsoft's driver: SERVER=host,port
        pairs[keys["server"]] = f"127.0.0.1,{port}"
    return Settings(connection_string=format_connection_string(pairs), login_timeout=2)


def test_a_server_that_never_answers_the_login_is_not_connected_under_this_driver(server: Settings, silent_port: int) -> None:
    settings = pointed_at(server, silent_port)
    with SongsDatabase(settings, retry=RetryPolicy(attempts=2, base_delay=0, max_delay=0)) as db:
        started = time.monotonic()
        with pytest.raises(errors.NotConnected) as info:
            db.get_song("f")
        took = time.monotonic() - started
    error = info.value
    assert "cannot reach SQL Server at" in str(error) and "nothing answered" in str(error), str(error)
    assert error.__cause__ is not None and error.__cause__ is not error
    assert type(error.__cause__).__module__ == "pyodbc" and error.sqlstate in ("HYT00", "HYT01", "08001", "08S01")
    assert took < 60  # bounded by the login limit per try, not hung
