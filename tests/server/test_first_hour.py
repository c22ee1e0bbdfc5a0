"""The first hour's careless mistakes, each caught where it happens with the task named and the
mistake said in the user's words (issue 17's table), against the real server — a silent server
is the real one behind a proxy that holds requests.

The parse-time rows (``wait_timeout=0``, ``WaitRunOperator(deferrable=True)``, every parse
error naming its task, payloads without an operator assistant) are in test_bad_input.py.
"""

from __future__ import annotations

import json
import logging
import socket
import time
import uuid
from typing import Any

import pytest

from airflow_lg.exactly_once import task_thread_id
from airflow_lg.exceptions import (
    LangGraphConfigError,
    LangGraphConnectionError,
    LangGraphRunFailedError,
)
from airflow_lg.hooks.langgraph import LangGraphHook
from airflow_lg.operators.runs import BatchRunOperator, CreateRunOperator, WaitRunOperator
from airflow_lg.runs import RunRef
from airflow_lg.waiting import WaitOptions, wait_for_runs
from tests.server.conftest import SEED_INPUT
from tests.server.test_exactly_once import TaskInstance


def _conn(monkeypatch: pytest.MonkeyPatch, host: str, **extra: Any) -> str:
    conn_id = f"first_hour_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}",
        json.dumps({"conn_type": "langgraph", "host": host, "extra": extra}),
    )
    return conn_id


