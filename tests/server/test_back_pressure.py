"""Back-pressure under backfill load: a cap on concurrent requests per connection (measured
at a real proxy), staggered chunks, and Retry-After (tests/server/test_hook_faults.py)."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from airflow_lg.hooks.langgraph import LangGraphHook
from airflow_lg.operators.runs import BatchRunOperator
from tests.server.test_exactly_once import TaskInstance


@pytest.fixture
def hook_via(monkeypatch: pytest.MonkeyPatch) -> Callable[..., LangGraphHook]:
    def make(url: str, **extra: Any) -> LangGraphHook:
        conn_id = f"bp_{uuid.uuid4().hex[:8]}"
        value = json.dumps({"conn_type": "langgraph", "host": url, "extra": extra})
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", value)
        return LangGraphHook(conn_id)

    return make


def _max_in_flight(requests: list[Any], hold: float) -> int:
    """Most requests the proxy held at once, each held ``hold`` seconds after arrival."""
    arrivals = sorted(r.time for r in requests)
    return max(sum(1 for b in arrivals if a <= b < a + hold * 0.9) for a in arrivals)


async def test_async_requests_beyond_the_cap_wait_for_a_slot(
    fault_proxy: Any, hook_via: Callable[..., LangGraphHook]
) -> None:
    hook = hook_via(fault_proxy.url, max_concurrent_requests=2)
    fault_proxy.delay(0.5, stage="response", method="GET", path="^/ok$", times=None)
    await asyncio.gather(*(hook.ahealth() for _ in range(8)))
    assert _max_in_flight(fault_proxy.find("GET", "^/ok$"), 0.5) == 2


def test_sync_requests_from_many_threads_share_the_cap(
    fault_proxy: Any, hook_via: Callable[..., LangGraphHook]
) -> None:
    hook = hook_via(fault_proxy.url, max_concurrent_requests=3)
    fault_proxy.delay(0.5, stage="response", method="GET", path="^/ok$", times=None)
    threads = [threading.Thread(target=hook.health) for _ in range(9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert _max_in_flight(fault_proxy.find("GET", "^/ok$"), 0.5) == 3


async def test_long_polls_do_not_take_the_slots_of_short_requests(
    agent_server: Any, hook_via: Callable[..., LangGraphHook]
) -> None:
    hook = hook_via(agent_server.url, max_concurrent_requests=1)
    thread = await hook.acreate_thread()
    run = await hook.acreate_run(thread["thread_id"], "sleeper", input={"seconds": 3})
    join = asyncio.ensure_future(hook.ajoin_run(thread["thread_id"], run["run_id"]))
    await asyncio.sleep(0.3)
    # the one slot is free although a join is pending
    assert (await asyncio.wait_for(hook.ahealth(), 2))["ok"] is True
    assert (await join)["done"] is True


def test_a_staggered_batch_delays_each_later_chunk(
    fault_proxy: Any, hook_via: Callable[..., LangGraphHook]
) -> None:
    hook = hook_via(fault_proxy.url)
    operator = BatchRunOperator(
        task_id="agent", assistant_id="sleeper", inputs=[{"seconds": 0.1}] * 5, chunk_size=2,
        stagger_seconds=1, poll_interval=0.3, langgraph_conn_id=hook.langgraph_conn_id,
    )  # fmt: skip
    summary = operator.execute(TaskInstance().context())
    sent = [r.json() for r in fault_proxy.find("POST", "^/runs/batch$")]
    assert [[item.get("after_seconds") for item in chunk] for chunk in sent] == [
        [None, None],
        [1, 1],
        [2],
    ]
    assert summary["counts"] == {"success": 5}
