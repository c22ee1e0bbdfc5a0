"""LangGraphRunTrigger and wait_for_runs against the real server, the way the triggerer runs
them: one event loop, many runs, transient failures, deadlines, on_kill versus cleanup."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import pytest

from airflow_lg.exceptions import LangGraphConnectionError, LangGraphServerError
from airflow_lg.hooks.langgraph import LangGraphHook
from airflow_lg.triggers.runs import LangGraphRunTrigger
from airflow_lg.waiting import WaitOptions, wait_for_runs
from tests.server.conftest import SEED_INPUT

log = logging.getLogger(__name__)


_CONN_IDS = itertools.count()


@pytest.fixture
def conn_to(monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """``conn_to(url, **extra) -> conn_id``: a connection the trigger can look up by id."""
    # unique in the session: hooks of one loop share a connection's look-up for a few seconds
    counter = _CONN_IDS

    def make(url: str, **extra: Any) -> str:
        conn_id = f"trigger_test_{next(counter)}"
        value = json.dumps({"conn_type": "langgraph", "host": url, "extra": extra})
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", value)
        return conn_id

    return make


async def _sleepers(hook: LangGraphHook, *seconds: float) -> list[dict[str, Any]]:
    runs = []
    for s in seconds:
        thread = await hook.acreate_thread()
        run = await hook.acreate_run(thread["thread_id"], "sleeper", input={"seconds": s})
        runs.append({"thread_id": run["thread_id"], "run_id": run["run_id"]})
    return runs


async def _first_event(trigger: LangGraphRunTrigger, limit: float = 60) -> dict[str, Any]:
    async with asyncio.timeout(limit):
        async for event in trigger.run():
            return dict(event.payload)
    raise AssertionError("the trigger ended without an event")


@pytest.mark.parametrize("wait_mode", ["poll", "join"])
async def test_one_trigger_waits_for_many_runs_and_reports_each_in_order(
    agent_server: Any, conn_to: Callable[..., str], wait_mode: str
) -> None:
    conn_id = conn_to(agent_server.url)
    hook = LangGraphHook(conn_id)
    runs = await _sleepers(hook, 1.5, 0.2, 0.8)
    failing = await hook.acreate_run(None, "failing", input={}, on_completion="keep")
    runs.append({"thread_id": failing["thread_id"], "run_id": failing["run_id"]})

    trigger = LangGraphRunTrigger(
        runs,
        WaitOptions(mode=wait_mode, poll_interval=0.3),  # type: ignore[arg-type]
        langgraph_conn_id=conn_id,
    )
    event = await _first_event(trigger)

    assert event["status"] == "done"
    assert [r["run_id"] for r in event["runs"]] == [r["run_id"] for r in runs]
    assert [r["status"] for r in event["runs"]] == ["success", "success", "success", "error"]


async def test_a_join_mode_trigger_sends_one_request_per_run_and_leaves_the_status_to_the_task(
    fault_proxy: Any, conn_to: Callable[..., str]
) -> None:
    # A join's answer does not say how the run ended; reading that is the resumed task's job,
    # so a triggerer with thousands of joins sends one request per run.
    conn_id = conn_to(fault_proxy.url)
    runs = await _sleepers(LangGraphHook(conn_id), 0.5, 1.0)
    fault_proxy.clear()

    options = WaitOptions(mode="join", poll_interval=30, read_status=False)
    trigger = LangGraphRunTrigger(runs, options, langgraph_conn_id=conn_id)
    event = await _first_event(trigger)

    assert event["status"] == "done"
    assert [r["status"] for r in event["runs"]] == ["ended", "ended"]
    sent = [(r.method, r.path) for r in fault_proxy.requests]
    assert sorted(sent) == sorted(
        ("GET", f"/threads/{r['thread_id']}/runs/{r['run_id']}/join") for r in runs
    )


async def test_join_mode_fires_as_soon_as_the_run_ends(
    agent_server: Any, conn_to: Callable[..., str]
) -> None:
    conn_id = conn_to(agent_server.url)
    hook = LangGraphHook(conn_id)
    [run] = await _sleepers(hook, 1.0)
    # a poll interval far longer than the run: only join can notice the end promptly
    options = WaitOptions(mode="join", poll_interval=30, read_status=False)
    trigger = LangGraphRunTrigger([run], options, langgraph_conn_id=conn_id)
    started = time.monotonic()
    event = await _first_event(trigger)
    assert event["runs"][0]["status"] == "ended"
    assert time.monotonic() - started < 10


async def test_the_deadline_fires_a_deadline_event_and_cancels_the_runs(
    agent_server: Any, conn_to: Callable[..., str]
) -> None:
    conn_id = conn_to(agent_server.url)
    hook = LangGraphHook(conn_id)
    runs = await _sleepers(hook, 30)
    options = WaitOptions(
        poll_interval=0.3, deadline=time.time() + 2, deadline_reason="wait_timeout"
    )
    trigger = LangGraphRunTrigger(runs, options, langgraph_conn_id=conn_id)
    event = await _first_event(trigger)

    assert event["status"] == "deadline"
    assert event["reason"] == "wait_timeout"
    assert runs[0]["run_id"] in event["message"]
    run = await hook.aget_run(runs[0]["thread_id"], runs[0]["run_id"])
    for _ in range(50):
        if run["status"] == "interrupted":
            break
        await asyncio.sleep(0.1)
        run = await hook.aget_run(runs[0]["thread_id"], runs[0]["run_id"])
    assert run["status"] == "interrupted"


async def test_a_deadline_already_past_after_a_restart_fires_at_once(
    agent_server: Any, conn_to: Callable[..., str]
) -> None:
    conn_id = conn_to(agent_server.url)
    hook = LangGraphHook(conn_id)
    runs = await _sleepers(hook, 5)
    # kwargs as a restarted triggerer would read them back: the deadline is absolute
    _, kwargs = LangGraphRunTrigger(
        runs, WaitOptions(deadline=time.time() - 1), langgraph_conn_id=conn_id
    ).serialize()
    event = await _first_event(LangGraphRunTrigger(**{**kwargs, "cancel_on_kill": False}), 5)
    assert event["status"] == "deadline"


async def test_on_kill_cancels_exactly_its_own_runs(
    agent_server: Any, conn_to: Callable[..., str]
) -> None:
    conn_id = conn_to(agent_server.url)
    hook = LangGraphHook(conn_id)
    mine, other = await _sleepers(hook, 30, 30)
    trigger = LangGraphRunTrigger([mine], langgraph_conn_id=conn_id)

    await trigger.on_kill()
    await asyncio.sleep(1.5)
    assert (await hook.aget_run(mine["thread_id"], mine["run_id"]))["status"] == "interrupted"
    assert (await hook.aget_run(other["thread_id"], other["run_id"]))["status"] in {
        "pending",
        "running",
    }
    await hook.acancel_run(other["thread_id"], other["run_id"])


async def test_a_cancelled_trigger_and_its_cleanup_leave_the_run_going(
    agent_server: Any, conn_to: Callable[..., str]
) -> None:
    # What a triggerer restart does: cancel the trigger's task, then cleanup(). No on_kill.
    conn_id = conn_to(agent_server.url)
    hook = LangGraphHook(conn_id)
    [run] = await _sleepers(hook, 30)
    trigger = LangGraphRunTrigger([run], WaitOptions(poll_interval=0.2), langgraph_conn_id=conn_id)
    task = asyncio.ensure_future(_first_event(trigger))
    await asyncio.sleep(1.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await trigger.cleanup()
    await asyncio.sleep(1.0)
    assert (await hook.aget_run(run["thread_id"], run["run_id"]))["status"] == "running"
    await hook.acancel_run(run["thread_id"], run["run_id"])


async def test_transient_failures_within_the_budget_are_ridden_out_without_a_hot_loop(
    fault_proxy: Any, conn_to: Callable[..., str]
) -> None:
    conn_id = conn_to(fault_proxy.url, retry={"max_attempts": 1})
    hook = LangGraphHook(conn_id)
    thread = await hook.acreate_thread()
    run = await hook.acreate_run(thread["thread_id"], "test_agent", input=SEED_INPUT)
    fault_proxy.respond(503, method="GET", path=r"/runs/[^/]+$", times=3)

    options = WaitOptions(mode="poll", poll_interval=0.4, failure_budget=3)
    [ended] = await wait_for_runs(hook, [run], options, log)

    assert ended.status == "success"
    polls = fault_proxy.find("GET", r"/runs/[^/]+$")
    assert [p.status for p in polls[:4]] == [503, 503, 503, 200]
    gaps = [b.time - a.time for a, b in itertools.pairwise(polls)]
    assert min(gaps) >= 0.35  # every retry waited a poll interval


async def test_failures_beyond_the_budget_fail_the_wait_with_the_last_error(
    fault_proxy: Any, conn_to: Callable[..., str]
) -> None:
    # outage_budget 0: a 503 counts against failure_budget like any transient failure
    conn_id = conn_to(fault_proxy.url, retry={"max_attempts": 1}, outage_budget=0)
    hook = LangGraphHook(conn_id)
    thread = await hook.acreate_thread()
    run = await hook.acreate_run(thread["thread_id"], "sleeper", input={"seconds": 5})
    fault_proxy.respond(503, method="GET", path=r"/runs/[^/]+$", times=None)

    options = WaitOptions(mode="poll", poll_interval=0.2, failure_budget=2)
    with pytest.raises(LangGraphServerError, match="503"):
        await wait_for_runs(hook, [run], options, log)
    assert len(fault_proxy.find("GET", r"/runs/[^/]+$")) == 3


async def test_an_outage_longer_than_its_budget_fails_the_wait_naming_it_and_cancels_nothing(
    fault_proxy: Any, conn_to: Callable[..., str], agent_server: Any
) -> None:
    conn_id = conn_to(fault_proxy.url, retry={"max_attempts": 1}, outage_budget=2)
    hook = LangGraphHook(conn_id)
    thread = await hook.acreate_thread()
    run = await hook.acreate_run(thread["thread_id"], "sleeper", input={"seconds": 6})
    fault_proxy.respond(503, method="GET", path=r"/runs/[^/]+$", times=None)

    started = time.monotonic()
    options = WaitOptions(mode="poll", poll_interval=0.2, failure_budget=0)
    with pytest.raises(LangGraphConnectionError, match=r"away for \d+ s, longer than the "
                       r"connection's outage_budget of 2 s; last error: .*503"):  # fmt: skip
        await wait_for_runs(hook, [run], options, log)
    assert 2 <= time.monotonic() - started < 6  # ridden out for the budget, no longer
    direct = LangGraphHook(conn_to(agent_server.url))
    going = await direct.aget_run(run["thread_id"], run["run_id"])
    assert going["status"] in ("pending", "running")  # the server being away cancels nothing
    await direct.acancel_run(run["thread_id"], run["run_id"])


async def test_a_run_that_vanished_is_reported_with_the_likely_reason(
    agent_server: Any, conn_to: Callable[..., str]
) -> None:
    conn_id = conn_to(agent_server.url)
    hook = LangGraphHook(conn_id)
    run = await hook.acreate_run(None, "test_agent", input=SEED_INPUT, on_completion="delete")
    trigger = LangGraphRunTrigger([run], WaitOptions(poll_interval=0.5), langgraph_conn_id=conn_id)
    await asyncio.sleep(2.5)  # ended and deleted meanwhile
    event = await _first_event(trigger)
    assert event["status"] == "done"
    [missing] = event["runs"]
    assert missing["status"] == "missing"
    assert "on_completion='delete'" in missing["detail"]


async def test_join_mode_does_not_join_a_run_that_ended_while_its_wait_queued(
    fault_proxy: Any, conn_to: Callable[..., str]
) -> None:
    # The server answers a join of an ended run only after ~0.5 s: a batch would pay it per run.
    conn_id = conn_to(fault_proxy.url)
    hook = LangGraphHook(conn_id)
    live, ended = await _sleepers(hook, 1.5, 0.1)
    await hook.ajoin_run(ended["thread_id"], ended["run_id"])
    fault_proxy.clear()

    # one join slot: the live run's wait holds it, the ended run's wait queues behind it
    options = WaitOptions(mode="join", poll_interval=30, concurrency=1)
    results = await wait_for_runs(hook, [live, ended], options, log)

    assert [r.status for r in results] == ["success", "success"]
    joined = [r.path.split("/")[4] for r in fault_proxy.find("GET", "/join$")]
    assert joined == [live["run_id"]]
    # and the wait that got its slot at once joined without asking first
    asked = [r.path.split("/")[4] for r in fault_proxy.find("GET", "/runs/[^/]+$")]
    assert asked.count(live["run_id"]) == 1


async def test_a_joined_run_tells_each_node_in_the_log_for_the_cost_of_a_join(
    fault_proxy: Any, conn_to: Callable[..., str], capsys: pytest.CaptureFixture[str]
) -> None:
    # a run that records its node updates (CreateRunOperator's default when it joins)
    conn_id = conn_to(fault_proxy.url)
    thread, run = await _recording_updates(LangGraphHook(conn_id), "test_agent", SEED_INPUT)
    fault_proxy.clear()
    options = WaitOptions(mode="join", poll_interval=30, read_status=False, progress=True)
    trigger = LangGraphRunTrigger([run], options, langgraph_conn_id=conn_id)
    event = await _first_event(trigger)

    assert event["runs"][0]["status"] == "ended"
    told = _told(capsys, run["run_id"])
    assert [line for line in told if line.startswith("node ")] == [
        "node foo finished: updated foo",
        "node bar finished (no update)",
        "node baz finished: updated baz",
    ], told
    sent = [(r.method, r.path) for r in fault_proxy.requests]
    assert sent == [("GET", f"/threads/{thread}/runs/{run['run_id']}/stream")]  # one long poll


async def test_a_polled_run_tells_the_step_it_is_at_while_it_runs(
    agent_server: Any, conn_to: Callable[..., str], capsys: pytest.CaptureFixture[str]
) -> None:
    conn_id = conn_to(agent_server.url)
    [run] = await _sleepers(LangGraphHook(conn_id), 3.0)
    options = WaitOptions(mode="poll", poll_interval=1, read_status=False, progress=True)
    trigger = LangGraphRunTrigger([run], options, langgraph_conn_id=conn_id)
    event = await _first_event(trigger)

    assert event["runs"][0]["status"] == "success"
    assert _told(capsys, run["run_id"]) == ["step 1, running sleep"]  # once, as it moved


async def test_a_wait_without_progress_sends_only_its_status_reads(
    fault_proxy: Any, conn_to: Callable[..., str]
) -> None:
    conn_id = conn_to(fault_proxy.url)
    [run] = await _sleepers(LangGraphHook(conn_id), 1.5)
    fault_proxy.clear()
    options = WaitOptions(mode="poll", poll_interval=1, read_status=False)  # a batch's wait
    await _first_event(LangGraphRunTrigger([run], options, langgraph_conn_id=conn_id))
    assert {r.path for r in fault_proxy.requests} == {
        f"/threads/{run['thread_id']}/runs/{run['run_id']}"
    }


def _told(capsys: pytest.CaptureFixture[str], run_id: str) -> list[str]:
    """What the trigger's log (structlog, on stdout) told of the run's progress."""
    marker = f"LangGraph run {run_id}: "
    lines = capsys.readouterr().out.splitlines()
    return [
        line.split(marker, 1)[1].split(" [airflow_lg", 1)[0].rstrip()
        for line in lines
        if marker in line
    ]


async def test_a_joined_runs_event_stream_that_breaks_is_waited_for_without_costing_the_budget(
    fault_proxy: Any, conn_to: Callable[..., str], capsys: pytest.CaptureFixture[str]
) -> None:
    conn_id = conn_to(fault_proxy.url)
    thread, run = await _recording_updates(LangGraphHook(conn_id), "sleeper", {"seconds": 2})
    # the stream's connection drops after its first event; the run is not resumable
    fault_proxy.cut_stream(1, method="GET", path="/stream$", times=5)
    options = WaitOptions(
        mode="join", poll_interval=30, read_status=True, progress=True, failure_budget=0
    )
    trigger = LangGraphRunTrigger([run], options, langgraph_conn_id=conn_id)
    event = await _first_event(trigger)

    assert event["status"] == "done" and event["runs"][0]["status"] == "success"
    sent = [r.path for r in fault_proxy.requests if r.path.startswith(f"/threads/{thread}")]
    assert sent.count(f"/threads/{thread}/runs/{run['run_id']}/stream") == 1
    assert f"/threads/{thread}/runs/{run['run_id']}/join" in sent  # the wait went on as a join
    assert "its event stream broke" in capsys.readouterr().out


async def _recording_updates(
    hook: LangGraphHook, assistant_id: str, input: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """A run on a new thread that records its node updates, as CreateRunOperator makes the
    runs it joins: the thread id and the run."""
    thread = (await hook.acreate_thread())["thread_id"]
    run = await hook.acreate_run(
        thread, assistant_id, input=input, stream_mode=["values", "updates"]
    )
    return str(thread), dict(run)
