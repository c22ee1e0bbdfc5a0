"""``wait_mode="watch"`` against the real server: one watcher per connection and event loop
sees every run end — quick ones, a burst, a thread shared by two runs, a deleted thread, an
outage, a restart — for a few thread searches instead of a request per run."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from airflow_lg import watching
from airflow_lg.exceptions import LangGraphServerError
from airflow_lg.hooks.langgraph import LangGraphHook
from airflow_lg.runs import RunRef
from airflow_lg.triggers.runs import LangGraphRunTrigger
from airflow_lg.waiting import WaitDeadlineExceeded, WaitOptions, wait_for_runs

log = logging.getLogger(__name__)
WATCH = WaitOptions(mode="watch", read_status=False)


@pytest.fixture
def many_threads(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A watcher of 'many' threads at a test's scale: the change feed and the sweep take over
    from the all-ids look-up above 4 threads, and the feed reads 3 threads a page."""
    monkeypatch.setattr(watching, "PAGE", 4)
    monkeypatch.setattr(watching, "FEED_PAGE", 3)
    monkeypatch.setattr(watching, "FEED_PAGES", 2)
    yield


async def _sleepers(hook: LangGraphHook, *seconds: float) -> list[dict[str, Any]]:
    async def one(s: float) -> dict[str, Any]:
        thread = await hook.acreate_thread()
        run = await hook.acreate_run(thread["thread_id"], "sleeper", input={"seconds": s})
        return {"thread_id": run["thread_id"], "run_id": run["run_id"]}

    return list(await asyncio.gather(*(one(s) for s in seconds)))


async def _one_ended_one_queued(hook: LangGraphHook) -> tuple[str, Any, Any]:
    """A thread with a 1 s run and a 30 s run queued behind it (the thread stays busy)."""
    thread = (await hook.acreate_thread())["thread_id"]
    first = await hook.acreate_run(thread, "sleeper", input={"seconds": 1.0})
    second = await hook.acreate_run(
        thread, "sleeper", input={"seconds": 30.0}, multitask_strategy="enqueue"
    )
    return thread, first, second


def _searches(proxy: Any) -> list[Any]:
    return [r for r in proxy.requests if r.path == "/threads/search"]


def _run_reads(proxy: Any) -> list[Any]:
    return [r for r in proxy.requests if r.method == "GET" and "/runs/" in r.path]


async def test_many_waits_in_one_loop_cost_a_few_searches_not_a_request_per_run(
    fault_proxy: Any, make_hook: Callable[..., LangGraphHook]
) -> None:
    hook = make_hook(fault_proxy.url)
    runs = await _sleepers(hook, *([0.5] * 12), *([2.5] * 12))
    fault_proxy.clear()

    ended = await wait_for_runs(hook, runs, WATCH, log)

    assert [r.status for r in ended] == ["ended"] * 24
    searches = _searches(fault_proxy)
    # one look per tick at the threads still waited on (no per-run request, not even at the end)
    assert 1 <= len(searches) < 24
    threads = {r["thread_id"] for r in runs}
    assert set(searches[0].json()["ids"]) == threads
    assert all(set(s.json()["ids"]) <= threads for s in searches)
    assert searches[0].json()["select"] == ["thread_id", "status", "updated_at"]
    assert _run_reads(fault_proxy) == []
    statuses = [(await hook.aget_run(r["thread_id"], r["run_id"]))["status"] for r in runs]
    assert statuses == ["success"] * 24


async def test_waits_in_one_loop_share_one_watcher_per_connection(
    agent_server: Any, make_hook: Callable[..., LangGraphHook]
) -> None:
    first = make_hook(agent_server.url)
    second = LangGraphHook(first.langgraph_conn_id)  # another trigger on the same connection
    assert await watching.watcher_for(first) is await watching.watcher_for(second)
    other = make_hook(agent_server.url)  # another connection: its own watcher (its settings)
    assert await watching.watcher_for(other) is not await watching.watcher_for(first)


