"""The fault-injecting TDS proxy's own logic (tests/integration/fault_proxy.py), without a SQL server.

Its framing is checked on byte streams cut at every place; where it injects a fault is checked
against a stand-in upstream (``FakeTdsServer``, named as the fake it is: it answers each request
message with a reply message and records what reached it). What the drivers and the engine do
under those faults is the integration suite's (tests/integration/test_faults.py).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.integration.fault_proxy import (
    HEADER,
    Chaos,
    Fault,
    FaultProxy,
    FramingError,
    MessageAssembler,
    Packet,
    PacketReader,
    packet,
    split_reply,
)

PRELOGIN, LOGIN7, RPC, BATCH, REPLY = 0x12, 0x10, 0x03, 0x01, 0x04


def _stream() -> bytes:
    return (
        packet(PRELOGIN, b"pre")
        + packet(LOGIN7, b"login")
        + packet(RPC, "EXEC api.CreateSong".encode("utf-16-le"), eom=False)
        + packet(RPC, b"-rest", packet_id=2)
        + packet(BATCH, b"SELECT 1;")
    )


def _messages(chunks: list[bytes]) -> list[tuple[int, bytes]]:
    reader, assembler = PacketReader(), MessageAssembler()
    out = []
    for chunk in chunks:
        for p in reader.feed(chunk):
            message = assembler.add(p)
            if message is not None:
                out.append((message.type, message.payload))
    return out


def test_packets_split_anywhere_reassemble_into_the_same_messages() -> None:
    stream = _stream()
    whole = _messages([stream])
    assert whole == [
        (PRELOGIN, b"pre"), (LOGIN7, b"login"), (RPC, "EXEC api.CreateSong".encode("utf-16-le") + b"-rest"), (BATCH, b"SELECT 1;"),
    ]
    for cut in range(1, len(stream)):
        assert _messages([stream[:cut], stream[cut:]]) == whole


@given(st.lists(st.integers(min_value=1, max_value=40), max_size=30))
def test_any_chunking_of_the_stream_gives_the_same_messages_and_holds_back_only_a_partial_packet(sizes: list[int]) -> None:
    stream, chunks, at = _stream(), [], 0
    for size in sizes:
        chunks.append(stream[at : at + size])
        at += size
    reader = PacketReader()
    for chunk in chunks:
        reader.feed(chunk)
    assert reader.pending == (0 if at >= len(stream) else _partial(stream, min(at, len(stream))))
    chunks.append(stream[at:])
    assert _messages(chunks) == _messages([stream])


def _partial(stream: bytes, at: int) -> int:
    """Bytes of the packet under way at offset ``at``."""
    start = 0
    while start < at:
        length = int.from_bytes(stream[start + 2 : start + 4], "big")
        if start + length > at:
            return at - start
        start += length
    return 0


def test_a_request_message_finds_a_procedure_name_sent_as_utf16() -> None:
    message = MessageAssembler().add(Packet(RPC, 1, packet(RPC, "{CALL api.CreateSong (?, ?)}".encode("utf-16-le"))))
    assert message is not None and message.is_request
    assert message.contains("api.CreateSong") and not message.contains("api.CreateJob")


def test_a_stream_that_is_not_tds_is_refused_so_the_proxy_passes_it_through() -> None:
    with pytest.raises(FramingError):
        PacketReader().feed(b"\x16\x03\x01\x02\x00\x01\x00\x01")  # a TLS record
    with pytest.raises(FramingError):
        PacketReader().feed(bytes([RPC, 1, 0, 4, 0, 0, 1, 0]))  # a length shorter than the header
    assert PacketReader().feed(packet(RPC, b"x")) != []


def test_a_cut_reply_keeps_the_first_packet_of_a_longer_reply_and_half_of_a_short_one() -> None:
    first = Packet(REPLY, 0, packet(REPLY, b"a" * 100, eom=False))
    only = Packet(REPLY, 1, packet(REPLY, b"b" * 100))
    assert split_reply([first]) == first.data
    assert split_reply([only]) == only.data[: (HEADER + 100) // 2]


def test_an_unknown_fault_kind_is_refused_and_chaos_repeats_from_its_seed() -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        Fault("drop")
    one, two = Chaos(rate=0.3, seed=7), Chaos(rate=0.3, seed=7)
    assert [one.pick(login=False) for _ in range(200)] == [two.pick(login=False) for _ in range(200)]
    assert {one.pick(login=False) for _ in range(500)} >= {None, "drop_request", "drop_reply", "cut_reply"}


# ----- routing, against a fake upstream ----------------------------------------------------------
class FakeTdsServer:
    """A fake TDS upstream (not a SQL server): answers pre-login and LOGIN7, then each request with a
    reply of ``reply_packets`` packets; records the requests that reached it."""

    def __init__(self, reply_packets: int = 1) -> None:
        self.reply_packets = reply_packets
        self.received: list[bytes] = []
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        self.stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self.listener.settimeout(0.1)
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        reader, assembler = PacketReader(), MessageAssembler()
        with conn:
            while data := _recv(conn):
                for p in reader.feed(data):
                    message = assembler.add(p)
                    if message is None:
                        continue
                    if message.is_request:
                        self.received.append(message.payload)
                    body = b"r" * 200
                    for i in range(self.reply_packets):
                        conn.sendall(packet(REPLY, body, eom=i == self.reply_packets - 1, packet_id=i + 1))

    def close(self) -> None:
        self.stop.set()
        self.listener.close()


def _recv(conn: socket.socket) -> bytes:
    try:
        return conn.recv(65536)
    except OSError:
        return b""


class FakeClient:
    """Logs in through the proxy with fake TDS messages, then sends requests and reads whole replies."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=3)
        _CLIENTS.append(self)
        self.reader, self.assembler = PacketReader(), MessageAssembler()

    def send(self, kind: int, payload: bytes) -> bytes | None:
        """The reply's payload, or None when the connection was reset or closed before it was whole."""
        try:
            self.sock.sendall(packet(kind, payload))
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return None
                for p in self.reader.feed(data):
                    message = self.assembler.add(p)
                    if message is not None:
                        return message.payload
        except OSError:
            return None

    def login(self) -> bool:
        return self.send(PRELOGIN, b"pre") is not None and self.send(LOGIN7, b"login") is not None

    def close(self) -> None:
        self.sock.close()


