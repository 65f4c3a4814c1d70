"""A loopback TDS proxy that injects faults where a test says: Toxiproxy's toxics, in the standard library.

It extends the counting proxy (``tds_proxy.py``): it reads the 8-byte TDS packet headers both ways,
so it knows each client message (a request: 0x01 SQL batch, 0x03 RPC, 0x0E transaction manager;
the login: 0x12 pre-login, 0x10 LOGIN7) and where each server reply ends (the EOM bit, 0x01, in a
packet's status). A :class:`Fault` names what happens and where, deterministically:

=================  ==============================================================================
kind               what the client sees
=================  ==============================================================================
``latency``        every message delayed by ``up`` seconds on its way to the server and ``down``
                   on its way back (the whole connection)
``refuse_login``   the connection is accepted and reset at once, before the pre-login
``reset_login``    the pre-login goes through; the connection is reset when LOGIN7 comes (no
                   session is made)
``blackhole_login`` accepted, and nothing is ever answered (a hung host, a half-open path)
``drop_request``   the request is never forwarded; the connection is reset (nothing ran)
``drop_reply``     the request is forwarded, the server's whole reply is read and thrown away,
                   then the connection is reset: the request ran, its answer was lost
``cut_reply``      the request is forwarded and only part of its reply comes back (the first
                   packet of a longer reply, else the first half of its only packet), then the
                   connection is reset: dropped in the middle of a result set
``blackhole``      the request is forwarded, then nothing more passes either way (the client's
                   attention included); the connection stays open until the client gives up
=================  ==============================================================================

Where: ``connection`` is the connection's index in accept order (0 = the first one; None = any),
``request`` the request's number on it after login (1 = the first; None = the next one from now),
``match`` a text the request must contain (a procedure name: the first call on a connection
prepares its text; later ones send a handle), ``times`` how often it fires (None = always).
:class:`Chaos` instead picks faults at random, from a seed, for the soak.

Like the counting proxy it works only where the session is not encrypted after login (a local
Babelfish, FreeTDS with ``Encryption=off``, Microsoft's driver with ``Encrypt=no`` against a server
without TLS); a stream that does not parse as TDS is passed through untouched, without faults.
"""

from __future__ import annotations

import random
import select
import socket
import struct
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = [
    "Chaos",
    "ConnectionRecord",
    "Fault",
    "FaultProxy",
    "LOGIN_FAULTS",
    "REQUEST_FAULTS",
    "Message",
    "MessageAssembler",
    "Packet",
    "PacketReader",
]

HEADER = 8
EOM = 0x01
REQUEST_TYPES = frozenset({0x01, 0x03, 0x0E})
PRELOGIN, LOGIN7, ATTENTION = 0x12, 0x10, 0x06
KNOWN_TYPES = frozenset({0x01, 0x02, 0x03, 0x04, 0x06, 0x07, 0x0E, 0x0F, 0x10, 0x11, 0x12})
LOGIN_FAULTS = ("refuse_login", "reset_login", "blackhole_login")
REQUEST_FAULTS = ("drop_request", "drop_reply", "cut_reply", "blackhole")
KINDS = frozenset({"latency", *LOGIN_FAULTS, *REQUEST_FAULTS})


# ----- framing (pure: unit-tested without a server) -------------------------------------------------
@dataclass(frozen=True)
class Packet:
    """One TDS packet: its type, its status byte and all its bytes (header included)."""

    type: int
    status: int
    data: bytes

    @property
    def eom(self) -> bool:
        return bool(self.status & EOM)

    @property
    def payload(self) -> bytes:
        return self.data[HEADER:]


class FramingError(ValueError):
    """The stream is not TDS packets (an encrypted session, or not TDS at all)."""


class PacketReader:
    """Cuts a byte stream, fed in arbitrary pieces, into whole TDS packets."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Packet]:
        """The packets completed by ``data`` (none while one is partial). Raises FramingError on a bad header."""
        self._buffer += data
        packets = []
        while len(self._buffer) >= HEADER:
            kind, status = self._buffer[0], self._buffer[1]
            length = int.from_bytes(self._buffer[2:4], "big")
            if kind not in KNOWN_TYPES or length < HEADER:
                raise FramingError(f"not a TDS packet header: {bytes(self._buffer[:HEADER]).hex()}")
            if len(self._buffer) < length:
                break
            packets.append(Packet(kind, status, bytes(self._buffer[:length])))
            del self._buffer[:length]
        return packets

    @property
    def pending(self) -> int:
        """Bytes held back: the start of a packet not yet complete."""
        return len(self._buffer)


@dataclass(frozen=True)
class Message:
    """One whole TDS message: its type, its packets' bytes as sent, and the payload they carry."""

    type: int
    data: bytes
    payload: bytes

    @property
    def is_request(self) -> bool:
        return self.type in REQUEST_TYPES

    def contains(self, text: str) -> bool:
        """Whether the payload holds ``text`` (UTF-16LE, as TDS sends SQL text and names)."""
        return text.encode("utf-16-le") in self.payload