async def test_a_wait_that_registers_as_the_last_one_leaves_is_still_watched(
    agent_server: Any, make_hook: Callable[..., LangGraphHook]
) -> None:
    # In one turn of the loop the last wait leaves (the watcher's task is being cancelled)
    # and a new one registers: it must get a task of its own. Driven through the watcher's
    # own register/unregister steps, as no await may come between them.
    hook = make_hook(agent_server.url)
    [going, later] = await _sleepers(hook, 30.0, 1.0)
    watcher = await watching.watcher_for(hook)

    def watch(run: dict[str, Any]) -> Any:
        made = watching._Watch(RunRef.of(run), False, 1, log, thread_key=run["thread_id"])
        watcher._add(made)
        return made

    leaving = watch(going)
    await asyncio.sleep(0.3)  # the watcher's task is looking
    watcher._remove(leaving)  # the last wait leaves: its task is cancelled ...
    arriving = watch(later)  # ... and, in the same turn, a new wait registers

    ended = await asyncio.wait_for(arriving.future, 15)

    assert ended.status == "ended"
    watcher._remove(arriving)
    await hook.acancel_run(going["thread_id"], going["run_id"])


async def test_with_read_status_the_watcher_reads_how_each_run_ended(
    agent_server: Any, make_hook: Callable[..., LangGraphHook]
) -> None:
    hook = make_hook(agent_server.url)
    runs = await _sleepers(hook, 0.3)
    failing = await hook.acreate_run(None, "failing", input={}, on_completion="keep")
    runs.append({"thread_id": failing["thread_id"], "run_id": failing["run_id"]})

    ended = await wait_for_runs(hook, runs, WaitOptions(mode="watch", read_status=True), log)

    assert [r.status for r in ended] == ["success", "error"]


async def test_a_run_that_ended_before_its_wait_registered_is_seen_at_the_first_look(
    fault_proxy: Any, make_hook: Callable[..., LangGraphHook]
) -> None:
    hook = make_hook(fault_proxy.url)
    thread = await hook.acreate_thread()
    run = await hook.await_run(thread["thread_id"], "sleeper", input={"seconds": 0.1})
    done = (await hook.alist_runs(thread["thread_id"]))[0]
    assert done["status"] == "success" and run["done"] is True
    fault_proxy.clear()

    [ended] = await wait_for_runs(hook, [done], WATCH, log)

    assert ended.status == "ended"
    assert len(_searches(fault_proxy)) == 1


async def test_a_thread_shared_by_two_runs_tells_each_run_its_own_end(
    agent_server: Any, make_hook: Callable[..., LangGraphHook]
) -> None:
    # The thread stays busy when the first run ends (the second is queued behind it): its
    # updated_at moves, so the first run is confirmed with a GET; the second is still waited.
    hook = make_hook(agent_server.url)
    thread = (await hook.acreate_thread())["thread_id"]
    first = await hook.acreate_run(thread, "sleeper", input={"seconds": 1.0})
    second = await hook.acreate_run(
        thread, "sleeper", input={"seconds": 3.0}, multitask_strategy="enqueue"
    )
    second_wait = asyncio.ensure_future(wait_for_runs(hook, [second], WATCH, log))

    [ended] = await wait_for_runs(hook, [first], WATCH, log)

    assert ended.status == "ended"
    assert (await hook.aget_run(thread, first["run_id"]))["status"] == "success"
    assert (await hook.aget_run(thread, second["run_id"]))["status"] in ("pending", "running")
    assert not second_wait.done()
    [later] = await asyncio.wait_for(second_wait, 30)
    assert later.status == "ended"
    assert (await hook.aget_run(thread, second["run_id"]))["status"] == "success"


