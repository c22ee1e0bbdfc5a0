"""How the async hook uses connections when a triggerer holds many waits (what bench/ found):
a long poll has a connection of its own, closed with it, so long polls never queue behind
each other or in front of short requests, and leave no idle connections behind."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import psutil

from airflow_lg.hooks.langgraph import LangGraphHook


async def _sleeper_runs(hook: LangGraphHook, count: int, seconds: float) -> list[dict[str, Any]]:
    runs = []
    for _ in range(count):
        thread = await hook.acreate_thread()
        runs.append(
            await hook.acreate_run(thread["thread_id"], "sleeper", input={"seconds": seconds})
        )
    return runs


def _open_connections_to(port: int) -> int:
    return sum(
        1
        for c in psutil.Process().net_connections(kind="tcp")
        if c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED
    )


async def test_long_polls_never_wait_for_a_pooled_connection(
    agent_server: Any, make_hook: Callable[..., LangGraphHook]
) -> None:
    # One pooled connection: were joins pooled, the second join and the get_run would wait
    # until the first join's run ended.
    hook = make_hook(agent_server.url, max_connections=1)
    try:
        runs = await _sleeper_runs(hook, 3, 4.0)
        joins = [asyncio.ensure_future(hook.ajoin_run(r["thread_id"], r["run_id"])) for r in runs]
        await asyncio.sleep(0.5)
        assert (await hook.aget_run(runs[0]["thread_id"], runs[0]["run_id"]))["status"] in (
            "pending",
            "running",
        )
        assert not any(join.done() for join in joins), "a short request waited for a join"
        assert [(await join)["done"] for join in joins] == [True, True, True]
    finally:
        await LangGraphHook.aclose_loop_clients()


async def test_ended_long_polls_leave_no_connection_open(
    agent_server: Any, make_hook: Callable[..., LangGraphHook]
) -> None:
    hook = make_hook(agent_server.url, max_concurrent_requests=2)
    try:
        runs = await _sleeper_runs(hook, 8, 0.2)
        await asyncio.gather(*(hook.ajoin_run(r["thread_id"], r["run_id"]) for r in runs))
        await asyncio.gather(*(hook.aget_run(r["thread_id"], r["run_id"]) for r in runs))
        # what stays open is the shared pool of short requests, sized by the request gate
        assert _open_connections_to(agent_server.port) <= 2
    finally:
        await LangGraphHook.aclose_loop_clients()
    assert _open_connections_to(agent_server.port) == 0
