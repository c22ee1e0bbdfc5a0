"""Outages are waited out, not failed: a task waiting for an agent run while its server
restarts (SIGTERM, SIGKILL) or answers 503 for a minute ends with the run's correct output,
and the server holds exactly one run for it.

Each test has a private server (restarting the shared ones would disturb other tests). What
a server does with a run it was running when it went down is its own business and differs:
:data:`KILLED_RUN` names it; the provider's part — waiting, never cancelling, never creating a
second run — is the same everywhere.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_lg.exactly_once import task_thread_id
from airflow_lg.exceptions import LangGraphNotFoundError
from airflow_lg.hooks.langgraph import LangGraphHook
from tests.compatibility.conftest import KINDS, start_kind
from tests.support.servers import AgentServer

pytestmark = pytest.mark.timeout(360)
SLEEP = 8  # seconds the agent runs: the restart lands in the middle

# What a server does with the run it was running when SIGKILL took it down:
KILLED_RUN = {
    "dev": "lost",  # in memory, saved only at shutdown: the run is gone after the restart
    "pg": "re-run",  # re-queued once its heartbeat is overdue, run again from the start
    "aegra": "re-run",  # (Redis worker mode) re-queued once its lease expires
}
# Short heartbeats and leases, so that a killed run is re-queued within the test.
SERVER_ENV = {
    "dev": {},
    "pg": {"LG_BG_JOB_HEARTBEAT": "3"},
    "aegra": {
        "LEASE_DURATION_SECONDS": "7",
        "HEARTBEAT_INTERVAL_SECONDS": "2",
        "REAPER_INTERVAL_SECONDS": "3",
    },
}


@pytest.fixture(scope="module")
def outage_dags(example_dags: Any) -> Any:
    return example_dags  # the tier's DAG bag holds the outage DAGs too


@pytest.fixture
def private_server(beds: Any) -> Iterator[Callable[[str], AgentServer]]:
    started: list[AgentServer] = []

    def start(kind: str) -> AgentServer:
        server = start_kind(beds, kind, **SERVER_ENV[kind])
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


def _busy_thread(url: str, timeout: float = 60.0) -> str:
    """The thread of the run the task started, once it is running."""
    hook = LangGraphHook("langgraph_outage")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            busy = hook.search_threads(status="busy", limit=1)
        except Exception:  # the server may be booting
            busy = []
        if busy:
            return str(busy[0]["thread_id"])
        time.sleep(0.2)
    raise AssertionError(f"no run got busy on {url} within {timeout:.0f} s")


def _run_during(
    outage_dags: Any, dag_id: str, url: str, monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str], outage: Callable[[], None],
) -> tuple[Any, dict[str, Any], str]:  # fmt: skip
    """dag.test() of ``dag_id`` while another thread waits for its run to start and then
    causes ``outage``; checks that the outage happened and was logged once each way, and
    returns the DAG run, the task's XComs and the log."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    monkeypatch.setenv(
        "AIRFLOW_CONN_LANGGRAPH_OUTAGE", json.dumps({"conn_type": "langgraph", "host": url})
    )
    errors: list[BaseException] = []

    def cause() -> None:
        try:
            _busy_thread(url)
            time.sleep(1.0)  # well inside the run
            outage()
        except BaseException as exc:
            errors.append(exc)

    capfd.readouterr()
    worker = threading.Thread(target=cause, daemon=True)
    worker.start()
    dag_run = outage_dags.get_dag(dag_id).test(run_conf={"seconds": SLEEP})
    worker.join(120)
    log = "".join(capfd.readouterr())
    assert not errors, errors
    _one_outage_logged(log)
    with create_session() as session:
        rows = session.query(XComModel).filter(
            XComModel.dag_id == dag_id, XComModel.run_id == dag_run.run_id
        )
        xcoms = {r.key: XComModel.deserialize_value(r) for r in rows}
    return dag_run, xcoms, log


def _one_run_with_the_output(dag_run: Any, xcoms: dict[str, Any], dag_id: str) -> None:
    assert str(dag_run.state) == "success", xcoms
    assert xcoms["return_value"] == {"seconds": SLEEP, "slept": float(SLEEP), "done": True}
    thread_id = task_thread_id(f"{dag_id}/{dag_run.run_id}/run/-1")
    assert xcoms["thread_id"] == thread_id
    runs = LangGraphHook("langgraph_outage").list_runs(thread_id)
    assert [r["run_id"] for r in runs] == [xcoms["run_id"]]


def _one_outage_logged(log: str) -> None:
    """The outage's start and end, each logged once (not once per retry)."""
    assert log.count("is away (") == 1, log[-3000:]
    assert log.count("answers again after") == 1, log[-3000:]


def _one_run_lost_and_reported(dag_run: Any, xcoms: dict[str, Any], log: str) -> None:
    """dev after SIGKILL: the task fails saying the run is gone, and created no other."""
    assert str(dag_run.state) == "failed"
    assert f"LangGraph run {xcoms['run_id']} on thread {xcoms['thread_id']} no longer exists" in log
    assert "it is gone after the server was away" in log
    try:
        runs = LangGraphHook("langgraph_outage").list_runs(xcoms["thread_id"])
    except LangGraphNotFoundError:  # the thread went with it
        runs = []
    assert runs == []


@pytest.mark.parametrize(
    ("dag_id", "kind"),
    [*(("outage_deferred_join", kind) for kind in KINDS), ("outage_stream", "dev")],
)
def test_a_wait_rides_out_a_restart_by_sigterm(
    dag_id: str, kind: str, outage_dags: Any, private_server: Callable[[str], AgentServer],
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """A deferred join on every server; a stream (``WaitRunOperator``) on dev."""
    server = private_server(kind)
    dag_run, xcoms, _ = _run_during(
        outage_dags, dag_id, server.url, monkeypatch, capfd,
        lambda: server.restart(signum=signal.SIGTERM, down_for=5.0),
    )  # fmt: skip
    _one_run_with_the_output(dag_run, xcoms, dag_id)


@pytest.mark.parametrize("kind", KINDS)
def test_a_polling_wait_rides_out_a_restart_by_sigkill(
    kind: str, outage_dags: Any, private_server: Callable[[str], AgentServer],
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    server = private_server(kind)
    dag_run, xcoms, log = _run_during(
        outage_dags, "outage_poll", server.url, monkeypatch, capfd,
        lambda: server.restart(signum=signal.SIGKILL, down_for=5.0),
    )  # fmt: skip
    if KILLED_RUN[kind] == "lost":
        _one_run_lost_and_reported(dag_run, xcoms, log)
    else:
        _one_run_with_the_output(dag_run, xcoms, "outage_poll")


def test_a_wait_rides_out_a_minute_of_503(
    outage_dags: Any, private_server: Callable[[str], AgentServer],
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    from tests.support.fault_proxy import FaultProxy

    server = private_server("dev")
    with FaultProxy(server.url) as proxy:
        refused: list[Any] = []

        def minute_of_503() -> None:
            proxy.respond(503, times=None)
            time.sleep(60)
            refused.extend(r for r in proxy.requests if r.status == 503)
            proxy.clear()  # (also forgets the requests: counted just before)

        dag_run, xcoms, _ = _run_during(
            outage_dags, "outage_poll", proxy.url, monkeypatch, capfd, minute_of_503
        )
        assert refused[-1].time - refused[0].time > 55  # the outage lasted the minute
        _one_run_with_the_output(dag_run, xcoms, "outage_poll")
