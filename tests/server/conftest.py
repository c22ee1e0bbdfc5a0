"""Fixtures of the real-server tier: hooks on the test-bed servers, in both transports.

Every hook test body runs twice, once through the sync methods and once through their async
twins (``lg`` is parametrized): ``await lg.get_run(...)`` calls ``hook.get_run`` in a worker
thread or awaits ``hook.aget_run``, so both transports meet the same real server.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.airflow_home import use_private_airflow_home

use_private_airflow_home()

from airflow_lg.hooks.langgraph import LangGraphHook  # noqa: E402
from airflow_lg.schema import StreamPart  # noqa: E402

SEED_INPUT = {"foo": None, "bar": "checked", "baz": None}
SEED_RESULT = {"foo": "checked", "bar": "checked", "baz": "checked"}
_STREAMS = ("stream_run", "join_stream")
_ids = itertools.count()


class Transport:
    """One face of the hook: ``await lg.<method>(...)`` through the sync or the async client.

    Stream methods return the list of their parts.
    """

    def __init__(self, hook: LangGraphHook, kind: str) -> None:
        self.hook = hook
        self.kind = kind

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if self.kind == "async":
            method = getattr(self.hook, "a" + name)
            if name in _STREAMS:
                return lambda *a, **k: _collect_async(method(*a, **k))
            return method
        method = getattr(self.hook, name)
        if name in _STREAMS:
            return lambda *a, **k: asyncio.to_thread(lambda: list(method(*a, **k)))
        return lambda *a, **k: asyncio.to_thread(method, *a, **k)


async def _collect_async(parts: Any) -> list[StreamPart]:
    return [part async for part in parts]


@pytest.fixture
def make_hook(monkeypatch: pytest.MonkeyPatch) -> Callable[..., LangGraphHook]:
    """``make_hook(url, password=None, **extra)``: a hook on a fresh connection to ``url``,
    declared the way users do, through an ``AIRFLOW_CONN_...`` environment variable."""

    def make(url: str, password: str | None = None, **extra: Any) -> LangGraphHook:
        conn_id = f"lg_test_{next(_ids)}"
        conn = {"conn_type": "langgraph", "host": url, "password": password, "extra": extra}
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
        return LangGraphHook(conn_id)

    return make


@pytest.fixture(params=["sync", "async"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def lg(
    agent_server: Any, make_hook: Callable[..., LangGraphHook], transport: str
) -> Iterator[Transport]:
    """The hook on the shared test-bed server, through the transport under test."""
    hook = make_hook(agent_server.url)
    yield Transport(hook, transport)
    hook.close()


@pytest.fixture
def via(make_hook: Callable[..., LangGraphHook], transport: str) -> Callable[..., Transport]:
    """``via(url, password=None, **extra)``: the hook on another server or proxy."""
    return lambda url, password=None, **extra: Transport(
        make_hook(url, password, **extra), transport
    )
