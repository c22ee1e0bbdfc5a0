"""Invoke an agent every day and use its answer downstream.

The bundled ``chat`` agent (agents/graphs.py, an offline fake model) is asked about the day
being processed: the input is built from the DAG run's data interval, so a backfill of last
week asks about each day in turn. The run is created on the server (``runs.create``), waited
for without holding a worker slot when ``deferrable``, and its final state values come back
through XCom.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, task

from airflow_lg.operators.runs import CreateRunOperator

with DAG(
    dag_id="example_invoke_agent",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    tags=["airflow-lg", "example"],
    doc_md=__doc__,
) as dag:
    ask = CreateRunOperator(
        task_id="ask_agent",
        assistant_id="chat",
        input={
            "messages": [
                {
                    "role": "user",
                    "content": "Summarise the orders of {{ data_interval_start | ds }}",
                }
            ]
        },
        poll_interval=1,
    )

    @task
    def report(result: dict) -> str:
        """The agent's last message: what a downstream system would receive."""
        answer = result["messages"][-1]["content"]
        print(f"Agent answered: {answer}")
        return answer

    report(ask.output)
