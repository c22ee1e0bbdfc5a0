"""A BashOperator that sleeps for a minute: the target of the "mark failed" kill test."""

from __future__ import annotations

from datetime import datetime

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

with DAG("harness_bash", schedule=None, start_date=datetime(2024, 1, 1), catchup=False):
    BashOperator(task_id="sleep", bash_command="echo harness-bash: sleeping; sleep 60")
