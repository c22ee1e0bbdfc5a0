"""DAGs whose agent runs the UI tests look at, besides the example DAGs: a run that fails and
a run that pauses to ask a person."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_lg.operators.runs import CreateRunOperator

START = pendulum.datetime(2026, 1, 1, tz="UTC")

with DAG("lg_ui_failing", schedule=None, start_date=START, catchup=False):
    CreateRunOperator(
        task_id="ask_failing_agent",
        assistant_id="failing",
        input={"reason": "the warehouse table orders_2026 is missing"},
    )

with DAG("lg_ui_paused", schedule=None, start_date=START, catchup=False):
    CreateRunOperator(
        task_id="ask_human_agent",
        assistant_id="human",
        input={"topic": "refund order 1234"},
        on_interrupt="succeed",
    )
