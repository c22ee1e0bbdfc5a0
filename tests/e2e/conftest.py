"""End-to-end tier: real Airflow deployments (api-server, scheduler, dag-processor, triggerer).

Each deployment takes ~9 s to start and ~850 MB; ports are free ones, so deployments (also
those of other test sessions on this machine) can run side by side. A module should stop its
deployment in its teardown, as an idle one still costs ~10% of a core; the factory stops
whatever is left at session end.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

import pytest

from tests.support.airflow_home import use_private_airflow_home

# Before anything imports airflow: this pytest process must never read a real AIRFLOW_HOME.
use_private_airflow_home()

from tests.support.airflow_deployment import AirflowDeployment  # noqa: E402

DeploymentFactory = Callable[..., AirflowDeployment]


@pytest.fixture(scope="session")
def airflow_deployment_factory() -> Iterator[DeploymentFactory]:
    """Start a deployment: ``factory(dags_folder, env=None, parallelism=4)``, started and healthy
    (DAGs parsed). Takes ~9 s.

    ``env`` goes to every component, e.g. ``{"AIRFLOW_CONN_LANGGRAPH_DEFAULT": json.dumps(
    {"conn_type": "langgraph", "host": agent_server.url})}``.
    """
    deployments: list[AirflowDeployment] = []
    previous = signal.getsignal(signal.SIGTERM)
    if previous is signal.SIG_DFL:
        # `timeout pytest ...` sends SIGTERM, which would end Python without atexit and orphan
        # the deployments: treat it like ^C so pytest tears the fixtures down.
        signal.signal(signal.SIGTERM, _interrupt)

    def factory(
        dags_folder: Path,
        env: dict[str, str] | None = None,
        parallelism: int = 4,
        *,
        fixed_log_ports: bool = False,
    ) -> AirflowDeployment:
        deployment = AirflowDeployment(
            dags_folder, env=env, parallelism=parallelism, fixed_log_ports=fixed_log_ports
        )
        deployments.append(deployment)
        deployment.start()
        return deployment

    try:
        yield factory
    finally:
        for deployment in deployments:
            deployment.stop()
        if previous is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")
