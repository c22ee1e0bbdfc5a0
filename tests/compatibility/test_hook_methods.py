"""Every LangGraphHook method, sync and async, against each server — the seed's demos
included (a stream with every mode but ``events``, a delayed stateless run kept after
completion, ``join`` and ``join_stream``). Where a server differs, the test asserts what
that server does (``expect``), or that the provider's fallback gives the same result."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from airflow_lg.exceptions import (
    LangGraphConflictError,
    LangGraphNotFoundError,
    LangGraphRunFailedError,
    LangGraphValidationError,
)
from airflow_lg.schema import interrupts_of
from tests.compatibility.conftest import Expect, Transport
from tests.server.conftest import SEED_INPUT, SEED_RESULT

pytestmark = pytest.mark.timeout(120)
ALL_MODES_BUT_EVENTS = [
    "values", "messages", "updates", "tasks", "checkpoints", "debug", "custom", "messages-tuple",
]  # fmt: skip


async def status_of(lg: Transport, thread_id: str, run_id: str, wanted: set[str]) -> str:
    for _ in range(300):
        status = str((await lg.get_run(thread_id, run_id))["status"])
        if status in wanted:
            return status
        await asyncio.sleep(0.1)
    raise AssertionError(f"run {run_id} never reached {wanted}; last {status}")


async def new_thread(lg: Transport) -> str:
    return str((await lg.create_thread())["thread_id"])


async def test_stream_with_every_mode_but_events_gives_the_seeds_values(lg: Transport) -> None:
    parts = await lg.stream_run(
        None, "test_agent", input=SEED_INPUT, stream_mode=ALL_MODES_BUT_EVENTS
    )
    events = [p.event for p in parts]
    assert events[0] == "metadata"
    values = [p.data for p in parts if p.event == "values"]
    assert values[0] == SEED_INPUT and values[-1] == SEED_RESULT
    assert [p.data for p in parts if p.event == "updates"] == [
        {"foo": {"foo": "checked"}}, {"bar": None}, {"baz": {"baz": "checked"}},
    ]  # fmt: skip
    assert {"tasks", "debug"} <= set(events)


async def test_wait_returns_the_seeds_final_values(lg: Transport) -> None:
    assert await lg.wait_run(None, "test_agent", input=SEED_INPUT) == SEED_RESULT


async def test_a_delayed_stateless_run_kept_after_completion_ends_in_success(
    lg: Transport, expect: Expect
) -> None:
    run = await lg.create_run(
        None, "test_agent", input=SEED_INPUT, after_seconds=2, on_completion="keep"
    )
    first = await lg.get_run(run["thread_id"], run["run_id"])
    # aegra ignores after_seconds: the run starts as soon as a worker takes it
    if expect.after_seconds:
        assert first["status"] == "pending"
    assert await lg.join_run(run["thread_id"], run["run_id"]) == SEED_RESULT
    assert (await lg.get_run(run["thread_id"], run["run_id"]))["status"] == "success"


async def test_join_and_join_stream_follow_a_run_on_a_thread(lg: Transport, expect: Expect) -> None:
    thread_id = await new_thread(lg)
    run = await lg.create_run(
        thread_id, "sleeper", input={"seconds": 1}, stream_mode=["values", "updates"],
        stream_resumable=True,
    )  # fmt: skip
    parts = await lg.join_stream(thread_id, run["run_id"], stream_mode="updates")
    events = {p.event for p in parts}
    # aegra ignores join_stream's stream_mode (sends every mode the run has)
    if expect.join_stream_filters:
        assert events <= {"metadata", "updates"}
    else:
        assert "values" in events
    assert "updates" in events
    result = await lg.join_run(thread_id, run["run_id"])
    assert result["done"] is True


async def test_create_batch_gives_each_items_run(lg: Transport, expect: Expect) -> None:
    payloads = [
        {"assistant_id": "sleeper", "input": {"seconds": s}, "on_completion": "keep"}
        for s in (0.1, 0.2)
    ]
    # aegra has no /runs/batch: the hook creates one stateless run per item instead
    runs = await lg.create_batch(payloads)
    assert len({r["run_id"] for r in runs}) == 2
    results = [await lg.join_run(r["thread_id"], r["run_id"]) for r in runs]
    assert [r["slept"] for r in results] == [0.1, 0.2]


async def test_list_get_and_delete_runs(lg: Transport) -> None:
    thread_id = await new_thread(lg)
    first = await lg.create_run(thread_id, "test_agent", input=SEED_INPUT)
    await lg.join_run(thread_id, first["run_id"])
    second = await lg.create_run(thread_id, "test_agent", input=SEED_INPUT)
    await lg.join_run(thread_id, second["run_id"])
    listed = await lg.list_runs(thread_id)
    assert {r["run_id"] for r in listed} == {first["run_id"], second["run_id"]}
    assert (await lg.get_run(thread_id, first["run_id"]))["status"] == "success"
    await lg.delete_run(thread_id, first["run_id"])
    with pytest.raises(LangGraphNotFoundError):
        await lg.get_run(thread_id, first["run_id"])


async def test_cancel_interrupts_a_sleeping_run(lg: Transport) -> None:
    thread_id = await new_thread(lg)
    run = await lg.create_run(thread_id, "sleeper", input={"seconds": 30})
    await status_of(lg, thread_id, run["run_id"], {"running"})
    await lg.cancel_run(thread_id, run["run_id"], wait=True)
    assert await status_of(lg, thread_id, run["run_id"], {"interrupted"}) == "interrupted"


async def test_cancel_with_rollback_removes_the_run(lg: Transport, expect: Expect) -> None:
    thread_id = await new_thread(lg)
    run = await lg.create_run(thread_id, "sleeper", input={"seconds": 30})
    await status_of(lg, thread_id, run["run_id"], {"running"})
    # aegra refuses action="rollback" (422): the hook interrupts the run, then deletes it
    await lg.cancel_run(thread_id, run["run_id"], wait=True, action="rollback")
    for _ in range(100):
        try:
            await lg.get_run(thread_id, run["run_id"])
        except LangGraphNotFoundError:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the rolled-back run is still there")


async def test_cancelling_a_finished_run(lg: Transport, expect: Expect) -> None:
    thread_id = await new_thread(lg)
    run = await lg.create_run(thread_id, "test_agent", input=SEED_INPUT)
    await lg.join_run(thread_id, run["run_id"])
    if expect.cancel_finished == "not_found":
        with pytest.raises(LangGraphNotFoundError):
            await lg.cancel_run(thread_id, run["run_id"])
    else:  # pg and aegra accept it (202) and change nothing
        await lg.cancel_run(thread_id, run["run_id"])
    assert (await lg.get_run(thread_id, run["run_id"]))["status"] == "success"


async def test_a_busy_thread_under_reject(lg: Transport, expect: Expect) -> None:
    thread_id = await new_thread(lg)
    run = await lg.create_run(thread_id, "sleeper", input={"seconds": 2})
    await status_of(lg, thread_id, run["run_id"], {"running"})
    if expect.rejects_busy_thread:
        with pytest.raises(LangGraphConflictError):
            await lg.create_run(
                thread_id, "sleeper", input={"seconds": 0}, multitask_strategy="reject"
            )
    else:  # aegra stores multitask_strategy but does not enforce it
        second = await lg.create_run(
            thread_id, "sleeper", input={"seconds": 0}, multitask_strategy="reject"
        )
        assert second["run_id"] != run["run_id"]
    await lg.join_run(thread_id, run["run_id"])


async def test_a_failed_run_raises_with_the_agents_message(lg: Transport, expect: Expect) -> None:
    with pytest.raises(LangGraphRunFailedError) as failed:
        await lg.wait_run(None, "failing", input={"reason": "on purpose"})
    assert failed.value.error_type == expect.error_type
    assert "on purpose" in str(failed.value)


async def test_an_interrupted_run_resumes_on_the_same_thread(lg: Transport, expect: Expect) -> None:
    thread_id = await new_thread(lg)
    result = await lg.wait_run(thread_id, "human", input={"topic": "compat"})
    assert [i["value"]["question"] for i in interrupts_of(result) or []] == ["approve?"]
    runs = await lg.list_runs(thread_id)
    assert runs[0]["status"] == expect.paused_status
    state = await lg.get_thread_state(thread_id)
    assert state["next"]  # paused with a node still to run, on every server
    resumed = await lg.wait_run(thread_id, "human", command={"resume": "approve"})
    assert resumed["approved"] is True


async def test_threads_create_get_history_state_and_search(lg: Transport) -> None:
    marker = str(uuid.uuid4())
    thread = await lg.create_thread(metadata={"compat": marker})
    thread_id = thread["thread_id"]
    assert (await lg.get_thread(thread_id))["thread_id"] == thread_id
    await lg.wait_run(thread_id, "test_agent", input=SEED_INPUT)
    assert (await lg.get_thread_state(thread_id))["values"] == SEED_RESULT
    history = await lg.get_thread_history(thread_id, limit=2)
    assert history and history[0]["values"] == SEED_RESULT
    found = await lg.search_threads(metadata={"compat": marker})
    assert [t["thread_id"] for t in found] == [thread_id]


async def test_health_info_and_the_test_button(lg: Transport, server: Any, expect: Expect) -> None:
    # aegra has no /ok: health() falls back to /info
    assert (await lg.health())["ok"] is True
    info = await lg.info()
    assert info.get("version")
    ok, message = await asyncio.to_thread(lg.hook.test_connection)
    assert ok, message
    assert server.url in message


async def test_an_assistants_input_schema_is_read_by_graph_name(
    lg: Transport, expect: Expect
) -> None:
    # what the operators' input check asks only for an input that is not an object
    [assistant] = await lg.search_assistants(graph_id="shout", limit=1)
    schemas = await lg.get_assistant_schemas(assistant["assistant_id"])
    assert schemas["input_schema"]["type"] == "string"
    if expect.non_object_input:
        assert await lg.wait_run(None, "shout", input="hi") == "HI"
    else:
        with pytest.raises(LangGraphValidationError, match="Input should be a valid dictionary"):
            await lg.wait_run(None, "shout", input="hi")