async def test_a_run_that_ended_on_a_thread_still_busy_is_seen_when_its_wait_registers(
    agent_server: Any, make_hook: Callable[..., LangGraphHook]
) -> None:
    # The first look finds the thread busy with a later run: the thread moved after this run
    # was created (its id says when), so the run itself is read.
    hook = make_hook(agent_server.url)
    thread, first, second = await _one_ended_one_queued(hook)
    await hook.ajoin_run(thread, first["run_id"])
    assert (await hook.aget_thread(thread))["status"] == "busy"

    [ended] = await asyncio.wait_for(wait_for_runs(hook, [first], WATCH, log), 10)

    assert ended.status == "ended"
    await hook.acancel_run(thread, second["run_id"])


async def test_a_confirmation_that_fails_is_tried_again(
    fault_proxy: Any, make_hook: Callable[..., LangGraphHook]
) -> None:
    # The thread stays busy (a second run queued), so only a GET can tell the first run
    # ended; that GET fails once, and the next look reads it again instead of forgetting it.
    hook = make_hook(fault_proxy.url)
    thread, first, second = await _one_ended_one_queued(hook)
    fault_proxy.respond(500, method="GET", path=f"/threads/{thread}/runs/{first['run_id']}")

    [ended] = await asyncio.wait_for(wait_for_runs(hook, [first], WATCH, log), 20)

    assert ended.status == "ended"
    reads = [r for r in _run_reads(fault_proxy) if r.path.endswith(first["run_id"])]
    assert len(reads) >= 2  # the failed read, then the one that saw the end
    await hook.acancel_run(thread, second["run_id"])


@pytest.mark.parametrize("scale", ["few", "many"])
async def test_a_deleted_thread_makes_its_run_missing(
    agent_server: Any, make_hook: Callable[..., LangGraphHook], scale: str, request: Any
) -> None:
    if scale == "many":
        request.getfixturevalue("many_threads")
    hook = make_hook(agent_server.url)
    runs = await _sleepers(hook, *([20.0] * (6 if scale == "many" else 1)))
    wait = asyncio.ensure_future(wait_for_runs(hook, runs, WATCH, log))
    await asyncio.sleep(1.5)
    async with httpx.AsyncClient(base_url=agent_server.url) as client:
        for run in runs:
            await client.post(f"/threads/{run['thread_id']}/runs/{run['run_id']}/cancel")
            assert (await client.delete(f"/threads/{run['thread_id']}")).status_code == 204

    ended = await asyncio.wait_for(wait, watching.SWEEP_EVERY + 30)

    assert [r.status for r in ended] == ["missing"] * len(runs)


async def test_many_threads_are_watched_through_the_change_feed_and_the_sweep(
    fault_proxy: Any, make_hook: Callable[..., LangGraphHook], many_threads: None
) -> None:
    hook = make_hook(fault_proxy.url)
    runs = await _sleepers(hook, *([0.3, 1.0, 2.0, 4.0] * 3))
    fault_proxy.clear()

    ended = await wait_for_runs(hook, runs, WATCH, log)

    assert [r.status for r in ended] == ["ended"] * 12
    bodies = [s.json() for s in _searches(fault_proxy)]
    feeds = [b for b in bodies if b.get("sort_by") == "updated_at"]
    lookups = [b for b in bodies if "ids" in b]
    assert feeds and all(b["sort_order"] == "desc" and b["limit"] == 3 for b in feeds)
    assert all(len(b["ids"]) <= 4 for b in lookups)  # ids looked up a page at a time
    assert _run_reads(fault_proxy) == []


async def test_a_burst_of_runs_ending_at_once_is_all_seen(
    agent_server: Any, make_hook: Callable[..., LangGraphHook], many_threads: None
) -> None:
    # 40 runs end within a moment (cancelled together): more changes than the feed reads in
    # a tick (2 pages of 3), so a sweep follows; none is lost.
    hook = make_hook(agent_server.url)
    runs = await _sleepers(hook, *([30.0] * 40))
    wait = asyncio.ensure_future(wait_for_runs(hook, runs, WATCH, log))
    await asyncio.sleep(2)
    assert not wait.done()
    await asyncio.gather(*(hook.acancel_run(r["thread_id"], r["run_id"]) for r in runs))

    ended = await asyncio.wait_for(wait, 60)

    assert [r.status for r in ended] == ["ended"] * 40


