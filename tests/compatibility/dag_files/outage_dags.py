"""DAGs of the outage tests: one agent run waited for while its server restarts.

Each waits for the bundled ``sleeper`` (``params.seconds``) through the ``langgraph_outage``
connection, which the test points at a private server (or a fault proxy in front of it).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_lg.operators.runs import CreateRunOperator, WaitRunOperator

_COMMON = {
    "assistant_id": "sleeper",
    "input": {"seconds": "{{ params.seconds }}"},
    "langgraph_conn_id": "langgraph_outage",
}
# No transient failure is allowed to count: only riding the outage out can save the task.
_WAITS = {"failure_budget": 0}


def _dag(dag_id: str) -> DAG:
    return DAG(
        dag_id,
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        params={"seconds": 8},
        render_template_as_native_obj=True,
        default_args={"retries": 0},
    )


with _dag("outage_poll") as poll_dag:
    CreateRunOperator(task_id="run", poll_interval=0.5, **_WAITS, **_COMMON)  # type: ignore[arg-type]

with _dag("outage_deferred_join") as join_dag:
    CreateRunOperator(  # type: ignore[arg-type]
        task_id="run", deferrable=True, wait_mode="join", poll_interval=0.5, **_WAITS, **_COMMON
    )

with _dag("outage_stream") as stream_dag:
    WaitRunOperator(task_id="run", stream_mode="updates", **_COMMON)  # type: ignore[arg-type]
