"""Each operator and the sensor in real DAGs (dag.test()), against the real Agent Server:
worker-bound and deferred, for success, agent error, server timeout, human interrupt and
partial batch failure; dynamic task mapping; the task's identity on every run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.dags.conftest import DagResult
from tests.server.conftest import SEED_INPUT, SEED_RESULT

RunDag = Callable[..., DagResult]
CREATE_DAGS = [
    "lg_create_sync_poll",
    "lg_create_sync_join",
    "lg_create_deferred_poll",
    "lg_create_deferred_join",
]


def server() -> Any:
    """A hook on the same server the DAGs use (the default connection, set by run_dag)."""
    from airflow_lg.hooks.langgraph import LangGraphHook

    return LangGraphHook()


@pytest.mark.parametrize("dag_id", CREATE_DAGS)
def test_create_run_returns_the_agents_output_and_pushes_its_ids(
    run_dag: RunDag, dag_id: str
) -> None:
    result = run_dag(dag_id, assistant_id="test_agent", input=SEED_INPUT)
    assert result.states == {"run": "success"}
    assert result.xcom("run") == SEED_RESULT
    assert result.xcom("run", "status") == "success"
    assert result.xcom("run", "assistant_id") == "test_agent"
    run = server().get_run(result.xcom("run", "thread_id"), result.xcom("run", "run_id"))
    assert run["status"] == "success"


@pytest.mark.parametrize("dag_id", ["lg_create_sync_poll", "lg_create_deferred_join"])
def test_create_run_stamps_the_task_identity_on_the_run(run_dag: RunDag, dag_id: str) -> None:
    result = run_dag(dag_id, assistant_id="test_agent", input=SEED_INPUT)
    run = server().get_run(result.xcom("run", "thread_id"), result.xcom("run", "run_id"))
    metadata = run["metadata"]
    assert metadata["airflow_dag_id"] == dag_id
    assert metadata["airflow_task_id"] == "run"
    assert metadata["airflow_run_id"] == result.run_id
    assert metadata["airflow_map_index"] == -1
    assert metadata["airflow_try_number"] == 1
    assert metadata["airflow_logical_date"]


@pytest.mark.parametrize("dag_id", CREATE_DAGS)
def test_an_agent_error_fails_the_task_with_its_type_and_message(
    run_dag: RunDag, dag_id: str
) -> None:
    result = run_dag(dag_id, assistant_id="failing", input={"reason": "quota exceeded"})
    assert result.states == {"run": "failed"}
    assert result.xcom("run", "status") == "error"
    assert "ValueError: failing agent failed on purpose: quota exceeded" in result.output


@pytest.mark.parametrize(
    "dag_id", ["lg_create_on_timeout_server", "lg_create_sync_on_timeout_server"]
)
def test_the_servers_timeout_is_told_apart_from_ours(run_dag: RunDag, dag_id: str) -> None:
    result = run_dag(dag_id, assistant_id="sleeper", input={"seconds": 10})
    assert result.states == {"run": "failed"}
    assert result.xcom("run", "status") == "timeout"
    assert "LangGraphRunTimeoutError" in result.output
    assert "hit the server's time limit (status timeout)" in result.output
    assert "LangGraphWaitTimeoutError" not in result.output


@pytest.mark.parametrize("dag_id", ["lg_create_sync_poll", "lg_create_deferred_join"])
def test_a_run_paused_for_a_human_fails_by_default_with_the_question_in_xcom(
    run_dag: RunDag, dag_id: str
) -> None:
    thread = server().create_thread()
    result = run_dag(
        dag_id, assistant_id="human", input={"topic": "x"}, thread_id=thread["thread_id"]
    )
    assert result.states == {"run": "failed"}
    assert result.xcom("run", "status") == "success"  # the server's word; not ours
    interrupts = result.xcom("run", "interrupts")
    assert interrupts[0]["value"] == {"question": "approve?", "topic": "x"}
    assert "paused for human input" in result.output


def test_on_interrupt_succeed_lets_a_later_task_resume_the_same_thread(run_dag: RunDag) -> None:
    thread = server().create_thread()
    result = run_dag("lg_human_in_the_loop", thread_id=thread["thread_id"])
    assert result.states == {"ask": "success", "resume": "success"}
    assert result.xcom("ask")["__interrupt__"][0]["value"]["question"] == "approve?"
    assert result.xcom("resume")["answer"] == "yes"
    assert result.xcom("resume", "thread_id") == thread["thread_id"]


def test_create_without_waiting_returns_the_pending_run(run_dag: RunDag) -> None:
    result = run_dag("lg_create_no_wait", assistant_id="sleeper", input={"seconds": 1})
    run = result.xcom("run")
    assert result.states == {"run": "success"}
    assert run["status"] == "pending"
    assert run["run_id"] == result.xcom("run", "run_id")
    # a stateless run is kept by default, so its result can still be read once it ended
    assert server().join_run(run["thread_id"], run["run_id"])["done"] is True
    assert server().get_run(run["thread_id"], run["run_id"])["status"] == "success"


@pytest.mark.parametrize("dag_id", ["lg_sensor_sync", "lg_sensor_deferred"])
def test_the_sensor_returns_the_output_of_a_successful_run(run_dag: RunDag, dag_id: str) -> None:
    result = run_dag(dag_id, assistant_id="sleeper", input={"seconds": 2})
    assert result.states == {"create": "success", "sense": "success"}
    assert result.xcom("sense") == {"seconds": 2, "slept": 2.0, "done": True}


@pytest.mark.parametrize("dag_id", ["lg_sensor_sync", "lg_sensor_deferred"])
def test_the_sensor_fails_on_an_agent_error(run_dag: RunDag, dag_id: str) -> None:
    result = run_dag(dag_id, assistant_id="failing", input={"reason": "sensed"})
    assert result.states == {"create": "success", "sense": "failed"}
    assert "ValueError: failing agent failed on purpose: sensed" in result.output


def test_the_deferred_sensor_really_defers_for_a_long_run(run_dag: RunDag) -> None:
    result = run_dag("lg_sensor_deferred", assistant_id="sleeper", input={"seconds": 3})
    assert result.states["sense"] == "success"
    assert "new_state=deferred" in result.output


def test_wait_run_returns_the_final_values(run_dag: RunDag) -> None:
    result = run_dag("lg_wait", assistant_id="test_agent", input=SEED_INPUT)
    assert result.states == {"run": "success"}
    assert result.xcom("run") == SEED_RESULT
    assert result.xcom("run", "run_id")


def test_wait_run_fails_with_the_agents_error(run_dag: RunDag) -> None:
    result = run_dag("lg_wait", assistant_id="failing", input={"reason": "waited"})
    assert result.states == {"run": "failed"}
    assert "ValueError: failing agent failed on purpose: waited" in result.output


def test_wait_run_streaming_logs_progress_and_returns_the_final_values(run_dag: RunDag) -> None:
    result = run_dag("lg_wait_stream", assistant_id="sleeper", input={"seconds": 0.5})
    assert result.xcom("run") == {"seconds": 0.5, "slept": 0.5, "done": True}
    for step in range(1, 6):
        assert f'custom: {{"slept": {step}, "of": 5}}' in result.output
    assert "node sleep finished: updated slept, done" in result.output


CHAT_INPUT = {"messages": [{"role": "user", "content": "hello there"}]}
CHAT_ANSWER = "You said: hello there. This is a fake, offline reply."


@pytest.mark.parametrize("dag_id", [*CREATE_DAGS, "lg_wait"])
def test_the_task_log_ends_with_the_agents_answer(run_dag: RunDag, dag_id: str) -> None:
    result = run_dag(dag_id, assistant_id="chat", input=CHAT_INPUT)
    assert result.states == {"run": "success"}
    run_id = result.xcom("run", "run_id")
    assert f"LangGraph run {run_id} answered: {CHAT_ANSWER}" in result.output


def test_a_messages_tuple_stream_logs_each_message_once_whole(run_dag: RunDag) -> None:
    result = run_dag("lg_wait_stream_messages_tuple", assistant_id="chat", input=CHAT_INPUT)
    assert result.states == {"run": "success"}
    assert f"message (respond): {CHAT_ANSWER}" in result.output
    assert result.output.count(f"message (respond): {CHAT_ANSWER}") == 1


def test_a_values_stream_logs_the_newest_message(run_dag: RunDag) -> None:
    result = run_dag("lg_wait_stream_values", assistant_id="chat", input=CHAT_INPUT)
    assert result.states == {"run": "success"}
    assert "state: 1 message(s); newest: human: hello there" in result.output
    assert f"state: 2 message(s); newest: AI: {CHAT_ANSWER}" in result.output


def test_an_agent_error_leads_the_failure_with_its_type_and_message(run_dag: RunDag) -> None:
    result = run_dag("lg_wait", assistant_id="failing", input={"reason": "first"})
    # the agent's words first, ids after: a UI log line shows its start
    assert "ValueError: failing agent failed on purpose: first (agent run " in result.output


def test_wait_run_streaming_fails_with_the_agents_error(run_dag: RunDag) -> None:
    result = run_dag("lg_wait_stream", assistant_id="failing", input={"reason": "streamed"})
    assert result.states == {"run": "failed"}
    assert "ValueError: failing agent failed on purpose: streamed" in result.output


def _payloads(*seconds: float, failing: tuple[int, ...] = ()) -> list[dict[str, Any]]:
    return [
        {"assistant_id": "failing", "input": {"reason": f"item {i}"}}
        if i in failing
        else {"input": {"seconds": s}}
        for i, s in enumerate(seconds)
    ]


def test_a_batch_logs_its_counts_and_each_items_answer(run_dag: RunDag) -> None:
    payloads = [{"assistant_id": "chat", "input": CHAT_INPUT}, *_payloads(0.1, failing=(0,))]
    result = run_dag("lg_batch_sync_lenient", assistant_id="sleeper", payloads=payloads)
    assert "LangGraph batch of 2 runs ended: " in result.output
    assert f"success: {CHAT_ANSWER}" in result.output
    assert "item #1 (run " in result.output and "failing agent failed on purpose" in result.output


@pytest.mark.parametrize("dag_id", ["lg_batch_sync", "lg_batch_deferred"])
def test_a_batch_returns_one_entry_per_payload_in_input_order(run_dag: RunDag, dag_id: str) -> None:
    result = run_dag(dag_id, assistant_id="sleeper", payloads=_payloads(0.5, 0.1, 0.3, 0.2, 0.4))
    assert result.states == {"batch": "success"}
    batch = result.xcom("batch")
    assert [r["index"] for r in batch["runs"]] == [0, 1, 2, 3, 4]
    assert [r["output"]["slept"] for r in batch["runs"]] == [0.5, 0.1, 0.3, 0.2, 0.4]
    assert batch["counts"] == {"success": 5}
    assert len({r["run_id"] for r in batch["runs"]}) == 5
    # chunks of 2: three create_batch calls, all ids in XCom as soon as created
    assert [r["run_id"] for r in result.xcom("batch", "runs")] == [
        r["run_id"] for r in batch["runs"]
    ]


@pytest.mark.parametrize("dag_id", ["lg_batch_sync", "lg_batch_deferred"])
def test_a_partial_batch_failure_fails_the_task_but_keeps_every_result(
    run_dag: RunDag, dag_id: str
) -> None:
    result = run_dag(
        dag_id, assistant_id="sleeper", payloads=_payloads(0.1, 0.1, 0.1, failing=(1,))
    )
    assert result.states == {"batch": "failed"}
    batch = result.xcom("batch", "batch")
    assert [r["outcome"] for r in batch["runs"]] == ["success", "error", "success"]
    assert batch["runs"][1]["error"] == {
        "error": "ValueError",
        "message": "failing agent failed on purpose: item 1",
    }
    assert "1 of 3 runs did not succeed" in result.output


def test_a_lenient_batch_succeeds_with_the_failures_in_xcom(run_dag: RunDag) -> None:
    result = run_dag(
        "lg_batch_deferred_lenient",
        assistant_id="sleeper",
        payloads=_payloads(0.1, 0.1, failing=(0,)),
    )
    assert result.states == {"batch": "success"}
    batch = result.xcom("batch")
    assert batch["counts"] == {"error": 1, "success": 1}
    assert batch["runs"][0]["error"]["error"] == "ValueError"


def test_mapped_tasks_run_one_agent_each(run_dag: RunDag) -> None:
    result = run_dag("lg_mapped")
    assert result.states == {"run[0]": "success", "run[1]": "success", "run[2]": "success"}
    assert [result.xcom("run", map_index=i)["slept"] for i in range(3)] == [0.1, 0.2, 0.3]
    run_ids = {result.xcom("run", "run_id", map_index=i) for i in range(3)}
    assert len(run_ids) == 3
    run = server().get_run(
        result.xcom("run", "thread_id", map_index=2), result.xcom("run", "run_id", map_index=2)
    )
    assert run["metadata"]["airflow_map_index"] == 2


def _cancelled(result: DagResult) -> str:
    """The server's status of the task's run, once it settled."""
    import time

    thread_id, run_id = result.xcom("run", "thread_id"), result.xcom("run", "run_id")
    for _ in range(50):
        status = server().get_run(thread_id, run_id)["status"]
        if status != "running":
            return str(status)
        time.sleep(0.1)
    return str(status)


@pytest.mark.parametrize("kind", ["sync", "deferred"])
def test_hitting_execution_timeout_fails_the_task_and_cancels_the_run(
    run_dag: RunDag, kind: str
) -> None:
    result = run_dag(f"lg_{kind}_execution_timeout", assistant_id="sleeper", input={"seconds": 60})
    assert result.states == {"run": "failed"}
    assert _cancelled(result) == "interrupted"
    assert "Timeout" in result.output


@pytest.mark.parametrize("kind", ["sync", "deferred"])
def test_our_wait_timeout_fails_the_task_cancels_the_run_and_says_so(
    run_dag: RunDag, kind: str
) -> None:
    result = run_dag(f"lg_{kind}_wait_timeout", assistant_id="sleeper", input={"seconds": 60})
    assert result.states == {"run": "failed"}
    assert _cancelled(result) == "interrupted"
    assert "LangGraphWaitTimeoutError" in result.output
    assert "stopped waiting at the wait timeout" in result.output
    assert "LangGraphRunTimeoutError" not in result.output


@pytest.mark.parametrize("dag_id", ["lg_wait", "lg_wait_stream"])
def test_wait_run_never_reports_a_paused_run_as_plain_success(run_dag: RunDag, dag_id: str) -> None:
    thread = server().create_thread()
    result = run_dag(
        dag_id, assistant_id="human", input={"topic": "y"}, thread_id=thread["thread_id"]
    )
    assert result.states == {"run": "failed"}
    assert result.xcom("run", "interrupts")[0]["value"] == {"question": "approve?", "topic": "y"}
    assert "paused for human input" in result.output


def test_wait_run_fails_when_the_server_timed_the_run_out(run_dag: RunDag) -> None:
    # The server answers a timed-out wait with the last values and no error: only the run's
    # status tells, and the task must not pass for a success with partial values.
    result = run_dag("lg_wait_on_timeout_server", assistant_id="sleeper", input={"seconds": 6})
    assert result.states == {"run": "failed"}
    assert result.xcom("run", "status") == "timeout"
    assert "LangGraphRunTimeoutError" in result.output


def test_a_run_stopped_at_a_static_breakpoint_is_not_a_success(run_dag: RunDag) -> None:
    thread = server().create_thread()
    result = run_dag("lg_create_breakpoint", input={}, thread_id=thread["thread_id"])
    assert result.states == {"run": "failed"}
    assert "paused for human input (next: ['bar'])" in result.output


@pytest.mark.parametrize("blank", ["", "None"])
def test_a_thread_id_that_renders_blank_means_a_stateless_run(run_dag: RunDag, blank: str) -> None:
    result = run_dag("lg_wait", assistant_id="test_agent", input=SEED_INPUT, thread_id=blank)
    assert result.states == {"run": "success"}
    assert result.xcom("run") == SEED_RESULT


@pytest.mark.parametrize("kind", ["sync", "deferred"])
def test_a_lenient_batch_reports_a_server_timeout_and_a_human_pause_per_item(
    run_dag: RunDag, kind: str
) -> None:
    payloads = [
        {"input": {"seconds": 8}},
        {"input": {"seconds": 0.1}},
        {"assistant_id": "human", "input": {"topic": "batch"}},
    ]
    result = run_dag(
        f"lg_batch_{kind}_lenient_on_timeout_server", assistant_id="sleeper", payloads=payloads
    )
    assert result.states == {"batch": "success"}
    batch = result.xcom("batch")
    assert [r["outcome"] for r in batch["runs"]] == ["timeout", "success", "paused"]
    assert batch["runs"][2]["interrupts"][0]["value"]["question"] == "approve?"
    assert batch["counts"] == {"timeout": 1, "success": 1, "paused": 1}


@pytest.mark.parametrize("dag_id", ["lg_sensor_sync", "lg_sensor_deferred"])
def test_the_sensor_fails_on_a_run_paused_for_a_human(run_dag: RunDag, dag_id: str) -> None:
    result = run_dag(dag_id, assistant_id="human", input={"topic": "sensed"})
    assert result.states == {"create": "success", "sense": "failed"}
    assert result.xcom("sense", "interrupts")[0]["value"]["topic"] == "sensed"
    assert "paused for human input" in result.output
