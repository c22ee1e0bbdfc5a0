"""How an ended run's outcome is read (operators/_base.read_outcome), against the real server:
from the run's own checkpoint, whatever ran on the thread after it; paused runs — by
``interrupt()`` or at a static breakpoint — are never plain successes."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from airflow_lg.hooks.langgraph import LangGraphHook
from airflow_lg.operators._base import read_outcome
from tests.server.conftest import SEED_RESULT


@pytest.fixture
def hook(agent_server: Any, make_hook: Callable[..., LangGraphHook]) -> LangGraphHook:
    return make_hook(agent_server.url)


def _ended(hook: LangGraphHook, thread_id: str, run: dict[str, Any]) -> dict[str, Any]:
    hook.join_run(thread_id, run["run_id"], raise_error=False)
    status = hook.get_run(thread_id, run["run_id"])["status"]
    return {"thread_id": thread_id, "run_id": run["run_id"], "status": status}


def test_the_output_is_the_runs_own_even_after_a_later_run_on_the_thread(
    hook: LangGraphHook,
) -> None:
    thread_id = hook.create_thread()["thread_id"]
    first = hook.create_run(thread_id, "sleeper", input={"seconds": 0.1})
    first_ref = _ended(hook, thread_id, first)
    later = hook.create_run(thread_id, "sleeper", input={"seconds": 0.3})
    _ended(hook, thread_id, later)

    outcome = read_outcome(hook, first_ref)
    assert outcome["outcome"] == "success"
    assert outcome["output"] == {"seconds": 0.1, "slept": 0.1, "done": True}


def test_a_run_stopped_at_a_static_breakpoint_is_paused_not_successful(
    hook: LangGraphHook,
) -> None:
    thread_id = hook.create_thread()["thread_id"]
    run = hook.create_run(thread_id, "test_agent", input={}, interrupt_before=["bar"])
    ref = _ended(hook, thread_id, run)
    assert ref["status"] == "success"  # what the server says

    outcome = read_outcome(hook, ref)
    assert outcome["outcome"] == "paused"
    assert outcome["next"] == ["bar"]
    assert outcome["interrupts"] == []
    assert outcome["output"] == {"foo": "checked"}


def test_a_run_paused_by_interrupt_carries_its_question(hook: LangGraphHook) -> None:
    thread_id = hook.create_thread()["thread_id"]
    run = hook.create_run(thread_id, "human", input={"topic": "t"})
    outcome = read_outcome(hook, _ended(hook, thread_id, run))
    assert outcome["outcome"] == "paused"
    assert outcome["next"] == ["ask"]
    assert [i["value"] for i in outcome["interrupts"]] == [{"question": "approve?", "topic": "t"}]
    assert outcome["output"]["__interrupt__"] == outcome["interrupts"]


def test_a_failed_run_carries_the_agents_error(hook: LangGraphHook) -> None:
    thread_id = hook.create_thread()["thread_id"]
    run = hook.create_run(thread_id, "failing", input={"reason": "why"})
    outcome = read_outcome(hook, _ended(hook, thread_id, run))
    assert outcome["outcome"] == "error"
    assert outcome["error"] == {
        "error": "ValueError",
        "message": "failing agent failed on purpose: why",
    }


def test_a_cancelled_run_is_cancelled_with_its_last_values(hook: LangGraphHook) -> None:
    thread_id = hook.create_thread()["thread_id"]
    run = hook.create_run(thread_id, "sleeper", input={"seconds": 30})
    for _ in range(100):
        if hook.get_run(thread_id, run["run_id"])["status"] == "running":
            break
        time.sleep(0.1)
    hook.cancel_run(thread_id, run["run_id"], wait=True)
    outcome = read_outcome(hook, _ended(hook, thread_id, run))
    assert outcome["outcome"] == "cancelled"
    assert outcome["status"] == "interrupted"


def test_a_stateless_run_kept_after_completion_has_its_output(hook: LangGraphHook) -> None:
    run = hook.create_run(
        None, "test_agent", input={"foo": None, "bar": "checked", "baz": None}, on_completion="keep"
    )
    outcome = read_outcome(hook, _ended(hook, run["thread_id"], run))
    assert outcome["output"] == SEED_RESULT


def test_a_deleted_run_falls_back_to_the_result_already_received(hook: LangGraphHook) -> None:
    ref = {"thread_id": str(uuid.uuid4()), "run_id": str(uuid.uuid4()), "status": "success"}
    assert read_outcome(hook, ref, {"a": 1})["output"] == {"a": 1}
    assert read_outcome(hook, ref)["output"] is None