async def test_an_outage_keeps_the_waits_and_a_look_after_it_sees_their_ends(
    fault_proxy: Any, make_hook: Callable[..., LangGraphHook]
) -> None:
    hook = make_hook(fault_proxy.url)
    runs = await _sleepers(hook, 1.0, 1.0)
    fault_proxy.clear()
    fault_proxy.respond(503, path="/threads/search", times=3)

    ended = await wait_for_runs(hook, runs, WATCH, log)

    assert [r.status for r in ended] == ["ended", "ended"]
    assert len(_searches(fault_proxy)) >= 4


async def test_a_watch_fails_once_its_failure_budget_is_spent(
    fault_proxy: Any, make_hook: Callable[..., LangGraphHook]
) -> None:
    hook = make_hook(fault_proxy.url)
    runs = await _sleepers(hook, 30.0)
    fault_proxy.respond(500, path="/threads/search", times=None)
    options = WaitOptions(mode="watch", read_status=False, failure_budget=1)

    with pytest.raises(LangGraphServerError, match="500"):
        await wait_for_runs(hook, runs, options, log)
    await hook.acancel_run(runs[0]["thread_id"], runs[0]["run_id"])


async def test_a_server_whose_search_cannot_watch_makes_the_waits_poll(
    fault_proxy: Any, make_hook: Callable[..., LangGraphHook], caplog: Any, capsys: Any
) -> None:
    # aegra 0.11 answers a search with select by 422: the waits poll instead, and say so.
    hook = make_hook(fault_proxy.url)
    runs = await _sleepers(hook, 0.5, 0.5)
    fault_proxy.respond(422, path="/threads/search", times=None,
                        body={"detail": "select: unsupported"})  # fmt: skip

    ended = await wait_for_runs(hook, runs, WaitOptions(mode="watch", poll_interval=0.5), log)

    assert [r.status for r in ended] == ["success", "success"]
    assert len(_searches(fault_proxy)) == 1  # asked once: the connection's watcher remembers
    said = capsys.readouterr().out + caplog.text
    assert "polling it instead" in said and "select: unsupported" in said


async def test_a_server_whose_search_ignores_ids_makes_the_waits_poll(
    fault_proxy: Any, make_hook: Callable[..., LangGraphHook], caplog: Any, capsys: Any
) -> None:
    hook = make_hook(fault_proxy.url)
    runs = await _sleepers(hook, 0.5)
    unrelated = [{"thread_id": "someone-else", "status": "idle", "updated_at": "2026-01-01"}]
    json_type = {"content-type": "application/json"}
    fault_proxy.respond(
        200, path="/threads/search", times=None, body=json.dumps(unrelated), headers=json_type
    )

    ended = await wait_for_runs(hook, runs, WaitOptions(mode="watch", poll_interval=0.5), log)

    assert [r.status for r in ended] == ["success"]
    assert "ignores ids" in capsys.readouterr().out + caplog.text


async def test_a_watch_keeps_its_deadline(
    agent_server: Any, make_hook: Callable[..., LangGraphHook]
) -> None:
    import time

    hook = make_hook(agent_server.url)
    runs = await _sleepers(hook, 30.0, 0.2)
    options = WaitOptions(mode="watch", read_status=False, deadline=time.time() + 3)

    with pytest.raises(WaitDeadlineExceeded) as caught:
        await wait_for_runs(hook, runs, options, log)

    assert [r.run_id for r in caught.value.pending] == [runs[0]["run_id"]]
    assert [r.status for r in caught.value.finished] == ["ended"]
    watcher = await watching.watcher_for(hook)
    assert watcher.threads == {}  # the waits unregistered
    await hook.acancel_run(runs[0]["thread_id"], runs[0]["run_id"])


