"""One run per task instance, whatever happens to its tries: the operators' execute() against
the real server (through the fault proxy where a fault is needed), each try with the same
task-instance identity, as Airflow's retries and clears give it.

Only the task instance is a stand-in here (an object with its identity and an XCom list);
everything the operator does goes to the real server. The same stories on a real Airflow
deployment are in tests/e2e.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from airflow_lg.exactly_once import TASK_KEY, task_thread_id
from airflow_lg.exceptions import LangGraphError, LangGraphRunFailedError
from airflow_lg.hooks.langgraph import LangGraphHook
from airflow_lg.operators.runs import BatchRunOperator, CreateRunOperator, WaitRunOperator
from tests.server.conftest import SEED_INPUT, SEED_RESULT

# Each fault is tried this many times (fresh task instances): a fault table that holds once
# could hold by luck.
TRIALS = pytest.mark.parametrize(
    "trial", range(int(os.environ.get("AIRFLOW_LG_FAULT_TRIALS", "3")))
)


class TaskInstance:
    """The identity and XCom of one task instance; ``try_number`` grows like Airflow's."""

    def __init__(self, task_id: str = "agent") -> None:
        self.dag_id = "exactly_once"
        self.run_id = f"manual__{uuid.uuid4()}"
        self.task_id = task_id
        self.map_index = -1
        self.try_number = 1
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value

    def context(self, store: dict[str, Any] | None = None) -> dict[str, Any]:
        context: dict[str, Any] = {"ti": self, "logical_date": None}
        if store is not None:
            context["task_state_store"] = _Store(store)
        return context

    @property
    def key(self) -> str:
        return f"{self.dag_id}/{self.run_id}/{self.task_id}/{self.map_index}"


class _Store:
    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self.data[key] = value


_CONN_IDS = itertools.count()


@pytest.fixture
def conn(agent_server: Any, monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """``conn(url=agent_server.url, **extra) -> conn_id``."""
    # unique in the session: hooks of one loop share a connection's look-up for a few seconds
    counter = _CONN_IDS

    def make(url: str | None = None, **extra: Any) -> str:
        import json

        conn_id = f"once_{next(counter)}"
        value = {"conn_type": "langgraph", "host": url or agent_server.url, "extra": extra}
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(value))
        return conn_id

    return make


def _runs_of(hook: LangGraphHook, ti: TaskInstance) -> list[dict[str, Any]]:
    runs = hook.list_runs(task_thread_id(ti.key), limit=50)
    return [r for r in runs if r["metadata"].get(TASK_KEY) == ti.key]


def _create(conn_id: str, **kwargs: Any) -> CreateRunOperator:
    defaults: dict[str, Any] = {
        "task_id": "agent",
        "assistant_id": "test_agent",
        "input": SEED_INPUT,
        "poll_interval": 0.3,
        "langgraph_conn_id": conn_id,
    }
    return CreateRunOperator(**{**defaults, **kwargs})


def test_a_retry_after_success_returns_the_output_without_running_the_agent_again(
    conn: Callable[..., str],
) -> None:
    conn_id = conn()
    ti = TaskInstance()
    assert _create(conn_id).execute(ti.context()) == SEED_RESULT
    ti.try_number = 2
    assert _create(conn_id).execute(ti.context()) == SEED_RESULT
    assert len(_runs_of(LangGraphHook(conn_id), ti)) == 1


def test_a_retrys_log_says_it_reused_or_re_attached_never_that_it_created(
    conn: Callable[..., str], capsys: pytest.CaptureFixture[str]
) -> None:
    # a post-mortem must not read a re-attach as a second run
    conn_id = conn()
    ti = TaskInstance()
    sleeper = {"assistant_id": "sleeper", "input": {"seconds": 2}}
    going = _create(conn_id, **sleeper, wait_for_completion=False)
    run_id = going.execute(ti.context())["run_id"]
    assert f"LangGraph run {run_id} created on thread" in capsys.readouterr().out
    ti.try_number = 2
    _create(conn_id, **sleeper).execute(ti.context())
    log = capsys.readouterr().out
    assert f"LangGraph run {run_id} on thread {task_thread_id(ti.key)}: re-attached" in log
    assert "created on thread" not in log
    ti.try_number = 3
    _create(conn_id, **sleeper).execute(ti.context())
    log = capsys.readouterr().out
    assert f"LangGraph run {run_id} on thread {task_thread_id(ti.key)}: reusing its output" in log
    assert "created on thread" not in log


