"""The operators on a real Airflow deployment, against the real Agent Server: a deferred task
really leaves the worker and the triggerer finishes it; killing a task — running or deferred —
cancels its remote run; a triggerer restart cancels nothing."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.support.airflow_home import use_private_airflow_home

use_private_airflow_home()

from airflow_lg.exactly_once import TASK_KEY  # noqa: E402
from airflow_lg.hooks.langgraph import LangGraphHook  # noqa: E402

DAGS = Path(__file__).parent / "dags"


@pytest.fixture(scope="module")
def airflow(airflow_deployment_factory: Any, agent_server: Any) -> Any:
    conn = json.dumps({"conn_type": "langgraph", "host": agent_server.url})
    return airflow_deployment_factory(DAGS, env={"AIRFLOW_CONN_LANGGRAPH_DEFAULT": conn})


@pytest.fixture
def server(agent_server: Any, monkeypatch: pytest.MonkeyPatch) -> LangGraphHook:
    """A hook on the same server, to check the server's side of each story."""
    conn = json.dumps({"conn_type": "langgraph", "host": agent_server.url})
    monkeypatch.setenv("AIRFLOW_CONN_E2E_CHECK", conn)
    return LangGraphHook("e2e_check")


def _started_run(airflow: Any, dag_id: str, run_id: str) -> tuple[str, str]:
    """The remote run's ids, from XCom, as soon as the task has pushed them."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            thread_id = airflow.xcom(dag_id, run_id, "run", key="thread_id")
            run = airflow.xcom(dag_id, run_id, "run", key="run_id")
            if thread_id and run:
                return thread_id, run
        except Exception:  # not pushed yet
            pass
        time.sleep(0.5)
    raise AssertionError(f"{dag_id} never pushed its run ids")


def _wait_for_trigger(airflow: Any, dag_id: str, run_id: str, lg_run: str) -> None:
    """Until the triggerer runs the task's trigger: its first status line is in the task log
    (after the one the task itself logs before deferring).

    (Marked failed before the triggerer picked the trigger up, a task has no trigger whose
    on_kill Airflow could call: a window this provider cannot close.)
    """
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if airflow.task_log(dag_id, run_id, "run").count(f"LangGraph run {lg_run} on thread") >= 2:
            return
        time.sleep(0.5)
    raise AssertionError(f"the trigger of {dag_id} never logged a status of run {lg_run}")


def _wait_status(server: LangGraphHook, thread_id: str, run_id: str, wanted: set[str]) -> str:
    deadline = time.monotonic() + 30
    status = ""
    while time.monotonic() < deadline:
        status = server.get_run(thread_id, run_id)["status"]
        if status in wanted:
            return status
        time.sleep(0.5)
    raise AssertionError(f"run {run_id} stayed {status!r}, expected one of {wanted}")


def test_a_deferred_task_leaves_the_worker_and_the_triggerer_completes_it(
    airflow: Any, server: LangGraphHook
) -> None:
    run_id = airflow.trigger("e2e_create_deferred", conf={"input": {"seconds": 6}})
    assert (
        airflow.wait_task_state("e2e_create_deferred", run_id, "run", {"deferred"}, 60)
        == "deferred"
    )
    thread_id, lg_run = _started_run(airflow, "e2e_create_deferred", run_id)
    assert server.get_run(thread_id, lg_run)["status"] in {"pending", "running"}

    airflow.wait_dag_run_succeeded("e2e_create_deferred", run_id, timeout=90)
    assert airflow.xcom("e2e_create_deferred", run_id, "run") == {
        "seconds": 6,
        "slept": 6,
        "done": True,
    }
    # the task's extra link opens its "Agent run" tab (the provider's UI plugin)
    links = airflow.extra_links("e2e_create_deferred", run_id, "run")
    assert links["LangGraph run"] == (
        f"/dags/e2e_create_deferred/runs/{quote(run_id, safe='')}/tasks/run/plugin/agent-run"
    )
    # the triggerer's lines reach the task log: the run's progress is visible in the UI
    log = airflow.task_log("e2e_create_deferred", run_id, "run")
    # held by the connection's shared watcher (the default when deferred), which says so once
    assert f"LangGraph run {lg_run} on thread {thread_id}: watching it (its thread is busy)" in log
    assert f"LangGraph run {lg_run}: step 1, running sleep" in log  # the node it is at
    assert f"LangGraph run {lg_run} on thread {thread_id} is success" in log


def test_marking_a_running_task_failed_cancels_its_remote_run(
    airflow: Any, server: LangGraphHook
) -> None:
    run_id = airflow.trigger("e2e_create_sync", conf={"input": {"seconds": 60}})
    thread_id, lg_run = _started_run(airflow, "e2e_create_sync", run_id)
    _wait_status(server, thread_id, lg_run, {"running"})

    airflow.set_task_state("e2e_create_sync", run_id, "run", "failed")
    assert _wait_status(server, thread_id, lg_run, {"interrupted", "success"}) == "interrupted"


def test_marking_a_deferred_task_failed_cancels_its_remote_run(
    airflow: Any, server: LangGraphHook
) -> None:
    run_id = airflow.trigger("e2e_create_deferred", conf={"input": {"seconds": 60}})
    airflow.wait_task_state("e2e_create_deferred", run_id, "run", {"deferred"}, 60)
    thread_id, lg_run = _started_run(airflow, "e2e_create_deferred", run_id)
    _wait_for_trigger(airflow, "e2e_create_deferred", run_id, lg_run)

    airflow.set_task_state("e2e_create_deferred", run_id, "run", "failed")
    assert _wait_status(server, thread_id, lg_run, {"interrupted", "success"}) == "interrupted"


def test_restarting_the_triggerer_cancels_nothing_and_the_task_still_completes(
    airflow: Any, server: LangGraphHook
) -> None:
    # long enough to outlive the restart (which can take ~15 s when the old triggerer lingers)
    run_id = airflow.trigger("e2e_create_deferred", conf={"input": {"seconds": 25}})
    airflow.wait_task_state("e2e_create_deferred", run_id, "run", {"deferred"}, 60)
    thread_id, lg_run = _started_run(airflow, "e2e_create_deferred", run_id)
    _wait_for_trigger(airflow, "e2e_create_deferred", run_id, lg_run)

    airflow.restart("triggerer")
    assert server.get_run(thread_id, lg_run)["status"] == "running"
    airflow.wait_dag_run_succeeded("e2e_create_deferred", run_id, timeout=120)
    assert server.get_run(thread_id, lg_run)["status"] == "success"
    key = f"e2e_create_deferred/{run_id}/run/-1"
    assert [r["run_id"] for r in _runs_of_task(server, thread_id, key)] == [lg_run]


def _runs_of_task(server: LangGraphHook, thread_id: str, key: str) -> list[dict[str, Any]]:
    return [r for r in server.list_runs(thread_id, limit=50) if r["metadata"].get(TASK_KEY) == key]


def test_a_worker_killed_mid_wait_is_retried_and_re_attaches_to_the_same_run(
    airflow: Any, server: LangGraphHook
) -> None:
    import psutil

    dag_id = "e2e_create_retry"
    run_id = airflow.trigger(dag_id, conf={"input": {"seconds": 12}})
    thread_id, lg_run = _started_run(airflow, dag_id, run_id)
    _wait_status(server, thread_id, lg_run, {"running"})
    ti_id = airflow.task_instance(dag_id, run_id, "run")["id"]
    workers = [
        p for p in psutil.process_iter(["cmdline"])
        if f"airflow worker -- {ti_id}" in " ".join(p.info["cmdline"] or [])
    ]  # fmt: skip
    assert workers, "the task's worker process was not found"
    for process in workers:
        process.kill()  # SIGKILL: no on_kill, nothing cancels the run

    airflow.wait_dag_run_succeeded(dag_id, run_id, timeout=120)
    assert airflow.task_instance(dag_id, run_id, "run")["try_number"] == 2
    assert airflow.xcom(dag_id, run_id, "run") == {"seconds": 12, "slept": 12, "done": True}
    key = f"{dag_id}/{run_id}/run/-1"
    assert [r["run_id"] for r in _runs_of_task(server, thread_id, key)] == [lg_run]


def test_clearing_a_finished_task_returns_its_output_without_running_the_agent_again(
    airflow: Any, server: LangGraphHook
) -> None:
    dag_id = "e2e_create_sync"
    run_id = airflow.trigger(dag_id, conf={"input": {"seconds": 1}})
    airflow.wait_dag_run_succeeded(dag_id, run_id, timeout=60)
    thread_id, lg_run = _started_run(airflow, dag_id, run_id)

    airflow.clear_task(dag_id, run_id, ["run"])
    airflow.wait_task_state(dag_id, run_id, "run", {"success"}, 60)
    assert airflow.task_instance(dag_id, run_id, "run")["try_number"] == 2
    assert airflow.xcom(dag_id, run_id, "run") == {"seconds": 1, "slept": 1, "done": True}
    assert "succeeded: not running the agent again" in airflow.task_log(dag_id, run_id, "run", 2)
    key = f"{dag_id}/{run_id}/run/-1"
    assert [r["run_id"] for r in _runs_of_task(server, thread_id, key)] == [lg_run]