class MessageAssembler:
    """Joins packets into messages: a message ends with the packet whose status has EOM."""

    def __init__(self) -> None:
        self._packets: list[Packet] = []

    def add(self, packet: Packet) -> Message | None:
        self._packets.append(packet)
        if not packet.eom:
            return None
        packets, self._packets = self._packets, []
        return Message(packets[0].type, b"".join(p.data for p in packets), b"".join(p.payload for p in packets))


def packet(kind: int, payload: bytes, *, eom: bool = True, packet_id: int = 1) -> bytes:
    """A TDS packet's bytes (for tests): header (type, status, length, spid 0, id, window 0) + payload."""
    return struct.pack(">BBHHBB", kind, EOM if eom else 0, HEADER + len(payload), 0, packet_id & 0xFF, 0) + payload


def split_reply(packets: Sequence[Packet]) -> bytes:
    """What ``cut_reply`` forwards of a reply: its first packet when more follow, else half of its only one."""
    first = packets[0]
    if not first.eom:
        return first.data
    return first.data[: max(HEADER, len(first.data) // 2)]


# ----- what to inject, and where -----------------------------------------------------------------------
@dataclass
class Fault:
    """One fault: ``kind`` (see the module docstring) at ``connection`` / ``request`` / ``match``."""

    kind: str
    connection: int | None = None
    request: int | None = None
    match: str | None = None
    times: int | None = 1
    up: float = 0.0  # latency: seconds per message to the server
    down: float = 0.0  # latency: seconds per message back
    fired: int = 0
    armed_at: dict[int, int] = field(default_factory=dict)  # connection -> its request count when the fault was added

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault {self.kind!r}; known: {', '.join(sorted(KINDS))}")

    @property
    def spent(self) -> bool:
        return self.times is not None and self.fired >= self.times


@dataclass
class Chaos:
    """Random faults from a seed: each request gets one of ``kinds`` with probability ``rate``, each
    new connection one of ``login_kinds`` with probability ``login_rate``."""

    rate: float = 0.02
    kinds: Sequence[str] = ("drop_request", "drop_reply", "cut_reply")
    login_rate: float = 0.0
    login_kinds: Sequence[str] = ("refuse_login", "reset_login")
    seed: int = 1

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()

    def pick(self, login: bool) -> str | None:
        rate, kinds = (self.login_rate, self.login_kinds) if login else (self.rate, self.kinds)
        with self._lock:
            if rate <= 0 or self._rng.random() >= rate:
                return None
            return self._rng.choice(list(kinds))


@dataclass
class ConnectionRecord:
    """One client connection the proxy accepted: its index, requests seen after login, what it got."""

    index: int
    requests: int = 0
    open: bool = True
    faults: list[tuple[int, str]] = field(default_factory=list)  # (request number, kind); 0 = at login


# ----- the proxy ------------------------------------------------------------------------------------
class FaultProxy:
    """A proxy on 127.0.0.1:<free port> to ``host:port`` that injects the faults it is given.

        with FaultProxy(host, port) as proxy:
            proxy.add(Fault("drop_reply", connection=0, request=2))
            ...  # connect to 127.0.0.1:proxy.port

    Thread-safe; faults may be added and cleared while connections are open.
    """

    def __init__(self, host: str, port: int, faults: Sequence[Fault] = (), *, chaos: Chaos | None = None) -> None:
        self.host, self.upstream_port = host, port
        self.chaos = chaos
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self.connections: list[ConnectionRecord] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        for fault in faults:
            self.add(fault)
        self._acceptor = threading.Thread(target=self._accept_loop, name="fault-proxy", daemon=True)
        self._acceptor.start()

    # ----- control
    def add(self, fault: Fault) -> Fault:
        """Add a fault; one with no ``request`` fires at the next request from now."""
        with self._lock:
            fault.armed_at = {c.index: c.requests for c in self.connections}
            self._faults.append(fault)
        return fault

    def fault_next(self, kind: str, *, connection: int | None = None, match: str | None = None) -> Fault:
        """The next request from now (on any connection, or on ``connection``; containing ``match``) gets ``kind``."""
        return self.add(Fault(kind, connection=connection, match=match))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def fired(self) -> list[tuple[int, int, str]]:
        """(connection, request, kind) of every fault injected so far (request 0: at login)."""
        with self._lock:
            return [(c.index, n, kind) for c in self.connections for n, kind in c.faults]

    def open_connections(self) -> int:
        with self._lock:
            return sum(c.open for c in self.connections)

    def close(self) -> None:
        self._stop.set()
        self._acceptor.join()
        for thread in list(self._threads):
            thread.join(timeout=2)
        self._listener.close()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----- choosing faults
    def _login_fault(self, record: ConnectionRecord) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.kind in LOGIN_FAULTS and not fault.spent and fault.connection in (None, record.index):
                    fault.fired += 1
                    record.faults.append((0, fault.kind))
                    return fault
            if self.chaos is not None and (kind := self.chaos.pick(login=True)) is not None:
                record.faults.append((0, kind))
                return Fault(kind)
        return None

    def _latency(self, record: ConnectionRecord) -> tuple[float, float]:
        with self._lock:
            for fault in self._faults:
                if fault.kind == "latency" and fault.connection in (None, record.index):
                    return fault.up, fault.down
        return 0.0, 0.0

    def _request_fault(self, record: ConnectionRecord, message: Message) -> str | None:
        with self._lock:
            record.requests += 1
            number = record.requests
            for fault in self._faults:
                if fault.kind not in REQUEST_FAULTS or fault.spent or fault.connection not in (None, record.index):
                    continue
                if fault.request is not None and fault.request != number:
                    continue
                if fault.request is None and number <= fault.armed_at.get(record.index, 0):
                    continue
                if fault.match is not None and not message.contains(fault.match):
                    continue
                fault.fired += 1
                record.faults.append((number, fault.kind))
                return fault.kind
            if self.chaos is not None and (kind := self.chaos.pick(login=False)) is not None:
                record.faults.append((number, kind))
                return kind
        return None

    # ----- moving bytes
    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                continue
            with self._lock:
                record = ConnectionRecord(len(self.connections))
                self.connections.append(record)
            thread = threading.Thread(target=self._serve, args=(record, client), name=f"fault-proxy-{record.index}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, record: ConnectionRecord, client: socket.socket) -> None:
        upstream: socket.socket | None = None
        try:
            login = self._login_fault(record)
            if login is not None and login.kind == "refuse_login":
                return _reset(client)
            if login is not None and login.kind == "blackhole_login":
                return self._swallow([client])
            upstream = socket.create_connection((self.host, self.upstream_port), timeout=10)
            upstream.settimeout(None)
            self._relay(record, client, upstream, reset_at_login=login is not None)
        except OSError:
            pass
        finally:
            _reset(client)
            if upstream is not None:
                _close(upstream)
            with self._lock:
                record.open = False

    def _swallow(self, sockets: list[socket.socket]) -> None:
        """Read and drop whatever comes until the client closes or the proxy stops: a black hole."""
        while not self._stop.is_set():
            readable, _, _ = select.select(sockets, [], [], 0.1)
            for sock in readable:
                if not sock.recv(65536):
                    return

    def _relay(self, record: ConnectionRecord, client: socket.socket, upstream: socket.socket, *, reset_at_login: bool) -> None:
        requests, replies = PacketReader(), PacketReader()
        messages = MessageAssembler()
        reply_fault: str | None = None
        reply_started = False
        raw = False  # not TDS (encrypted after login?): pass everything through, inject nothing
        while not self._stop.is_set():
            readable, _, _ = select.select([client, upstream], [], [], 0.1)
            for sock in readable:
                data = sock.recv(65536)
                if not data:
                    return
                if raw:
                    (upstream if sock is client else client).sendall(data)
                    continue
                if sock is client:
                    try:
                        packets = requests.feed(data)
                    except FramingError:
                        raw = True
                        upstream.sendall(data)
                        continue
                    for p in packets:
                        message = messages.add(p)
                        if message is None:
                            continue
                        if message.type == LOGIN7 and reset_at_login:
                            return
                        kind = self._request_fault(record, message) if message.is_request else None
                        up, _ = self._latency(record)
                        if up:
                            time.sleep(up)
                        if kind == "drop_request":
                            return
                        upstream.sendall(message.data)
                        if kind == "blackhole":
                            return self._swallow([client, upstream])
                        if kind is not None:
                            reply_fault = kind
                else:
                    try:
                        packets = replies.feed(data)
                    except FramingError:
                        raw = True
                        client.sendall(data)
                        continue
                    for p in packets:
                        if reply_fault is None:
                            if not reply_started:
                                _, down = self._latency(record)
                                if down:
                                    time.sleep(down)
                            reply_started = not p.eom
                            client.sendall(p.data)
                            continue
                        if reply_fault == "cut_reply":  # part of the reply's first packet, then the reset
                            client.sendall(split_reply([p]))
                            return
                        if p.eom:  # drop_reply: the server has said all it had to say; none of it arrives
                            return


def _reset(sock: socket.socket) -> None:
    """Close with a TCP reset (SO_LINGER 0), as a dropped connection or a middlebox does."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    _close(sock)


def _close(sock: socket.socket) -> None:
    try:
        sock.close()
    except OSError:
        pass