def test_a_retry_while_the_run_goes_on_re_attaches_to_it(conn: Callable[..., str]) -> None:
    conn_id = conn()
    ti = TaskInstance()
    first = _create(
        conn_id, assistant_id="sleeper", input={"seconds": 3}, wait_for_completion=False
    )
    run = first.execute(ti.context())  # the try "dies" here, its run still going
    ti.try_number = 2
    output = _create(conn_id, assistant_id="sleeper", input={"seconds": 3}).execute(ti.context())
    assert output == {"seconds": 3, "slept": 3, "done": True}
    runs = _runs_of(LangGraphHook(conn_id), ti)
    assert [r["run_id"] for r in runs] == [run["run_id"]]


def test_a_retry_after_a_failed_run_runs_the_agent_again(conn: Callable[..., str]) -> None:
    conn_id = conn()
    ti = TaskInstance()
    with pytest.raises(LangGraphRunFailedError):
        _create(conn_id, assistant_id="failing", input={}).execute(ti.context())
    ti.try_number = 2
    with pytest.raises(LangGraphRunFailedError):
        _create(conn_id, assistant_id="failing", input={}).execute(ti.context())
    assert [r["status"] for r in _runs_of(LangGraphHook(conn_id), ti)] == ["error", "error"]


def test_on_previous_failure_fail_refuses_to_run_again(conn: Callable[..., str]) -> None:
    conn_id = conn()
    ti = TaskInstance()
    operator = _create(conn_id, assistant_id="failing", input={}, on_previous_failure="fail")
    with pytest.raises(LangGraphRunFailedError):
        operator.execute(ti.context())
    ti.try_number = 2
    with pytest.raises(LangGraphError, match="on_previous_failure='fail'"):
        _create(conn_id, assistant_id="failing", on_previous_failure="fail").execute(ti.context())
    assert len(_runs_of(LangGraphHook(conn_id), ti)) == 1


@TRIALS
def test_a_lost_answer_to_the_creation_adopts_the_run_the_server_made(
    conn: Callable[..., str], fault_proxy: Any, trial: int
) -> None:
    conn_id = conn(fault_proxy.url, retry={"max_attempts": 2, "min_wait": 0.05})
    ti = TaskInstance()
    fault_proxy.drop(forward=True, method="POST", path=r"^/threads/[^/]+/runs$")
    assert _create(conn_id).execute(ti.context()) == SEED_RESULT
    assert len(fault_proxy.find("POST", r"^/threads/[^/]+/runs$")) == 1
    assert len(_runs_of(LangGraphHook(conn_id), ti)) == 1
    assert ti.xcoms["run_id"] == _runs_of(LangGraphHook(conn_id), ti)[0]["run_id"]


@TRIALS
def test_a_lost_answer_to_a_wait_joins_the_run_instead_of_running_it_again(
    conn: Callable[..., str], fault_proxy: Any, trial: int
) -> None:
    conn_id = conn(fault_proxy.url, retry={"max_attempts": 2, "min_wait": 0.05})
    ti = TaskInstance()
    fault_proxy.drop(forward=True, method="POST", path=r"/runs/wait$")
    operator = WaitRunOperator(
        task_id="agent", assistant_id="test_agent", input=SEED_INPUT, langgraph_conn_id=conn_id
    )
    assert operator.execute(ti.context()) == SEED_RESULT
    assert len(fault_proxy.find("POST", r"/runs/wait$")) == 1
    assert len(_runs_of(LangGraphHook(conn_id), ti)) == 1


