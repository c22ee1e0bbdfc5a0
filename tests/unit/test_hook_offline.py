"""What the hook does before any request: settings from the connection, the clients it builds
(constructed, never used), its repr, and the operations it binds. No server, no transport."""

from __future__ import annotations

import inspect
import json
import uuid

import httpx
import pytest

from airflow_lg import __version__
from airflow_lg import wire as _wire
from airflow_lg.hooks._settings import ClientSettings
from airflow_lg.hooks.langgraph import LangGraphHook, RetryPolicy

KEY = "lg-secret-key-0123456789"
ENV_KEYS = ("LANGSMITH_API_KEY", "LANGGRAPH_API_KEY", "LANGCHAIN_API_KEY")


@pytest.fixture
def connection(monkeypatch):
    """Define a ``langgraph`` connection in the environment; returns its (fresh) id."""

    def define(**fields) -> str:
        conn_id = f"lg_unit_{uuid.uuid4().hex[:8]}"
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "langgraph", **fields})
        )
        return conn_id

    return define


def test_the_hook_reads_its_settings_from_the_connection(connection):
    conn_id = connection(
        host="https://gw.example.com/lg/",
        password=KEY,
        extra={"headers": {"X-Tenant": "acme"}, "timeout": 7},
    )
    settings = LangGraphHook(conn_id).settings
    assert settings.base_url == "https://gw.example.com/lg"
    assert settings.api_key == KEY
    assert settings.headers == {"X-Tenant": "acme"}
    assert settings.timeout == dict.fromkeys(("connect", "read", "write", "pool", "response"), 7.0)


def test_the_sync_client_sends_the_key_the_headers_and_a_user_agent(connection):
    conn_id = connection(
        host="http://127.0.0.1:2024",
        password=KEY,
        extra={"headers": {"X-Tenant": "acme"}, "timeout": '{"read": 90}'},
    )
    with LangGraphHook(conn_id) as hook:
        client = hook.get_conn()
        assert hook.get_conn() is client
        assert client.headers["x-api-key"] == KEY
        assert client.headers["X-Tenant"] == "acme"
        assert client.headers["User-Agent"] == f"airflow-lg/{__version__}"
        assert str(client.base_url) == "http://127.0.0.1:2024"
        assert client.timeout == httpx.Timeout(connect=5.0, read=90.0, write=30.0, pool=30.0)
    assert client.is_closed


def test_the_client_sends_no_key_from_sdk_environment_variables(connection, monkeypatch):
    for name in ENV_KEYS:
        monkeypatch.setenv(name, f"env-{name.lower()}-value")
    conn_id = connection(host="http://127.0.0.1:2024")
    with LangGraphHook(conn_id) as hook:
        assert hook.settings.api_key is None
        headers = hook.get_conn().headers
        assert "x-api-key" not in headers
        assert not any(value.startswith("env-") for value in headers.values())


def test_a_hook_retry_policy_overrides_the_connections(connection):
    conn_id = connection(host="http://127.0.0.1:2024", extra={"retry": {"max_attempts": 9}})
    assert LangGraphHook(conn_id).settings.retry == RetryPolicy(max_attempts=9)
    override = RetryPolicy(max_attempts=1)
    assert LangGraphHook(conn_id, retry=override).settings.retry is override


def test_the_hooks_repr_never_shows_the_key(connection):
    conn_id = connection(host="http://127.0.0.1:2024", password=KEY)
    hook = LangGraphHook(conn_id)
    assert hook.settings.api_key == KEY  # loaded: the key is in memory
    assert repr(hook) == f"LangGraphHook(langgraph_conn_id={conn_id!r})"
    assert KEY not in str(hook)
    assert KEY not in repr(hook.settings)


def test_the_hook_identifies_its_connection_type():
    assert LangGraphHook.conn_type == "langgraph"
    assert LangGraphHook.conn_name_attr == "langgraph_conn_id"
    assert LangGraphHook.default_conn_name == "langgraph_default"
    assert LangGraphHook().langgraph_conn_id == "langgraph_default"


