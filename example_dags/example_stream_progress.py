"""Follow an agent's progress live in the task log.

What it shows:

- ``WaitRunOperator(stream_mode=["updates", "custom"])``: the run is streamed
  (``runs.stream``) and each event becomes one line of the task log as it happens —
  ``custom: {...}`` for what the agent reports itself (``get_stream_writer()``),
  ``node <name> finished: updated <keys>`` when a graph node ends — so the log in the Airflow
  UI shows how far the agent got while the task is still running;
- the stream runs on a fresh thread and is resumable: a dropped connection loses no event;
- the task's return value is the run's final state values (the ``values`` mode is always
  added), as with ``runs.wait``.

Streaming keeps the worker slot for the whole run; to wait without one, use
``CreateRunOperator(deferrable=True)`` (see ``example_invoke_agent``).

The agent is the bundled ``sleeper`` graph (``agents/graphs.py``): it works for
``input["seconds"]`` seconds and reports ``{"slept": step, "of": steps}`` every 0.1 s.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_lg.operators.runs import WaitRunOperator

with DAG(
    dag_id="example_stream_progress",
    schedule=None,
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    tags=["airflow-lg", "example", "streaming"],
    doc_md=__doc__,
) as dag:
    WaitRunOperator(
        task_id="crunch_numbers",
        assistant_id="sleeper",
        input={"seconds": 2},
        stream_mode=["updates", "custom"],
    )
