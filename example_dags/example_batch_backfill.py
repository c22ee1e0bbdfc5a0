"""Backfill in one batch: ask an agent about every day of a date range, then collect the answers
per day.

What it shows:

- ``BatchRunOperator``: one agent run per day, all sent through ``runs.create_batch`` (in chunks
  of ``chunk_size``) and waited for together, in the triggerer (``deferrable=True``);
- its ``inputs`` coming from an upstream task (``inputs=<task>.output``) that lists the days;
- **catchup-aware** days: a weekly run covers exactly the seven days of its data interval,
  so scheduled runs, catch-up runs (``catchup=True``) and backfills
  (``airflow backfill create --dag-id example_batch_backfill --from-date ... --to-date ...``)
  each ask about their own week: weeks never overlap, and rerunning a week asks about that week
  only. ``catchup`` is off here so that unpausing the example does not start a burst of runs;
- a manual run can name any range instead, with the ``first_day`` and ``last_day`` params;
- the batch's result (``{"runs": [...], "counts": {...}, "total": n}``, one entry per input in
  input order) turned into ``{day: answer}`` by a downstream task.

The agent is the bundled ``chat`` graph (``agents/graphs.py``): a fake, offline chat model
that always gives the same answer to the same question.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, CronTriggerTimetable, Param, get_current_context, task

from airflow_lg.operators.runs import BatchRunOperator

MAX_DAYS = 366
"""A guard against a typo in the params asking about decades of days."""

with DAG(
    dag_id="example_batch_backfill",
    # Every Sunday at midnight, for the week that just ended: the data interval is
    # [midnight - 7 days, midnight). (A bare "@weekly" would give an empty data interval.)
    schedule=CronTriggerTimetable("@weekly", timezone="UTC", interval=timedelta(weeks=1)),
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=2,
    tags=["airflow-lg", "example", "batch"],
    doc_md=__doc__,
    params={
        "first_day": Param(
            None,
            type=["null", "string"],
            format="date",
            title="First day",
            description="With last_day: process this range instead of the run's data interval.",
        ),
        "last_day": Param(
            None,
            type=["null", "string"],
            format="date",
            title="Last day (included)",
        ),
    },
) as dag:

    @task
    def list_days(
        params: dict[str, Any] | None = None,
        data_interval_start: pendulum.DateTime | None = None,
        data_interval_end: pendulum.DateTime | None = None,
    ) -> list[str]:
        """The days to process (ISO dates): the params' range, else the data interval.

        The data interval is half-open, [start, end): a weekly run covers start .. end - 1 day.
        A manual run without a logical date (and without params) has no data interval: it
        processes the seven days before it was triggered.
        """
        first_day, last_day = (params or {}).get("first_day"), (params or {}).get("last_day")
        if first_day or last_day:
            if not (first_day and last_day):
                raise ValueError("give both first_day and last_day, or neither")
            first = pendulum.Date.fromisoformat(first_day)
            last = pendulum.Date.fromisoformat(last_day)
        elif data_interval_start is not None and data_interval_end is not None:
            first = data_interval_start.in_timezone("UTC").date()
            last = data_interval_end.in_timezone("UTC").subtract(days=1).date()
        else:
            run_after = pendulum.instance(get_current_context()["dag_run"].run_after)
            last = run_after.in_timezone("UTC").subtract(days=1).date()
            first = last.subtract(days=6)
        if last < first:
            raise ValueError(f"the range {first} .. {last} is empty")
        if (last - first).in_days() >= MAX_DAYS:
            raise ValueError(f"the range {first} .. {last} is longer than {MAX_DAYS} days")
        return [first.add(days=n).to_date_string() for n in range((last - first).in_days() + 1)]

    @task
    def questions(days: list[str]) -> list[dict[str, Any]]:
        """One graph input per day, in the order of the days."""
        return [
            {"messages": [{"role": "user", "content": f"Summarise the orders of {day}"}]}
            for day in days
        ]

    days = list_days()

    ask_per_day = BatchRunOperator(
        task_id="ask_per_day",
        assistant_id="chat",
        inputs=questions(days),
        chunk_size=50,
        deferrable=True,
        poll_interval=1,
    )

    @task
    def answers_by_day(days: list[str], batch: dict[str, Any]) -> dict[str, str]:
        """``{day: answer}``: batch entries come back in input order, one per day."""
        runs = sorted(batch["runs"], key=lambda run: run["index"])
        if len(runs) != len(days):
            raise ValueError(f"{len(days)} days but {len(runs)} results")
        answers = {
            day: str(run["output"]["messages"][-1]["content"])
            for day, run in zip(days, runs, strict=True)
        }
        for day, answer in answers.items():
            print(f"{day}: {answer}")
        return answers

    answers_by_day(days, ask_per_day.output)
