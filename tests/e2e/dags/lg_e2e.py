"""DAGs for the real-deployment tier: what dag.test() cannot show (a real triggerer, tasks
killed from the outside, a triggerer restart)."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG

from airflow_lg.operators.runs import CreateRunOperator, WaitRunOperator
from airflow_lg.sensors.runs import RunStatusSensor

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

# Every kind of task that touches the connection, for the secrets test: a deferred wait, a
# stream, a sensor, and a failing agent (an exception message).
with DAG(
    "e2e_secrets",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    default_args={"retries": 0},
) as e2e_secrets:
    _created = CreateRunOperator(
        task_id="create",
        assistant_id="sleeper",
        input={"seconds": 4},
        deferrable=True,
        poll_interval=1,
    )
    RunStatusSensor(
        task_id="sense",
        thread_id="{{ ti.xcom_pull(task_ids='create', key='thread_id') }}",
        run_id="{{ ti.xcom_pull(task_ids='create', key='run_id') }}",
        poke_interval=1,
    ).set_upstream(_created)
    WaitRunOperator(
        task_id="stream", assistant_id="sleeper", input={"seconds": 1}, stream_mode="custom"
    )
    CreateRunOperator(task_id="fail", assistant_id="failing", input={"reason": "on purpose"})

# Retried after a crash: the retry must re-attach to the run its killed try left going.
with DAG(
    "e2e_create_retry",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    params={"input": {"seconds": 1}},
    render_template_as_native_obj=True,
    default_args={"retries": 1, "retry_delay": timedelta(seconds=1)},
) as e2e_create_retry:
    CreateRunOperator(
        task_id="run", assistant_id="sleeper", input="{{ params.input }}", poll_interval=1
    )
