"""A loopback TCP proxy that counts the TDS requests a client sends: round trips, seen on the wire.

TDS frames every message in packets with an 8-byte header (type, status, length, ...); the last
packet of a message has the EOM bit (0x01) in its status. Counting client-to-server messages by
type gives the requests a call cost: 0x03 RPC (sp_prepexec, sp_execute, sp_unprepare,
sp_describe_undeclared_parameters, ...), 0x01 SQL batch, 0x0E transaction manager. It only reads
headers, so it works wherever the session is not encrypted after login (a local Babelfish, or
FreeTDS with Encryption=off); it binds to 127.0.0.1 and forwards to the server it is given.
"""

from __future__ import annotations

import socket
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

REQUEST_TYPES = {0x01: "batch", 0x03: "rpc", 0x0E: "transaction"}


class TdsCounter:
    """Counts of client messages by kind, and the RPC procedure names or ids where they can be read."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: Counter[str] = Counter()

    def requests(self) -> int:
        with self.lock:
            return sum(self.messages[k] for k in REQUEST_TYPES.values())

    def reset(self) -> None:
        with self.lock:
            self.messages.clear()

    def count(self, packet_type: int) -> None:
        with self.lock:
            self.messages[REQUEST_TYPES.get(packet_type, f"type-{packet_type:#04x}")] += 1


def _pump(source: socket.socket, target: socket.socket, counter: TdsCounter | None) -> None:
    buffer = b""
    try:
        while data := source.recv(65536):
            target.sendall(data)
            if counter is None:
                continue
            buffer += data
            while len(buffer) >= 8:
                length = int.from_bytes(buffer[2:4], "big")
                if length < 8 or len(buffer) < length:
                    break
                if buffer[1] & 0x01:  # end of message
                    counter.count(buffer[0])
                buffer = buffer[length:]
    except OSError:
        pass
    finally:
        for s in (source, target):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


@contextmanager
def counting_proxy(host: str, port: int) -> Iterator[tuple[int, TdsCounter]]:
    """A proxy on 127.0.0.1:<free port> to ``host:port``; yields (its port, the counter)."""
    counter = TdsCounter()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                continue
            upstream = socket.create_connection((host, port), timeout=10)
            upstream.settimeout(None)
            client.settimeout(None)
            threading.Thread(target=_pump, args=(client, upstream, counter), daemon=True).start()
            threading.Thread(target=_pump, args=(upstream, client, None), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], counter
    finally:
        stop.set()
        thread.join()
        listener.close()
