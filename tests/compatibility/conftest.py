"""The compatibility tier: the same hook calls and example DAGs against every server that
speaks the runs API — ``langgraph dev`` (in memory), langgraph-api on PostgreSQL + Redis
(``pg``) and aegra — started by ``scripts/server_beds.py`` on free loopback ports.

Tests take ``server`` (parametrized over the three) and read what differs from
:data:`EXPECT`: a difference is a named expectation, asserted like any other result.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.airflow_home import (
    migrate_airflow_db,
    remove_at_exit,
    use_private_airflow_home,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "example_dags"
OUTAGE_DAGS = Path(__file__).resolve().parent / "dag_files"


def _dags_folder() -> str:
    """dag.test() syncs the DAGs folder first and runs only DAGs found there: the tier's
    folder holds exact copies of the example DAGs and of the outage tests' DAGs."""
    folder = Path(tempfile.mkdtemp(prefix="airflow-lg-compat-dags-"))
    remove_at_exit(str(folder))
    for source in [*EXAMPLES.glob("*.py"), *OUTAGE_DAGS.glob("*.py")]:
        shutil.copy2(source, folder / source.name)
    return str(folder)


DAGS_FOLDER = _dags_folder()
use_private_airflow_home(DAGS_FOLDER)

from tests.server.conftest import Transport, make_hook, transport  # noqa: E402
from tests.support.servers import AgentServer, load_script, start_server  # noqa: E402

server_beds = load_script("server_beds")
KINDS: tuple[str, ...] = server_beds.KINDS

__all__ = ["EXPECT", "Expect", "Transport", "make_hook", "transport"]


@dataclass(frozen=True)
class Expect:
    """How one server answers where servers differ (docs/compatibility.md has the table)."""

    health_path: str
    """What answers the hook's health(): ``/ok``, or ``/info`` where there is no /ok."""
    cancel_finished: str
    """Cancelling a finished run: ``not_found`` (404) or ``accepted`` (202)."""
    batch_endpoint: bool
    """``POST /runs/batch`` exists; without it create_batch makes one run per item."""
    rollback: bool
    """``cancel(action="rollback")`` is honoured; without it: interrupt, then delete."""
    paused_status: str
    """The status of a run paused by ``interrupt()``: ``success`` or ``interrupted``."""
    after_seconds: bool
    """A delayed run waits (``pending``) before it starts."""
    rejects_busy_thread: bool
    """``multitask_strategy="reject"`` on a busy thread answers 409."""
    join_stream_filters: bool
    """``join_stream(stream_mode=...)`` sends only the modes asked for."""
    error_type: str
    """``__error__.error`` of a failed run: the exception's type, or aegra's ``Error``."""
    non_object_input: bool
    """A graph whose input schema is a string gets a string input; aegra's API refuses any
    input but an object (422 "Input should be a valid dictionary") whatever the schema says."""
    watched: bool
    """``wait_mode="watch"`` watches: the thread search takes ``ids`` and ``select``. aegra's
    refuses ``select`` (422) and ignores ``ids``: its waits poll, and say so."""
    thread_tells_success: bool
    """A thread alone with its run tells that the run succeeded (idle, with values and no
    error): a batch item seen ending needs no run read. aegra's threads carry no values."""


EXPECT = {
    "dev": Expect(
        "/ok", "not_found", True, True, "success", True, True, True, "ValueError", True, True,
        True,
    ),
    "pg": Expect(
        "/ok", "accepted", True, True, "success", True, True, True, "ValueError", True, True,
        True,
    ),
    "aegra": Expect(
        "/info", "accepted", False, False, "interrupted", False, False, False, "Error", False,
        False, False,
    ),
}


@pytest.fixture(scope="session")
def beds() -> Iterator[Any]:
    """The PostgreSQL and Redis that every pg and aegra server of the session uses."""
    beds = server_beds.ServerBeds()
    yield beds
    beds.close()


def start_kind(beds: Any, kind: str, **env: str) -> AgentServer:
    """A new server of ``kind`` (its own workdir or database); the session stops it."""
    return start_server(env=env) if kind == "dev" else beds.start(kind, env=env)


