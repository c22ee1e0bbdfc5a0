"""The dag.test() tier: real DAGs with the provider's operators, run in-process by Airflow
against the real Agent Server. One private Airflow home and database for the session.

dag.test() runs a deferred task's trigger inline (no triggerer, no on_kill): what needs a real
triggerer is proven by tests/e2e.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support.airflow_home import migrate_airflow_db, use_private_airflow_home

DAG_FILES = Path(__file__).parent / "dag_files"
use_private_airflow_home(str(DAG_FILES))


@dataclass
class DagResult:
    """What a dag.test() run left behind: states, XComs, and everything it logged."""

    state: str
    run_id: str
    states: dict[str, str]
    xcoms: dict[tuple[str, str, int], Any]
    output: str = field(repr=False)

    def xcom(self, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
        return self.xcoms[(task_id, key, map_index)]


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """Migrate the private Airflow database once."""
    migrate_airflow_db()


def _conn(url: str) -> str:
    return json.dumps({"conn_type": "langgraph", "host": url})


@pytest.fixture(scope="session")
def timeout_server(start_agent_server: Any) -> Any:
    """A server that stops every run after 3 s (status ``timeout``)."""
    return start_agent_server(env={"BG_JOB_TIMEOUT_SECS": "3"})


@pytest.fixture
def run_dag(
    airflow_db: None,
    agent_server: Any,
    timeout_server: Any,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> Iterator[Any]:
    """``run_dag(dag_id, **conf) -> DagResult``: one dag.test() run with the given conf."""
    monkeypatch.setenv("AIRFLOW_CONN_LANGGRAPH_DEFAULT", _conn(agent_server.url))
    monkeypatch.setenv("AIRFLOW_CONN_LANGGRAPH_TIMEOUT", _conn(timeout_server.url))
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(DAG_FILES))
    assert not bag.import_errors, bag.import_errors

    def run(dag_id: str, **conf: Any) -> DagResult:
        capfd.readouterr()
        dag_run = bag.get_dag(dag_id).test(run_conf=conf or None)
        return _result(dag_run, capfd.readouterr())

    yield run


def _result(dag_run: Any, captured: Any) -> DagResult:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = dag_run.get_task_instances(session=session)
        states = {
            ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]": str(ti.state)
            for ti in tis
        }
        rows = (
            session.query(XComModel)
            .filter(XComModel.dag_id == dag_run.dag_id, XComModel.run_id == dag_run.run_id)
            .all()
        )
        xcoms = {(r.task_id, r.key, r.map_index): XComModel.deserialize_value(r) for r in rows}
    return DagResult(
        state=str(dag_run.state),
        run_id=dag_run.run_id,
        states=states,
        xcoms=xcoms,
        output=captured.out + captured.err,
    )
