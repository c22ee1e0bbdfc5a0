"""LangGraphHook: the runs API of a LangGraph Agent Server, for Airflow.

Every operation has a sync method named after ``langgraph_sdk``'s ``RunsClient`` (with the
SDK's parameter names and defaults) and an async twin prefixed ``a`` for triggers::

    hook = LangGraphHook("langgraph_default")
    result = hook.wait_run(None, "my_agent", input={"question": "..."})
    run = await hook.acreate_run(thread_id, "my_agent", input=..., on_completion="keep")
    async for part in hook.ajoin_stream(thread_id, run_id, stream_mode="updates"): ...

Both twins execute the same request descriptions from :mod:`airflow_lg.hooks._wire`; only the
transport (``httpx.Client`` vs ``httpx.AsyncClient``) differs. Each operation also takes
``retry=RetryPolicy(...)`` to override the connection's retry settings for that call.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import threading
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager, nullcontext
from typing import Any, ClassVar, Generic, ParamSpec, TypeVar, cast

import httpx
from airflow.sdk import BaseHook
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception,
)

from airflow_lg.exceptions import LangGraphError
from airflow_lg.hooks import _wire
from airflow_lg.hooks._settings import ClientSettings, RetryPolicy, settings_from_connection
from airflow_lg.hooks._wire import Call, SSEParser, StreamCall, StreamCursor
from airflow_lg.schema import StreamPart

P = ParamSpec("P")
T = TypeVar("T")

__all__ = ["LangGraphHook", "RetryPolicy", "StreamPart"]


# ---- binding operations to a transport --------------------------------------------------------


class _Operation(Generic[P, T]):
    """Descriptor turning a ``_wire`` builder into a hook method with the builder's signature."""

    def __init__(self, build: Callable[P, Any]) -> None:
        self.build = build

    def __get__(self, hook: LangGraphHook | None, owner: type | None = None) -> Callable[P, T]:
        if hook is None:
            return self  # type: ignore[return-value]
        method = self.bind(hook)
        functools.update_wrapper(method, self.build)
        return method

    def bind(self, hook: LangGraphHook) -> Callable[P, T]:
        raise NotImplementedError


class _sync(_Operation[P, Any]):
    def bind(self, hook: LangGraphHook) -> Callable[P, Any]:
        return lambda *args, **kwargs: hook._execute(self.build(*args, **kwargs))


class _async(_Operation[P, Awaitable[Any]]):
    def bind(self, hook: LangGraphHook) -> Callable[P, Awaitable[Any]]:
        return lambda *args, **kwargs: hook._aexecute(self.build(*args, **kwargs))


class _sync_stream(_Operation[P, Iterator[StreamPart]]):
    def bind(self, hook: LangGraphHook) -> Callable[P, Iterator[StreamPart]]:
        return lambda *args, **kwargs: hook._iter_stream(self.build(*args, **kwargs))


class _async_stream(_Operation[P, AsyncIterator[StreamPart]]):
    def bind(self, hook: LangGraphHook) -> Callable[P, AsyncIterator[StreamPart]]:
        return lambda *args, **kwargs: hook._aiter_stream(self.build(*args, **kwargs))


def _accepted(cursor: StreamCursor, parts: list[StreamPart]) -> Iterator[StreamPart]:
    """The parts the caller has not seen yet."""
    for part in parts:
        if (kept := cursor.accept(part)) is not None:
            yield kept


def _settings_of(conn: Any) -> ClientSettings:
    return settings_from_connection(
        conn.host, conn.schema, conn.port, conn.password, conn.extra_dejson or {}
    )


def _limits(settings: ClientSettings, size: int | None = None) -> httpx.Limits:
    # Idle connections are dropped after 4 s, before the server's own 5 s keep-alive closes
    # them: a run creation sent on a connection the server is closing would fail, and could
    # not be retried safely.
    size = size or settings.max_connections
    return httpx.Limits(max_connections=size, max_keepalive_connections=size, keepalive_expiry=4.0)


def _async_pool_size(settings: ClientSettings) -> int:
    """The shared async pool only carries short requests (long polls have their own
    connections), of which the request gate lets ``max_concurrent_requests`` through at once:
    more connections would sit idle, and httpcore rescans every pooled connection on every
    request."""
    return min(settings.max_connections, settings.max_concurrent_requests)


