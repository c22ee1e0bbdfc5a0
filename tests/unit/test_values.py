"""The typed values a run travels in — RunRef, RunOutcome, WaitOptions, WaitEvent — and their
one serialized form (trigger kwargs, trigger events, XCom)."""

from __future__ import annotations

import json

import pytest

from airflow_lg.exceptions import LangGraphError
from airflow_lg.outcomes import outcome_of, status_told_by
from airflow_lg.runs import RunOutcome, RunRef
from airflow_lg.schema import (
    SERVER_RUN_STATUSES,
    TERMINAL_RUN_STATUSES,
    Outcome,
    RunStatus,
    choices,
)
from airflow_lg.triggers.runs import LangGraphRunTrigger
from airflow_lg.waiting import WaitEvent, WaitOptions


def test_statuses_know_whether_a_run_can_still_change() -> None:
    assert {s for s in RunStatus if s.is_terminal()} == TERMINAL_RUN_STATUSES
    assert {s for s in RunStatus if s.is_active()} == {"pending", "running"}
    assert RunStatus.MISSING.is_final() and not RunStatus.MISSING.is_terminal()
    assert not RunStatus.ENDED.is_final()  # it ended, but how is not known yet
    assert set(SERVER_RUN_STATUSES) == TERMINAL_RUN_STATUSES | {"pending", "running"}


def test_the_sdk_run_statuses_are_the_servers_statuses() -> None:
    from langgraph_sdk.schema import RunStatus as SdkRunStatus

    assert set(choices(SdkRunStatus)) == set(SERVER_RUN_STATUSES)


def test_a_run_ref_round_trips_through_its_serialized_form() -> None:
    ref = RunRef("T", "R").with_status("success")
    assert ref.to_dict() == {"thread_id": "T", "run_id": "R", "status": "success"}
    assert RunRef.from_dict(json.loads(json.dumps(ref.to_dict()))) == ref
    assert RunRef("T", "R").to_dict() == {"thread_id": "T", "run_id": "R"}
    gone = RunRef("T", "R").missing()
    assert RunRef.from_dict(gone.to_dict()) == gone
    assert "on_completion='delete'" in (gone.detail or "")


@pytest.mark.parametrize(
    "value",
    [None, "R", {"run_id": "R"}, {"thread_id": "", "run_id": "R"}, {"thread_id": "T", "run_id": 3}],
)
def test_a_malformed_run_ref_is_refused_naming_what_came(value: object) -> None:
    with pytest.raises(LangGraphError, match="run reference"):
        RunRef.from_dict(value)


def test_an_unknown_status_is_an_error_not_a_wait_that_never_ends() -> None:
    with pytest.raises(LangGraphError, match="unknown run status 'finished'"):
        RunRef("T", "R").with_status("finished")


@pytest.mark.parametrize("status", ["success", "error", "timeout", "interrupted", "missing"])
def test_an_outcome_round_trips_through_its_xcom_form(status: str) -> None:
    outcome = outcome_of(
        RunRef("T", "R").with_status(status),
        {"values": {"a": 1}, "tasks": [], "next": []},
        {"error": "ValueError", "message": "m"},
    )
    assert RunOutcome.from_dict(json.loads(json.dumps(outcome.to_dict()))) == outcome


def test_a_paused_outcome_carries_its_question_in_xcom() -> None:
    checkpoint = {
        "values": {"a": 1},
        "tasks": [{"interrupts": [{"value": "ok?", "id": "i1"}]}],
        "next": ["ask"],
    }
    outcome = outcome_of(RunRef("T", "R").with_status("success"), checkpoint)  # type: ignore[arg-type]
    assert outcome.outcome is Outcome.PAUSED
    assert outcome.to_dict() == {
        "thread_id": "T",
        "run_id": "R",
        "status": "success",
        "outcome": "paused",
        "output": {"a": 1, "__interrupt__": [{"value": "ok?", "id": "i1"}]},
        "interrupts": [{"value": "ok?", "id": "i1"}],
        "next": ["ask"],
    }


def test_wait_options_are_serialized_by_one_function_and_read_back() -> None:
    options = WaitOptions(
        mode="join",
        poll_interval=2,
        deadline=12.5,
        deadline_reason="execution_timeout",
        stop_statuses=frozenset({"running", "success"}),
        read_status=False,
    )
    stored = json.loads(json.dumps(options.to_dict()))
    assert stored["stop_statuses"] == ["running", "success"]
    assert WaitOptions.from_dict(stored) == options
    assert WaitOptions.from_dict({}) == WaitOptions()


