"""The two transports of :class:`~airflow_lg.hooks.langgraph.LangGraphHook`: the only code that
differs between sync and async. Each owns its clients and its request gate, and sends the
:class:`~airflow_lg.wire.Call` objects the wire package builds; every step that does no I/O
(building requests, decoding answers, retry decisions, the stream cursor) is shared from there.

The first try of a call runs outside tenacity: most calls succeed at once, and building a retry
loop for each would cost more than the request on a local server. A retryable failure hands the
call to tenacity, which judges that first failure like any other.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import threading
import time
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager, nullcontext
from typing import Any, TypeVar, cast

import httpx
from tenacity import AsyncRetrying, RetryCallState, Retrying, retry_if_exception

from airflow_lg import wire
from airflow_lg.exceptions import LangGraphError
from airflow_lg.hooks._outages import OUTAGE_RETRY_WAIT, Outage
from airflow_lg.hooks._settings import ClientSettings
from airflow_lg.wire import Call, SSEParser, StreamCall, StreamCursor

T = TypeVar("T")


# ---- what both transports share (no I/O) ------------------------------------------------------


def _limits(settings: ClientSettings, size: int | None = None) -> httpx.Limits:
    # Idle connections are dropped after 4 s, before the server's own 5 s keep-alive closes
    # them: a run creation sent on a connection the server is closing would fail, and could
    # not be retried safely.
    size = size or settings.max_connections
    return httpx.Limits(max_connections=size, max_keepalive_connections=size, keepalive_expiry=4.0)


def _base_headers(settings: ClientSettings) -> dict[str, str]:
    from airflow_lg import __version__

    return {"User-Agent": f"airflow-lg/{__version__}", **settings.request_headers()}


@functools.lru_cache(maxsize=32)
def _ssl_context(verify: bool | str) -> ssl.SSLContext:
    # Building a context costs ~10 ms of CPU; one per long poll would dominate its cost.
    return httpx.create_ssl_context(verify=verify)


def _client_args(settings: ClientSettings, limits: httpx.Limits) -> dict[str, Any]:
    return {
        "base_url": settings.base_url,
        "headers": _base_headers(settings),
        "timeout": settings.httpx_timeout(),
        "verify": _ssl_context(settings.verify),
        "limits": limits,
    }


def _retry_kwargs(
    call: Call[Any], settings: ClientSettings, log: Any, outage: Outage
) -> dict[str, Any]:
    """tenacity settings for one call: what to retry, how long to wait, when to give up.
    Inside a wait, an outage is tried again until the connection's outage budget is spent."""
    policy = call.retry or settings.retry

    def wait(state: RetryCallState) -> float:
        if outage.active and wire.is_outage(_exception(state)):
            return OUTAGE_RETRY_WAIT
        return wire.retry_wait(_exception(state), policy.backoff(state.attempt_number))

    def stop(state: RetryCallState) -> bool:
        if outage.rides(_exception(state)):
            return False
        return state.attempt_number >= policy.max_attempts or wire.retry_after_too_long(
            _exception(state), policy
        )

    def before_sleep(state: RetryCallState) -> None:
        if outage.active:
            return  # logged once when it began
        log.warning(
            "LangGraph %s %s failed (%s); retry %d of %d in %.1f s",
            call.method,
            call.path,
            _exception(state),
            state.attempt_number,
            policy.max_attempts - 1,
            state.upcoming_sleep,
        )

    return {
        "retry": retry_if_exception(lambda exc: _retryable(exc, call, outage)),
        "wait": wait,
        "stop": stop,
        "before_sleep": before_sleep,
        "reraise": True,
    }


def _retryable(exc: BaseException | None, call: Call[Any], outage: Outage) -> bool:
    return exc is not None and wire.is_retryable(exc, call) and not outage.silent_server(exc)


def _exception(state: RetryCallState) -> BaseException | None:
    return state.outcome.exception() if state.outcome else None


def _stream_break(
    cursor: StreamCursor, exc: httpx.TransportError, settings: ClientSettings, log: Any
) -> float:
    """After a stream broke off: point the cursor at the resumption, or raise; the delay."""
    policy = cursor.stream.call.retry or settings.retry
    cursor.resume(exc, policy.max_attempts)
    log.warning(
        "LangGraph stream of run %s broke off (%s); resuming after event %s",
        cursor.run_id,
        type(exc).__name__,
        cursor.last_event_id or "(none)",
    )
    return policy.backoff(cursor.breaks)


def _send_error(
    call: Call[Any], exc: httpx.TransportError, settings: ClientSettings, outage: Outage
) -> LangGraphError:
    """A request that got no answer (its headers never came), as a typed error."""
    waited = wire.read_timeout(call, settings)
    error = wire.transport_error(call, exc, settings.base_url, waited=waited)
    if error.no_response:
        outage.silences += 1
    return error


_UNREACHABLE = "unreachable: tenacity re-raises the last error"