@pytest.fixture
def conn_id(agent_server: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    return _conn(monkeypatch, agent_server.url)


def _nothing_made(conn_id: str, ti: TaskInstance) -> bool:
    hook = LangGraphHook(conn_id)
    return hook.search_threads(metadata={"airflow_lg_task_key": ti.key}) == []


# ---- a rendered input that is not an object ----------------------------------------------


@pytest.mark.parametrize(
    ("rendered", "message"),
    [
        pytest.param("None", "input rendered to 'None'", id="template rendered None"),
        pytest.param('{"foo": "x"}', "input is a JSON string, not an object", id="JSON text"),
        pytest.param("{'foo': 'x'}", "input is a string that looks like a Python", id="repr"),
        pytest.param(["foo"], "input is a list", id="a list"),
    ],
)
@pytest.mark.parametrize("operator", [CreateRunOperator, WaitRunOperator])
def test_an_input_that_is_not_an_object_is_refused_before_sending_naming_the_task(
    conn_id: str, operator: type, rendered: Any, message: str
) -> None:
    ti = TaskInstance()
    task = operator(
        task_id="agent", assistant_id="test_agent", input=rendered, langgraph_conn_id=conn_id
    )
    with pytest.raises(LangGraphConfigError) as caught:
        task.execute(ti.context())
    assert str(caught.value).startswith(f"task 'agent': {message}")
    assert "expected an object" in str(caught.value)
    assert _nothing_made(conn_id, ti)
    with pytest.raises(Exception, match="not found"):  # not even the task's own thread
        LangGraphHook(conn_id).get_thread(task_thread_id(ti.key))


def test_a_config_rendered_to_text_is_refused_before_sending(conn_id: str) -> None:
    ti = TaskInstance()
    task = CreateRunOperator(
        task_id="agent", assistant_id="test_agent", input=SEED_INPUT,
        config="{'recursion_limit': 5}", langgraph_conn_id=conn_id,
    )  # fmt: skip
    with pytest.raises(LangGraphConfigError, match="task 'agent': config is a string"):
        task.execute(ti.context())
    assert _nothing_made(conn_id, ti)


def test_templated_arguments_are_checked_as_rendered_before_sending(conn_id: str) -> None:
    # what parse time skips for a template is checked once it rendered (Airflow sets the
    # rendered values on the task before execute)
    ti = TaskInstance()
    task = CreateRunOperator(
        task_id="agent", assistant_id="test_agent", input=SEED_INPUT,
        config="{{ params.config }}", context="{{ params.context }}", langgraph_conn_id=conn_id,
    )  # fmt: skip
    task.config, task.context = {"configurable": {"a": 1}}, {"a": 1}
    with pytest.raises(LangGraphConfigError, match=r"task 'agent': .*cannot be used together"):
        task.execute(ti.context())
    resume = CreateRunOperator(
        task_id="agent", assistant_id="human", thread_id="{{ params.thread }}",
        command={"resume": "yes"}, langgraph_conn_id=conn_id,
    )  # fmt: skip
    resume.thread_id = "None"  # rendered from a missing value
    with pytest.raises(LangGraphConfigError, match="needs the thread_id of the paused run"):
        resume.execute(ti.context())
    assert _nothing_made(conn_id, ti)


def test_a_string_input_goes_through_when_the_graphs_schema_takes_a_string(conn_id: str) -> None:
    # the bundled `shout` entrypoint declares {"type": "string"} as its input schema
    ti = TaskInstance()
    task = CreateRunOperator(
        task_id="agent", assistant_id="shout", input="hello", langgraph_conn_id=conn_id
    )
    assert task.execute(ti.context()) == "HELLO"


def test_batch_inputs_are_checked_against_the_graph_like_a_single_run(conn_id: str) -> None:
    refused = TaskInstance()
    task = BatchRunOperator(
        task_id="agent", assistant_id="test_agent", inputs=[SEED_INPUT, "None"],
        langgraph_conn_id=conn_id,
    )  # fmt: skip
    with pytest.raises(LangGraphConfigError, match=r"task 'agent': inputs\[1\] rendered to 'None'"):
        task.execute(refused.context())
    assert _nothing_made(conn_id, refused)
    taken = BatchRunOperator(
        task_id="agent", assistant_id="shout", inputs=["a", "b"], langgraph_conn_id=conn_id,
        poll_interval=0.5,
    )  # fmt: skip
    result = taken.execute(TaskInstance().context())
    assert [r["output"] for r in result["runs"]] == ["A", "B"]


# ---- a server that takes the connection and never answers --------------------------------


@pytest.fixture
def silent(fault_proxy: Any) -> Any:
    """The real server behind a proxy that holds every request for 10 minutes."""
    fault_proxy.delay(600, stage="request", times=None)
    return fault_proxy


def test_a_silent_server_fails_the_task_at_once_saying_no_response(
    silent: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn_id = _conn(monkeypatch, silent.url, timeout={"response": 1})
    task = CreateRunOperator(
        task_id="agent", assistant_id="test_agent", input=SEED_INPUT, langgraph_conn_id=conn_id
    )
    with pytest.raises(LangGraphConnectionError) as caught:
        task.execute(TaskInstance().context())
    message = str(caught.value)
    assert f"no response from the LangGraph server at {silent.url} in 1 s" in message
    assert message.startswith("creating the run: ")
    assert "timeout.response" in message
    # not five 60 s silences: the creation once (never re-sent), then the look-up for the run
    # it may have made, also silent: the second silence fails at once
    assert [r.method for r in silent.requests] == ["POST", "GET"]


def test_the_test_button_reports_a_silent_server_after_its_second_silence(
    silent: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok, message = LangGraphHook(
        _conn(monkeypatch, silent.url, timeout={"response": 1})
    ).test_connection()
    assert not ok
    assert f"no response from the LangGraph server at {silent.url} in 1 s" in message
    assert len(silent.requests) == 2  # one more try, for a server starting cold


def test_a_server_heard_before_that_goes_quiet_is_retried(
    fault_proxy: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a pause of a server that was answering is a hiccup, not a wrong port: retried as usual
    retry = {"max_attempts": 3, "min_wait": 0, "max_wait": 0}
    hook = LangGraphHook(_conn(monkeypatch, fault_proxy.url, timeout={"response": 1}, retry=retry))
    hook.info()
    fault_proxy.delay(600, stage="request", method="GET", path="/ok", times=2)
    hook.health()  # silent twice, then answered
    assert len(fault_proxy.find("GET", "/ok")) == 3


def test_a_server_starting_cold_gets_one_more_try(
    fault_proxy: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = LangGraphHook(_conn(monkeypatch, fault_proxy.url, timeout={"response": 1}))
    fault_proxy.delay(600, stage="request", method="GET", path="/ok", times=1)
    assert hook.health()["ok"] is True
    assert len(fault_proxy.find("GET", "/ok")) == 2


def test_a_creation_that_got_no_answer_is_not_sent_again(
    fault_proxy: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the server may still be making it: this try does not send it again (the next try looks
    # for it first), whatever the look-up finds now
    conn_id = _conn(monkeypatch, fault_proxy.url, timeout={"response": 1})
    fault_proxy.delay(600, stage="request", method="POST", path=r"^/threads/[^/]+/runs$", times=1)
    ti = TaskInstance()
    task = CreateRunOperator(
        task_id="agent", assistant_id="test_agent", input=SEED_INPUT, langgraph_conn_id=conn_id
    )
    with pytest.raises(LangGraphConnectionError, match=r"creating the run: .*no response"):
        task.execute(ti.context())
    assert len(fault_proxy.find("POST", r"^/threads/[^/]+/runs$")) == 1


def test_an_agents_error_in_a_wait_is_not_called_a_creation_failure(conn_id: str) -> None:
    task = WaitRunOperator(
        task_id="agent", assistant_id="failing", input={"reason": "no"}, langgraph_conn_id=conn_id
    )
    with pytest.raises(LangGraphRunFailedError) as caught:
        task.execute(TaskInstance().context())
    assert str(caught.value).startswith("ValueError: failing agent failed on purpose: no")


def test_a_batchs_own_config_rendered_to_text_is_refused(conn_id: str) -> None:
    ti = TaskInstance()
    task = BatchRunOperator(
        task_id="agent", assistant_id="test_agent", inputs=[SEED_INPUT],
        config="{'recursion_limit': 5}", langgraph_conn_id=conn_id,
    )  # fmt: skip
    with pytest.raises(LangGraphConfigError, match="task 'agent': config is a string"):
        task.execute(ti.context())
    assert _nothing_made(conn_id, ti)


# ---- the first look-up of a retry ----------------------------------------------------------


def test_a_failed_look_up_for_an_earlier_try_is_named_in_the_users_terms(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    conn_id = _conn(monkeypatch, f"http://127.0.0.1:{port}", retry={"max_attempts": 1})
    ti = TaskInstance()
    ti.try_number = 2  # a retry: it looks for the run of try 1 first
    task = CreateRunOperator(
        task_id="agent", assistant_id="test_agent", input=SEED_INPUT, langgraph_conn_id=conn_id
    )
    with pytest.raises(LangGraphConnectionError) as caught:
        task.execute(ti.context())
    message = str(caught.value)
    assert message.startswith("looking for this task's run from an earlier try: ")
    assert f"could not connect to the LangGraph server at http://127.0.0.1:{port}" in message


# ---- batch payloads carry their own assistant ------------------------------------------------


def test_batch_payloads_carry_their_own_assistant_as_in_the_sdk(conn_id: str) -> None:
    task = BatchRunOperator(
        task_id="agent",
        payloads=[
            {"assistant_id": "shout", "input": "hi"},
            {"assistant_id": "test_agent", "input": SEED_INPUT},
        ],
        langgraph_conn_id=conn_id,
        poll_interval=0.5,
    )
    result = task.execute(TaskInstance().context())
    assert result["counts"] == {"success": 2}
    assert result["runs"][0]["output"] == "HI"


def test_a_batch_payload_with_an_unknown_key_is_refused_naming_it(conn_id: str) -> None:
    ti = TaskInstance()
    task = BatchRunOperator(
        task_id="agent", assistant_id="test_agent",
        payloads=[{"input": SEED_INPUT}, {"inptu": SEED_INPUT}], langgraph_conn_id=conn_id,
    )  # fmt: skip
    with pytest.raises(LangGraphConfigError) as caught:
        task.execute(ti.context())
    assert str(caught.value).startswith("task 'agent': payloads[1] has unknown key(s) ['inptu']")
    assert "'input'" in str(caught.value)  # the known keys are listed
    assert _nothing_made(conn_id, ti)


# ---- https to a plain-HTTP server ------------------------------------------------------------


def test_https_to_a_plain_http_server_says_use_http_and_is_not_retried(
    agent_server: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    https = agent_server.url.replace("http://", "https://")
    hook = LangGraphHook(_conn(monkeypatch, https))
    with caplog.at_level(logging.WARNING), pytest.raises(LangGraphConnectionError) as caught:
        hook.info()
    assert f"the server does not speak TLS on this port: use {agent_server.url}" in str(
        caught.value
    )
    assert "retry 1 of" not in caplog.text


# ---- a run that ends in a second is seen in about a second -----------------------------------


def test_a_quick_run_is_seen_long_before_the_poll_interval(conn_id: str) -> None:
    hook = LangGraphHook(conn_id)
    run = hook.create_run(None, "test_agent", input=SEED_INPUT, on_completion="keep")
    # a poll_interval of a minute, a deadline of 20 s: only an early first re-check sees it
    options = WaitOptions(poll_interval=60, deadline=time.time() + 20)
    [ref] = hook.blocking(wait_for_runs(hook, [RunRef.of(run)], options, logging.getLogger()))
    assert ref.status == "success"
