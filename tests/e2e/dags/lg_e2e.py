"""DAGs for the real-deployment tier: what dag.test() cannot show (a real triggerer, tasks
killed from the outside, a triggerer restart)."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_lg.operators.runs import CreateRunOperator

for _deferrable in (False, True):
    _dag_id = f"e2e_create_{'deferred' if _deferrable else 'sync'}"
    with DAG(
        _dag_id,
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        params={"input": {"seconds": 1}},
        render_template_as_native_obj=True,
        default_args={"retries": 0},
    ) as _dag:
        CreateRunOperator(
            task_id="run",
            assistant_id="sleeper",
            input="{{ params.input }}",
            deferrable=_deferrable,
            poll_interval=1,
        )
    globals()[_dag_id] = _dag