_CLIENTS: list[FakeClient] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _CLIENTS:
        _CLIENTS.pop().close()


@pytest.fixture
def upstream() -> Iterator[FakeTdsServer]:
    server = FakeTdsServer()
    yield server
    server.close()


@pytest.fixture
def proxy(upstream: FakeTdsServer) -> Iterator[FaultProxy]:
    with FaultProxy("127.0.0.1", upstream.port) as p:
        yield p


def _connected(proxy: FaultProxy) -> FakeClient:
    client = FakeClient(proxy.port)
    assert client.login()
    return client


def test_without_faults_every_request_and_reply_passes_and_is_counted_per_connection(proxy: FaultProxy, upstream: FakeTdsServer) -> None:
    first, second = _connected(proxy), _connected(proxy)
    assert first.send(RPC, b"a") == b"r" * 200 and second.send(RPC, b"b") == b"r" * 200 and first.send(BATCH, b"c") is not None
    assert upstream.received == [b"a", b"b", b"c"]
    assert [(c.index, c.requests) for c in proxy.connections] == [(0, 2), (1, 1)]
    assert proxy.fired() == []


def test_drop_reply_lets_the_request_reach_the_server_and_no_answer_back(proxy: FaultProxy, upstream: FakeTdsServer) -> None:
    proxy.add(Fault("drop_reply", connection=0, request=2))
    client = _connected(proxy)
    assert client.send(RPC, b"one") is not None
    assert client.send(RPC, b"two") is None
    assert upstream.received == [b"one", b"two"]
    assert proxy.fired() == [(0, 2, "drop_reply")]
    _wait(lambda: proxy.open_connections() == 0)


def test_drop_request_never_forwards_the_request(proxy: FaultProxy, upstream: FakeTdsServer) -> None:
    client = _connected(proxy)
    proxy.fault_next("drop_request")
    assert client.send(RPC, b"lost") is None
    again = _connected(proxy)  # the fault fired once: the next connection is clean
    assert again.send(RPC, b"kept") is not None
    assert upstream.received == [b"kept"]


def test_cut_reply_forwards_only_the_first_packet_of_a_longer_reply(upstream: FakeTdsServer) -> None:
    upstream.reply_packets = 3
    with FaultProxy("127.0.0.1", upstream.port) as proxy:
        client = _connected(proxy)
        proxy.fault_next("cut_reply", match="api.CreateSong")
        assert client.send(RPC, b"not this one") == b"r" * 600  # no match: whole
        client.sock.sendall(packet(RPC, "EXEC api.CreateSong".encode("utf-16-le")))
        got = b""
        while data := _recv(client.sock):
            got += data
        assert got == packet(REPLY, b"r" * 200, eom=False)  # one packet of three, then the reset
        assert proxy.fired() == [(0, 2, "cut_reply")]


def _login(port: int) -> str:
    """How far a login gets: "refused" (reset before or at the pre-login), "reset" (at LOGIN7) or "in"."""
    try:
        client = FakeClient(port)
    except OSError:
        return "refused"
    if client.send(PRELOGIN, b"pre") is None:
        return "refused"
    return "in" if client.send(LOGIN7, b"login") is not None else "reset"


def test_login_faults_hit_only_the_connection_they_name(proxy: FaultProxy, upstream: FakeTdsServer) -> None:
    proxy.add(Fault("refuse_login", connection=0))
    proxy.add(Fault("reset_login", connection=1))
    assert [_login(proxy.port) for _ in range(3)] == ["refused", "reset", "in"]  # one after another: accept order
    assert _connected(proxy).send(RPC, b"x") is not None
    assert proxy.fired() == [(0, 0, "refuse_login"), (1, 0, "reset_login")]


def test_a_blackhole_forwards_the_request_and_then_answers_nothing(proxy: FaultProxy, upstream: FakeTdsServer) -> None:
    client = _connected(proxy)
    proxy.fault_next("blackhole")
    client.sock.settimeout(0.5)
    client.sock.sendall(packet(RPC, b"into the hole"))
    with pytest.raises(socket.timeout):
        client.sock.recv(65536)
    assert upstream.received == [b"into the hole"]
    assert proxy.open_connections() == 1  # held open, silent, until the client gives up
    client.close()
    _wait(lambda: proxy.open_connections() == 0)


def test_latency_delays_each_request_and_each_reply(proxy: FaultProxy) -> None:
    client = _connected(proxy)
    proxy.add(Fault("latency", up=0.15, down=0.15, times=None))
    started = time.monotonic()
    client.send(RPC, b"slow")
    assert time.monotonic() - started >= 0.3  # a lower bound the sleeps guarantee, not a speed


def _wait(condition: object, seconds: float = 3.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)
