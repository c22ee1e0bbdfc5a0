"""A transparent TCP proxy that counts the HTTP/1.1 requests passing through it.

    python bench/count_proxy.py http://127.0.0.1:PORT

prints ``{"port": P, "control": C}`` on one line, then forwards every connection made to
127.0.0.1:P to the upstream server, bytes unchanged in both directions (keep-alive, long polls,
server-sent events and heartbeats all pass through as they are). It reads the client-to-server
bytes only to count requests: the request line and headers, skipping ``Content-Length`` bytes
of body. The benchmarks count requests this way so that the provider under test is not patched
or instrumented at all.

The control port answers one line commands: ``COUNTS`` (a JSON object: requests by kind,
total, connections opened, most connections open at once) and ``RESET``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sys
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

HIGH_WATER = 256 * 1024

_KINDS = (
    ("GET", re.compile(r"^/threads/[^/]+/runs/[^/]+/join$"), "join"),
    ("GET", re.compile(r"^/threads/[^/]+/runs/[^/]+/stream$"), "join_stream"),
    ("GET", re.compile(r"^/threads/[^/]+/runs/[^/]+$"), "get_run"),
    ("POST", re.compile(r"^/runs/batch$"), "create_batch"),
    ("POST", re.compile(r"^(/threads/[^/]+)?/runs/wait$"), "wait_run"),
    ("POST", re.compile(r"^(/threads/[^/]+)?/runs/stream$"), "stream_run"),
    ("POST", re.compile(r"^(/threads/[^/]+)?/runs$"), "create_run"),
    ("POST", re.compile(r"^/threads/[^/]+/runs/[^/]+/cancel$"), "cancel_run"),
    ("POST", re.compile(r"^/threads/[^/]+/history$"), "thread_history"),
    ("POST", re.compile(r"^/threads/search$"), "search_threads"),
    ("GET", re.compile(r"^/threads/[^/]+$"), "get_thread"),
)


def kind_of(method: str, target: str) -> str:
    path = target.split("?", 1)[0]
    for want, pattern, kind in _KINDS:
        if method == want and pattern.match(path):
            return kind
    return f"{method} other"


class Stats:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.kinds: Counter[str] = Counter()
        self.connections = 0
        self.open = 0
        self.max_open = 0
        self.unparsed = 0

    def snapshot(self) -> dict[str, Any]:
        return {
            "requests": sum(self.kinds.values()),
            "kinds": dict(self.kinds),
            "connections": self.connections,
            "max_open_connections": self.max_open,
            "unparsed": self.unparsed,
        }


STATS = Stats()


class RequestCounter:
    """Finds request boundaries in a client-to-server HTTP/1.1 byte stream."""

    def __init__(self) -> None:
        self.buffer = b""
        self.body_left = 0
        self.broken = False

    def feed(self, data: bytes) -> None:
        if self.broken:
            return
        if self.body_left:
            taken = min(self.body_left, len(data))
            self.body_left -= taken
            data = data[taken:]
        self.buffer += data
        while not self.body_left and self.buffer:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > 65536:
                    self._give_up()
                return
            head, self.buffer = self.buffer[:end], self.buffer[end + 4 :]
            lines = head.decode("latin-1").split("\r\n")
            parts = lines[0].split(" ")
            if len(parts) < 2:
                self._give_up()
                return
            STATS.kinds[kind_of(parts[0], parts[1])] += 1
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value.strip())
                elif name == "transfer-encoding" and "chunked" in value.lower():
                    self._give_up()  # no client here sends chunked requests
                    return
            taken = min(length, len(self.buffer))
            self.buffer = self.buffer[taken:]
            self.body_left = length - taken

    def _give_up(self) -> None:
        STATS.unparsed += 1
        self.broken = True
        self.buffer = b""


class Pipe(asyncio.Protocol):
    """One side of a proxied connection; writes what it receives to its peer."""

    def __init__(self, counter: RequestCounter | None = None) -> None:
        self.counter = counter
        self.transport: asyncio.Transport | None = None
        self.peer: Pipe | None = None
        self.pending: list[bytes] = []
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.set_write_buffer_limits(high=HIGH_WATER)  # type: ignore[union-attr]

    def data_received(self, data: bytes) -> None:
        if self.counter is not None:
            self.counter.feed(data)
        peer = self.peer
        if peer is None or peer.transport is None:
            self.pending.append(data)
            if self.transport is not None:
                self.transport.pause_reading()
            return
        peer.transport.write(data)

    def flush_to_peer(self) -> None:
        assert self.peer is not None and self.peer.transport is not None
        for data in self.pending:
            self.peer.transport.write(data)
        self.pending.clear()
        if self.transport is not None and not self.closed:
            self.transport.resume_reading()

    def pause_writing(self) -> None:  # our buffer is full: stop reading the peer
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None and not self.peer.closed:
            self.peer.transport.resume_reading()

    def eof_received(self) -> bool | None:
        # HTTP/1.1 clients and servers do not half-close: an EOF ends the connection, and
        # connection_lost closes the peer (after it has written what it holds).
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.close()


class ClientSide(Pipe):
    def __init__(self, host: str, port: int) -> None:
        super().__init__(RequestCounter())
        self.host, self.port = host, port

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        STATS.connections += 1
        STATS.open += 1
        STATS.max_open = max(STATS.max_open, STATS.open)
        asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, upstream = await loop.create_connection(Pipe, self.host, self.port)
        except OSError:
            if self.transport is not None:
                self.transport.close()
            return
        upstream.peer, self.peer = self, upstream
        if self.closed:
            assert upstream.transport is not None
            upstream.transport.close()
            return
        self.flush_to_peer()

    def connection_lost(self, exc: Exception | None) -> None:
        STATS.open -= 1
        super().connection_lost(exc)


async def control(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    command = (await reader.readline()).decode().strip().upper()
    if command == "RESET":
        STATS.reset()
        answer: Any = {"ok": True}
    else:
        answer = STATS.snapshot()
    writer.write(json.dumps(answer).encode() + b"\n")
    await writer.drain()
    writer.close()


async def main(upstream: str) -> None:
    parts = urlsplit(upstream)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: ClientSide(host, port), "127.0.0.1", 0, backlog=4096)
    controller = await asyncio.start_server(control, "127.0.0.1", 0)
    ports = {
        "port": server.sockets[0].getsockname()[1],
        "control": controller.sockets[0].getsockname()[1],
    }
    print(json.dumps(ports), flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    try:
        import uvloop  # a cheaper loop: the proxy shares the machine with what it measures

        run = uvloop.run
    except ImportError:
        run = asyncio.run
    with contextlib.suppress(KeyboardInterrupt):
        run(main(sys.argv[1]))
