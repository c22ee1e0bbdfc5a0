"""A PythonOperator that prints a marker line, pushes an extra XCom and returns a value."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG

PRINTED_LINE = "harness-python: computing the answer"


def _produce(ti: Any) -> dict[str, int]:
    print(PRINTED_LINE)
    ti.xcom_push(key="extra", value={"pushed": True})
    return {"answer": 42}


with DAG("harness_python", schedule=None, start_date=datetime(2024, 1, 1), catchup=False):
    PythonOperator(task_id="produce", python_callable=_produce)
