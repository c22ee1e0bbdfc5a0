"""A deferrable TimeDeltaSensor (handled by the triggerer), then a python task.

The sensor waits until ``run_after + delay_seconds``; ``delay_seconds`` is a param, so a test
can ask for a longer deferral with ``conf={"delay_seconds": 15}``. Native rendering turns the
templated ``delta`` into a real ``timedelta``.
"""

from __future__ import annotations

from datetime import datetime

from airflow.providers.standard.operators.python import PythonOperator
from airflow.providers.standard.sensors.time_delta import TimeDeltaSensor
from airflow.sdk import DAG


def _after() -> str:
    print("harness-deferred: sensor done")
    return "after"


with DAG(
    "harness_deferred",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    params={"delay_seconds": 5},
    render_template_as_native_obj=True,
):
    wait = TimeDeltaSensor(
        task_id="wait",
        delta="{{ macros.timedelta(seconds=params.delay_seconds) }}",  # type: ignore[arg-type]
        deferrable=True,
    )
    wait >> PythonOperator(task_id="after", python_callable=_after)