def _base_headers(settings: ClientSettings) -> dict[str, str]:
    from airflow_lg import __version__

    return {"User-Agent": f"airflow-lg/{__version__}", **settings.request_headers()}


@functools.lru_cache(maxsize=32)
def _ssl_context(verify: bool | str) -> ssl.SSLContext:
    # Building a context costs ~10 ms of CPU; one per long poll would dominate its cost.
    return httpx.create_ssl_context(verify=verify)


_ONE_CONNECTION = httpx.Limits(max_connections=1, max_keepalive_connections=0)


def _long_poll_client(settings: ClientSettings) -> httpx.AsyncClient:
    """A client for one long poll: its single connection is not kept alive, so it closes with
    the response and leaves nothing behind to close."""
    return httpx.AsyncClient(
        base_url=settings.base_url,
        headers=_base_headers(settings),
        timeout=settings.httpx_timeout(),
        verify=_ssl_context(settings.verify),
        limits=_ONE_CONNECTION,
    )


def _server_version(info: Any) -> str:
    if not isinstance(info, dict):
        return "(version unknown)"
    for key in ("version", "langgraph_api_version", "langgraph_api"):
        if info.get(key):
            return str(info[key])
    return "(version unknown)"


def _read_error(
    response: httpx.Response, call: Call[Any], settings: ClientSettings
) -> httpx.Response:
    try:
        response.read()
    except httpx.TransportError as exc:
        raise _wire.transport_error(call, exc, settings.base_url) from exc
    return response


def _notify_run_created(call: Call[Any], response: httpx.Response) -> None:
    if response.is_error:
        return
    if call.on_run_created and (meta := _wire.run_metadata(response)):
        call.on_run_created(meta)


def _retry_kwargs(hook: LangGraphHook, call: Call[Any], settings: ClientSettings) -> dict[str, Any]:
    """tenacity settings for one call: what to retry, how long to wait, when to give up."""
    policy = call.retry or settings.retry

    def wait(state: RetryCallState) -> float:
        return _wire.retry_wait(_exception(state), policy.backoff(state.attempt_number))

    def stop(state: RetryCallState) -> bool:
        return state.attempt_number >= policy.max_attempts or _wire.retry_after_too_long(
            _exception(state), policy
        )

    def before_sleep(state: RetryCallState) -> None:
        hook.log.warning(
            "LangGraph %s %s failed (%s); retry %d of %d in %.1f s",
            call.method,
            call.path,
            _exception(state),
            state.attempt_number,
            policy.max_attempts - 1,
            state.upcoming_sleep,
        )

    return {
        "retry": retry_if_exception(lambda exc: _wire.is_retryable(exc, call)),
        "wait": wait,
        "stop": stop,
        "before_sleep": before_sleep,
        "reraise": True,
    }


def _exception(state: RetryCallState) -> BaseException | None:
    return state.outcome.exception() if state.outcome else None


def _stream_break(hook: LangGraphHook, cursor: StreamCursor, exc: httpx.TransportError) -> float:
    """After a stream broke off: point the cursor at the resumption, or raise; the delay."""
    policy = cursor.stream.call.retry or hook._settings_or_default().retry
    cursor.resume(exc, policy.max_attempts)
    hook.log.warning(
        "LangGraph stream of run %s broke off (%s); resuming after event %s",
        cursor.run_id,
        type(exc).__name__,
        cursor.last_event_id or "(none)",
    )
    return policy.backoff(cursor.breaks)


