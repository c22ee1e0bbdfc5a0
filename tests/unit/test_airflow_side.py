"""The Airflow side's pure logic: trigger serialization, event validation, outcomes, progress
lines, and the argument checks that fail at DAG-parse time."""

from __future__ import annotations

import json

import pytest

from airflow_lg.exceptions import (
    LangGraphConfigError,
    LangGraphError,
    LangGraphRunCancelledError,
    LangGraphRunFailedError,
    LangGraphRunPausedError,
    LangGraphRunTimeoutError,
)
from airflow_lg.operators.runs import BatchRunOperator, CreateRunOperator, progress_line
from airflow_lg.runs import RunOutcome
from airflow_lg.schema import StreamPart
from airflow_lg.sensors.runs import RunStatusSensor
from airflow_lg.triggers.runs import LangGraphRunTrigger
from airflow_lg.waiting import WaitOptions, validate_event

RUN = {"thread_id": "T", "run_id": "R"}


def test_the_trigger_serializes_to_json_and_back_without_the_api_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = "sk-very-secret-key"
    monkeypatch.setenv(
        "AIRFLOW_CONN_LANGGRAPH_DEFAULT",
        json.dumps({"conn_type": "langgraph", "host": "http://x", "password": secret}),
    )
    trigger = LangGraphRunTrigger(
        [RUN], WaitOptions(mode="join", deadline=1234.5), cancel_action="rollback"
    )
    classpath, kwargs = trigger.serialize()
    text = json.dumps(kwargs)  # raises if anything is not JSON

    assert classpath == "airflow_lg.triggers.runs.LangGraphRunTrigger"
    assert secret not in text
    assert kwargs["runs"] == [RUN]
    assert kwargs["langgraph_conn_id"] == "langgraph_default"
    again = LangGraphRunTrigger(**json.loads(text))
    assert again.serialize() == (classpath, kwargs)


def test_the_trigger_keeps_only_run_ids_from_what_it_is_given() -> None:
    trigger = LangGraphRunTrigger([{**RUN, "status": "pending", "metadata": {"x": 1}}])
    assert trigger.serialize()[1]["runs"] == [RUN]


@pytest.mark.parametrize(
    "event",
    [
        None,
        "done",
        {"status": "finished", "runs": [RUN]},
        {"status": "done"},
        {"status": "done", "runs": [{"run_id": "R"}]},
        {"status": "done", "runs": "R"},
    ],
)
def test_a_malformed_trigger_event_is_refused(event: object) -> None:
    with pytest.raises(LangGraphError):
        validate_event(event)


def test_a_well_formed_trigger_event_passes() -> None:
    event = {"status": "done", "runs": [{**RUN, "status": "success"}]}
    assert validate_event(event).to_dict() == event


def _outcome(kind: str, **extra: object) -> RunOutcome:
    return RunOutcome.from_dict({**RUN, "status": "success", "outcome": kind, **extra})


def test_outcomes_become_the_output_or_the_error_a_user_can_act_on() -> None:
    assert _outcome("success", output={"a": 1}).result("fail") == {"a": 1}
    error = {"error": "KeyError", "message": "'x'"}
    with pytest.raises(LangGraphRunFailedError, match="KeyError: 'x'"):
        _outcome("error", error=error).result("fail")
    with pytest.raises(LangGraphRunTimeoutError, match="server's time limit"):
        _outcome("timeout").result("fail")
    with pytest.raises(LangGraphRunCancelledError, match="cancelled"):
        _outcome("cancelled").result("fail")


def test_a_paused_run_fails_without_retry_by_default_and_succeeds_if_asked() -> None:
    from airflow.sdk.exceptions import AirflowFailException

    interrupts = [{"value": {"question": "ok?"}, "id": "i1"}]
    paused = _outcome("paused", output={"__interrupt__": interrupts}, interrupts=interrupts)
    with pytest.raises(LangGraphRunPausedError) as caught:
        paused.result("fail")
    assert isinstance(caught.value, AirflowFailException)
    assert caught.value.interrupts == interrupts
    assert caught.value.thread_id == "T"
    assert paused.result("succeed") == {"__interrupt__": interrupts}


