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
from airflow_lg.outcomes import read_batch_outcomes, read_outcome
from airflow_lg.runs import RunRef
from tests.server.conftest import SEED_RESULT


@pytest.fixture
def hook(agent_server: Any, make_hook: Callable[..., LangGraphHook]) -> LangGraphHook:
    return make_hook(agent_server.url)


def _ended(hook: LangGraphHook, thread_id: str, run: Any) -> RunRef:
    hook.join_run(thread_id, run["run_id"], raise_error=False)
    status = hook.get_run(thread_id, run["run_id"])["status"]
    return RunRef(thread_id, run["run_id"]).with_status(status)


def test_the_output_is_the_runs_own_even_after_a_later_run_on_the_thread(
    hook: LangGraphHook,
) -> None:
    thread_id = hook.create_thread()["thread_id"]
    first = hook.create_run(thread_id, "sleeper", input={"seconds": 0.1})
    first_ref = _ended(hook, thread_id, first)
    later = hook.create_run(thread_id, "sleeper", input={"seconds": 0.3})
    _ended(hook, thread_id, later)

    outcome = read_outcome(hook, first_ref)
    assert outcome.outcome == "success"
    assert outcome.output == {"seconds": 0.1, "slept": 0.1, "done": True}


def test_a_run_stopped_at_a_static_breakpoint_is_paused_not_successful(
    hook: LangGraphHook,
) -> None:
    thread_id = hook.create_thread()["thread_id"]
    run = hook.create_run(thread_id, "test_agent", input={}, interrupt_before=["bar"])
    ref = _ended(hook, thread_id, run)
    assert ref.status == "success"  # what the server says

    outcome = read_outcome(hook, ref)
    assert outcome.outcome == "paused"
    assert outcome.next == ["bar"]
    assert outcome.interrupts == []
    assert outcome.output == {"foo": "checked"}


def test_a_run_paused_by_interrupt_carries_its_question(hook: LangGraphHook) -> None:
    thread_id = hook.create_thread()["thread_id"]
    run = hook.create_run(thread_id, "human", input={"topic": "t"})
    outcome = read_outcome(hook, _ended(hook, thread_id, run))
    assert outcome.outcome == "paused"
    assert outcome.next == ["ask"]
    assert [i["value"] for i in outcome.interrupts] == [{"question": "approve?", "topic": "t"}]
    assert outcome.output["__interrupt__"] == outcome.interrupts


