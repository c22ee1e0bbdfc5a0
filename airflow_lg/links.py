"""The "LangGraph run" extra link: from a task in the Airflow UI to its agent run.

By default it opens the task's "Agent run" tab (the provider's UI plugin), which works with
servers that need an API key, since the browser never calls the agent server. A connection
whose ``studio_url_template`` is set opens that UI instead (LangSmith / LangGraph Studio).

It is a *global* link of the plugin, computed by the API server when the UI asks: a link of
the operators would be computed by the worker at the task's end and stored as an XCom row
(``_link_...``), and would not exist while the run is still going.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from airflow.sdk import BaseOperatorLink

STUDIO_EXAMPLE = "https://smith.langchain.com/studio/thread/{thread_id}?baseUrl={base_url_quoted}"
"""A ``studio_url_template`` for LangGraph Studio (the README's example)."""
AGENT_OPERATORS = frozenset(
    {"CreateRunOperator", "WaitRunOperator", "BatchRunOperator", "RunStatusSensor"}
)


def run_url(template: str, base_url: str, thread_id: str, run_id: str | None) -> str:
    """Fill a link template; the placeholders are thread_id, run_id, base_url and
    base_url_quoted (for a URL inside a query string)."""
    return template.format(
        base_url=base_url,
        base_url_quoted=quote(base_url, safe=""),
        thread_id=quote(thread_id, safe=""),
        run_id=quote(run_id or "", safe=""),
    )


def ui_path(path: str) -> str:
    """A path of Airflow's UI, under the API server's ``[api] base_url`` path if it has one."""
    from airflow.configuration import conf

    base = urlsplit(conf.get("api", "base_url", fallback="") or "").path.rstrip("/")
    return base + path


def task_tab_path(
    dag_id: str, run_id: str, task_id: str, map_index: int, item: int | None = None
) -> str:
    """The task instance's "Agent run" tab in Airflow's UI (of a batch: item ``item``)."""
    path = f"/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}/tasks/"
    path += quote(task_id, safe="")
    if map_index >= 0:
        path += f"/mapped/{map_index}"
    path += "/plugin/agent-run"
    return ui_path(path) + (f"?{urlencode({'item': item})}" if item is not None else "")


class LangGraphRunLink(BaseOperatorLink):
    """ "LangGraph run": the task's "Agent run" tab, or the connection's
    ``studio_url_template``. Empty (no link) on tasks of other operators."""

    name = "LangGraph run"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        if getattr(operator, "task_type", None) not in AGENT_OPERATORS:
            return ""
        tab = task_tab_path(ti_key.dag_id, ti_key.run_id, ti_key.task_id, ti_key.map_index)
        if getattr(operator, "task_type", None) == "BatchRunOperator":
            return tab
        return _studio_link(ti_key) or tab


def studio_url(conn_id: str, thread_id: str, run_id: str) -> str | None:
    """The run in the UI the connection's ``studio_url_template`` names, if it names one."""
    from airflow_lg.hooks.langgraph import LangGraphHook

    try:
        settings = LangGraphHook(conn_id).settings
    except Exception:  # the connection is not known here: the tab still works
        return None
    if not settings.studio_url_template:
        return None
    return run_url(settings.studio_url_template, settings.base_url, thread_id, run_id)


def _studio_link(ti_key: Any) -> str | None:
    """The Studio URL of the task's run, where its connection sets a template."""
    from airflow.utils.session import create_session

    from airflow_lg.plugins import _finding

    with create_session() as session:
        ti = _finding.task_instance(
            session, ti_key.dag_id, ti_key.run_id, ti_key.task_id, ti_key.map_index
        )
        task = _finding.agent_task(session, ti) if ti is not None else None
    if task is None or not task.refs:
        return None
    return studio_url(task.conn_id, task.refs[0].thread_id, task.refs[0].run_id)