def test_a_streaming_retry_replays_the_run_of_the_earlier_try(
    conn: Callable[..., str], capfd: pytest.CaptureFixture[str]
) -> None:
    conn_id = conn()
    ti = TaskInstance()
    kwargs = {"task_id": "agent", "assistant_id": "sleeper", "input": {"seconds": 2}}
    first = _create(conn_id, **kwargs, wait_for_completion=False, stream_resumable=True,
                    stream_mode=["updates", "custom", "values"])  # fmt: skip
    run = first.execute(ti.context())
    ti.try_number = 2
    streaming = WaitRunOperator(
        **kwargs, stream_mode=["updates", "custom"], langgraph_conn_id=conn_id
    )
    assert streaming.execute(ti.context()) == {"seconds": 2, "slept": 2, "done": True}
    assert [r["run_id"] for r in _runs_of(LangGraphHook(conn_id), ti)] == [run["run_id"]]
    logged = capfd.readouterr()
    assert 'custom: {"slept": 20, "of": 20}' in logged.out + logged.err


def test_the_run_is_recorded_in_the_task_state_store_and_found_there(
    conn: Callable[..., str],
) -> None:
    conn_id = conn()
    ti = TaskInstance()
    store: dict[str, Any] = {}
    run = _create(conn_id, wait_for_completion=False).execute(ti.context(store))
    assert store["airflow_lg_run"] == {"thread_id": run["thread_id"], "run_id": run["run_id"]}
    ti.try_number = 2
    assert _create(conn_id).execute(ti.context(store)) == SEED_RESULT
    assert len(_runs_of(LangGraphHook(conn_id), ti)) == 1


@TRIALS
def test_concurrent_tries_of_one_task_instance_make_one_run(
    conn: Callable[..., str], trial: int
) -> None:
    # Two tries at once (a zombie and its retry): the thread refuses a second run (reject),
    # and the loser adopts the winner's run.
    conn_id = conn()
    ti = TaskInstance()
    results: list[Any] = []

    def one_try() -> None:
        results.append(
            _create(conn_id, assistant_id="sleeper", input={"seconds": 1}).execute(ti.context())
        )

    tries = [threading.Thread(target=one_try) for _ in range(2)]
    for t in tries:
        t.start()
    for t in tries:
        t.join(60)
    assert results == [{"seconds": 1, "slept": 1, "done": True}] * 2
    assert len(_runs_of(LangGraphHook(conn_id), ti)) == 1


def test_without_reattach_every_try_creates_a_run(conn: Callable[..., str]) -> None:
    conn_id = conn()
    ti = TaskInstance()
    for _ in range(2):
        run = _create(conn_id, reattach=False, wait_for_completion=False).execute(ti.context())
    time.sleep(0.1)
    assert run["thread_id"] != task_thread_id(ti.key)  # stateless, as the SDK would do


@pytest.mark.parametrize("status", [502, 503, 504])
def test_a_gateway_error_on_creation_is_sent_again_once_nothing_was_created(
    conn: Callable[..., str], fault_proxy: Any, status: int
) -> None:
    conn_id = conn(fault_proxy.url, retry={"max_attempts": 3, "min_wait": 0.05, "max_wait": 0.1})
    ti = TaskInstance()
    fault_proxy.respond(status, method="POST", path=r"^/threads/[^/]+/runs$")
    assert _create(conn_id).execute(ti.context()) == SEED_RESULT
    posts = fault_proxy.find("POST", r"^/threads/[^/]+/runs$")
    assert [p.status for p in posts] == [status, 200]
    assert len(_runs_of(LangGraphHook(conn_id), ti)) == 1


@pytest.mark.parametrize("status", [502, 504])
def test_a_gateway_error_after_the_run_was_created_adopts_it(
    conn: Callable[..., str], fault_proxy: Any, status: int
) -> None:
    # The gateway forwarded the creation, the server made the run, the client got a 5xx.
    conn_id = conn(fault_proxy.url, retry={"max_attempts": 3, "min_wait": 0.05, "max_wait": 0.1})
    ti = TaskInstance()
    fault_proxy.gateway_error(status, method="POST", path=r"^/threads/[^/]+/runs$")
    assert _create(conn_id).execute(ti.context()) == SEED_RESULT
    assert len(_runs_of(LangGraphHook(conn_id), ti)) == 1


