"""Proves the e2e harness: a real deployment runs, defers, logs, kills and survives restarts."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from tests.e2e.conftest import DeploymentFactory
from tests.support.airflow_deployment import AirflowDeployment

HARNESS_DAGS = Path(__file__).resolve().parent / "harness_dags"
PRINTED_LINE = "harness-python: computing the answer"  # printed by harness_python.py


@pytest.fixture(scope="module")
def deployment(airflow_deployment_factory: DeploymentFactory) -> Iterator[AirflowDeployment]:
    deployment = airflow_deployment_factory(HARNESS_DAGS)
    yield deployment
    deployment.stop()  # an idle deployment still costs CPU: do not keep it for the session


@pytest.fixture(scope="module")
def python_run(deployment: AirflowDeployment) -> str:
    """A finished run of harness_python, shared by the XCom and log tests."""
    run_id = deployment.trigger("harness_python")
    deployment.wait_dag_run_succeeded("harness_python", run_id, timeout=60)
    return run_id


def test_python_dag_succeeds_and_xcom_is_readable(
    deployment: AirflowDeployment, python_run: str
) -> None:
    assert deployment.xcom("harness_python", python_run, "produce") == {"answer": 42}
    extra = deployment.xcom("harness_python", python_run, "produce", key="extra")
    assert extra == {"pushed": True}


def test_task_log_contains_printed_line(deployment: AirflowDeployment, python_run: str) -> None:
    log = deployment.task_log("harness_python", python_run, "produce")
    assert PRINTED_LINE in log
    # the provider's UI plugin (installed in the venv) offers its run link on every task, with
    # no URL on a task that runs no agent
    assert deployment.extra_links("harness_python", python_run, "produce") == {
        "LangGraph run": None
    }


def test_deferred_sensor_is_resumed_by_the_triggerer(deployment: AirflowDeployment) -> None:
    run_id = deployment.trigger("harness_deferred")
    deployment.wait_task_state("harness_deferred", run_id, "wait", "deferred", timeout=30)
    deployment.wait_dag_run_succeeded("harness_deferred", run_id, timeout=60)
    # The trigger's own lines are merged into the task log: the triggerer really ran it.
    assert "Trigger fired event" in deployment.task_log("harness_deferred", run_id, "wait")


def test_marking_a_running_task_failed_kills_it(deployment: AirflowDeployment) -> None:
    run_id = deployment.trigger("harness_bash")
    deployment.wait_task_state("harness_bash", run_id, "sleep", "running", timeout=30)
    sleeper = _wait_for_sleep_process(deployment)

    marked_at = time.monotonic()
    deployment.set_task_state("harness_bash", run_id, "sleep", "failed")
    # The worker learns it at its next heartbeat (409) and SIGTERMs the task: seconds, not 60.
    sleeper.wait(timeout=10)
    assert time.monotonic() - marked_at < 10
    assert deployment.task_instance("harness_bash", run_id, "sleep")["state"] == "failed"
    assert deployment.wait_dag_run("harness_bash", run_id, timeout=20) == "failed"
    log = deployment.task_log("harness_bash", run_id, "sleep")
    assert "shouldn't be running anymore" in log


def test_triggerer_restart_hands_the_trigger_to_the_new_triggerer(
    deployment: AirflowDeployment,
) -> None:
    # 20 s: the trigger must still be pending after a restart, which can take ~12 s when the
    # old triggerer is slow to exit (see AirflowDeployment.restart).
    run_id = deployment.trigger("harness_deferred", conf={"delay_seconds": 20})
    deployment.wait_task_state("harness_deferred", run_id, "wait", "deferred", timeout=30)
    old_triggerer = _wait_triggerer_id(deployment, run_id, lambda job_id: job_id is not None)

    deployment.restart("triggerer")
    _wait_triggerer_id(deployment, run_id, lambda job_id: job_id not in (None, old_triggerer))
    deployment.wait_dag_run_succeeded("harness_deferred", run_id, timeout=60)


def _wait_triggerer_id(
    deployment: AirflowDeployment, run_id: str, accept: Callable[[int | None], bool]
) -> int:
    """Wait until the sensor is deferred with its trigger held by an accepted triggerer job."""

    def probe() -> int | None:
        ti = deployment.task_instance("harness_deferred", run_id, "wait")
        assert ti["state"] == "deferred", f"sensor left deferred early: {ti['state']}"
        job_id = (ti["trigger"] or {}).get("triggerer_id")
        return job_id if accept(job_id) else None

    return deployment.wait_for(probe, 30, "a triggerer to pick up the trigger", "triggerer")


def _wait_for_sleep_process(deployment: AirflowDeployment, timeout: float = 15) -> psutil.Process:
    """The ``sleep 60`` of harness_bash, found among the deployment's processes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in deployment.processes():
            try:
                if proc.cmdline() == ["sleep", "60"]:
                    return proc
            except psutil.Error:  # exited or a zombie meanwhile
                continue
        time.sleep(0.2)
    raise AssertionError("no `sleep 60` process appeared under the deployment")