@pytest.fixture(scope="session")
def servers(beds: Any) -> Iterator[dict[str, AgentServer]]:
    """One server of each kind, booted side by side (dev ~3 s, pg and aegra 6 to 25 s)."""
    started: dict[str, AgentServer] = {}
    try:
        with ThreadPoolExecutor(max_workers=3) as pool:
            futures = {
                "dev": pool.submit(start_server),
                "pg": pool.submit(beds.start, "pg"),
                "aegra": pool.submit(beds.start, "aegra"),
            }
            for kind, future in futures.items():
                started[kind] = future.result()
        yield started
    finally:
        for server in started.values():
            server.close()


@pytest.fixture(params=KINDS)
def server(request: pytest.FixtureRequest, servers: dict[str, AgentServer]) -> AgentServer:
    """Each server in turn; ``server.kind`` is ``dev``, ``pg`` or ``aegra``."""
    return servers[str(request.param)]


@pytest.fixture
def expect(server: AgentServer) -> Expect:
    return EXPECT[server.kind]


@pytest.fixture
def lg(server: AgentServer, make_hook: Callable[..., Any], transport: str) -> Iterator[Transport]:
    """The hook on ``server``, through the sync or the async transport."""
    hook = make_hook(server.url)
    yield Transport(hook, transport)
    hook.close()


# ---- dag.test() of the example DAGs ---------------------------------------------------------


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """Migrate the private Airflow database once."""
    migrate_airflow_db()


@pytest.fixture(scope="session")
def example_dags(airflow_db: None) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(DAGS_FOLDER)
    assert not bag.import_errors, bag.import_errors
    return bag


class Responder:
    """Answers Airflow's human-in-the-loop tasks of a dag.test() run from another thread,
    the way the Required Actions page does (dag.test() waits for an answer from outside)."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.answered: list[str] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> Responder:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _loop(self) -> None:
        while not self._stop.wait(0.5):
            try:
                self._answer_waiting()
            except Exception as exc:  # keep answering; the test fails on its own if never
                self.errors.append(repr(exc))

    def _answer_waiting(self) -> None:
        from airflow.models.hitl import HITLDetail
        from airflow.models.taskinstance import TaskInstance
        from airflow.models.trigger import handle_event_submit
        from airflow.triggers.base import TriggerEvent
        from airflow.utils import timezone
        from airflow.utils.session import create_session
        from airflow.utils.state import TaskInstanceState

        with create_session() as session:
            waiting = (
                session.query(TaskInstance)
                .filter(TaskInstance.state == TaskInstanceState.AWAITING_INPUT)
                .all()
            )
            for ti in waiting:
                detail = session.query(HITLDetail).filter(HITLDetail.ti_id == ti.id).one_or_none()
                if detail is None or detail.response_received or ti.task_id not in self.answers:
                    continue
                detail.responded_by = {"id": "compat", "name": "compatibility tier"}
                detail.responded_at = timezone.utcnow()
                detail.chosen_options = self.answers[ti.task_id]
                detail.params_input = {}
                session.add(detail)
                handle_event_submit(
                    TriggerEvent(detail.as_resume_event_payload()), task_instance=ti,
                    session=session,
                )  # fmt: skip
                self.answered.append(ti.task_id)


@pytest.fixture
def run_example(
    example_dags: Any, server: AgentServer, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Any]:
    """``run_example(dag_id, **conf)``: the example DAG through dag.test() against ``server``
    (the ``langgraph_default`` connection points at it); returns (dag_run, xcom reader)."""
    conn = json.dumps({"conn_type": "langgraph", "host": server.url})
    monkeypatch.setenv("AIRFLOW_CONN_LANGGRAPH_DEFAULT", conn)

    def run(dag_id: str, **conf: Any) -> tuple[Any, Callable[..., Any]]:
        with Responder({"review": ["approve"]}) as responder:
            dag_run = example_dags.get_dag(dag_id).test(run_conf=conf or None)
        assert not responder.errors, responder.errors
        return dag_run, _xcom_reader(dag_run)

    return run


def _xcom_reader(dag_run: Any) -> Callable[..., Any]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = (
            session.query(XComModel)
            .filter(XComModel.dag_id == dag_run.dag_id, XComModel.run_id == dag_run.run_id)
            .all()
        )
        values = {(r.task_id, r.key, r.map_index): XComModel.deserialize_value(r) for r in rows}
        states = {
            (ti.task_id, ti.map_index): str(ti.state)
            for ti in dag_run.get_task_instances(session=session)
        }

    def xcom(task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
        """An XCom of the run; ``xcom("__states__")`` is every task instance's state."""
        if task_id == "__states__":
            return states
        return values[(task_id, key, map_index)]

    return xcom