def test_a_failed_run_carries_the_agents_error(hook: LangGraphHook) -> None:
    thread_id = hook.create_thread()["thread_id"]
    run = hook.create_run(thread_id, "failing", input={"reason": "why"})
    outcome = read_outcome(hook, _ended(hook, thread_id, run))
    assert outcome.outcome == "error"
    assert outcome.error == {
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
    assert outcome.outcome == "cancelled"
    assert outcome.status == "interrupted"


def test_a_stateless_run_kept_after_completion_has_its_output(hook: LangGraphHook) -> None:
    run = hook.create_run(
        None, "test_agent", input={"foo": None, "bar": "checked", "baz": None}, on_completion="keep"
    )
    outcome = read_outcome(hook, _ended(hook, run["thread_id"], run))
    assert outcome.output == SEED_RESULT


def test_a_deleted_run_falls_back_to_the_result_already_received(hook: LangGraphHook) -> None:
    ref = RunRef(str(uuid.uuid4()), str(uuid.uuid4())).with_status("success")
    assert read_outcome(hook, ref, {"a": 1}).output == {"a": 1}
    assert read_outcome(hook, ref).output is None


# ---- many runs alone on their threads (batch items) ----------------------------------------

_KINDS = {
    "success": {"assistant_id": "test_agent", "input": {"bar": "checked"}},
    "breakpoint": {"assistant_id": "test_agent", "input": {}, "interrupt_before": ["bar"]},
    "breakpoint_at_the_end": {
        "assistant_id": "test_agent",
        "input": {},
        "interrupt_after": ["baz"],
    },
    "interrupt": {"assistant_id": "human", "input": {"topic": "t"}},
    "error": {"assistant_id": "failing", "input": {"reason": "why"}},
    "cancelled": {"assistant_id": "sleeper", "input": {"seconds": 30}},
}


def _batch_of_every_kind(hook: LangGraphHook) -> list[RunRef]:
    items = [{**item, "on_completion": "keep"} for item in _KINDS.values()]
    runs = hook.create_batch(items)
    sleeper = runs[-1]
    for _ in range(100):
        if hook.get_run(sleeper["thread_id"], sleeper["run_id"])["status"] == "running":
            break
        time.sleep(0.1)
    hook.cancel_run(sleeper["thread_id"], sleeper["run_id"], wait=True)
    refs = [_ended(hook, r["thread_id"], r) for r in runs]
    gone = RunRef(str(uuid.uuid4()), str(uuid.uuid4())).with_status("success")
    return [*refs, gone]


def test_batch_outcomes_are_the_outcomes_read_one_by_one(
    agent_server: Any, make_hook: Callable[..., LangGraphHook], fault_proxy: Any
) -> None:
    refs = _batch_of_every_kind(make_hook(agent_server.url))
    hook = make_hook(fault_proxy.url)

    together = read_batch_outcomes(hook, refs)
    one_by_one = [read_outcome(hook, ref) for ref in refs]

    assert together == one_by_one
    assert [o.outcome for o in together] == [
        "success", "paused", "success", "paused", "error", "cancelled", "success",
    ]  # fmt: skip
    assert (together[4].error or {})["message"] == "failing agent failed on purpose: why"


def test_batch_outcomes_read_a_checkpoint_only_where_the_thread_cannot_tell(
    agent_server: Any, make_hook: Callable[..., LangGraphHook], fault_proxy: Any
) -> None:
    # A checkpoint read costs the server ~40 ms of CPU once it holds 1,000 threads; the thread
    # costs ~1 ms and, alone with its run, has its values and its error.
    refs = _batch_of_every_kind(make_hook(agent_server.url))
    fault_proxy.clear()
    read_batch_outcomes(make_hook(fault_proxy.url), refs)

    histories = {r.path.split("/")[2] for r in fault_proxy.find("POST", "/history$")}
    paused_or_cancelled = [refs[i].thread_id for i in (1, 3, 5)]
    assert histories == set(paused_or_cancelled)
    assert fault_proxy.find("GET", "/join$") == []  # the error came with the thread
    assert len(fault_proxy.find("GET", "^/threads/[^/]+$")) == len(refs)


def test_batch_items_seen_ended_get_their_status_from_their_thread_where_it_tells(
    agent_server: Any, make_hook: Callable[..., LangGraphHook], fault_proxy: Any
) -> None:
    # A watcher or a join only saw these runs end; the thread read that gives the outcome tells
    # a success too, so waiting for a batch costs no run read per item. Where the thread cannot
    # tell (paused, failed, cancelled — also before it started: idle without values), the run
    # is read.
    hook = make_hook(agent_server.url)
    refs = _batch_of_every_kind(hook)
    later = {**_KINDS["success"], "after_seconds": 60, "on_completion": "keep"}
    queued = hook.create_batch([later])
    hook.cancel_run(queued[0]["thread_id"], queued[0]["run_id"], wait=True)
    refs.insert(-1, _ended(hook, queued[0]["thread_id"], queued[0]))
    assert refs[-2].status == "interrupted"  # cancelled while it waited for its start
    ended = [RunRef(r.thread_id, r.run_id).with_status("ended") for r in refs]
    fault_proxy.clear()

    told = read_batch_outcomes(make_hook(fault_proxy.url), ended)

    known = read_batch_outcomes(hook, refs)
    assert told[:-1] == known[:-1]
    assert [o.outcome for o in told] == [
        "success", "paused", "success", "paused", "error", "cancelled", "cancelled", "missing",
    ]  # fmt: skip
    reads = fault_proxy.find("GET", "^/threads/[^/]+/runs/[^/]+$")
    assert {r.path.split("/")[4] for r in reads} == {refs[i].run_id for i in (1, 3, 4, 5, 6)}
