"""Start a long agent run, and wait for it in a separate, deferrable sensor.

What it shows:

- ``CreateRunOperator(wait_for_completion=False)``: the task creates the run and ends at once,
  pushing ``run_id`` and ``thread_id`` to XCom (its return value is the pending Run);
- ``RunStatusSensor`` picking those ids up from XCom (templated ``thread_id``/``run_id``) and
  waiting for the run **in the triggerer** (``deferrable=True``): while it waits, the sensor's
  log shows the run's status changes, and no worker slot is held;
- meanwhile, other work goes on in parallel (``prepare_report``);
- the sensor's return value is the run's final output, used downstream.

Splitting "start" and "wait" is how you watch a run that someone else started too: give the
sensor any ``thread_id``/``run_id``.

The agent is the bundled ``sleeper`` graph (``agents/graphs.py``): it works for
``input["seconds"]`` seconds, then returns ``{"slept": seconds, "done": true}``.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, task

from airflow_lg.operators.runs import CreateRunOperator
from airflow_lg.sensors.runs import RunStatusSensor

with DAG(
    dag_id="example_create_and_sense",
    schedule=None,
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    tags=["airflow-lg", "example", "sensor"],
    doc_md=__doc__,
) as dag:
    start_research = CreateRunOperator(
        task_id="start_research",
        assistant_id="sleeper",
        input={"seconds": 8},
        wait_for_completion=False,
    )

    wait_for_research = RunStatusSensor(
        task_id="wait_for_research",
        thread_id="{{ ti.xcom_pull(task_ids='start_research', key='thread_id') }}",
        run_id="{{ ti.xcom_pull(task_ids='start_research', key='run_id') }}",
        deferrable=True,
        poke_interval=1,
        timeout=600,
    )

    @task
    def prepare_report() -> str:
        """Work that does not need the agent's result, done while the agent runs."""
        return "Research report\n==============="

    @task
    def publish(header: str, research: dict[str, Any]) -> str:
        """Combine the parallel work with the agent's output."""
        report = f"{header}\ndone: {research['done']} after {research['slept']} s"
        print(report)
        return report

    start_research >> wait_for_research
    publish(prepare_report(), wait_for_research.output)