@pytest.mark.parametrize(
    ("method", "builder"),
    [
        ("create_run", _wire.create_run),
        ("await_run", _wire.wait_run),
        ("stream_run", _wire.stream_run),
        ("ajoin_stream", _wire.join_stream),
        ("cancel_run", _wire.cancel_run),
        ("asearch_threads", _wire.search_threads),
    ],
)
def test_hook_operations_carry_the_builders_signature_and_doc(method, builder):
    bound = getattr(LangGraphHook("x"), method)
    assert inspect.signature(bound) == inspect.signature(builder)
    assert bound.__doc__ == builder.__doc__
    assert bound.__name__ == builder.__name__


def _builders() -> list[str]:
    """Every operation the wire package builds: the public functions of its runs and threads
    modules (found, not listed, so that a new builder without hook methods fails below)."""
    from airflow_lg.wire import runs, threads

    return [
        name
        for module in (runs, threads)
        for name, function in inspect.getmembers(module, inspect.isfunction)
        if function.__module__ == module.__name__ and not name.startswith("_")
    ]


def test_every_builder_has_a_sync_and_an_async_operation():
    builders = _builders()
    assert {"create_run", "join_stream", "get_thread_history", "health"} <= set(builders)
    hook = LangGraphHook("x")
    for name in builders:
        assert getattr(hook, name).__wrapped__ is getattr(_wire, name), name
        assert getattr(hook, f"a{name}").__wrapped__ is getattr(_wire, name), name


async def test_hooks_on_one_loop_share_an_async_client_per_settings(connection):
    first = connection(host="http://127.0.0.1:2024", password=KEY)
    same = connection(host="http://127.0.0.1:2024", password=KEY)
    other_key = connection(host="http://127.0.0.1:2024", password=KEY + "-2")
    try:
        client = await LangGraphHook(first).aget_conn()
        assert await LangGraphHook(same).aget_conn() is client
        other = await LangGraphHook(other_key).aget_conn()
        assert other is not client
        assert client.headers["x-api-key"] == KEY
        assert other.headers["x-api-key"] == KEY + "-2"
    finally:
        await LangGraphHook.aclose_loop_clients()
    assert client.is_closed and other.is_closed


def _pool_limits(client: httpx.AsyncClient | httpx.Client) -> tuple[int, int]:
    pool = client._transport._pool  # type: ignore[union-attr]
    return pool._max_connections, pool._max_keepalive_connections


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({}, (10, 10)),
        ({"max_concurrent_requests": 4}, (4, 4)),
        ({"max_concurrent_requests": 50, "max_connections": 20}, (20, 20)),
    ],
)
async def test_the_async_pool_is_no_larger_than_the_request_gate(connection, extra, expected):
    # Only gated short requests use the shared async pool (long polls have their own
    # connections): more connections would idle, and httpcore rescans them on every request.
    hook = LangGraphHook(connection(host="http://127.0.0.1:2024", extra=extra))
    try:
        assert _pool_limits(await hook.aget_conn()) == expected
    finally:
        await LangGraphHook.aclose_loop_clients()


def test_the_sync_pool_keeps_max_connections_for_its_long_polls(connection):
    hook = LangGraphHook(connection(host="http://127.0.0.1:2024", extra={"max_connections": 7}))
    with hook:
        assert _pool_limits(hook.get_conn()) == (7, 7)


def test_settings_are_fingerprinted_once():
    settings = ClientSettings(base_url="http://a", api_key="k")
    assert settings.fingerprint() is settings.fingerprint()
    assert settings.fingerprint() == ClientSettings(base_url="http://a", api_key="k").fingerprint()
    assert settings.fingerprint() != ClientSettings(base_url="http://a", api_key="k2").fingerprint()
    assert "_fingerprint" not in repr(settings)


