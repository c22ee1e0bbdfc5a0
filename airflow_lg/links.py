"""The operator extra link: from a task in the Airflow UI to its run on the LangGraph server."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from airflow.sdk import BaseOperatorLink

DEFAULT_TEMPLATE = "{base_url}/threads/{thread_id}/runs/{run_id}"
"""Without a template the link opens the run as the server describes it (JSON). Set the
connection's ``studio_url_template`` to open a UI instead, e.g. LangGraph Studio:
``https://smith.langchain.com/studio/thread/{thread_id}?baseUrl={base_url_quoted}``."""


def run_url(template: str | None, base_url: str, thread_id: str, run_id: str | None) -> str:
    """Fill a link template; the placeholders are thread_id, run_id, base_url and
    base_url_quoted (for a URL inside a query string)."""
    return (template or DEFAULT_TEMPLATE).format(
        base_url=base_url,
        base_url_quoted=quote(base_url, safe=""),
        thread_id=quote(thread_id, safe=""),
        run_id=quote(run_id or "", safe=""),
    )


class LangGraphRunLink(BaseOperatorLink):
    """ "LangGraph run": the task's run (thread_id/run_id from its XCom) on the server or in the
    UI given by the connection's ``studio_url_template``."""

    name = "LangGraph run"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        from airflow.sdk.execution_time.xcom import XCom

        from airflow_lg.hooks.langgraph import LangGraphHook

        thread_id = XCom.get_value(ti_key=ti_key, key="thread_id")
        if not thread_id:
            return ""
        run_id = XCom.get_value(ti_key=ti_key, key="run_id")
        settings = LangGraphHook(operator.langgraph_conn_id).settings
        return run_url(settings.studio_url_template, settings.base_url, thread_id, run_id)
