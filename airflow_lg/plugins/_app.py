"""The plugin's routes, mounted under the Airflow API server at ``airflow_lg.plugins.PREFIX``.

The browser talks only to these routes; they read Airflow's database and the agent server
(through the hook, with the connection's key, which never leaves the server). Every route asks
Airflow's auth manager first: a task's or a DAG run's runs only for a user who may read that
DAG's task instances, the list only of DAGs the user may read. Routes are plain functions:
FastAPI runs them in its thread pool, where ``hook.blocking`` gives the agent reads a loop of
their own.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine, Sequence
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, Query
from fastapi.responses import HTMLResponse

from airflow_lg.exceptions import LangGraphError
from airflow_lg.hooks.langgraph import LangGraphHook
from airflow_lg.links import studio_url
from airflow_lg.plugins import _finding, _reading, _render
from airflow_lg.plugins._finding import AgentTask
from airflow_lg.plugins._reading import RunRow
from airflow_lg.runs import RunRef

RECENT_TASKS = 50  # task instances read for the list page
_BATCH_ROWS = 500  # items of one batch read for its table

T = TypeVar("T")
Entry = tuple[AgentTask, int | None, RunRow]


def _user_dependency() -> Any:
    from airflow.api_fastapi.core_api.security import get_user

    return Depends(get_user)


User = Annotated[Any, _user_dependency()]


def create_app() -> FastAPI:
    app = FastAPI(title="airflow-lg agent runs", docs_url=None, redoc_url=None)
    app.get("/task/{dag_id}/{run_id}/{task_id}/{map_index}", response_class=HTMLResponse)(task_view)
    app.get("/dag-run/{dag_id}/{run_id}", response_class=HTMLResponse)(dag_run_view)
    app.get("/runs", response_class=HTMLResponse)(recent_view)
    return app


# ---- routes ------------------------------------------------------------------------------


def task_view(
    dag_id: str, run_id: str, task_id: str, map_index: str, user: User, item: int | None = None
) -> HTMLResponse:
    """The "Agent run" tab of a task instance (of a batch: its items, or item ``item``)."""
    if not _may_read(user, dag_id):
        return _forbidden(dag_id)
    from airflow.utils.session import create_session

    with create_session() as session:
        ti = _finding.task_instance(session, dag_id, run_id, task_id, _map_index(map_index))
        if ti is None:
            return HTMLResponse(_render.message("Agent run", "No such task instance."), 404)
        task = _finding.agent_task(session, ti)
        operator = ti.operator
    if task is None:
        return HTMLResponse(_render.empty_task_page(operator))
    if not task.refs:
        return HTMLResponse(_render.no_run_page(task))
    hook = LangGraphHook(task.conn_id)
    if task.is_batch and item is None:
        refs = task.refs[:_BATCH_ROWS]
        rows = _read(hook, lambda: _reading.aread_rows(hook, refs))
        if isinstance(rows, HTMLResponse):
            return rows
        return HTMLResponse(_render.batch_page(task, rows, item_href="?item="))
    ref = task.refs[item or 0] if 0 <= (item or 0) < len(task.refs) else None
    if ref is None:
        return HTMLResponse(_render.message("Agent run", f"The batch has no item {item}."), 404)
    detail = _read(hook, lambda: _reading.aread_detail(hook, ref))
    if isinstance(detail, HTMLResponse):
        return detail
    back = "<p><a href='?'>← all items</a></p>" if task.is_batch else ""
    return HTMLResponse(
        _render.task_page(
            task, detail, studio_url=studio_url(task.conn_id, ref.thread_id, ref.run_id), back=back
        )
    )


def dag_run_view(dag_id: str, run_id: str, user: User) -> HTMLResponse:
    """The "Agent runs" tab of a DAG run: every agent run of its tasks."""
    if not _may_read(user, dag_id):
        return _forbidden(dag_id)
    from airflow.utils.session import create_session

    with create_session() as session:
        tasks = _finding.dag_run_tasks(session, dag_id, run_id)
    entries = _entries(tasks)
    return HTMLResponse(_render.dag_run_page(dag_id, run_id, entries))


def recent_view(
    user: User,
    status: Annotated[str, Query()] = "",
    assistant: Annotated[str, Query()] = "",
    dag_id: Annotated[str, Query()] = "",
) -> HTMLResponse:
    """The nav page: recent agent runs of the DAGs this user may read, filterable."""
    readable = _readable_dags(user)
    if dag_id:
        readable &= {dag_id}
    # of those, the DAGs whose task instances the user may read, as the other views ask
    readable = {d for d in readable if _may_read(user, d)}
    from airflow.utils.session import create_session

    with create_session() as session:
        tasks = _finding.recent_tasks(session, readable, limit=RECENT_TASKS) if readable else []
    entries = _entries(tasks)
    choices = {
        "status": sorted({row.status for _, _, row in entries}),
        "assistant": sorted({a for t, _, row in entries if (a := _assistant(t, row))}),
        "dag_id": sorted({t.dag_id for t, _, _ in entries} | ({dag_id} if dag_id else set())),
    }
    shown = [
        (t, i, row)
        for t, i, row in entries
        if (not status or row.status == status)
        and (not assistant or _assistant(t, row) == assistant)
    ]
    filters = {"status": status, "assistant": assistant, "dag_id": dag_id}
    return HTMLResponse(_render.recent_page(shown, filters, choices))


# ---- helpers -----------------------------------------------------------------------------


def _entries(tasks: Sequence[AgentTask]) -> list[Entry]:
    """Every run of these tasks with what the server says of it, read per connection."""
    entries: list[Entry] = []
    for conn_id in dict.fromkeys(t.conn_id for t in tasks):
        mine = [t for t in tasks if t.conn_id == conn_id]
        flat = [(t, i if t.is_batch else None, ref) for t in mine for i, ref in _numbered(t)]
        hook = LangGraphHook(conn_id)
        refs = [ref for _, _, ref in flat]
        rows = _read(hook, functools.partial(_reading.aread_rows, hook, refs))
        if isinstance(rows, HTMLResponse):  # the connection is broken: say so on each row
            rows = [RunRow(ref, "unknown", problem=f"connection {conn_id!r}") for ref in refs]
        entries += [(t, i, row) for (t, i, _), row in zip(flat, rows, strict=True)]
    return entries


def _numbered(task: AgentTask) -> list[tuple[int, RunRef]]:
    return list(enumerate(task.refs[:_BATCH_ROWS]))


def _assistant(task: AgentTask, row: RunRow) -> str | None:
    return task.assistant_id or row.assistant_id


def _read(hook: LangGraphHook, work: Callable[[], Coroutine[Any, Any, T]]) -> T | HTMLResponse:
    """Run an async read in a loop of its own; a connection that cannot be used is a page
    saying so (its id and the reason, never its key)."""
    try:
        hook.settings  # noqa: B018  (the connection first: no coroutine made in vain)
        return hook.blocking(work())
    except LangGraphError as exc:
        return HTMLResponse(_render.message("Agent run", str(exc)), 502)
    except Exception as exc:  # e.g. the connection is not defined in this API server
        # only the type: a configuration error may quote the connection's own values
        name = hook.langgraph_conn_id
        text = f"Connection {name!r} cannot be used here ({type(exc).__name__})."
        return HTMLResponse(_render.message("Agent run", text), 502)


def _map_index(value: str) -> int:
    """The UI fills ``{MAP_INDEX}`` only for a mapped task; otherwise it stays as it is."""
    try:
        return int(value)
    except ValueError:
        return -1


def _may_read(user: Any, dag_id: str) -> bool:
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import (
        DagAccessEntity,
        DagDetails,
    )

    return bool(
        get_auth_manager().is_authorized_dag(
            method="GET",
            access_entity=DagAccessEntity.TASK_INSTANCE,
            details=DagDetails(id=dag_id),
            user=user,
        )
    )


def _readable_dags(user: Any) -> set[str]:
    from airflow.api_fastapi.app import get_auth_manager

    return set(get_auth_manager().get_authorized_dag_ids(user=user, method="GET"))


def _forbidden(dag_id: str) -> HTMLResponse:
    text = f"You may not read the task instances of DAG {dag_id!r}."
    return HTMLResponse(_render.message("Not allowed", text), 403)