def test_hooks_of_one_connection_on_one_loop_share_one_async_look_up(connection, monkeypatch):
    """10,000 waits starting at once in a triggerer look their connection up once, not 10,000
    times; a look-up that failed is not kept, and a later one sees a changed connection."""
    import asyncio

    from airflow_lg.hooks import _lookups

    conn_id = connection(host="http://one.example:1", password=KEY)
    looked: list[str] = []
    real = LangGraphHook._alook_up

    async def counted(self: LangGraphHook) -> ClientSettings:
        looked.append(self.langgraph_conn_id)
        await asyncio.sleep(0.01)  # others arrive while it is under way
        return await real(self)

    monkeypatch.setattr(LangGraphHook, "_alook_up", counted)

    async def settle(hooks: list[LangGraphHook]) -> list[ClientSettings]:
        return list(await asyncio.gather(*(h.asettings() for h in hooks)))

    async def main() -> None:
        first = await settle([LangGraphHook(conn_id) for _ in range(50)])
        assert len(looked) == 1 and {s.base_url for s in first} == {"http://one.example:1"}
        # a hook's own retry policy still applies on top of the shared look-up
        mine = RetryPolicy(max_attempts=1)
        assert (await LangGraphHook(conn_id, retry=mine).asettings()).retry == mine
        assert len(looked) == 1
        # after FRESH seconds a hook looks again, and sees the connection as it is now
        changed = {"conn_type": "langgraph", "host": "http://two.example:2"}
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(changed))
        monkeypatch.setattr(_lookups, "FRESH", 0.0)
        assert (await LangGraphHook(conn_id).asettings()).base_url == "http://two.example:2"
        assert len(looked) == 2

    asyncio.run(main())


def test_a_failed_shared_look_up_fails_its_sharers_and_is_not_kept(connection):
    import asyncio

    from airflow_lg.hooks import _lookups

    calls: list[int] = []

    async def missing() -> str:
        calls.append(1)
        await asyncio.sleep(0.01)
        raise KeyError("no such connection")

    async def found() -> str:
        return "settings"

    async def main() -> None:
        answers = await asyncio.gather(
            *(_lookups.shared("lg_unit_gone", missing) for _ in range(5)), return_exceptions=True
        )
        assert len(calls) == 1 and all(isinstance(a, KeyError) for a in answers)
        assert await _lookups.shared("lg_unit_gone", found) == "settings"  # asked again

    asyncio.run(main())


def test_a_shared_look_up_cancelled_with_its_caller_is_made_once_more_for_the_others() -> None:
    import asyncio

    from airflow_lg.hooks import _lookups

    calls: list[int] = []

    async def slow() -> str:
        calls.append(1)
        await asyncio.sleep(0.05)
        return "settings"

    async def main() -> None:
        first = asyncio.ensure_future(_lookups.shared("lg_unit_cancelled", slow))
        await asyncio.sleep(0.01)  # first is looking up
        others = [asyncio.ensure_future(_lookups.shared("lg_unit_cancelled", slow))
                  for _ in range(5)]  # fmt: skip
        await asyncio.sleep(0.01)
        first.cancel()
        assert await asyncio.gather(*others) == ["settings"] * 5
        assert len(calls) == 2  # the cancelled one, and one more shared by the five
        with pytest.raises(asyncio.CancelledError):
            await first
        # a sharer cancelled itself is cancelled, not given an answer
        late = asyncio.ensure_future(_lookups.shared("lg_unit_cancelled_2", slow))
        sharer = asyncio.ensure_future(_lookups.shared("lg_unit_cancelled_2", slow))
        await asyncio.sleep(0.01)
        late.cancel()
        sharer.cancel()
        results = await asyncio.gather(late, sharer, return_exceptions=True)
        assert all(isinstance(r, asyncio.CancelledError) for r in results)

    asyncio.run(main())