def _batch(conn_id: str, count: int = 4, **kwargs: Any) -> BatchRunOperator:
    return BatchRunOperator(
        task_id="agent",
        assistant_id="sleeper",
        inputs=[{"seconds": (i + 1) / 10} for i in range(count)],
        chunk_size=2,
        poll_interval=0.3,
        langgraph_conn_id=conn_id,
        **kwargs,
    )


def _batch_runs(hook: LangGraphHook, ti: TaskInstance) -> list[dict[str, Any]]:
    return hook.search_threads(metadata={TASK_KEY: ti.key}, limit=100)


def test_a_retried_batch_creates_only_the_items_that_do_not_exist_yet(
    conn: Callable[..., str], fault_proxy: Any
) -> None:
    conn_id = conn(fault_proxy.url, retry={"max_attempts": 2, "min_wait": 0.05})
    ti = TaskInstance()
    # the first try dies after its first chunk: chunk 1 passes, chunk 2 is refused
    fault_proxy.delay(0, method="POST", path="^/runs/batch$", times=1)
    fault_proxy.respond(400, method="POST", path="^/runs/batch$", times=1)
    with pytest.raises(LangGraphError, match="creating items 2-3 of the batch failed"):
        _batch(conn_id).execute(ti.context())
    ti.try_number = 2
    summary = _batch(conn_id).execute(ti.context())

    assert [r["output"]["slept"] for r in summary["runs"]] == [0.1, 0.2, 0.3, 0.4]
    assert len(_batch_runs(LangGraphHook(conn_id), ti)) == 4
    sent = [len(r.json()) for r in fault_proxy.find("POST", "^/runs/batch$") if r.status == 200]
    assert sent == [2, 2]  # chunk 1 by the first try, chunk 2 by the second


def test_a_retry_after_a_successful_batch_runs_nothing_again(conn: Callable[..., str]) -> None:
    conn_id = conn()
    ti = TaskInstance()
    first = _batch(conn_id, count=3).execute(ti.context())
    ti.try_number = 2
    again = _batch(conn_id, count=3).execute(ti.context())
    assert [r["run_id"] for r in again["runs"]] == [r["run_id"] for r in first["runs"]]
    assert len(_batch_runs(LangGraphHook(conn_id), ti)) == 3


@TRIALS
def test_a_lost_answer_to_a_batch_adopts_what_the_server_created(
    conn: Callable[..., str], fault_proxy: Any, trial: int
) -> None:
    conn_id = conn(fault_proxy.url, retry={"max_attempts": 3, "min_wait": 0.05})
    ti = TaskInstance()
    fault_proxy.drop(forward=True, method="POST", path="^/runs/batch$")
    summary = _batch(conn_id).execute(ti.context())
    assert summary["counts"] == {"success": 4}
    assert len(_batch_runs(LangGraphHook(conn_id), ti)) == 4


def test_a_gateway_error_on_a_batch_sends_only_what_is_missing(
    conn: Callable[..., str], fault_proxy: Any
) -> None:
    conn_id = conn(fault_proxy.url, retry={"max_attempts": 3, "min_wait": 0.05})
    ti = TaskInstance()
    fault_proxy.gateway_error(502, method="POST", path="^/runs/batch$")  # chunk 1 made, hidden
    fault_proxy.respond(503, method="POST", path="^/runs/batch$")  # chunk 1 again? no: chunk 2
    summary = _batch(conn_id).execute(ti.context())
    assert summary["counts"] == {"success": 4}
    assert len(_batch_runs(LangGraphHook(conn_id), ti)) == 4


