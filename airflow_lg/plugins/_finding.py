"""Which agent runs are behind a task instance, a DAG run, or recent tasks: read from Airflow's
own database (the api-server's), never from the agent server.

The operators push a run's ids to XCom as soon as it is created (``run_id``, ``thread_id``,
``assistant_id``; a batch's ``runs`` while it waits and its results when it ends), and the
sensor's run is in its rendered fields. The connection is the task's rendered
``langgraph_conn_id``. So this is a few indexed queries, whatever the agent server's state.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_lg.exceptions import LangGraphError
from airflow_lg.hooks.langgraph import LangGraphHook
from airflow_lg.links import AGENT_OPERATORS
from airflow_lg.runs import RunRef

_KEYS = ("run_id", "thread_id", "assistant_id", "runs", "batch", "return_value")


@dataclass
class AgentTask:
    """A task instance of one of the provider's operators, and its runs (in item order for a
    batch; ``results`` are a batch's outcomes once it ended)."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    operator: str
    state: str | None
    conn_id: str = LangGraphHook.default_conn_name
    assistant_id: str | None = None
    refs: list[RunRef] = field(default_factory=list)
    results: list[dict[str, Any]] | None = None
    timestamp: Any = None

    @property
    def is_batch(self) -> bool:
        return self.operator == "BatchRunOperator"

    @property
    def label(self) -> str:
        return self.task_id if self.map_index < 0 else f"{self.task_id}[{self.map_index}]"


def task_instance(session: Any, dag_id: str, run_id: str, task_id: str, map_index: int) -> Any:
    from airflow.models.taskinstance import TaskInstance
    from sqlalchemy import select

    return session.scalar(
        select(TaskInstance).where(
            TaskInstance.dag_id == dag_id,
            TaskInstance.run_id == run_id,
            TaskInstance.task_id == task_id,
            TaskInstance.map_index == map_index,
        )
    )


def agent_task(session: Any, ti: Any) -> AgentTask | None:
    """The task instance's agent runs, or None if it is not one of the provider's tasks."""
    found = agent_tasks(session, [ti])
    return found[0] if found else None


def dag_run_tasks(session: Any, dag_id: str, run_id: str) -> list[AgentTask]:
    from airflow.models.taskinstance import TaskInstance
    from sqlalchemy import select

    tis = session.scalars(
        select(TaskInstance)
        .where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)
        .where(TaskInstance.operator.in_(AGENT_OPERATORS))
        .order_by(TaskInstance.task_id, TaskInstance.map_index)
    ).all()
    return agent_tasks(session, tis)


def recent_tasks(
    session: Any, dag_ids: Iterable[str], *, limit: int, offset: int = 0
) -> list[AgentTask]:
    """The newest agent task instances of these DAGs (by start), that got a run."""
    from airflow.models.taskinstance import TaskInstance
    from sqlalchemy import select

    tis = session.scalars(
        select(TaskInstance)
        .where(TaskInstance.dag_id.in_(list(dag_ids)))
        .where(TaskInstance.operator.in_(AGENT_OPERATORS))
        .where(TaskInstance.start_date.is_not(None))
        .order_by(TaskInstance.start_date.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return [task for task in agent_tasks(session, tis) if task.refs]


def agent_tasks(session: Any, tis: Sequence[Any]) -> list[AgentTask]:
    tis = [ti for ti in tis if ti.operator in AGENT_OPERATORS]
    if not tis:
        return []
    xcoms = _xcoms(session, tis)
    tasks = []
    for ti in tis:
        key = (ti.dag_id, ti.run_id, ti.task_id, ti.map_index)
        rendered = _rendered(session, ti)
        tasks.append(_task(ti, xcoms.get(key, {}), rendered))
    return tasks


def _task(ti: Any, xcom: dict[str, Any], rendered: dict[str, Any]) -> AgentTask:
    task = AgentTask(
        dag_id=ti.dag_id,
        run_id=ti.run_id,
        task_id=ti.task_id,
        map_index=ti.map_index,
        operator=ti.operator,
        state=str(ti.state) if ti.state else None,
        conn_id=str(rendered.get("langgraph_conn_id") or LangGraphHook.default_conn_name),
        assistant_id=xcom.get("assistant_id") or _text(rendered.get("assistant_id")),
        timestamp=ti.start_date,
    )
    summary = xcom.get("batch") or xcom.get("return_value")
    if task.is_batch and isinstance(summary, dict) and isinstance(summary.get("runs"), list):
        task.results = [r for r in summary["runs"] if isinstance(r, dict)]
        task.refs = _refs(task.results)
    elif task.is_batch:
        task.refs = _refs(xcom.get("runs") or [])
    else:
        thread_id = xcom.get("thread_id") or _text(rendered.get("thread_id"))
        run_id = xcom.get("run_id") or _text(rendered.get("run_id"))
        if thread_id and run_id:
            task.refs = [RunRef(str(thread_id), str(run_id))]
    return task


def _refs(values: Sequence[Any]) -> list[RunRef]:
    """The runs of XCom entries; one that is not a run (edited by hand, say) is skipped."""
    refs = []
    for value in values:
        try:
            refs.append(RunRef.from_dict(value))
        except (LangGraphError, KeyError, TypeError, ValueError):
            continue
    return refs


def _xcoms(session: Any, tis: Sequence[Any]) -> dict[tuple[str, str, str, int], dict[str, Any]]:
    from airflow.models.xcom import XComModel
    from sqlalchemy import select

    found: dict[tuple[str, str, str, int], dict[str, Any]] = defaultdict(dict)
    by_run: dict[tuple[str, str], set[str]] = defaultdict(set)
    for ti in tis:
        by_run[(ti.dag_id, ti.run_id)].add(ti.task_id)
    for (dag_id, run_id), task_ids in by_run.items():
        rows = session.execute(
            select(XComModel.task_id, XComModel.map_index, XComModel.key, XComModel.value).where(
                XComModel.dag_id == dag_id,
                XComModel.run_id == run_id,
                XComModel.task_id.in_(task_ids),
                XComModel.key.in_(_KEYS),
            )
        ).all()
        for row in rows:
            found[(dag_id, run_id, row.task_id, row.map_index)][row.key] = (
                XComModel.deserialize_value(row)
            )
    return found


def _rendered(session: Any, ti: Any) -> dict[str, Any]:
    from airflow.models.renderedtifields import RenderedTaskInstanceFields

    try:
        fields = RenderedTaskInstanceFields.get_templated_fields(ti, session=session)
    except Exception:  # an older row or a field Airflow cannot decode: the defaults hold
        return {}
    return dict(fields or {})


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
