"""A real HTTP proxy in front of the real Agent Server, for faults the server cannot be made to do.

``FaultProxy`` is an ASGI app run by uvicorn (h11) in a background thread on a free loopback
port. It forwards every request (method, path, query, headers, body) upstream with
``httpx.AsyncClient`` and streams the answer back chunk by chunk, so SSE streams and the
long-poll bodies of ``wait``/``join`` (newline heartbeats, then JSON) pass through unchanged.

Faults are matched by method and a path regex (``re.search`` on the path, without the query),
first added first, each for ``times`` requests (``None``: every request)::

    proxy.respond(503, method="POST", path=r"/runs/wait$")        # answer, do not forward
    proxy.rate_limit(retry_after=1, path=r"/runs$")                 # 429 + Retry-After: 1
    proxy.drop(forward=True, method="POST", path=r"/runs$")        # reaches server, answer lost
    proxy.drop(forward=False)                                       # never reaches the server
    proxy.delay(5.0, stage="request")                               # wait, then forward
    proxy.delay(5.0, stage="response")                              # forward, wait, then answer
    proxy.cut_stream(2, path=r"/stream$")                           # close after 2 SSE events

Every request is recorded (``proxy.requests``, ``proxy.find(...)``) with its monotonic arrival
time, method, path, query, headers, body, the fault applied, whether it was forwarded and the
status sent back, so tests can assert e.g. "exactly one POST reached upstream".
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, TypeGuard

import httpx
import uvicorn

logger = logging.getLogger(__name__)

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
FaultKind = Literal["respond", "drop", "delay", "cut_stream", "gateway_error", "end_stream"]

# Hop-by-hop headers (RFC 9110 §7.6.1) plus the ones the forwarding layer recomputes.
_HOP_HEADERS = frozenset(
    {
        "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
        "trailer", "transfer-encoding", "upgrade", "host", "content-length",
    }
)  # fmt: skip
_SSE_BOUNDARY = re.compile(rb"\r\n\r\n|\n\n|\r\r")
_UPSTREAM_TIMEOUT = httpx.Timeout(connect=5.0, read=None, write=30.0, pool=None)


@dataclass
class Fault:
    """One scripted fault. ``remaining=None`` means unlimited; ``hits`` counts applications."""

    kind: FaultKind
    method: str | None = None
    path: str = ""
    remaining: int | None = 1
    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    forward: bool = True
    seconds: float = 0.0
    stage: Literal["request", "response"] = "request"
    after_events: int = 0
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.remaining is not None and self.remaining <= 0:
            return False
        if self.method is not None and self.method.upper() != method:
            return False
        return re.search(self.path, path) is not None


@dataclass
class RecordedRequest:
    """A request as the proxy received it, and what became of it."""

    time: float  # time.monotonic() on arrival
    method: str
    path: str
    query: str
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    body: bytes
    fault: FaultKind | None = None
    forwarded: bool = False  # the request was sent upstream
    status: int | None = None  # status sent to the client; None if dropped before answering
    upstream_status: int | None = None

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class FaultProxy:
    """The proxy; see the module docstring. Start with ``start()`` or use as a context manager."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self._faults: list[Fault] = []
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._client: httpx.AsyncClient | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- scripting faults ------------------------------------------------------------------

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def respond(
        self,
        status: int,
        *,
        method: str | None = None,
        path: str = "",
        times: int | None = 1,
        headers: Mapping[str, str] | None = None,
        body: bytes | str | dict[str, Any] | None = None,
    ) -> Fault:
        """Answer ``status`` without forwarding (default body ``{"detail": "..."}``)."""
        if body is None:
            body = {"detail": f"fault proxy: injected {status}"}
        if isinstance(body, dict):
            body = json.dumps(body)
            headers = {"content-type": "application/json", **(headers or {})}
        raw = body.encode() if isinstance(body, str) else body
        fault = Fault(
            "respond", method, path, times, status=status, headers=dict(headers or {}), body=raw
        )
        return self.add(fault)

    def rate_limit(
        self,
        *,
        retry_after: int | str = 1,
        method: str | None = None,
        path: str = "",
        times: int | None = 1,
    ) -> Fault:
        """Answer 429 with ``Retry-After`` (seconds or an HTTP date) without forwarding."""
        headers = {"retry-after": str(retry_after)}
        return self.respond(429, method=method, path=path, times=times, headers=headers)

    def gateway_error(
        self,
        status: int = 502,
        *,
        method: str | None = None,
        path: str = "",
        times: int | None = 1,
    ) -> Fault:
        """Forward the request, let the server finish it, then answer ``status`` (a gateway
        that failed after the upstream did the work: the client cannot know it was done)."""
        return self.add(Fault("gateway_error", method, path, times, status=status))

    def drop(
        self,
        *,
        forward: bool = True,
        method: str | None = None,
        path: str = "",
        times: int | None = 1,
    ) -> Fault:
        """Close the connection without answering.

        ``forward=True``: first send the request upstream and read its whole answer (so the
        server did the work), then drop it: the client sees a transport error although e.g.
        the run was created. ``forward=False``: drop at once; the server never sees it.
        """
        return self.add(Fault("drop", method, path, times, forward=forward))

    def delay(
        self,
        seconds: float,
        *,
        stage: Literal["request", "response"] = "request",
        method: str | None = None,
        path: str = "",
        times: int | None = 1,
    ) -> Fault:
        """Wait ``seconds`` before forwarding (``request``) or before answering (``response``).

        If the client gives up during a ``request`` delay, nothing is forwarded.
        """
        return self.add(Fault("delay", method, path, times, seconds=seconds, stage=stage))

    def cut_stream(
        self,
        after_events: int,
        *,
        method: str | None = None,
        path: str = "",
        times: int | None = 1,
    ) -> Fault:
        """Forward, pass ``after_events`` SSE events back, then close the connection abruptly.

        Heartbeat comments (``: ...``) are passed on but not counted. The client sees an
        incomplete chunked body (httpx: ``RemoteProtocolError``).
        """
        return self.add(Fault("cut_stream", method, path, times, after_events=after_events))

    def end_stream_early(
        self,
        after_events: int,
        *,
        method: str | None = None,
        path: str = "",
        times: int | None = 1,
    ) -> Fault:
        """Forward, pass ``after_events`` SSE events back, then END the body cleanly (a proper
        last chunk): to the client the stream looks complete although events are missing."""
        return self.add(Fault("end_stream", method, path, times, after_events=after_events))

    def clear(self) -> None:
        """Forget all faults and recorded requests."""
        with self._lock:
            self._faults.clear()
            self._requests.clear()

    # --- the request log -------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def find(
        self,
        method: str | None = None,
        path: str | None = None,
        *,
        forwarded: bool | None = None,
        fault: FaultKind | Literal["none"] | None = None,
    ) -> list[RecordedRequest]:
        """Recorded requests filtered by method, path regex (``re.search``), forwarded, fault."""
        return [
            r
            for r in self.requests
            if (method is None or r.method == method.upper())
            and (path is None or re.search(path, r.path))
            and (forwarded is None or r.forwarded == forwarded)
            and (fault is None or r.fault == (None if fault == "none" else fault))
        ]

    # --- lifecycle -------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> FaultProxy:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app,
            interface="asgi3",  # a bound method would otherwise be taken for ASGI2
            http="h11",  # _drop_connection relies on h11's cycle object (see there)
            loop="asyncio",
            lifespan="on",
            log_config=None,  # leave the test session's logging alone
            log_level="warning",
            access_log=False,
            proxy_headers=False,
            server_header=False,  # pass upstream's Server and Date headers on unchanged
            date_header=False,
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="fault-proxy", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("fault proxy did not start")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(timeout)
        self._server = self._thread = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- the ASGI app ----------------------------------------------------------------------

    async def _app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._handle(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                # trust_env=False: never route loopback traffic through an HTTP_PROXY.
                self._client = httpx.AsyncClient(timeout=_UPSTREAM_TIMEOUT, trust_env=False)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._client is not None:
                    await self._client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        record = self._record(scope, await _read_body(receive))
        fault = self._take_fault(record)
        disconnected = asyncio.Event()
        watcher = asyncio.create_task(_watch_disconnect(receive, disconnected))
        try:
            await self._apply(fault, record, send, disconnected)
        except Exception:
            logger.exception("fault proxy failed on %s %s", record.method, record.path)
            if record.status is None and not disconnected.is_set():
                await _answer(send, record, 502, {}, b'{"detail": "fault proxy: upstream error"}')
        finally:
            watcher.cancel()

    def _record(self, scope: Scope, body: bytes) -> RecordedRequest:
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        record = RecordedRequest(
            time=time.monotonic(),
            method=scope["method"],
            path=scope["path"],
            query=scope["query_string"].decode("latin-1"),
            headers=headers,
            body=body,
        )
        with self._lock:
            self._requests.append(record)
        return record

    def _take_fault(self, record: RecordedRequest) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(record.method, record.path):
                    if fault.remaining is not None:
                        fault.remaining -= 1
                    fault.hits += 1
                    record.fault = fault.kind
                    return fault
        return None

    async def _apply(
        self,
        fault: Fault | None,
        record: RecordedRequest,
        send: Send,
        disconnected: asyncio.Event,
    ) -> None:
        if fault is not None and fault.kind == "respond":
            await _answer(send, record, fault.status, fault.headers, fault.body)
            return
        if fault is not None and fault.kind == "drop" and not fault.forward:
            await _drop_connection(send)
            return
        if _is_delay(fault, "request") and await _sleep_unless(fault.seconds, disconnected):
            return  # the client gave up: like a request lost before reaching the server
        await self._forward(fault, record, send, disconnected)

    async def _forward(
        self,
        fault: Fault | None,
        record: RecordedRequest,
        send: Send,
        disconnected: asyncio.Event,
    ) -> None:
        assert self._client is not None
        request = self._client.build_request(
            record.method,
            f"{self.upstream}{record.path}",
            params=record.query or None,
            headers=[(k, v) for k, v in record.headers.items() if k not in _HOP_HEADERS],
            content=record.body,
        )
        record.forwarded = True
        try:
            upstream = await self._client.send(request, stream=True)
        except httpx.TransportError as error:
            # A refused connection certainly did not reach the server; other errors may have.
            record.forwarded = not isinstance(error, httpx.ConnectError)
            await _answer(send, record, 502, {}, b'{"detail": "fault proxy: upstream unreachable"}')
            return
        record.upstream_status = upstream.status_code
        try:
            await self._respond_from(upstream, fault, record, send, disconnected)
        finally:
            await upstream.aclose()

    async def _respond_from(
        self,
        upstream: httpx.Response,
        fault: Fault | None,
        record: RecordedRequest,
        send: Send,
        disconnected: asyncio.Event,
    ) -> None:
        kind = fault.kind if fault else None
        if fault is not None and kind == "drop":
            await upstream.aread()  # let the server finish its work, then lose the answer
            await _drop_connection(send)
            return
        if fault is not None and kind == "gateway_error":
            await upstream.aread()  # the server did the work; the gateway reports a failure
            body = b'{"detail": "fault proxy: gateway error after forwarding"}'
            await _answer(send, record, fault.status, {"content-type": "application/json"}, body)
            return
        if _is_delay(fault, "response") and await _sleep_unless(fault.seconds, disconnected):
            return
        headers = [(k, v) for k, v in upstream.headers.multi_items() if k not in _HOP_HEADERS]
        if "content-length" in upstream.headers:  # raw bytes are passed on, so it still holds
            headers.append(("content-length", upstream.headers["content-length"]))
        await _start(send, record, upstream.status_code, headers)
        chunks = upstream.aiter_raw()
        if fault is not None and kind in ("cut_stream", "end_stream"):
            chunks = _sse_blocks(chunks)
        pump = asyncio.create_task(self._pump(chunks, fault, send))
        stopper = asyncio.create_task(disconnected.wait())
        done, _ = await asyncio.wait({pump, stopper}, return_when=asyncio.FIRST_COMPLETED)
        for task in (pump, stopper):
            task.cancel()
        if pump in done:
            pump.result()  # re-raise errors

    async def _pump(self, chunks: AsyncIterator[bytes], fault: Fault | None, send: Send) -> None:
        events = 0
        cut_after = fault.after_events if fault and fault.kind == "cut_stream" else None
        end_after = fault.after_events if fault and fault.kind == "end_stream" else None
        if cut_after == 0:
            await _drop_connection(send)
            return
        async for chunk in chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            if (cut_after is not None or end_after is not None) and _is_sse_event(chunk):
                events += 1
                if cut_after is not None and events >= cut_after:
                    await _drop_connection(send)
                    return
                if end_after is not None and events >= end_after:
                    break
        await send({"type": "http.response.body", "body": b"", "more_body": False})


# --- helpers ---------------------------------------------------------------------------------


def _is_delay(fault: Fault | None, stage: str) -> TypeGuard[Fault]:
    return fault is not None and fault.kind == "delay" and fault.stage == stage


async def _read_body(receive: Receive) -> bytes:
    parts: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(parts)


async def _watch_disconnect(receive: Receive, disconnected: asyncio.Event) -> None:
    # After the body, the next message uvicorn delivers is http.disconnect.
    while (await receive())["type"] != "http.disconnect":
        pass
    disconnected.set()


async def _sleep_unless(seconds: float, disconnected: asyncio.Event) -> bool:
    """Sleep; return True early if the client disconnected meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(disconnected.wait(), seconds)
    return disconnected.is_set()


async def _start(
    send: Send, record: RecordedRequest, status: int, headers: Iterable[tuple[str, str]]
) -> None:
    record.status = status
    raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    await send({"type": "http.response.start", "status": status, "headers": raw})


async def _answer(
    send: Send, record: RecordedRequest, status: int, headers: Mapping[str, str], body: bytes
) -> None:
    await _start(send, record, status, [*headers.items(), ("content-length", str(len(body)))])
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _drop_connection(send: Send) -> None:
    """Close the client's TCP connection now, whether or not a response was started.

    ASGI has no "close without answering" (uvicorn turns an app error before the response into
    a 500), so reach the transport through uvicorn's h11 RequestResponseCycle, whose bound
    ``send`` this is. close() flushes what was already sent (e.g. SSE events), then FINs.
    """
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise RuntimeError("fault proxy: cannot reach the connection to drop it")
    transport.close()
    # Let connection_lost run, so uvicorn knows the client is gone and sends nothing more.
    for _ in range(3):
        await asyncio.sleep(0)


async def _sse_blocks(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Re-chunk an SSE byte stream into whole blocks (each ending with its blank line)."""
    buffer = b""
    async for chunk in chunks:
        buffer += chunk
        while match := _SSE_BOUNDARY.search(buffer):
            yield buffer[: match.end()]
            buffer = buffer[match.end() :]
    if buffer:
        yield buffer


def _is_sse_event(block: bytes) -> bool:
    """A block with at least one field line; comment-only blocks (heartbeats) do not count."""
    lines = [line for line in re.split(rb"\r\n|\n|\r", block) if line]
    return any(not line.startswith(b":") for line in lines)
