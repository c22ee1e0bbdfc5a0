"""What a successful run costs on the wire, counted by the fault proxy in front of the real
server: every request is listed, so one more (or another) fails the test. The reason for each
is in docs/architecture.md ("Requests per run")."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable
from typing import Any

import pytest
from airflow.sdk.exceptions import TaskDeferred

from airflow_lg.exactly_once import task_thread_id
from airflow_lg.operators.runs import CreateRunOperator, WaitRunOperator
from airflow_lg.sensors.runs import RunStatusSensor
from airflow_lg.triggers.runs import LangGraphRunTrigger
from tests.server.conftest import SEED_INPUT, SEED_RESULT
from tests.server.test_exactly_once import TaskInstance

_CONN_IDS = itertools.count()


@pytest.fixture
def conn_to(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], str]:
    # unique in the session: hooks of one loop share a connection's look-up for a few seconds
    counter = _CONN_IDS

    def make(url: str) -> str:
        conn_id = f"counted_{next(counter)}"
        value = json.dumps({"conn_type": "langgraph", "host": url})
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", value)
        return conn_id

    return make


def _sent(fault_proxy: Any) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in fault_proxy.requests]


def _fire(trigger: LangGraphRunTrigger) -> dict[str, Any]:
    async def first() -> dict[str, Any]:
        async with asyncio.timeout(60):
            async for event in trigger.run():
                return dict(event.payload)
        raise AssertionError("the trigger ended without an event")

    return asyncio.run(first())


def _defer_and_resume(operator: Any, context: dict[str, Any]) -> Any:
    """What Airflow does with a deferrable task: execute, run its trigger, resume."""
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(context)
    event = _fire(deferred.value.trigger)
    return getattr(operator, deferred.value.method_name)(context, event)


def _wait_operator(conn_id: str) -> WaitRunOperator:
    return WaitRunOperator(
        task_id="agent", assistant_id="test_agent", input=SEED_INPUT, langgraph_conn_id=conn_id
    )


def test_a_deferred_join_mode_run_costs_four_requests(
    fault_proxy: Any, conn_to: Callable[[str], str]
) -> None:
    ti = TaskInstance()
    operator = CreateRunOperator(
        task_id="agent", assistant_id="sleeper", input={"seconds": 0.5}, deferrable=True,
        wait_mode="join", langgraph_conn_id=conn_to(fault_proxy.url),
    )  # fmt: skip
    assert _defer_and_resume(operator, ti.context()) == {
        "seconds": 0.5,
        "slept": 0.5,
        "done": True,
    }

    thread = task_thread_id(ti.key)
    run_id = ti.xcoms["run_id"]
    assert _sent(fault_proxy) == [
        ("POST", f"/threads/{thread}/runs"),  # create (the first try looks for no earlier run)
        # the triggerer: one long poll, the run's event stream (its nodes told in the log)
        ("GET", f"/threads/{thread}/runs/{run_id}/stream"),
        ("GET", f"/threads/{thread}/runs/{run_id}"),  # resumed: how it ended
        ("POST", f"/threads/{thread}/history"),  # its own last checkpoint: output or pause
    ]


def test_a_sync_wait_run_costs_three_requests(
    fault_proxy: Any, conn_to: Callable[[str], str]
) -> None:
    ti = TaskInstance()
    assert _wait_operator(conn_to(fault_proxy.url)).execute(ti.context()) == SEED_RESULT

    thread = task_thread_id(ti.key)
    run_id = ti.xcoms["run_id"]
    assert _sent(fault_proxy) == [
        ("POST", f"/threads/{thread}/runs/wait"),  # run and wait: one long poll
        ("GET", f"/threads/{thread}/runs/{run_id}"),  # its status: a timeout also answers 200
        ("POST", f"/threads/{thread}/history"),  # its own last checkpoint: output or pause
    ]


def test_a_retry_looks_for_the_earlier_try_before_creating(
    fault_proxy: Any, conn_to: Callable[[str], str]
) -> None:
    ti = TaskInstance()
    ti.try_number = 2
    assert _wait_operator(conn_to(fault_proxy.url)).execute(ti.context()) == SEED_RESULT

    thread = task_thread_id(ti.key)
    assert _sent(fault_proxy)[:2] == [
        ("GET", f"/threads/{thread}/runs"),  # an earlier try's run? (none: its thread is new)
        ("POST", f"/threads/{thread}/runs/wait"),
    ]


def test_a_deferred_sensor_costs_a_poke_a_join_and_the_outcome(
    fault_proxy: Any, conn_to: Callable[[str], str], agent_server: Any
) -> None:
    from airflow_lg.hooks.langgraph import LangGraphHook

    direct = LangGraphHook(conn_to(agent_server.url))
    thread = direct.create_thread()["thread_id"]
    run = direct.create_run(thread, "sleeper", input={"seconds": 1})
    sensor = RunStatusSensor(
        task_id="watch", thread_id=thread, run_id=run["run_id"], deferrable=True,
        wait_mode="join", langgraph_conn_id=conn_to(fault_proxy.url),
    )  # fmt: skip
    assert _defer_and_resume(sensor, TaskInstance().context())["done"] is True

    one_run = f"/threads/{thread}/runs/{run['run_id']}"
    assert _sent(fault_proxy) == [
        ("GET", one_run),  # the first poke, in the worker: still running, so defer
        ("GET", f"{one_run}/stream"),  # a join that tells the run's nodes
        ("GET", one_run),
        ("POST", f"/threads/{thread}/history"),
    ]