def test_a_retried_batch_re_runs_a_failed_item_even_when_its_creation_is_refused_once(
    conn: Callable[..., str], fault_proxy: Any
) -> None:
    # The look after a refused creation finds the earlier try's failed run of that item: it is
    # what the retry replaces, not what it created.
    conn_id = conn(fault_proxy.url, retry={"max_attempts": 3, "min_wait": 0.05})
    ti = TaskInstance()
    payloads = [
        {"assistant_id": "sleeper", "input": {"seconds": 0.1}},
        {"assistant_id": "failing", "input": {"reason": "first try"}},
    ]

    def batch(items: list[dict[str, Any]]) -> BatchRunOperator:
        return BatchRunOperator(
            task_id="agent", assistant_id="sleeper", payloads=items, poll_interval=0.3,
            langgraph_conn_id=conn_id,
        )  # fmt: skip

    with pytest.raises(LangGraphError, match="1 of 2 runs did not succeed"):
        batch(payloads).execute(ti.context())
    ti.try_number = 2
    fault_proxy.respond(503, method="POST", path="^/runs/batch$", times=1)  # never forwarded
    # (the retry's item 1 succeeds, as a flaky agent's second attempt might)
    retried = [payloads[0], {"assistant_id": "sleeper", "input": {"seconds": 0.2}}]
    summary = batch(retried).execute(ti.context())

    assert summary["counts"] == {"success": 2}
    assert [r["output"]["slept"] for r in summary["runs"]] == [0.1, 0.2]
    sent = [len(r.json()) for r in fault_proxy.find("POST", "^/runs/batch$")]
    assert sent == [2, 1, 1]  # both items; then the failed one, refused once and sent again


@TRIALS
def test_a_creation_answered_after_the_client_gave_up_is_adopted(
    conn: Callable[..., str], fault_proxy: Any, trial: int
) -> None:
    conn_id = conn(
        fault_proxy.url, timeout={"response": 1}, retry={"max_attempts": 2, "min_wait": 0.05}
    )
    ti = TaskInstance()
    fault_proxy.delay(3, stage="response", method="POST", path=r"^/threads/[^/]+/runs$")
    assert _create(conn_id).execute(ti.context()) == SEED_RESULT
    assert len(fault_proxy.find("POST", r"^/threads/[^/]+/runs$")) == 1
    assert len(_runs_of(LangGraphHook(conn_id), ti)) == 1


@pytest.mark.parametrize("wait_mode", ["poll", "join"])
def test_a_server_restart_mid_run_is_ridden_out_with_one_run_and_its_output(
    start_agent_server: Any, conn: Callable[..., str], wait_mode: str
) -> None:
    server = start_agent_server()
    conn_id = conn(server.url, retry={"max_attempts": 2, "min_wait": 0.2})
    ti = TaskInstance()
    operator = _create(
        conn_id, assistant_id="sleeper", input={"seconds": 4}, wait_mode=wait_mode,
        poll_interval=0.5, failure_budget=30,
    )  # fmt: skip
    results: list[Any] = []
    waiter = threading.Thread(target=lambda: results.append(operator.execute(ti.context())))
    waiter.start()
    hook = LangGraphHook(conn_id)
    for _ in range(100):  # until the run is going
        runs = _runs_of(hook, ti) if ti.xcoms.get("run_id") else []
        if runs and runs[0]["status"] == "running":
            break
        time.sleep(0.1)
    server.restart()  # state persists; the server re-queues the run
    waiter.join(90)
    assert results == [{"seconds": 4, "slept": 4, "done": True}]
    assert len(_runs_of(LangGraphHook(conn_id), ti)) == 1


def test_a_deferrable_retry_defers_on_the_run_of_the_earlier_try(conn: Callable[..., str]) -> None:
    from airflow.sdk.exceptions import TaskDeferred

    conn_id = conn()
    ti = TaskInstance()
    ti.start_date = None  # type: ignore[attr-defined]
    kwargs = {"assistant_id": "sleeper", "input": {"seconds": 5}}
    run = _create(conn_id, **kwargs, wait_for_completion=False).execute(ti.context())
    ti.try_number = 2
    with pytest.raises(TaskDeferred) as deferred:
        _create(conn_id, **kwargs, deferrable=True).execute(ti.context())
    _, trigger_kwargs = deferred.value.trigger.serialize()
    assert trigger_kwargs["runs"] == [{"thread_id": run["thread_id"], "run_id": run["run_id"]}]
    assert len(_runs_of(LangGraphHook(conn_id), ti)) == 1
