"""DAGs whose agent runs the UI tests look at, besides the example DAGs: a run that fails, a
run that pauses to ask a person, and a slow run watched while it goes."""

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

with DAG("lg_ui_slow", schedule=None, start_date=START, catchup=False):
    # deferred, joining: the tab follows the run while the triggerer waits for it
    CreateRunOperator(
        task_id="ask_slow_agent",
        assistant_id="sleeper",
        input={"seconds": 10},
        deferrable=True,
        wait_mode="join",
    )