def test_a_trigger_deferred_by_airflow_lg_0_1_still_loads_after_an_upgrade() -> None:
    # 0.1 stored the wait options flat in the trigger's kwargs
    kwargs = {
        "runs": [{"thread_id": "T", "run_id": "R"}],
        "langgraph_conn_id": "lg",
        "wait_mode": "join",
        "poll_interval": 7.0,
        "failure_budget": 2,
        "deadline": 99.0,
        "deadline_reason": "wait_timeout",
        "cancel_on_kill": False,
        "cancel_action": "rollback",
        "concurrency": 5,
        "stop_statuses": ["error", "interrupted", "success", "timeout"],
        "read_status": False,
    }
    trigger = LangGraphRunTrigger(**kwargs)  # type: ignore[arg-type]
    assert trigger.options == WaitOptions(
        mode="join", poll_interval=7.0, failure_budget=2, deadline=99.0, concurrency=5,
        read_status=False,
    )  # fmt: skip
    assert (trigger.langgraph_conn_id, trigger.cancel_on_kill) == ("lg", False)
    with pytest.raises(TypeError, match="unexpected arguments"):
        LangGraphRunTrigger([{"thread_id": "T", "run_id": "R"}], pol_interval=3)


def test_a_trigger_event_is_checked_at_the_boundary() -> None:
    event = WaitEvent("done", (RunRef("T", "R").with_status("ended"),)).to_dict()
    ended = {"thread_id": "T", "run_id": "R", "status": "ended"}
    assert event == {"status": "done", "runs": [ended]}
    assert WaitEvent.from_dict(event).runs[0].status is RunStatus.ENDED
    with pytest.raises(LangGraphError, match="unknown run status"):
        WaitEvent.from_dict(
            {"status": "done", "runs": [{"thread_id": "T", "run_id": "R", "status": "over"}]}
        )


def test_a_run_ref_given_a_plain_status_holds_the_enum() -> None:
    ref = RunRef("T", "R", "success")  # type: ignore[arg-type]
    assert ref.status is RunStatus.SUCCESS and ref.is_final
    assert outcome_of(ref, {"values": {}, "tasks": [], "next": []}).outcome is Outcome.SUCCESS


def test_a_trigger_built_with_0_1s_positional_connection_id_still_works() -> None:
    trigger = LangGraphRunTrigger([{"thread_id": "T", "run_id": "R"}], "lg", poll_interval=2)
    assert (trigger.langgraph_conn_id, trigger.options.poll_interval) == ("lg", 2.0)


def test_a_sensor_deadline_is_its_timeout_whatever_the_event_says() -> None:
    from airflow.sdk.exceptions import AirflowSensorTimeout

    from airflow_lg.exceptions import LangGraphWaitTimeoutError
    from airflow_lg.hooks.langgraph import LangGraphHook
    from airflow_lg.waiting import resume

    # as a trigger deferred by 0.1 reports it: no sensor reason in its kwargs
    event = WaitEvent("deadline", (RunRef("T", "R"),), "late", "wait_timeout").to_dict()
    with pytest.raises(AirflowSensorTimeout, match="sensor timeout reached: late"):
        resume(LangGraphHook("unused"), event, deadline_reason="sensor_timeout")
    with pytest.raises(LangGraphWaitTimeoutError, match="wait_timeout reached: late"):
        resume(LangGraphHook("unused"), event)


async def test_blocking_work_runs_even_where_an_event_loop_already_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from airflow_lg.hooks.langgraph import LangGraphHook

    monkeypatch.setenv(
        "AIRFLOW_CONN_LG_BLOCKING", json.dumps({"conn_type": "langgraph", "host": "http://x"})
    )

    async def work() -> str:
        return "done"

    assert LangGraphHook("lg_blocking").blocking(work()) == "done"  # a loop runs: this test's


@pytest.mark.parametrize(
    ("thread", "told"),
    [
        ({"status": "idle", "values": {"a": 1}, "error": None}, RunStatus.SUCCESS),
        ({"status": "idle", "values": {}, "error": None}, RunStatus.SUCCESS),
        # cancelled at its last step: idle with all its values, but the cancel is its error
        ({"status": "idle", "values": {"a": 1}, "error": {"error": "UserInterrupt"}}, None),
        ({"status": "idle", "values": None, "error": None}, None),  # cancelled while queued
        ({"status": "idle", "values": {"a": 1}}, None),  # a server that says no error field
        ({"status": "idle", "error": None}, None),  # aegra: threads without values
        ({"status": "error", "values": {}, "error": {"error": "ValueError"}}, None),
        ({"status": "interrupted", "values": {"a": 1}, "error": None}, None),
        ({"status": "busy", "values": {"a": 1}, "error": None}, None),
    ],
)
def test_a_thread_alone_with_its_run_tells_only_a_plain_success(
    thread: dict[str, object], told: RunStatus | None
) -> None:
    assert status_told_by(thread) is told  # type: ignore[arg-type]
