"""Bad input, tried: each case fails at the earliest point it can — DAG parse (operator
construction), before sending, or at the server — with an error naming what was wrong (and
quoting the server when it is the server that refused), and leaves nothing behind.

The table here is the one docs/reliability.md reports.
"""

from __future__ import annotations

import json
import socket
import uuid
from datetime import timedelta
from typing import Any

import pytest

from airflow_lg.exactly_once import task_thread_id
from airflow_lg.exceptions import (
    LangGraphAuthError,
    LangGraphConfigError,
    LangGraphConflictError,
    LangGraphConnectionError,
    LangGraphNotFoundError,
    LangGraphValidationError,
)
from airflow_lg.hooks.langgraph import LangGraphHook
from airflow_lg.operators.runs import BatchRunOperator, CreateRunOperator, WaitRunOperator
from airflow_lg.sensors.runs import RunStatusSensor
from tests.server.conftest import SEED_INPUT
from tests.server.test_exactly_once import TaskInstance

# ---- at DAG parse: the operator refuses to be built ------------------------------------------

PARSE_TIME = [
    ("empty assistant", CreateRunOperator, {"assistant_id": ""}, "assistant_id is required"),
    (
        "input not JSON",
        CreateRunOperator,
        {"input": {"when": object()}},
        "input is not JSON-serializable",
    ),
    (
        "NaN in config",
        CreateRunOperator,
        {"config": {"x": float("nan")}},
        "config is not JSON-serializable",
    ),
    (
        "configurable + context",
        CreateRunOperator,
        {"config": {"configurable": {"a": 1}}, "context": {"a": 1}},
        "cannot be used together",
    ),
    (
        "resume without thread",
        CreateRunOperator,
        {"command": {"resume": "yes"}},
        "needs the thread_id of the paused run",
    ),
    (
        "unknown stream mode",
        WaitRunOperator,
        {"stream_mode": ["updates", "everything"]},
        "unknown stream_mode ['everything']",
    ),
    (
        "bad multitask strategy",
        CreateRunOperator,
        {"multitask_strategy": "queue"},
        "multitask_strategy must be one of",
    ),
    (
        "bad on_completion",
        CreateRunOperator,
        {"on_completion": "forever"},
        "on_completion must be one of",
    ),
    (
        "negative after_seconds",
        CreateRunOperator,
        {"after_seconds": -5},
        "after_seconds must be an integer >= 0",
    ),
    ("bad wait_mode", CreateRunOperator, {"wait_mode": "push"}, "wait_mode must be one of"),
    ("poll_interval <= 0", CreateRunOperator, {"poll_interval": 0}, "poll_interval must be > 0"),
    (
        "bad cancel_action",
        CreateRunOperator,
        {"cancel_action": "kill"},
        "cancel_action must be one of",
    ),
    (
        "bad on_interrupt",
        WaitRunOperator,
        {"on_interrupt": "ignore"},
        "on_interrupt must be one of",
    ),
    (
        "bad on_disconnect",
        WaitRunOperator,
        {"on_disconnect": "hangup"},
        "on_disconnect must be one of",
    ),
    (
        "chunk_size <= 0",
        BatchRunOperator,
        {"inputs": [1], "chunk_size": 0},
        "chunk_size must be a positive integer",
    ),
    ("batch without payloads", BatchRunOperator, {}, "exactly one of inputs or payloads"),
    # the first hour's careless mistakes (issue 17)
    ("wait_timeout=0", CreateRunOperator, {"wait_timeout": 0}, "wait_timeout must be seconds > 0"),
    (
        "wait_timeout=timedelta(0)",
        BatchRunOperator,
        {"inputs": [{}], "wait_timeout": timedelta(0)},
        "wait_timeout must be seconds > 0",
    ),
    ("poll_interval not a number", CreateRunOperator, {"poll_interval": "5"}, "poll_interval"),
    (
        "WaitRunOperator deferred",
        WaitRunOperator,
        {"deferrable": True},
        "WaitRunOperator does not take deferrable: it waits in the worker",
    ),
    (
        "WaitRunOperator polling",
        WaitRunOperator,
        {"poll_interval": 1},
        "use CreateRunOperator(deferrable=True)",
    ),
    (
        "batch inputs without an assistant",
        BatchRunOperator,
        {"assistant_id": None, "inputs": [{}]},
        "assistant_id is required with inputs",
    ),
    (
        "batch payloads without any assistant",
        BatchRunOperator,
        {"assistant_id": None, "payloads": [{"assistant_id": "a"}, {"input": {}}]},
        "payloads[1] name no assistant_id and the operator has none",
    ),
    (
        "failure_budget not an integer",
        CreateRunOperator,
        {"failure_budget": 2.5},
        "failure_budget must be an integer >= 0",
    ),
]


