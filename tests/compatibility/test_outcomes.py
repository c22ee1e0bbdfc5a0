"""A batch item that a watcher or a join only saw end is reported as it ended on every server:
its status comes with its thread's read where the thread tells (a success), from the run
otherwise (a failure, a run cancelled before it started: idle, but without values)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airflow_lg.hooks.langgraph import LangGraphHook
from airflow_lg.outcomes import read_batch_outcomes
from airflow_lg.runs import RunRef
from tests.compatibility.conftest import Expect
from tests.server.conftest import SEED_INPUT, SEED_RESULT
from tests.support.fault_proxy import FaultProxy


def _ended_batch(hook: LangGraphHook, expect: Expect) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = [
        {"assistant_id": "test_agent", "input": SEED_INPUT},
        {"assistant_id": "failing", "input": {"reason": "why"}},
    ]
    if expect.after_seconds:  # aegra starts a delayed run at once: nothing to cancel queued
        items.append({"assistant_id": "test_agent", "input": SEED_INPUT, "after_seconds": 60})
    runs = hook.create_batch([{**item, "on_completion": "keep"} for item in items])
    if expect.after_seconds:
        hook.cancel_run(runs[2]["thread_id"], runs[2]["run_id"], wait=True)
    for run in runs:
        hook.join_run(run["thread_id"], run["run_id"], raise_error=False)
    return runs


def test_batch_items_seen_ended_are_reported_as_they_ended_on_every_server(
    server: Any, expect: Expect, make_hook: Callable[..., LangGraphHook]
) -> None:
    runs = _ended_batch(make_hook(server.url), expect)
    ended = [RunRef(r["thread_id"], r["run_id"]).with_status("ended") for r in runs]

    with FaultProxy(server.url) as proxy:
        outcomes = read_batch_outcomes(make_hook(proxy.url), ended)
        reads = proxy.find("GET", "^/threads/[^/]+/runs/[^/]+$")

    assert [o.outcome for o in outcomes] == ["success", "error", "cancelled"][: len(runs)]
    assert [o.status for o in outcomes] == ["success", "error", "interrupted"][: len(runs)]
    assert outcomes[0].output == SEED_RESULT
    assert "why" in str(outcomes[1].error)
    read_runs = {r.path.split("/")[4] for r in reads}
    assert (runs[0]["run_id"] not in read_runs) is expect.thread_tells_success
    assert {r["run_id"] for r in runs[1:]} <= read_runs  # only the run can tell these
