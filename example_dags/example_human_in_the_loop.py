"""Human in the loop: the agent pauses for approval, a person answers in the Airflow UI, and a
later task resumes the same thread with that answer.

What it shows:

- a **thread** per DAG run: ``thread_for_run`` derives a stable thread id from the DAG run, and
  the first run creates the thread (``if_not_exists="create"``), so a retry reuses it;
- ``CreateRunOperator(on_interrupt="succeed")``: the agent calls ``interrupt()`` and the task
  succeeds anyway, with the question in XCom (``interrupts``, and ``__interrupt__`` in the
  return value). With the default ``on_interrupt="fail"`` the task would fail instead;
- Airflow's own human-in-the-loop operator (``HITLOperator``) asking a person the agent's
  question: the task waits in the ``awaiting_input`` state until someone answers under
  **Required actions** in the UI (or through the REST API); nobody answering within a day
  counts as ``reject``;
- a later ``CreateRunOperator`` resuming the **same thread** (its id from XCom) with
  ``command={"resume": <the answer>}``: the agent continues where it paused.

The agent is the bundled ``human`` graph (``agents/graphs.py``): it asks ``approve?`` about
``input["topic"]`` and, resumed, records the answer and whether it approves.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pendulum
from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.sdk import DAG, get_current_context, task

from airflow_lg.operators.runs import CreateRunOperator

THREADS = uuid.UUID("6f1d7d52-0d3e-4a43-9c55-2f4a2bb1c1a7")
"""Namespace of this DAG's thread ids (any fixed UUID)."""

with DAG(
    dag_id="example_human_in_the_loop",
    schedule=None,
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    tags=["airflow-lg", "example", "human-in-the-loop"],
    doc_md=__doc__,
    params={"topic": "publish the November newsletter"},
) as dag:

    @task
    def thread_for_run() -> str:
        """The id of this DAG run's thread: the same on every try of every task of the run."""
        dag_run = get_current_context()["dag_run"]
        return str(uuid.uuid5(THREADS, f"{dag_run.dag_id}/{dag_run.run_id}"))

    ask = CreateRunOperator(
        task_id="ask",
        assistant_id="human",
        thread_id=thread_for_run(),
        if_not_exists="create",
        input={"topic": "{{ params.topic }}"},
        on_interrupt="succeed",
        poll_interval=1,
    )

    review = HITLOperator(
        task_id="review",
        subject="The agent asks: {{ ti.xcom_pull('ask', key='interrupts')[0].value.question }}",
        body=(
            "{% set asked = ti.xcom_pull(task_ids='ask', key='interrupts')[0].value %}"
            "The **human** agent paused on thread "
            "`{{ ti.xcom_pull(task_ids='ask', key='thread_id') }}` to ask "
            "*{{ asked.question }}* about: **{{ asked.topic }}**. Your choice resumes it."
        ),
        options=["approve", "reject"],
        defaults=["reject"],
        response_timeout=timedelta(days=1),
    )

    resume = CreateRunOperator(
        task_id="resume",
        assistant_id="human",
        thread_id="{{ ti.xcom_pull(task_ids='ask', key='thread_id') }}",
        command={"resume": "{{ ti.xcom_pull(task_ids='review')['chosen_options'][0] }}"},
        poll_interval=1,
    )

    ask >> review >> resume
