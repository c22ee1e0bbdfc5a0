"""The API key appears nowhere: not in task logs, trigger logs, the trigger kwargs stored in the
metadata DB, XCom, rendered templates, exception messages — nor anywhere in the deployment's
home (logs, database). A real deployment, against a server that demands the key."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.support.airflow_home import use_private_airflow_home

use_private_airflow_home()

DAGS = Path(__file__).parent / "dags"
KEY = "lgkey-9f3Qx7-never-show-me"


@pytest.fixture(scope="module")
def airflow(airflow_deployment_factory: Any, start_agent_server: Any) -> Any:
    server = start_agent_server(config="langgraph.auth.json", env={"AGENTS_API_KEY": KEY})
    conn = json.dumps({"conn_type": "langgraph", "host": server.url, "password": KEY})
    deployment = airflow_deployment_factory(DAGS, env={"AIRFLOW_CONN_LANGGRAPH_DEFAULT": conn})
    yield deployment
    deployment.stop()


def _trigger_kwargs_while_deferred(airflow: Any) -> list[str]:
    """The trigger rows Airflow stored for the deferred task, read straight from its DB."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with sqlite3.connect(Path(airflow.home) / "airflow.db") as db:
            rows = [r[0] for r in db.execute("SELECT kwargs FROM trigger")]
        if rows:
            return rows
        time.sleep(0.3)
    raise AssertionError("no trigger was ever stored")


def test_the_api_key_appears_nowhere(airflow: Any) -> None:
    run_id = airflow.trigger("e2e_secrets")
    kwargs = _trigger_kwargs_while_deferred(airflow)
    assert any("langgraph_default" in k for k in kwargs)  # the connection id, not its secret
    assert not [k for k in kwargs if KEY in k]

    assert airflow.wait_dag_run("e2e_secrets", run_id, timeout=120) == "failed"  # "fail" fails
    states = {ti["task_id"]: ti["state"] for ti in airflow.task_instances("e2e_secrets", run_id)}
    assert states == {
        "create": "success",
        "sense": "success",
        "stream": "success",
        "fail": "failed",
    }

    for task_id in states:
        log = airflow.task_log("e2e_secrets", run_id, task_id)
        assert "LangGraph run" in log or "custom:" in log  # a real log was read
        assert KEY not in log, f"the key is in the log of {task_id}"
        ti = airflow.task_instance("e2e_secrets", run_id, task_id)
        assert KEY not in json.dumps(ti.get("rendered_fields")), f"rendered fields of {task_id}"
        path = f"/api/v2/dags/e2e_secrets/dagRuns/{quote(run_id, safe='')}/taskInstances"
        xcoms = airflow.api("GET", f"{path}/{task_id}/xcomEntries").json()
        assert KEY not in json.dumps(xcoms), f"XCom of {task_id}"
    assert "failing agent failed on purpose" in airflow.task_log("e2e_secrets", run_id, "fail")

    for component in ("api-server", "scheduler", "dag-processor", "triggerer"):
        assert KEY not in airflow.component_log(component), component
    leaks = [
        str(path)
        for path in Path(airflow.home).rglob("*")
        if path.is_file() and KEY.encode() in path.read_bytes()
    ]
    assert leaks == []
