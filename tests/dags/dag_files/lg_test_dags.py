"""DAGs for the dag.test() tier: each operator and the sensor, worker-bound and deferred.

What to run comes from the DAG run's conf (``params``), rendered as native objects, so one DAG
covers success, agent error, server timeout and human interrupt.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG

from airflow_lg.operators.runs import BatchRunOperator, CreateRunOperator, WaitRunOperator
from airflow_lg.sensors.runs import RunStatusSensor

FAST = {"poll_interval": 0.5}
DEFAULTS = {"retries": 0}
PARAMS = {"assistant_id": "test_agent", "input": {}, "thread_id": None}


def _dag(dag_id: str, **kwargs: object) -> DAG:
    return DAG(
        dag_id,
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        params={**PARAMS, **kwargs.pop("params", {})},  # type: ignore[dict-item]
        render_template_as_native_obj=True,
        default_args=DEFAULTS,
        **kwargs,  # type: ignore[arg-type]
    )


def _create_dag(dag_id: str, **operator_kwargs: object) -> DAG:
    with _dag(dag_id) as dag:
        CreateRunOperator(
            task_id="run",
            assistant_id="{{ params.assistant_id }}",
            thread_id="{{ params.thread_id }}",
            input="{{ params.input }}",
            **FAST,
            **operator_kwargs,  # type: ignore[arg-type]
        )
    return dag


for _deferrable in (False, True):
    for _mode in ("poll", "join"):
        _name = f"lg_create_{'deferred' if _deferrable else 'sync'}_{_mode}"
        globals()[_name] = _create_dag(_name, deferrable=_deferrable, wait_mode=_mode)

lg_create_on_timeout_server = _create_dag(
    "lg_create_on_timeout_server", langgraph_conn_id="langgraph_timeout", deferrable=True
)
lg_create_sync_on_timeout_server = _create_dag(
    "lg_create_sync_on_timeout_server", langgraph_conn_id="langgraph_timeout", deferrable=False
)
lg_create_no_wait = _create_dag("lg_create_no_wait", wait_for_completion=False)

with _dag("lg_human_in_the_loop") as lg_human_in_the_loop:
    ask = CreateRunOperator(
        task_id="ask",
        assistant_id="human",
        thread_id="{{ params.thread_id }}",
        input={"topic": "launch"},
        on_interrupt="succeed",
        deferrable=True,
        **FAST,
    )
    CreateRunOperator(
        task_id="resume",
        assistant_id="human",
        thread_id="{{ ti.xcom_pull(task_ids='ask', key='thread_id') }}",
        command={"resume": "yes"},
        **FAST,
    ).set_upstream(ask)

for _deferrable in (False, True):
    _name = f"lg_sensor_{'deferred' if _deferrable else 'sync'}"
    with _dag(_name) as _sensor_dag:
        _create = CreateRunOperator(
            task_id="create",
            assistant_id="{{ params.assistant_id }}",
            thread_id="{{ params.thread_id }}",
            input="{{ params.input }}",
            wait_for_completion=False,
        )
        RunStatusSensor(
            task_id="sense",
            thread_id="{{ ti.xcom_pull(task_ids='create', key='thread_id') }}",
            run_id="{{ ti.xcom_pull(task_ids='create', key='run_id') }}",
            poke_interval=0.5,
            deferrable=_deferrable,
        ).set_upstream(_create)
    globals()[_name] = _sensor_dag

with _dag("lg_wait") as lg_wait:
    WaitRunOperator(
        task_id="run",
        assistant_id="{{ params.assistant_id }}",
        thread_id="{{ params.thread_id }}",
        input="{{ params.input }}",
    )

with _dag("lg_wait_stream") as lg_wait_stream:
    WaitRunOperator(
        task_id="run",
        assistant_id="{{ params.assistant_id }}",
        thread_id="{{ params.thread_id }}",
        input="{{ params.input }}",
        stream_mode=["updates", "custom"],
    )

for _mode in ("messages-tuple", "values"):
    with _dag(f"lg_wait_stream_{_mode.replace('-', '_')}") as _stream_dag:
        WaitRunOperator(
            task_id="run",
            assistant_id="{{ params.assistant_id }}",
            input="{{ params.input }}",
            stream_mode=_mode,
        )
    globals()[_stream_dag.dag_id] = _stream_dag


def _batch_dag(dag_id: str, **operator_kwargs: object) -> DAG:
    with _dag(dag_id, params={"payloads": []}) as dag:
        BatchRunOperator(
            task_id="batch",
            assistant_id="{{ params.assistant_id }}",
            payloads="{{ params.payloads }}",
            chunk_size=2,
            **FAST,
            **operator_kwargs,  # type: ignore[arg-type]
        )
    return dag


for _deferrable in (False, True):
    _kind = "deferred" if _deferrable else "sync"
    globals()[f"lg_batch_{_kind}"] = _batch_dag(f"lg_batch_{_kind}", deferrable=_deferrable)
    globals()[f"lg_batch_{_kind}_lenient"] = _batch_dag(
        f"lg_batch_{_kind}_lenient", deferrable=_deferrable, fail_on_partial_error=False
    )
    globals()[f"lg_batch_{_kind}_lenient_on_timeout_server"] = _batch_dag(
        f"lg_batch_{_kind}_lenient_on_timeout_server",
        deferrable=_deferrable,
        fail_on_partial_error=False,
        langgraph_conn_id="langgraph_timeout",
    )

with _dag("lg_mapped") as lg_mapped:
    CreateRunOperator.partial(task_id="run", assistant_id="sleeper", **FAST).expand(
        input=[{"seconds": 0.1}, {"seconds": 0.2}, {"seconds": 0.3}]
    )

# Giving up on a run cancels it: Airflow's execution_timeout (enforced by Airflow in a worker,
# by our trigger when deferred) and our own wait_timeout.
for _deferrable in (False, True):
    _kind = "deferred" if _deferrable else "sync"
    globals()[f"lg_{_kind}_execution_timeout"] = _create_dag(
        f"lg_{_kind}_execution_timeout",
        deferrable=_deferrable,
        execution_timeout=timedelta(seconds=4),
    )
    globals()[f"lg_{_kind}_wait_timeout"] = _create_dag(
        f"lg_{_kind}_wait_timeout", deferrable=_deferrable, wait_timeout=3
    )

with _dag("lg_wait_on_timeout_server") as lg_wait_on_timeout_server:
    WaitRunOperator(
        task_id="run",
        assistant_id="{{ params.assistant_id }}",
        thread_id="{{ params.thread_id }}",
        input="{{ params.input }}",
        langgraph_conn_id="langgraph_timeout",
    )

lg_create_breakpoint = _create_dag("lg_create_breakpoint", interrupt_before=["bar"])