def _sensor(**kwargs: Any) -> RunStatusSensor:
    return RunStatusSensor(task_id="t", thread_id="T", run_id="R", **kwargs)


SENSOR_PARSE_TIME = [
    ("misspelt target", {"target_statuses": ["sucess"]}, "unknown status(es) ['sucess']"),
    ("a status as a string", {"target_statuses": "success"}, "must be a list of statuses"),
    ("no target", {"target_statuses": []}, "target_statuses is empty"),
    ("negative failure_budget", {"failure_budget": -1}, "failure_budget must be an integer"),
    ("bad wait_mode", {"wait_mode": "push"}, "wait_mode must be one of"),
]


@pytest.mark.parametrize(
    ("operator", "kwargs", "message"),
    [pytest.param(op, kw, msg, id=case) for case, op, kw, msg in PARSE_TIME],
)
def test_bad_operator_input_fails_when_the_dag_is_parsed_naming_the_task(
    operator: type, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(LangGraphConfigError) as caught:
        operator(task_id="t", **{"assistant_id": "test_agent", **kwargs})
    assert message in str(caught.value)
    assert str(caught.value).startswith("task 't': ")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [pytest.param(kw, msg, id=case) for case, kw, msg in SENSOR_PARSE_TIME],
)
def test_bad_sensor_input_fails_when_the_dag_is_parsed_naming_the_task(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(LangGraphConfigError) as caught:
        _sensor(**kwargs)
    assert message in str(caught.value)
    assert str(caught.value).startswith("task 't': ")


def test_wait_run_operator_takes_deferrable_false_which_is_what_it_does() -> None:
    assert WaitRunOperator(task_id="t", assistant_id="a", deferrable=False).task_id == "t"


def test_a_sensor_with_a_status_both_target_and_failure_fails_at_parse() -> None:
    with pytest.raises(LangGraphConfigError, match=r"task 't': .*both target and failure"):
        _sensor(target_statuses=["timeout"])


# ---- the connection --------------------------------------------------------------------------


def _hook(monkeypatch: pytest.MonkeyPatch, **conn: Any) -> LangGraphHook:
    conn_id = f"bad_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "langgraph", **conn})
    )
    return LangGraphHook(conn_id)


@pytest.mark.parametrize(
    ("conn", "message"),
    [
        pytest.param({"host": ""}, "has no host", id="missing host"),
        pytest.param({"host": "ftp://agents"}, "expected http(s)://host[:port]", id="wrong scheme"),
        pytest.param({"host": "http://h:port"}, "is invalid", id="malformed URL"),
        pytest.param(
            {"host": "http://u:secret@h"}, "must not carry credentials", id="credentials in URL"
        ),
        pytest.param(
            {"host": "http://h", "extra": {"timeout": "soon"}}, "extra 'timeout'", id="bad timeout"
        ),
        pytest.param(
            {"host": "http://h", "extra": {"retry": {"tries": 3}}},
            "unknown retry setting",
            id="bad retry",
        ),
    ],
)
def test_a_bad_connection_fails_before_anything_is_sent_naming_the_field(
    monkeypatch: pytest.MonkeyPatch, conn: dict[str, Any], message: str
) -> None:
    with pytest.raises(LangGraphConfigError) as caught:
        _hook(monkeypatch, **conn).health()
    assert message in str(caught.value)
    assert "secret" not in str(caught.value)


