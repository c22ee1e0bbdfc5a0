"""The provider's Airflow UI plugin, registered through ``get_provider_info()["plugins"]``:
installing the package is all it takes.

- an **"Agent run"** tab on every task instance (Airflow 3.3 has no ``applies_to``: on a task
  that runs no agent the tab says so),
- an **"Agent runs"** tab on every DAG run,
- an **"Agent runs"** page under Browse: recent runs across the DAGs the user may read,
- the **"LangGraph run"** link, computed by the API server when asked (no XCom row),
- a middleware that lets the connection list's Test button test a form-made connection
  (``_test_button.py``).

Each view is an ``external_views`` entry whose page the plugin's own FastAPI app serves
(``_app.py``) under the API server: no build step, and the browser only ever talks to Airflow.

Every Airflow process loads its plugins (a task's too, for their macros), so this module stays
light: the app — FastAPI, Airflow's security module, the pages — is built on the API server's
first request to it (:class:`LazyApp`), never in a worker or the triggerer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from airflow.plugins_manager import AirflowPlugin

from airflow_lg.links import LangGraphRunLink
from airflow_lg.plugins._test_button import PortZeroAsNoPort

PREFIX = "/langgraph"  # the plugin's routes, under the API server

TASK_TAB = "agent-run"
DAG_RUN_TAB = "agent-runs-of-dag-run"
NAV_PAGE = "agent-runs"


class LazyApp:
    """An ASGI app that builds the plugin's FastAPI app on its first request."""

    def __init__(self) -> None:
        self._app: Callable[..., Awaitable[None]] | None = None

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if self._app is None:
            from airflow_lg.plugins._app import create_app

            self._app = create_app()
        await self._app(scope, receive, send)


class LangGraphPlugin(AirflowPlugin):
    name = "airflow_lg"
    fastapi_apps = [{"app": LazyApp(), "url_prefix": PREFIX, "name": "airflow-lg agent runs"}]
    external_views = [
        {
            "name": "Agent run",
            "href": PREFIX + "/task/{DAG_ID}/{RUN_ID}/{TASK_ID}/{MAP_INDEX}",
            "destination": "task_instance",
            "url_route": TASK_TAB,
        },
        {
            "name": "Agent runs",
            "href": PREFIX + "/dag-run/{DAG_ID}/{RUN_ID}",
            "destination": "dag_run",
            "url_route": DAG_RUN_TAB,
        },
        {
            "name": "Agent runs",
            "href": PREFIX + "/runs",
            "destination": "nav",
            "category": "browse",
            "url_route": NAV_PAGE,
        },
    ]
    global_operator_extra_links = [LangGraphRunLink()]
    fastapi_root_middlewares = [
        {"middleware": PortZeroAsNoPort, "name": "airflow-lg Test button for form-made connections"}
    ]
