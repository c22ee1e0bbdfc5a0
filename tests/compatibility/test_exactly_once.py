"""One run per task instance on every server, without relying on what some servers lack:
run metadata (aegra keeps none), the 409 of ``multitask_strategy="reject"`` (aegra does not
enforce it) and ``/runs/batch`` (aegra has none). A retry finds the earlier try's run on the
task's own thread; a retried batch finds its items on theirs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_lg.exactly_once import item_thread_id, task_thread_id
from airflow_lg.exceptions import LangGraphNotFoundError
from airflow_lg.hooks.langgraph import LangGraphHook
from airflow_lg.operators.runs import BatchRunOperator, CreateRunOperator
from tests.compatibility.conftest import Expect
from tests.server.test_exactly_once import TaskInstance
from tests.support.servers import AgentServer

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def conn_id(server: AgentServer, monkeypatch: pytest.MonkeyPatch) -> str:
    value = json.dumps({"conn_type": "langgraph", "host": server.url})
    monkeypatch.setenv("AIRFLOW_CONN_LANGGRAPH_ONCE", value)
    return "langgraph_once"


def _runs_on(hook: LangGraphHook, thread_id: str) -> list[Any]:
    try:
        return hook.list_runs(thread_id)
    except LangGraphNotFoundError:
        return []


def _sleeper(conn_id: str, **kwargs: Any) -> CreateRunOperator:
    return CreateRunOperator(
        task_id="agent", assistant_id="sleeper", input={"seconds": 2}, poll_interval=0.3,
        langgraph_conn_id=conn_id, **kwargs,
    )  # fmt: skip


def test_a_retry_re_attaches_to_the_earlier_trys_run_on_every_server(
    conn_id: str, expect: Expect
) -> None:
    ti = TaskInstance()
    run = _sleeper(conn_id, wait_for_completion=False).execute(ti.context())  # try 1 "dies"
    ti.try_number = 2  # no task state store: only the server can tell
    assert _sleeper(conn_id).execute(ti.context()) == {"seconds": 2, "slept": 2, "done": True}
    runs = _runs_on(LangGraphHook(conn_id), task_thread_id(ti.key))
    assert [r["run_id"] for r in runs] == [run["run_id"]]


def test_a_retry_after_success_reuses_the_output_on_every_server(conn_id: str) -> None:
    ti = TaskInstance()
    first = _sleeper(conn_id).execute(ti.context())
    ti.try_number = 2
    assert _sleeper(conn_id).execute(ti.context()) == first
    assert len(_runs_on(LangGraphHook(conn_id), task_thread_id(ti.key))) == 1


def _batch(conn_id: str, count: int) -> BatchRunOperator:
    return BatchRunOperator(
        task_id="agent", assistant_id="sleeper",
        inputs=[{"seconds": (i + 1) / 10} for i in range(count)], poll_interval=0.3,
        langgraph_conn_id=conn_id,
    )  # fmt: skip


def test_a_retried_batch_runs_nothing_again_on_every_server(conn_id: str, expect: Expect) -> None:
    ti = TaskInstance()
    first = _batch(conn_id, 3).execute(ti.context())
    assert first["counts"] == {"success": 3}
    ti.try_number = 2
    again = _batch(conn_id, 3).execute(ti.context())
    assert [r["run_id"] for r in again["runs"]] == [r["run_id"] for r in first["runs"]]
    hook = LangGraphHook(conn_id)
    per_item = [_runs_on(hook, item_thread_id(ti.key, i)) for i in range(3)]
    if expect.batch_endpoint:  # stateless runs, each on a thread the server made
        assert per_item == [[], [], []]
    else:  # aegra: each item on the thread derived from the task and its index
        assert [[r["run_id"] for r in runs] for runs in per_item] == [
            [r["run_id"]] for r in first["runs"]
        ]
