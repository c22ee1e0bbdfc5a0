"""Every example DAG (``example_dags/``) through dag.test() against each server: the same
answers in XCom on all three. What differs (aegra: no batch endpoint, a paused run is
``interrupted``) is absorbed by the provider, so there is nothing server-specific to expect
here but the path the batch took, which the task log names."""

from __future__ import annotations

from typing import Any

import pytest

from tests.compatibility.conftest import Expect

pytestmark = pytest.mark.timeout(300)


def chat_reply(text: str) -> str:
    return f"You said: {text}. This is a fake, offline reply."


def _all_succeeded(dag_run: Any, xcom: Any) -> None:
    states = xcom("__states__")
    assert str(dag_run.state) == "success", states
    assert set(states.values()) == {"success"}, states


def test_invoke_agent_answers_the_question(run_example: Any) -> None:
    dag_run, xcom = run_example("example_invoke_agent")
    _all_succeeded(dag_run, xcom)
    question = xcom("build_question")["messages"][0]["content"]
    assert xcom("report") == chat_reply(question)
    assert xcom("ask_agent", key="status") == "success"


def test_batch_backfill_answers_once_per_day(
    run_example: Any, expect: Expect, capfd: pytest.CaptureFixture[str]
) -> None:
    days = ["2026-11-02", "2026-11-03", "2026-11-04"]
    capfd.readouterr()
    dag_run, xcom = run_example("example_batch_backfill", first_day=days[0], last_day=days[-1])
    log = "".join(capfd.readouterr())
    _all_succeeded(dag_run, xcom)
    batch = xcom("ask_per_day")
    assert batch["counts"] == {"success": 3}
    assert xcom("answers_by_day") == {d: chat_reply(f"Summarise the orders of {d}") for d in days}
    # aegra: no batch endpoint → BatchRunOperator creates the items one by one
    one_by_one = "The server has no batch endpoint: creating items one by one" in log
    assert one_by_one is not expect.batch_endpoint


def test_create_and_sense_returns_the_runs_output(run_example: Any) -> None:
    dag_run, xcom = run_example("example_create_and_sense")
    _all_succeeded(dag_run, xcom)
    assert xcom("wait_for_research") == {"seconds": 8, "slept": 8.0, "done": True}


def test_human_in_the_loop_resumes_the_thread_with_the_answer(
    run_example: Any, expect: Expect
) -> None:
    dag_run, xcom = run_example("example_human_in_the_loop")
    _all_succeeded(dag_run, xcom)
    question = {"question": "approve?", "topic": "publish the November newsletter"}
    assert [i["value"] for i in xcom("ask", key="interrupts")] == [question]
    # aegra: a paused run's status is `interrupted` (langgraph-api: `success`); the provider
    # reads the pause from the thread, so the outcome is `paused` on both
    assert xcom("ask", key="status") == expect.paused_status
    assert xcom("resume") == {
        "topic": "publish the November newsletter",
        "answer": "approve",
        "approved": True,
    }
    assert xcom("resume", key="thread_id") == xcom("ask", key="thread_id")


def test_stream_progress_returns_the_final_values(run_example: Any) -> None:
    dag_run, xcom = run_example("example_stream_progress")
    _all_succeeded(dag_run, xcom)
    assert xcom("crunch_numbers") == {"seconds": 2, "slept": 2.0, "done": True}


def test_mapped_runs_answer_every_ticket_in_order(run_example: Any) -> None:
    dag_run, xcom = run_example("example_mapped_runs")
    _all_succeeded(dag_run, xcom)
    tickets = xcom("open_tickets")
    assert xcom("collect") == [chat_reply(t["messages"][0]["content"]) for t in tickets]