# ---- sync ---------------------------------------------------------------------------------------


class SyncTransport:
    """One keep-alive pooled ``httpx.Client`` per hook; a request gate per connection settings,
    shared by every hook of the process (back-pressure for backfills)."""

    _gates: dict[str, threading.BoundedSemaphore] = {}
    _gates_lock = threading.Lock()

    def __init__(self, settings: ClientSettings, log: Any) -> None:
        self.settings = settings
        self.log = log
        self.outage = Outage(settings.base_url, settings.outage_budget, log)
        self._client: httpx.Client | None = None
        key = settings.fingerprint()
        with self._gates_lock:
            gate = self._gates.get(key)
            if gate is None:
                gate = self._gates[key] = threading.BoundedSemaphore(
                    settings.max_concurrent_requests
                )
        self._gate_slot = gate

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(**_client_args(self.settings, _limits(self.settings)))
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _retrying(self, call: Call[Any]) -> dict[str, Any]:
        return _retry_kwargs(call, self.settings, self.log, self.outage)

    def _gate(self, call: Call[Any]) -> AbstractContextManager[Any]:
        # Long polls are not counted: their number is each caller's own business.
        return nullcontext() if call.long_poll else self._gate_slot

    def execute(self, call: Call[T]) -> T:
        try:
            try:
                with self._gate(call):
                    return self._exchange(call)
            except LangGraphError as exc:
                if not _retryable(exc, call, self.outage):
                    raise
                first = exc
            try:
                return self._retry(call, first)
            except LangGraphError as exc:
                raise self.outage.exceeded(exc) from exc
        except wire.Rejoin as rejoin:
            # Outside the retry loop on purpose: whatever happens to the re-join, the request
            # that created the run must never be sent again.
            return cast(T, self.execute(rejoin.call))

    def _retry(self, call: Call[T], first: LangGraphError) -> T:
        failed: LangGraphError | None = first
        for attempt in Retrying(**self._retrying(call)):
            with attempt:
                if failed is not None:
                    error, failed = failed, None
                    raise error  # the first try, already made
                with self._gate(call):
                    return self._exchange(call)
        raise AssertionError(_UNREACHABLE)

    def _exchange(self, call: Call[T]) -> T:
        response = self._send(call)
        try:
            wire.notify_run_created(call, response)  # before a long body: the run exists
            try:
                response.read()
            except httpx.TransportError as exc:
                raise wire.broken_body(call, response, exc, self.settings.base_url) from exc
            return wire.decode_response(call, response)
        finally:
            response.close()

    def _send(self, call: Call[Any]) -> httpx.Response:
        request = self.client.build_request(**wire.request_args(call, self.settings))
        try:
            response = self.client.send(request, stream=True)
        except httpx.TransportError as exc:
            raise _send_error(call, exc, self.settings, self.outage) from exc
        self.outage.heard(response.status_code)
        return response

    def _open(self, call: Call[Any]) -> httpx.Response:
        """Send a stream request (retried like any call) and return the open response."""
        for attempt in Retrying(**self._retrying(call)):
            with attempt:
                response = self._send(call)
                if response.is_error:
                    try:
                        response.read()
                    except httpx.TransportError as exc:
                        raise wire.transport_error(call, exc, self.settings.base_url) from exc
                    finally:
                        response.close()
                    wire.decode_response(call, response)
                return response
        raise AssertionError(_UNREACHABLE)

    def stream(self, stream: StreamCall) -> Iterator[Any]:
        cursor = StreamCursor(stream, stream.call.on_run_created)
        while True:
            response = self._open(cursor.stream.call)
            delay = 0.0
            try:
                cursor.on_response(response)
                parser = SSEParser()
                for chunk in response.iter_bytes():
                    yield from cursor.accepted(parser.feed(chunk))
                yield from cursor.accepted(parser.flush())
                # EOF: the server has no `end` event, it just closes the stream
                if not cursor.check_tail():
                    return
            except httpx.TransportError as exc:
                delay = _stream_break(cursor, exc, self.settings, self.log)
            finally:
                response.close()
            time.sleep(delay)


# ---- async --------------------------------------------------------------------------------------


_ONE_CONNECTION = httpx.Limits(max_connections=1, max_keepalive_connections=0)