async def test_a_trigger_restarted_from_its_kwargs_registers_again_and_fires(
    agent_server: Any, make_hook: Callable[..., LangGraphHook]
) -> None:
    conn_id = make_hook(agent_server.url).langgraph_conn_id
    runs = await _sleepers(LangGraphHook(conn_id), 3.0)
    first = LangGraphRunTrigger(runs, WATCH, langgraph_conn_id=conn_id)
    _, kwargs = first.serialize()
    assert set(kwargs) == {"runs", "options", "langgraph_conn_id", "cancel_on_kill",
                           "cancel_action"}  # fmt: skip
    assert kwargs["options"]["mode"] == "watch"

    async def first_event(trigger: LangGraphRunTrigger) -> Any:
        async for event in trigger.run():
            return event.payload

    going = asyncio.ensure_future(first_event(first))
    await asyncio.sleep(1.0)
    going.cancel()  # the triggerer stopped: cleanup only, the run goes on
    await asyncio.gather(going, return_exceptions=True)
    watcher = await watching.watcher_for(LangGraphHook(conn_id))
    assert watcher.threads == {}

    event = await asyncio.wait_for(first_event(LangGraphRunTrigger(**kwargs)), 30)

    assert event["status"] == "done" and [r["status"] for r in event["runs"]] == ["ended"]


async def test_waits_survive_a_server_restart_mid_hold(
    start_agent_server: Callable[..., Any], make_hook: Callable[..., LangGraphHook]
) -> None:
    server = start_agent_server()
    hook = make_hook(server.url)
    runs = await _sleepers(hook, 4.0, 4.0, 0.2)
    wait = asyncio.ensure_future(wait_for_runs(hook, runs, WATCH, log))
    await asyncio.sleep(1.5)

    await asyncio.to_thread(server.restart)
    ended = await asyncio.wait_for(wait, 120)

    assert [r.status for r in ended] == ["ended"] * 3
    statuses = [(await hook.aget_run(r["thread_id"], r["run_id"]))["status"] for r in runs]
    assert statuses == ["success"] * 3


def test_a_batch_in_a_worker_watches_its_items_and_reads_each_outcome_as_it_ends(
    fault_proxy: Any, make_hook: Callable[..., LangGraphHook]
) -> None:
    """The default for a batch is the watcher, in a worker too; the quick items' outcomes are
    read while the slow one still runs, so the batch is done when its last run is."""
    from airflow_lg.operators.runs import BatchRunOperator
    from tests.server.test_exactly_once import TaskInstance

    hook = make_hook(fault_proxy.url)
    operator = BatchRunOperator(
        task_id="agent", assistant_id="sleeper", deferrable=False,
        inputs=[{"seconds": 0.1}, {"seconds": 0.1}, {"seconds": 5}],
        langgraph_conn_id=hook.langgraph_conn_id,
    )  # fmt: skip
    assert operator.wait_mode == "watch"
    summary = operator.execute(TaskInstance().context())
    assert summary["counts"] == {"success": 3}
    assert [r["output"]["slept"] for r in summary["runs"]] == [0.1, 0.1, 5]
    threads = [r["thread_id"] for r in summary["runs"]]
    read_at = {t: [r.time for r in fault_proxy.find("GET", f"^/threads/{t}$")] for t in threads}
    assert all(len(times) == 1 for times in read_at.values()), read_at  # one read each
    assert not fault_proxy.find("GET", "^/threads/[^/]+/runs/[^/]+$")  # its thread told its end
    slow = read_at[threads[2]][0]
    assert all(read_at[t][0] < slow - 2.0 for t in threads[:2])  # read seconds before it ended
    assert _searches(fault_proxy) and not fault_proxy.find("GET", "/runs/[^/]+/join$")
