"""One agent run per item of a list known only at run time: dynamic task mapping.

What it shows:

- ``CreateRunOperator.partial(...).expand(input=...)``: one mapped task instance (and one
  agent run) per input, each retried, cleared and logged on its own;
- the list coming from an upstream task, so its length can change from run to run;
- ``map_index_template``: each mapped task is labelled in the UI with its question instead
  of a bare index;
- a downstream task collecting the mapped outputs, in map-index order.

The agent is the bundled ``chat`` graph (``agents/graphs.py``): a fake, offline chat model
that always gives the same answer to the same question.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, task

from airflow_lg.operators.runs import CreateRunOperator

with DAG(
    dag_id="example_mapped_runs",
    schedule=None,
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    tags=["airflow-lg", "example", "dynamic-task-mapping"],
    doc_md=__doc__,
) as dag:

    @task
    def open_tickets() -> list[dict[str, Any]]:
        """Today's support tickets, as agent inputs (a real DAG would query a ticket system)."""
        tickets = [
            "Where is my parcel?",
            "How do I reset my password?",
            "Can I change my delivery address?",
        ]
        return [{"messages": [{"role": "user", "content": text}]} for text in tickets]

    answer_ticket = CreateRunOperator.partial(
        task_id="answer_ticket",
        assistant_id="chat",
        poll_interval=1,
        map_index_template="{{ task.input['messages'][0]['content'] }}",
    ).expand(input=open_tickets())

    @task
    def collect(results: list[dict[str, Any]]) -> list[str]:
        """The agent's answers, one per ticket, in the order of the tickets."""
        answers = [str(result["messages"][-1]["content"]) for result in results]
        for answer in answers:
            print(answer)
        return answers

    collect(answer_ticket.output)