class _LoopPools:
    """The pooled clients and gates of each event loop, per connection settings. A triggerer
    runs many triggers (each with its own hook) on one loop: they share these, and they die
    with their loop."""

    clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, httpx.AsyncClient]]
    gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Semaphore]]

    def __init__(self) -> None:
        self.clients = weakref.WeakKeyDictionary()
        self.gates = weakref.WeakKeyDictionary()

    def client(self, settings: ClientSettings) -> httpx.AsyncClient:
        pool = self.clients.setdefault(asyncio.get_running_loop(), {})
        key = settings.fingerprint()
        client = pool.get(key)
        if client is None or client.is_closed:
            # The pool only carries short requests (long polls have connections of their
            # own), of which the gate lets max_concurrent_requests through at once: more
            # connections would sit idle, and httpcore rescans every one on every request.
            size = min(settings.max_connections, settings.max_concurrent_requests)
            args = _client_args(settings, _limits(settings, size))
            client = pool[key] = httpx.AsyncClient(**args)
        return client

    def gate(self, settings: ClientSettings) -> asyncio.Semaphore:
        gates = self.gates.setdefault(asyncio.get_running_loop(), {})
        key = settings.fingerprint()
        if key not in gates:
            gates[key] = asyncio.Semaphore(settings.max_concurrent_requests)
        return gates[key]

    async def aclose(self) -> None:
        """Close the running loop's clients (before the loop itself closes)."""
        for client in self.clients.pop(asyncio.get_running_loop(), {}).values():
            await client.aclose()


POOLS = _LoopPools()


class AsyncTransport:
    """Short requests share the loop's pooled client and gate; each long poll (wait, join,
    stream) gets a one-connection client of its own, closed with its response: thousands of
    joins in one triggerer would otherwise queue behind each other in one pool."""

    def __init__(self, settings: ClientSettings, log: Any) -> None:
        self.settings = settings
        self.log = log
        self.outage = Outage(settings.base_url, settings.outage_budget, log)
        self._gate_slot: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None

    def _retrying(self, call: Call[Any]) -> dict[str, Any]:
        return _retry_kwargs(call, self.settings, self.log, self.outage)

    def _gate(self, call: Call[Any]) -> AbstractAsyncContextManager[Any]:
        if call.long_poll:
            return nullcontext()
        loop = asyncio.get_running_loop()
        if self._gate_slot is None or self._gate_slot[0] is not loop:
            self._gate_slot = (loop, POOLS.gate(self.settings))
        return self._gate_slot[1]

    def client_for(self, call: Call[Any] | None = None) -> httpx.AsyncClient:
        if call is not None and call.long_poll:
            return httpx.AsyncClient(**_client_args(self.settings, _ONE_CONNECTION))
        return POOLS.client(self.settings)

    async def execute(self, call: Call[T]) -> T:
        try:
            try:
                async with self._gate(call):
                    return await self._exchange(call)
            except LangGraphError as exc:
                if not _retryable(exc, call, self.outage):
                    raise
                first = exc
            try:
                return await self._retry(call, first)
            except LangGraphError as exc:
                raise self.outage.exceeded(exc) from exc
        except wire.Rejoin as rejoin:
            return cast(T, await self.execute(rejoin.call))

    async def _retry(self, call: Call[T], first: LangGraphError) -> T:
        failed: LangGraphError | None = first
        async for attempt in AsyncRetrying(**self._retrying(call)):
            with attempt:
                if failed is not None:
                    error, failed = failed, None
                    raise error
                async with self._gate(call):
                    return await self._exchange(call)
        raise AssertionError(_UNREACHABLE)

    async def _exchange(self, call: Call[T]) -> T:
        response = await self._send(call)
        try:
            wire.notify_run_created(call, response)
            try:
                await response.aread()
            except httpx.TransportError as exc:
                raise wire.broken_body(call, response, exc, self.settings.base_url) from exc
            return wire.decode_response(call, response)
        finally:
            await response.aclose()

    async def _send(self, call: Call[Any]) -> httpx.Response:
        client = self.client_for(call)
        request = client.build_request(**wire.request_args(call, self.settings))
        try:
            response = await client.send(request, stream=True)
        except httpx.TransportError as exc:
            raise _send_error(call, exc, self.settings, self.outage) from exc
        self.outage.heard(response.status_code)
        return response

    async def _open(self, call: Call[Any]) -> httpx.Response:
        async for attempt in AsyncRetrying(**self._retrying(call)):
            with attempt:
                response = await self._send(call)
                if response.is_error:
                    try:
                        await response.aread()
                    except httpx.TransportError as exc:
                        raise wire.transport_error(call, exc, self.settings.base_url) from exc
                    finally:
                        await response.aclose()
                    wire.decode_response(call, response)
                return response
        raise AssertionError(_UNREACHABLE)

    async def stream(self, stream: StreamCall) -> AsyncIterator[Any]:
        cursor = StreamCursor(stream, stream.call.on_run_created)
        while True:
            response = await self._open(cursor.stream.call)
            delay = 0.0
            try:
                cursor.on_response(response)
                parser = SSEParser()
                async for chunk in response.aiter_bytes():
                    for part in cursor.accepted(parser.feed(chunk)):
                        yield part
                for part in cursor.accepted(parser.flush()):
                    yield part
                if not cursor.check_tail():
                    return
            except httpx.TransportError as exc:
                delay = _stream_break(cursor, exc, self.settings, self.log)
            finally:
                await response.aclose()
            await asyncio.sleep(delay)
