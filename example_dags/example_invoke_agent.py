"""Every day, ask an agent about the day that just ended and hand its answer downstream.

What it shows:

- a **scheduled** DAG (every midnight) whose agent input is built from the run's **data
  interval** (the day that just ended) with pendulum, so every scheduled, catch-up or backfill
  run asks about its own day, and a rerun asks the same question again;
- ``CreateRunOperator``: the run is created on the server (``runs.create``) and waited for
  **in the triggerer** (``deferrable=True``), so no worker slot is held while the agent thinks;
- the run's final state values coming back through XCom (``return_value``), next to the run's
  ids (``run_id``, ``thread_id``) and ``status``.

The agent is the bundled ``chat`` graph (``agents/graphs.py``): a fake, offline chat model
that always gives the same answer to the same question. ``scripts/demo.sh`` runs this DAG.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, CronTriggerTimetable, get_current_context, task

from airflow_lg.operators.runs import CreateRunOperator

with DAG(
    dag_id="example_invoke_agent",
    # Every midnight, for the day that just ended: the data interval is [midnight - 1 day,
    # midnight). (A bare "@daily" would give runs an empty data interval in Airflow 3.)
    schedule=CronTriggerTimetable("@daily", timezone="UTC", interval=timedelta(days=1)),
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    tags=["airflow-lg", "example", "scheduled"],
    doc_md=__doc__,
) as dag:

    @task
    def build_question(data_interval_start: pendulum.DateTime | None = None) -> dict[str, Any]:
        """The agent's input: a chat message about the day this run covers.

        A manual run triggered without a logical date has no data interval: it asks about
        the day before it was triggered.
        """
        if data_interval_start is None:
            run_after = get_current_context()["dag_run"].run_after
            data_interval_start = pendulum.instance(run_after).subtract(days=1)
        day = pendulum.instance(data_interval_start).in_timezone("UTC")
        question = f"Summarise the orders of {day.format('dddd D MMMM YYYY')} ({day:%Y-%m-%d})"
        return {"messages": [{"role": "user", "content": question}]}

    ask = CreateRunOperator(
        task_id="ask_agent",
        assistant_id="chat",
        input=build_question(),
        # the default poll_interval (5 s) looks again after 1 s, 2 s, 4 s first: a quick
        # answer is seen within about a second
        deferrable=True,
    )

    @task
    def report(result: dict[str, Any]) -> str:
        """The agent's last message: what a downstream system would receive."""
        answer = str(result["messages"][-1]["content"])
        print(f"Agent answered: {answer}")
        return answer

    report(ask.output)
