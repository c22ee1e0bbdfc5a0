"""Run an example DAG against the bundled agents on a local Agent Server, and show the result.

Used by ``scripts/demo.sh`` (after ``scripts/bootstrap.sh``): starts ``langgraph dev`` on a free
loopback port, points the ``langgraph_default`` connection at it, runs the DAG once with
``dag.test()`` in a throwaway Airflow home, prints what each task returned, and stops the
server. Usage: ``python scripts/run_example.py [dag_id]``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

import agent_server  # noqa: E402


def _prepare_airflow(server_url: str) -> None:
    home = tempfile.mkdtemp(prefix="airflow-lg-demo-")
    os.environ.update(
        AIRFLOW_HOME=home,
        AIRFLOW__CORE__DAGS_FOLDER=str(REPO / "example_dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        PYTHONWARNINGS="ignore",
        AIRFLOW_CONN_LANGGRAPH_DEFAULT=json.dumps({"conn_type": "langgraph", "host": server_url}),
    )
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True)


def _run(dag_id: str) -> int:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    bag = DagBag(str(REPO / "example_dags"))
    if bag.import_errors:
        print(json.dumps(bag.import_errors, indent=2))
        return 1
    dag_run = bag.get_dag(dag_id).test()
    print(f"\n=== DAG {dag_id}: {dag_run.state}")
    with create_session() as session:
        for ti in dag_run.get_task_instances(session=session):
            row = (
                session.query(XComModel)
                .filter_by(dag_id=dag_id, run_id=dag_run.run_id, task_id=ti.task_id)
                .filter_by(map_index=ti.map_index, key="return_value")
                .first()
            )
            shown = json.dumps(XComModel.deserialize_value(row), indent=2) if row else "-"
            print(f"--- {ti.task_id} ({ti.state}) returned:\n{shown}")
    return 0 if str(dag_run.state) == "success" else 1


def main() -> int:
    dag_id = sys.argv[1] if len(sys.argv) > 1 else "example_invoke_agent"
    with agent_server.start_server() as server:
        print(f"LangGraph Agent Server (bundled agents) at {server.url}")
        _prepare_airflow(server.url)
        return _run(dag_id)


if __name__ == "__main__":
    sys.exit(main())
