"""How a deferred task resumes from its trigger's event, against the real server. In join
mode a trigger reports a run as ``ended`` (its join answered) and the resumed task reads how
it ended; a run still going by then (a join answered early) sends the task back to wait."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from airflow.sdk.exceptions import TaskDeferred

from airflow_lg.exceptions import LangGraphError, LangGraphRunFailedError
from airflow_lg.hooks.langgraph import LangGraphHook
from airflow_lg.operators.runs import BatchRunOperator, CreateRunOperator
from airflow_lg.runs import RunRef
from airflow_lg.sensors.runs import RunStatusSensor
from tests.server.conftest import SEED_INPUT, SEED_RESULT
from tests.server.test_exactly_once import TaskInstance


@pytest.fixture
def hook(agent_server: Any, make_hook: Callable[..., LangGraphHook]) -> LangGraphHook:
    return make_hook(agent_server.url)


def _run(hook: LangGraphHook, assistant_id: str, input: dict[str, Any], end: bool = True) -> Any:
    thread_id = hook.create_thread()["thread_id"]
    run = hook.create_run(thread_id, assistant_id, input=input)
    if end:
        hook.join_run(thread_id, run["run_id"], raise_error=False)
    return {"thread_id": thread_id, "run_id": run["run_id"], "status": "ended"}


def _event(*runs: dict[str, Any]) -> dict[str, Any]:
    return {"status": "done", "runs": list(runs)}


def _context() -> dict[str, Any]:
    ti = TaskInstance()
    ti.start_date = None  # type: ignore[attr-defined]
    return ti.context()


def _operator(hook: LangGraphHook, **kwargs: Any) -> CreateRunOperator:
    return CreateRunOperator(
        task_id="run", assistant_id="test_agent", deferrable=True, wait_mode="join",
        langgraph_conn_id=hook.langgraph_conn_id, **kwargs,
    )  # fmt: skip


def test_a_task_resumed_from_a_join_reads_how_its_run_ended(hook: LangGraphHook) -> None:
    succeeded = _run(hook, "test_agent", SEED_INPUT)
    assert _operator(hook).execute_complete(_context(), _event(succeeded)) == SEED_RESULT

    failed = _run(hook, "failing", {"reason": "why"})
    with pytest.raises(LangGraphRunFailedError, match="failed on purpose: why"):
        _operator(hook).execute_complete(_context(), _event(failed))


def test_a_task_resumed_while_its_run_still_goes_waits_again(hook: LangGraphHook) -> None:
    going = _run(hook, "sleeper", {"seconds": 5}, end=False)
    with pytest.raises(TaskDeferred) as deferred:
        _operator(hook).execute_complete(_context(), _event(going))
    _, kwargs = deferred.value.trigger.serialize()
    assert kwargs["runs"] == [{"thread_id": going["thread_id"], "run_id": going["run_id"]}]
    assert kwargs["options"]["read_status"] is False  # the triggerer sends one request per wait
    # polled now: a watcher would see the same idle thread (a cancelled queued run's) at once
    assert kwargs["options"]["mode"] == "poll"
    hook.cancel_run(going["thread_id"], going["run_id"])


def test_a_watched_task_that_resumes_early_waits_again_by_polling(hook: LangGraphHook) -> None:
    going = _run(hook, "sleeper", {"seconds": 5}, end=False)
    operator = CreateRunOperator(
        task_id="run", assistant_id="test_agent", deferrable=True, wait_mode="watch",
        langgraph_conn_id=hook.langgraph_conn_id,
    )  # fmt: skip
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute_complete(_context(), _event(going))
    assert deferred.value.trigger.serialize()[1]["options"]["mode"] == "poll"
    hook.cancel_run(going["thread_id"], going["run_id"])


def test_a_batch_resumed_from_joins_reads_every_status(hook: LangGraphHook) -> None:
    runs = hook.create_batch(
        [
            {"assistant_id": "test_agent", "input": SEED_INPUT, "on_completion": "keep"},
            {"assistant_id": "failing", "input": {}, "on_completion": "keep"},
        ]
    )
    ended = [{**_run_ref(hook, r), "status": "ended"} for r in runs]
    operator = BatchRunOperator(
        task_id="batch", assistant_id="test_agent", inputs=[{}], deferrable=True,
        wait_mode="join", fail_on_partial_error=False, langgraph_conn_id=hook.langgraph_conn_id,
    )  # fmt: skip
    summary = operator.execute_complete(_context(), _event(*ended))
    assert [(r["status"], r["outcome"]) for r in summary["runs"]] == [
        ("success", "success"),
        ("error", "error"),
    ]


def _one_ended_one_going(
    hook: LangGraphHook, seconds: float, deferrable: bool
) -> tuple[list[RunRef], BatchRunOperator]:
    """A batch whose items are both reported ``ended``, the second still sleeping."""
    runs = hook.create_batch([
        {"assistant_id": "test_agent", "input": SEED_INPUT, "on_completion": "keep"},
        {"assistant_id": "sleeper", "input": {"seconds": seconds}, "on_completion": "keep"},
    ])  # fmt: skip
    _run_ref(hook, runs[0])
    operator = BatchRunOperator(
        task_id="batch", assistant_id="test_agent", inputs=[{}], deferrable=deferrable,
        langgraph_conn_id=hook.langgraph_conn_id,
    )  # fmt: skip
    return [RunRef(r["thread_id"], r["run_id"]).with_status("ended") for r in runs], operator


def test_a_batch_resumed_with_an_item_still_going_waits_again_for_every_item_by_polling(
    hook: LangGraphHook,
) -> None:
    ended, operator = _one_ended_one_going(hook, 5, deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute_complete(_context(), _event(*(r.to_dict() for r in ended)))
    _, kwargs = deferred.value.trigger.serialize()
    assert [r["run_id"] for r in kwargs["runs"]] == [r.run_id for r in ended]  # all resume
    assert kwargs["options"]["mode"] == "poll"
    hook.cancel_run(ended[1].thread_id, ended[1].run_id)


def test_a_batch_in_a_worker_waits_again_for_an_item_still_going_and_reports_its_end(
    hook: LangGraphHook,
) -> None:
    ended, operator = _one_ended_one_going(hook, 2, deferrable=False)
    summary = operator.complete(_context(), ended)
    assert [(r["status"], r["outcome"]) for r in summary["runs"]] == [("success", "success")] * 2
    assert summary["runs"][1]["output"]["slept"] == 2


def _run_ref(hook: LangGraphHook, run: dict[str, Any]) -> dict[str, Any]:
    hook.join_run(run["thread_id"], run["run_id"], raise_error=False)
    return {"thread_id": run["thread_id"], "run_id": run["run_id"]}


def test_a_sensor_resumed_from_a_join_reads_how_its_run_ended(hook: LangGraphHook) -> None:
    ended = _run(hook, "test_agent", SEED_INPUT)
    sensor = RunStatusSensor(
        task_id="watch", thread_id=ended["thread_id"], run_id=ended["run_id"],
        deferrable=True, wait_mode="join", langgraph_conn_id=hook.langgraph_conn_id,
    )  # fmt: skip
    assert sensor.execute_complete(_context(), _event(ended)) == SEED_RESULT

    going = _run(hook, "sleeper", {"seconds": 5}, end=False)
    sensor = RunStatusSensor(
        task_id="watch", thread_id=going["thread_id"], run_id=going["run_id"],
        deferrable=True, wait_mode="join", langgraph_conn_id=hook.langgraph_conn_id,
    )  # fmt: skip
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute_complete(_context(), _event(going))
    assert deferred.value.trigger.serialize()[1]["options"]["read_status"] is False
    hook.cancel_run(going["thread_id"], going["run_id"])


def test_a_sensor_resumed_after_its_run_was_deleted_fails_saying_so(hook: LangGraphHook) -> None:
    ended = _run(hook, "test_agent", SEED_INPUT)
    hook.delete_run(ended["thread_id"], ended["run_id"])
    sensor = RunStatusSensor(
        task_id="watch", thread_id=ended["thread_id"], run_id=ended["run_id"],
        deferrable=True, wait_mode="join", langgraph_conn_id=hook.langgraph_conn_id,
    )  # fmt: skip
    with pytest.raises(LangGraphError, match="no longer exists: the run was deleted"):
        sensor.execute_complete(_context(), _event(ended))