class LangGraphHook(BaseHook):
    """Talks to one LangGraph Agent Server, described by an Airflow connection.

    :param langgraph_conn_id: the ``langgraph`` connection: host = server URL, password = API
        key (sent as ``x-api-key``), extras = ``headers``, ``timeout``, ``verify``, ``retry``.
    :param retry: retry settings overriding the connection's for every call of this hook.
    """

    conn_name_attr = "langgraph_conn_id"
    default_conn_name = "langgraph_default"
    conn_type = "langgraph"
    hook_name = "LangGraph Agent Server"

    # Async clients are shared per event loop (a triggerer runs many triggers on one loop) and
    # per connection settings; they die with their loop.
    _async_clients: ClassVar[
        weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, httpx.AsyncClient]]
    ] = weakref.WeakKeyDictionary()

    # Back-pressure: one request-slot pool per connection settings, shared by every hook of
    # the process (sync) or of the event loop (async).
    _sync_slots: ClassVar[dict[str, threading.BoundedSemaphore]] = {}
    _slots_lock: ClassVar[threading.Lock] = threading.Lock()
    _async_slots: ClassVar[
        weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Semaphore]]
    ] = weakref.WeakKeyDictionary()

    def __init__(
        self,
        langgraph_conn_id: str = default_conn_name,
        *,
        retry: RetryPolicy | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.langgraph_conn_id = langgraph_conn_id
        self._retry_override = retry
        self._settings: ClientSettings | None = None
        self._client: httpx.Client | None = None
        self._sync_slot: threading.BoundedSemaphore | None = None
        self._async_slot: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(langgraph_conn_id={self.langgraph_conn_id!r})"

    # ---- connection ------------------------------------------------------------------------

    @property
    def settings(self) -> ClientSettings:
        """The connection's client settings (looked up once, the sync way)."""
        if self._settings is None:
            conn = self.get_connection(self.langgraph_conn_id)
            self._settings = self._apply_overrides(_settings_of(conn))
        return self._settings

    async def asettings(self) -> ClientSettings:
        """The connection's client settings, looked up the async way (safe in the triggerer)."""
        if self._settings is None:
            conn = await self.aget_connection(self.langgraph_conn_id)
            self._settings = self._apply_overrides(_settings_of(conn))
        return self._settings

    def _settings_or_default(self) -> ClientSettings:
        return self._settings or ClientSettings(base_url="")

    def _apply_overrides(self, settings: ClientSettings) -> ClientSettings:
        if self._retry_override is None:
            return settings
        from dataclasses import replace

        return replace(settings, retry=self._retry_override)

    def get_conn(self) -> httpx.Client:
        """The sync HTTP client (created once per hook, keep-alive pooled)."""
        if self._client is None:
            s = self.settings
            self._client = httpx.Client(
                base_url=s.base_url,
                headers=_base_headers(s),
                timeout=s.httpx_timeout(),
                verify=_ssl_context(s.verify),
                limits=_limits(s),
            )
        return self._client

    async def aget_conn(self) -> httpx.AsyncClient:
        """The async HTTP client shared by every hook on this event loop with these settings."""
        s = await self.asettings()
        pool = self._async_clients.setdefault(asyncio.get_running_loop(), {})
        key = s.fingerprint()
        client = pool.get(key)
        if client is None or client.is_closed:
            client = pool[key] = httpx.AsyncClient(
                base_url=s.base_url,
                headers=_base_headers(s),
                timeout=s.httpx_timeout(),
                verify=_ssl_context(s.verify),
                limits=_limits(s, _async_pool_size(s)),
            )
        return client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    @classmethod
    async def aclose_loop_clients(cls) -> None:
        """Close the async clients of the running loop (tests and benchmarks tidy up with it)."""
        for client in cls._async_clients.pop(asyncio.get_running_loop(), {}).values():
            await client.aclose()

    def __enter__(self) -> LangGraphHook:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- UI --------------------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """Used by the connection form's Test button: server reachable, version, key accepted."""
        try:
            info = self.info()
            # /ok and /info never need a key; a search does when the server checks keys.
            self.search_threads(limit=1, retry=RetryPolicy(max_attempts=1))
        except LangGraphError as exc:
            return False, str(exc)
        version = _server_version(info)
        return True, f"Connected to LangGraph Agent Server {version} at {self.settings.base_url}"

    # ---- execution: the only code that differs between sync and async ---------------------

    # The first try runs outside tenacity: most calls succeed at once, and building a retry
    # loop for each would cost more than the request on a local server. A retryable failure
    # hands the call to tenacity, which judges that first failure like any other.

    def _execute(self, call: Call[T]) -> T:
        settings = self.settings
        try:
            try:
                with self._slot(call, settings):
                    return self._exchange(call, settings)
            except LangGraphError as exc:
                if not _wire.is_retryable(exc, call):
                    raise
                first = exc
            return self._retry(call, settings, first)
        except _wire.Rejoin as rejoin:
            # Outside the retry loop on purpose: whatever happens to the re-join, the request
            # that created the run must never be sent again.
            return cast(T, self._execute(rejoin.call))

    def _retry(self, call: Call[T], settings: ClientSettings, first: LangGraphError) -> T:
        failed: LangGraphError | None = first
        for attempt in Retrying(**_retry_kwargs(self, call, settings)):
            with attempt:
                if failed is not None:
                    error, failed = failed, None
                    raise error  # the first try, already made
                with self._slot(call, settings):
                    return self._exchange(call, settings)
        raise AssertionError("unreachable: tenacity re-raises the last error")

    def _slot(self, call: Call[Any], settings: ClientSettings) -> AbstractContextManager[Any]:
        if call.long_poll:
            return nullcontext()
        if self._sync_slot is None:
            key = settings.fingerprint()
            with self._slots_lock:
                slot = self._sync_slots.get(key)
                if slot is None:
                    slot = threading.BoundedSemaphore(settings.max_concurrent_requests)
                    self._sync_slots[key] = slot
            self._sync_slot = slot
        return self._sync_slot

    def _aslot(self, call: Call[Any], settings: ClientSettings) -> AbstractAsyncContextManager[Any]:
        if call.long_poll:
            return nullcontext()
        loop = asyncio.get_running_loop()
        if self._async_slot is None or self._async_slot[0] is not loop:
            slots = self._async_slots.setdefault(loop, {})
            key = settings.fingerprint()
            if key not in slots:
                slots[key] = asyncio.Semaphore(settings.max_concurrent_requests)
            self._async_slot = (loop, slots[key])
        return self._async_slot[1]

    def _exchange(self, call: Call[T], settings: ClientSettings) -> T:
        response = self._send(call, settings)
        try:
            _notify_run_created(call, response)  # before a long body: the run exists already
            try:
                response.read()
            except httpx.TransportError as exc:
                raise _wire.broken_body(call, response, exc, settings.base_url) from exc
            return _wire.decode_response(call, response)
        finally:
            response.close()

    def _send(self, call: Call[Any], settings: ClientSettings) -> httpx.Response:
        client = self.get_conn()
        request = client.build_request(**_wire.request_args(call, settings))
        try:
            return client.send(request, stream=True)
        except httpx.TransportError as exc:
            raise _wire.transport_error(call, exc, settings.base_url) from exc

    async def _aexecute(self, call: Call[T]) -> T:
        settings = await self.asettings()
        try:
            try:
                async with self._aslot(call, settings):
                    return await self._aexchange(call, settings)
            except LangGraphError as exc:
                if not _wire.is_retryable(exc, call):
                    raise
                first = exc
            return await self._aretry(call, settings, first)
        except _wire.Rejoin as rejoin:
            return cast(T, await self._aexecute(rejoin.call))

    async def _aretry(self, call: Call[T], settings: ClientSettings, first: LangGraphError) -> T:
        failed: LangGraphError | None = first
        async for attempt in AsyncRetrying(**_retry_kwargs(self, call, settings)):
            with attempt:
                if failed is not None:
                    error, failed = failed, None
                    raise error
                async with self._aslot(call, settings):
                    return await self._aexchange(call, settings)
        raise AssertionError("unreachable: tenacity re-raises the last error")

    async def _aexchange(self, call: Call[T], settings: ClientSettings) -> T:
        response = await self._asend(call, settings)
        try:
            _notify_run_created(call, response)
            try:
                await response.aread()
            except httpx.TransportError as exc:
                raise _wire.broken_body(call, response, exc, settings.base_url) from exc
            return _wire.decode_response(call, response)
        finally:
            await response.aclose()

    async def _asend(self, call: Call[Any], settings: ClientSettings) -> httpx.Response:
        # A long poll holds its connection until the run ends: it gets a connection of its own,
        # closed with its response, instead of a place in the shared pool. Thousands of joins
        # in one triggerer would otherwise queue behind each other, and every pooled request
        # would pay for scanning them.
        client = _long_poll_client(settings) if call.long_poll else await self.aget_conn()
        request = client.build_request(**_wire.request_args(call, settings))
        try:
            return await client.send(request, stream=True)
        except httpx.TransportError as exc:
            raise _wire.transport_error(call, exc, settings.base_url) from exc

    def _open_stream(self, call: Call[Any]) -> httpx.Response:
        """Send a stream request (retried like any call) and return the open response."""
        settings = self.settings
        for attempt in Retrying(**_retry_kwargs(self, call, settings)):
            with attempt:
                response = self._send(call, settings)
                if response.is_error:
                    try:
                        _wire.decode_response(call, _read_error(response, call, settings))
                    finally:
                        response.close()
                return response
        raise AssertionError("unreachable: tenacity re-raises the last error")

    async def _aopen_stream(self, call: Call[Any]) -> httpx.Response:
        settings = await self.asettings()
        async for attempt in AsyncRetrying(**_retry_kwargs(self, call, settings)):
            with attempt:
                response = await self._asend(call, settings)
                if response.is_error:
                    try:
                        try:
                            await response.aread()
                        except httpx.TransportError as exc:
                            raise _wire.transport_error(call, exc, settings.base_url) from exc
                        _wire.decode_response(call, response)
                    finally:
                        await response.aclose()
                return response
        raise AssertionError("unreachable: tenacity re-raises the last error")

    def _iter_stream(self, stream: StreamCall) -> Iterator[StreamPart]:
        cursor = StreamCursor(stream, stream.call.on_run_created)
        while True:
            response = self._open_stream(cursor.stream.call)
            delay = 0.0
            try:
                cursor.on_response(response)
                parser = SSEParser()
                for chunk in response.iter_bytes():
                    yield from _accepted(cursor, parser.feed(chunk))
                yield from _accepted(cursor, parser.flush())
                # EOF: the server has no `end` event, it just closes the stream
                if not cursor.check_tail():
                    return
            except httpx.TransportError as exc:
                delay = _stream_break(self, cursor, exc)
            finally:
                response.close()
            time.sleep(delay)

    async def _aiter_stream(self, stream: StreamCall) -> AsyncIterator[StreamPart]:
        cursor = StreamCursor(stream, stream.call.on_run_created)
        while True:
            response = await self._aopen_stream(cursor.stream.call)
            delay = 0.0
            try:
                cursor.on_response(response)
                parser = SSEParser()
                async for chunk in response.aiter_bytes():
                    for part in _accepted(cursor, parser.feed(chunk)):
                        yield part
                for part in _accepted(cursor, parser.flush()):
                    yield part
                if not cursor.check_tail():
                    return
            except httpx.TransportError as exc:
                delay = _stream_break(self, cursor, exc)
            finally:
                await response.aclose()
            await asyncio.sleep(delay)

    # ---- the runs API ------------------------------------------------------------------------
    # Each line binds one operation of _wire (its signature, names, defaults and docstring) to
    # the sync or the async transport.

    create_run = _sync(_wire.create_run)
    acreate_run = _async(_wire.create_run)
    wait_run = _sync(_wire.wait_run)
    await_run = _async(_wire.wait_run)
    stream_run = _sync_stream(_wire.stream_run)
    astream_run = _async_stream(_wire.stream_run)
    create_batch = _sync(_wire.create_batch)
    acreate_batch = _async(_wire.create_batch)
    list_runs = _sync(_wire.list_runs)
    alist_runs = _async(_wire.list_runs)
    get_run = _sync(_wire.get_run)
    aget_run = _async(_wire.get_run)
    cancel_run = _sync(_wire.cancel_run)
    acancel_run = _async(_wire.cancel_run)
    delete_run = _sync(_wire.delete_run)
    adelete_run = _async(_wire.delete_run)
    join_run = _sync(_wire.join_run)
    ajoin_run = _async(_wire.join_run)
    join_stream = _sync_stream(_wire.join_stream)
    ajoin_stream = _async_stream(_wire.join_stream)

    create_thread = _sync(_wire.create_thread)
    acreate_thread = _async(_wire.create_thread)
    get_thread = _sync(_wire.get_thread)
    aget_thread = _async(_wire.get_thread)
    get_thread_history = _sync(_wire.get_thread_history)
    aget_thread_history = _async(_wire.get_thread_history)
    get_thread_state = _sync(_wire.get_thread_state)
    aget_thread_state = _async(_wire.get_thread_state)
    search_threads = _sync(_wire.search_threads)
    asearch_threads = _async(_wire.search_threads)
    health = _sync(_wire.health)
    ahealth = _async(_wire.health)
    info = _sync(_wire.info)
    ainfo = _async(_wire.info)