def test_a_wrong_api_key_is_refused_quoting_the_server(
    auth_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(LangGraphAuthError) as caught:
        _hook(monkeypatch, host=auth_server.url, password="not-the-key").create_run(
            None, "test_agent", input=SEED_INPUT
        )
    assert "HTTP 401: Invalid or missing API key" in str(caught.value)
    assert "not-the-key" not in str(caught.value)


def test_a_server_that_is_down_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    hook = _hook(monkeypatch, host=f"http://127.0.0.1:{port}", extra={"retry": {"max_attempts": 1}})
    with pytest.raises(
        LangGraphConnectionError,
        match=f"could not connect to the LangGraph server at http://127.0.0.1:{port}",
    ):
        hook.wait_run(None, "test_agent", input=SEED_INPUT)


# ---- at the server: quoted, and nothing left behind ------------------------------------------


@pytest.fixture
def hook(agent_server: Any, monkeypatch: pytest.MonkeyPatch) -> LangGraphHook:
    return _hook(monkeypatch, host=agent_server.url)


def _execute(hook: LangGraphHook, operator: Any) -> TaskInstance:
    ti = TaskInstance()
    operator.execute(ti.context())
    return ti


def _threads_of(hook: LangGraphHook, ti: TaskInstance) -> list[Any]:
    return hook.search_threads(metadata={"airflow_lg_task_key": ti.key})


def test_an_unknown_assistant_is_refused_quoting_the_graphs_and_nothing_is_left(
    hook: LangGraphHook,
) -> None:
    ti = TaskInstance()
    operator = CreateRunOperator(
        task_id="agent",
        assistant_id="no_such_agent",
        input={},
        langgraph_conn_id=hook.langgraph_conn_id,
    )
    with pytest.raises(LangGraphValidationError) as caught:
        operator.execute(ti.context())
    assert "Invalid assistant: 'no_such_agent'" in str(caught.value)
    assert "test_agent" in str(caught.value)  # the server lists what exists
    with pytest.raises(LangGraphNotFoundError):  # not even the task's own thread
        hook.get_thread(task_thread_id(ti.key))


def test_an_unknown_assistant_uuid_is_not_found(hook: LangGraphHook) -> None:
    with pytest.raises(LangGraphNotFoundError, match="Thread or assistant not found"):
        hook.create_run(None, str(uuid.uuid4()), input={})


def test_a_non_uuid_thread_id_is_refused_naming_it(hook: LangGraphHook) -> None:
    operator = CreateRunOperator(
        task_id="agent",
        assistant_id="test_agent",
        thread_id="thread-1",
        input=SEED_INPUT,
        langgraph_conn_id=hook.langgraph_conn_id,
    )
    # a first try sends the creation first (nothing of an earlier try to look for)
    with pytest.raises(
        LangGraphValidationError, match="POST /threads/thread-1/runs failed with HTTP 422: Invalid"
    ):
        operator.execute(TaskInstance().context())


def test_a_non_uuid_run_id_in_a_sensor_is_refused(hook: LangGraphHook) -> None:
    sensor = RunStatusSensor(
        task_id="s",
        thread_id=str(uuid.uuid4()),
        run_id="run-1",
        langgraph_conn_id=hook.langgraph_conn_id,
    )
    with pytest.raises(LangGraphValidationError, match="HTTP 422"):
        sensor.poke(TaskInstance().context())


def test_a_busy_users_thread_under_reject_is_a_conflict(hook: LangGraphHook) -> None:
    thread_id = hook.create_thread()["thread_id"]
    busy = hook.create_run(thread_id, "sleeper", input={"seconds": 30})
    operator = CreateRunOperator(
        task_id="agent",
        assistant_id="test_agent",
        thread_id=thread_id,
        input=SEED_INPUT,
        multitask_strategy="reject",
        langgraph_conn_id=hook.langgraph_conn_id,
    )
    try:
        with pytest.raises(LangGraphConflictError, match="HTTP 409"):
            operator.execute(TaskInstance().context())
        assert [r["run_id"] for r in hook.list_runs(thread_id)] == [busy["run_id"]]
    finally:
        hook.cancel_run(thread_id, busy["run_id"])


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        pytest.param([], "inputs is empty", id="empty batch"),
        pytest.param({"day": 1}, "inputs must be a list, got dict", id="batch not a list"),
        pytest.param("[1, 2]", "inputs must be a list, got str", id="batch as a string"),
    ],
)
def test_a_bad_batch_fails_before_sending_and_leaves_nothing(
    hook: LangGraphHook, inputs: Any, message: str
) -> None:
    ti = TaskInstance()
    operator = BatchRunOperator(
        task_id="agent",
        assistant_id="sleeper",
        inputs=inputs,
        langgraph_conn_id=hook.langgraph_conn_id,
    )
    with pytest.raises(LangGraphConfigError, match=message):
        operator.execute(ti.context())
    assert _threads_of(hook, ti) == []


def test_a_batch_with_a_bad_item_names_it_and_keeps_what_was_made_for_a_retry(
    hook: LangGraphHook,
) -> None:
    ti = TaskInstance()
    payloads = [{"input": {"seconds": 0.1}}, {"assistant_id": "nope", "input": {}}]
    operator = BatchRunOperator(
        task_id="agent",
        assistant_id="sleeper",
        payloads=payloads,
        langgraph_conn_id=hook.langgraph_conn_id,
    )
    with pytest.raises(Exception, match="creating items 0-1 of the batch failed") as caught:
        operator.execute(ti.context())
    assert "Invalid assistant: 'nope'" in str(caught.value)
