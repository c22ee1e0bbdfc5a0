"""What Airflow learns about this provider through the ``apache_airflow_provider`` entry point.

Since Airflow 3.2 the connection form is declared here (``conn-fields`` and
``ui-field-behaviour``) rather than by hook methods.
"""

from __future__ import annotations

from typing import Any

from airflow_lg import __version__


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-lg",
        "name": "LangGraph",
        "description": "Run agents deployed on a LangGraph Agent Server from Airflow DAGs: "
        "create, wait, stream and batch runs, watch them with a deferrable sensor.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "LangGraph",
                "external-doc-url": "https://docs.langchain.com/langgraph-platform",
                "tags": ["ai"],
            }
        ],
        "hooks": [
            {
                "integration-name": "LangGraph",
                "python-modules": ["airflow_lg.hooks.langgraph"],
            }
        ],
        "operators": [
            {
                "integration-name": "LangGraph",
                "python-modules": ["airflow_lg.operators.runs", "airflow_lg.operators.batch"],
            }
        ],
        "sensors": [
            {
                "integration-name": "LangGraph",
                "python-modules": ["airflow_lg.sensors.runs"],
            }
        ],
        "triggers": [
            {
                "integration-name": "LangGraph",
                "python-modules": ["airflow_lg.triggers.runs"],
            }
        ],
        "extra-links": ["airflow_lg.links.LangGraphRunLink"],
        # The UI: "Agent run" / "Agent runs" views and the run link (airflow_lg/plugins).
        "plugins": [{"name": "airflow_lg", "plugin-class": "airflow_lg.plugins.LangGraphPlugin"}],
        "connection-types": [
            {
                "hook-class-name": "airflow_lg.hooks.langgraph.LangGraphHook",
                "hook-name": "LangGraph Agent Server",
                "connection-type": "langgraph",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "login", "port", "extra"],
                    "relabeling": {"host": "Server URL", "password": "API key"},
                    "placeholders": {
                        "host": "http://127.0.0.1:2024",
                        "password": "sent as the x-api-key header (leave empty if not needed)",
                    },
                },
                "conn-fields": {
                    "headers": {
                        "label": "Extra headers (JSON)",
                        "description": 'Added to every request, e.g. {"X-Tenant": "acme"}',
                        "schema": {"type": ["string", "null"]},
                    },
                    "timeout": {
                        "label": "Timeout (seconds)",
                        "description": "One number for every phase, or JSON "
                        '{"connect": 5, "read": 60, "write": 30, "pool": 30, "response": 10}: '
                        "response is how long a short call waits for an answer, read the "
                        "silence a long poll tolerates",
                        "schema": {"type": ["string", "null"]},
                    },
                    "verify": {
                        "label": "Verify TLS",
                        "description": "true, false, or the path of a CA bundle",
                        "schema": {"type": ["string", "null"]},
                    },
                    "retry": {
                        "label": "Retry settings (JSON)",
                        "description": '{"max_attempts": 5, "min_wait": 0.5, '
                        '"max_wait": 30, "max_retry_after": 300}',
                        "schema": {"type": ["string", "null"]},
                    },
                    "max_concurrent_requests": {
                        "label": "Max concurrent requests",
                        "description": "Short requests in flight at once per process "
                        "(back-pressure for backfills; long polls are not counted). Default 10.",
                        "schema": {"type": ["integer", "null"]},
                    },
                    "max_connections": {
                        "label": "Max connections",
                        "description": "Upper bound of the HTTP connection pool per process. "
                        "Default 100.",
                        "schema": {"type": ["integer", "null"]},
                    },
                    "studio_url_template": {
                        "label": "Run link URL template",
                        "description": "Where the task's 'LangGraph run' link points; "
                        "placeholders {thread_id}, {run_id}, {base_url}, {base_url_quoted}. "
                        "Default: the run on the server itself.",
                        "schema": {"type": ["string", "null"]},
                    },
                },
            }
        ],
    }
