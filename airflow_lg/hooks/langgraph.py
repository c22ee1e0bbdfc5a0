"""LangGraphHook: the runs API of a LangGraph Agent Server, for Airflow.

Every operation has a sync method named after ``langgraph_sdk``'s ``RunsClient`` (with the
SDK's parameter names and defaults) and an async twin prefixed ``a`` for triggers::

    hook = LangGraphHook("langgraph_default")
    result = hook.wait_run(None, "my_agent", input={"question": "..."})
    run = await hook.acreate_run(thread_id, "my_agent", input=..., on_completion="keep")
    async for part in hook.ajoin_stream(thread_id, run_id, stream_mode="updates"): ...

Each method is one builder of :mod:`airflow_lg.wire` (its signature, names, defaults and
docstring) bound to a transport of :mod:`airflow_lg.hooks._transport`. Each also takes
``retry=RetryPolicy(...)`` to override the connection's retry settings for that call.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, Generic, ParamSpec, TypeVar

import httpx
from airflow.sdk import BaseHook

from airflow_lg import wire
from airflow_lg.exceptions import LangGraphError
from airflow_lg.hooks import _lookups
from airflow_lg.hooks._settings import ClientSettings, RetryPolicy, settings_from_connection
from airflow_lg.hooks._transport import POOLS, AsyncTransport, SyncTransport
from airflow_lg.schema import StreamPart
from airflow_lg.wire import Call, StreamCall, fallbacks

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

__all__ = ["LangGraphHook", "RetryPolicy", "StreamPart"]


# ---- binding operations to a transport --------------------------------------------------------


class _Bound(Generic[P, R]):
    """Descriptor turning a wire builder into a hook method with the builder's signature,
    returning what its call decodes to (the SDK's TypedDict for that call). ``fallback`` is
    the plan (:mod:`airflow_lg.wire.fallbacks`) sent instead where a server refuses the call
    as one it does not implement."""

    def __init__(self, build: Callable[P, Any], fallback: fallbacks.Plan | None = None) -> None:
        self.build = build
        self.fallback = fallback

    def __get__(self, hook: LangGraphHook | None, owner: type | None = None) -> Callable[P, R]:
        if hook is None:
            return self  # type: ignore[return-value]
        method = self.bind(hook)
        functools.update_wrapper(method, self.build)
        return method

    def bind(self, hook: LangGraphHook) -> Callable[P, R]:
        raise NotImplementedError

    def plan(self, error: LangGraphError, args: Any, kwargs: Any) -> fallbacks.Fallback | None:
        return self.fallback(error, *args, **kwargs) if self.fallback else None


class _sync(_Bound[P, R]):
    def __init__(self, build: Callable[P, Call[R]], fallback: fallbacks.Plan | None = None) -> None:
        super().__init__(build, fallback)

    def bind(self, hook: LangGraphHook) -> Callable[P, R]:
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                done: R = hook.transport.execute(self.build(*args, **kwargs))
                return done
            except LangGraphError as error:
                plan = self.plan(error, args, kwargs)
                if plan is None:
                    raise
            results = []
            for step in plan.steps:
                try:
                    results.append(hook.transport.execute(step.call))
                except step.tolerate:
                    results.append(None)
            result: R = plan.combine(results)
            return result

        return run


class _async(_Bound[P, Awaitable[R]]):
    def __init__(self, build: Callable[P, Call[R]], fallback: fallbacks.Plan | None = None) -> None:
        super().__init__(build, fallback)

    def bind(self, hook: LangGraphHook) -> Callable[P, Awaitable[R]]:
        async def run(*args: P.args, **kwargs: P.kwargs) -> R:
            transport = await hook.atransport()
            try:
                done: R = await transport.execute(self.build(*args, **kwargs))
                return done
            except LangGraphError as error:
                plan = self.plan(error, args, kwargs)
                if plan is None:
                    raise
            results = []
            for step in plan.steps:
                try:
                    results.append(await transport.execute(step.call))
                except step.tolerate:
                    results.append(None)
            result: R = plan.combine(results)
            return result

        return run


class _sync_stream(_Bound[P, Iterator[Any]]):
    def __init__(self, build: Callable[P, StreamCall]) -> None:
        super().__init__(build)

    def bind(self, hook: LangGraphHook) -> Callable[P, Iterator[Any]]:
        return lambda *args, **kwargs: hook.transport.stream(self.build(*args, **kwargs))


class _async_stream(_Bound[P, AsyncIterator[Any]]):
    def __init__(self, build: Callable[P, StreamCall]) -> None:
        super().__init__(build)

    def bind(self, hook: LangGraphHook) -> Callable[P, AsyncIterator[Any]]:
        async def run(*args: P.args, **kwargs: P.kwargs) -> AsyncIterator[Any]:
            transport = await hook.atransport()
            async for part in transport.stream(self.build(*args, **kwargs)):
                yield part

        return run


def _settings_of(conn: Any) -> ClientSettings:
    return settings_from_connection(
        conn.host, conn.schema, conn.port, conn.password, conn.extra_dejson or {}
    )


def _server_version(info: Any) -> str:
    if not isinstance(info, dict):
        return "(version unknown)"
    for key in ("version", "langgraph_api_version", "langgraph_api"):
        if info.get(key):
            return str(info[key])
    return "(version unknown)"


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
        self._sync: SyncTransport | None = None
        self._async: AsyncTransport | None = None

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
            settings = await _lookups.shared(self.langgraph_conn_id, self._alook_up)
            self._settings = self._apply_overrides(settings)
        return self._settings

    async def _alook_up(self) -> ClientSettings:
        return _settings_of(await self.aget_connection(self.langgraph_conn_id))

    def _apply_overrides(self, settings: ClientSettings) -> ClientSettings:
        if self._retry_override is None:
            return settings
        return replace(settings, retry=self._retry_override)

    @property
    def transport(self) -> SyncTransport:
        if self._sync is None:
            self._sync = SyncTransport(self.settings, self.log)
        return self._sync

    async def atransport(self) -> AsyncTransport:
        if self._async is None:
            self._async = AsyncTransport(await self.asettings(), self.log)
        return self._async

    def get_conn(self) -> httpx.Client:
        """The sync HTTP client (created once per hook, keep-alive pooled)."""
        return self.transport.client

    async def aget_conn(self) -> httpx.AsyncClient:
        """The async HTTP client shared by every hook on this event loop with these settings."""
        return (await self.atransport()).client_for()

    def close(self) -> None:
        if self._sync is not None:
            self._sync.close()

    @classmethod
    async def aclose_loop_clients(cls) -> None:
        """Close the async clients of the running loop (:meth:`blocking` does it for you)."""
        await POOLS.aclose()

    def blocking(self, work: Coroutine[Any, Any, T]) -> T:
        """Run ``work`` (which may use this hook's async methods) to completion from sync code,
        in an event loop of its own; the async clients it opened close with that loop. The
        operators wait and read outcomes this way in a worker, with the code the triggerer
        runs. The connection is looked up the sync way first, as a worker does. Called where a
        loop already runs in this thread (a notebook, an async caller), it runs in a thread of
        its own rather than fail."""
        self.settings  # noqa: B018

        async def run() -> T:
            try:
                return await work
            finally:
                await POOLS.aclose()

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(run())
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="airflow-lg") as pool:
            return pool.submit(asyncio.run, run()).result()

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

    def create_batch_strict(self, payloads: Any, **kwargs: Any) -> list[Any]:
        """:meth:`create_batch` without its one-create-per-item fallback: raises
        :class:`LangGraphHTTPError` (404/405) where the server has no ``/runs/batch``, so that
        ``BatchRunOperator`` can put each item on a thread every try finds again."""
        result: list[Any] = self.transport.execute(wire.create_batch(payloads, **kwargs))
        return result

    # ---- the runs API ------------------------------------------------------------------------
    # Each line binds one wire builder to the sync or the async transport; a method returns
    # what its builder's Call decodes to (the SDK's TypedDicts: Run, Thread, ThreadState...).
    # Stream methods yield StreamPart (or the SDK's v2 dicts with version="v2").

    create_run = _sync(wire.create_run)
    acreate_run = _async(wire.create_run)
    wait_run = _sync(wire.wait_run)
    await_run = _async(wire.wait_run)
    stream_run = _sync_stream(wire.stream_run)
    astream_run = _async_stream(wire.stream_run)
    create_batch = _sync(wire.create_batch, fallbacks.create_batch)
    acreate_batch = _async(wire.create_batch, fallbacks.create_batch)
    list_runs = _sync(wire.list_runs)
    alist_runs = _async(wire.list_runs)
    get_run = _sync(wire.get_run)
    aget_run = _async(wire.get_run)
    cancel_run = _sync(wire.cancel_run, fallbacks.cancel)
    acancel_run = _async(wire.cancel_run, fallbacks.cancel)
    delete_run = _sync(wire.delete_run)
    adelete_run = _async(wire.delete_run)
    join_run = _sync(wire.join_run)
    ajoin_run = _async(wire.join_run)
    join_stream = _sync_stream(wire.join_stream)
    ajoin_stream = _async_stream(wire.join_stream)

    create_thread = _sync(wire.create_thread)
    acreate_thread = _async(wire.create_thread)
    get_thread = _sync(wire.get_thread)
    aget_thread = _async(wire.get_thread)
    get_thread_history = _sync(wire.get_thread_history)
    aget_thread_history = _async(wire.get_thread_history)
    get_thread_state = _sync(wire.get_thread_state)
    aget_thread_state = _async(wire.get_thread_state)
    search_threads = _sync(wire.search_threads)
    asearch_threads = _async(wire.search_threads)
    search_assistants = _sync(wire.search_assistants)
    asearch_assistants = _async(wire.search_assistants)
    get_assistant_schemas = _sync(wire.get_assistant_schemas)
    aget_assistant_schemas = _async(wire.get_assistant_schemas)
    health = _sync(wire.health, fallbacks.health)
    ahealth = _async(wire.health, fallbacks.health)
    info = _sync(wire.info)
    ainfo = _async(wire.info)