@pytest.mark.parametrize(
    ("part", "line"),
    [
        (StreamPart("metadata", {"run_id": "R", "attempt": 1}), "run R started (attempt 1)"),
        (StreamPart("updates", {"foo": {"foo": "checked"}}), "node foo finished: updated foo"),
        (StreamPart("updates", {"bar": None}), "node bar finished (no update)"),
        (StreamPart("custom", {"slept": 1}), 'custom: {"slept": 1}'),
        (StreamPart("error", {"error": "E"}), 'error: {"error": "E"}'),
        (StreamPart("values", {"a": 1}), None),
        (StreamPart("messages", [{}, {}]), None),
        (
            StreamPart("updates", {"__interrupt__": [{"value": "q"}]}),
            'paused for human input: [{"value": "q"}]',
        ),
    ],
)
def test_progress_lines_are_one_readable_line_per_event(part: StreamPart, line: str | None) -> None:
    assert progress_line(part) == line


def test_a_long_progress_line_is_shortened() -> None:
    line = progress_line(StreamPart("custom", {"text": "x" * 1000}))
    assert line is not None
    assert len(line) < 320
    assert line.endswith("…")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"wait_mode": "push"}, "wait_mode must be one of"),
        ({"cancel_action": "delete"}, "cancel_action must be one of"),
        ({"on_interrupt": "ignore"}, "on_interrupt must be one of"),
        ({"poll_interval": 0}, "poll_interval must be > 0"),
        ({"failure_budget": -1}, "failure_budget must be an integer >= 0"),
        ({"assistant_id": ""}, "assistant_id is required"),
    ],
)
def test_bad_operator_arguments_fail_when_the_dag_is_parsed(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(LangGraphConfigError, match=message):
        CreateRunOperator(task_id="t", **{"assistant_id": "a", **kwargs})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "exactly one of inputs or payloads"),
        ({"inputs": [1], "payloads": [{}]}, "exactly one of inputs or payloads"),
        ({"inputs": [1], "chunk_size": 0}, "chunk_size must be a positive integer"),
    ],
)
def test_bad_batch_arguments_fail_when_the_dag_is_parsed(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(LangGraphConfigError, match=message):
        BatchRunOperator(task_id="b", assistant_id="a", **kwargs)  # type: ignore[arg-type]


def test_a_sensor_status_cannot_be_both_target_and_failure() -> None:
    with pytest.raises(LangGraphConfigError, match="both target and failure"):
        RunStatusSensor(task_id="s", thread_id="T", run_id="R", target_statuses=["error"])


def test_a_stateless_batch_payload_list_is_checked_before_sending() -> None:
    context = {"ti": _FakeTI(), "logical_date": None}
    with pytest.raises(LangGraphConfigError, match="inputs is empty"):
        BatchRunOperator(task_id="b", assistant_id="a", inputs=[]).items(context)
    with pytest.raises(LangGraphConfigError, match="inputs must be a list, got str"):
        BatchRunOperator(task_id="b", assistant_id="a", inputs="[1, 2]").items(context)
    with pytest.raises(LangGraphConfigError, match=r"payloads\[1\] must be a mapping"):
        BatchRunOperator(task_id="b", assistant_id="a", payloads=[{}, 3]).items(context)  # type: ignore[list-item]


def test_batch_items_are_kept_and_tagged_with_their_task_and_index() -> None:
    context = {"ti": _FakeTI(), "logical_date": None}
    items = BatchRunOperator(
        task_id="b", assistant_id="scorer", inputs=[{"day": 1}, {"day": 2}], metadata={"team": "x"}
    ).items(context)
    assert [i["input"] for i in items] == [{"day": 1}, {"day": 2}]
    assert {i["on_completion"] for i in items} == {"keep"}
    assert {i["assistant_id"] for i in items} == {"scorer"}
    assert [i["metadata"]["airflow_batch_index"] for i in items] == [0, 1]
    assert items[1]["metadata"]["airflow_task_id"] == "b"
    assert items[1]["metadata"]["team"] == "x"


class _FakeTI:
    """Just the identity attributes a task instance exposes to operators."""

    dag_id = "d"
    task_id = "b"
    run_id = "manual__1"
    map_index = -1
    try_number = 1


def test_the_run_link_opens_the_tasks_agent_run_tab_of_the_ui_plugin() -> None:
    from airflow_lg.links import LangGraphRunLink

    key = _FakeTI()
    for operator in (BatchRunOperator(task_id="b", inputs=[{}], assistant_id="a"),):
        assert LangGraphRunLink().get_link(operator, ti_key=key) == (
            "/dags/d/runs/manual__1/tasks/b/plugin/agent-run"
        )


def test_the_run_link_of_a_mapped_task_names_its_map_index() -> None:
    from airflow_lg.links import task_tab_path

    assert (
        task_tab_path("d", "run/1", "t", 3)
        == "/dags/d/runs/run%2F1/tasks/t/mapped/3/plugin/agent-run"
    )


def test_the_run_link_is_empty_on_tasks_of_other_operators() -> None:
    from airflow.providers.standard.operators.empty import EmptyOperator

    from airflow_lg.links import LangGraphRunLink

    assert LangGraphRunLink().get_link(EmptyOperator(task_id="e"), ti_key=_FakeTI()) == ""


def test_the_run_link_follows_the_connections_template() -> None:
    from airflow_lg.links import run_url

    template = "https://studio.example/thread/{thread_id}?baseUrl={base_url_quoted}&run={run_id}"
    assert run_url(template, "http://lg:2024", "T 1", "R") == (
        "https://studio.example/thread/T%201?baseUrl=http%3A%2F%2Flg%3A2024&run=R"
    )


def test_the_plugin_registers_the_run_link_globally_and_no_operator_stores_it_in_xcom() -> None:
    from airflow_lg.get_provider_info import get_provider_info
    from airflow_lg.links import LangGraphRunLink
    from airflow_lg.plugins import LangGraphPlugin

    info = get_provider_info()
    assert info["plugins"] == [
        {"name": "airflow_lg", "plugin-class": "airflow_lg.plugins.LangGraphPlugin"}
    ]
    assert any(
        isinstance(link, LangGraphRunLink) for link in LangGraphPlugin.global_operator_extra_links
    )
    # an operator's own link would be computed by the worker and pushed as a _link_ XCom row
    for operator in (
        CreateRunOperator(task_id="c", assistant_id="a"),
        RunStatusSensor(task_id="s", thread_id="T", run_id="R"),
        BatchRunOperator(task_id="b", inputs=[{}], assistant_id="a"),
    ):
        assert not operator.operator_extra_links


def test_a_run_this_task_joins_records_its_node_updates_for_the_log() -> None:
    joined = CreateRunOperator(task_id="j", assistant_id="a", wait_mode="join")
    polled = CreateRunOperator(task_id="p", assistant_id="a")
    chosen = CreateRunOperator(
        task_id="c", assistant_id="a", wait_mode="join", stream_mode="values"
    )
    assert joined.recorded_stream_mode == ["values", "updates"]
    assert polled.recorded_stream_mode == "values"
    assert chosen.recorded_stream_mode == "values"  # the DAG's own choice stands


def test_deferred_waits_and_batches_watch_by_default_and_one_run_in_a_worker_polls() -> None:
    def mode(operator: object) -> str:
        return operator.wait_mode  # type: ignore[attr-defined, no-any-return]

    assert mode(CreateRunOperator(task_id="d", assistant_id="a", deferrable=True)) == "watch"
    assert mode(CreateRunOperator(task_id="w", assistant_id="a", deferrable=False)) == "poll"
    for deferrable in (True, False):
        batch = BatchRunOperator(task_id="b", inputs=[{}], assistant_id="a", deferrable=deferrable)
        assert mode(batch) == "watch"
    sensor = RunStatusSensor(task_id="s", thread_id="T", run_id="R", deferrable=True)
    assert mode(sensor) == "watch"
    assert mode(RunStatusSensor(task_id="p", thread_id="T", run_id="R")) == "poll"
    # the DAG's own choice stands
    chosen = CreateRunOperator(task_id="c", assistant_id="a", deferrable=True, wait_mode="join")
    assert mode(chosen) == "join"


def test_a_single_runs_wait_tells_progress_and_a_batchs_does_not() -> None:
    ti = _FakeTI()
    context = {"ti": ti}
    single = CreateRunOperator(task_id="c", assistant_id="a").wait_options(context)
    batch = BatchRunOperator(task_id="b", inputs=[{}], assistant_id="a").wait_options(context)
    assert single.progress is True and batch.progress is False
    assert WaitOptions.from_dict(single.to_dict()).progress is True  # travels in trigger kwargs
