"""Run an example DAG against the bundled agents on a local Agent Server, and show the result.

Used by ``scripts/demo.sh`` (after ``scripts/bootstrap.sh``): starts ``langgraph dev`` on a free
loopback port, points the ``langgraph_default`` connection at it, runs the DAG once with
``dag.test()`` in a throwaway Airflow home, and prints what a person came for — each task's
state, where its agent run is, and the agent's answer. Airflow's own log goes to a file it
names (``.run/demo-<dag_id>.log``); the Airflow home and the server are removed at the end.

With ``--ui`` it then starts Airflow's API server (the UI) on that home and prints the address
of the run's "Agent run" tab, until Ctrl-C.
Usage: ``python scripts/run_example.py [--ui] [dag_id]``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

import agent_server  # noqa: E402

from airflow_lg.progress import answer_line  # noqa: E402

LOG_DIR = REPO / ".run"


@contextlib.contextmanager
def _output_to(log: Path) -> Iterator[None]:
    """Everything written to stdout and stderr in this block (Airflow's INFO lines, from this
    process or its children) goes to ``log`` instead of the terminal."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with log.open("ab") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def _prepare_airflow(home: str, server_url: str) -> None:
    os.environ.update(
        AIRFLOW_HOME=home,
        AIRFLOW__CORE__DAGS_FOLDER=str(REPO / "example_dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        PYTHONWARNINGS="ignore",
        AIRFLOW_CONN_LANGGRAPH_DEFAULT=json.dumps({"conn_type": "langgraph", "host": server_url}),
        # for --ui: a local UI where everyone is admin, with secrets of this run only
        AIRFLOW__CORE__AUTH_MANAGER="airflow.api_fastapi.auth.managers.simple."
        "simple_auth_manager.SimpleAuthManager",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="true",
        AIRFLOW__API_AUTH__JWT_SECRET=secrets.token_urlsafe(32),
        AIRFLOW__API__SECRET_KEY=secrets.token_urlsafe(32),
    )
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run([str(airflow), "db", "migrate"], check=True)


def _xcoms(session: Any, ti: Any) -> dict[str, Any]:
    from airflow.models.xcom import XComModel

    rows = (
        session.query(XComModel)
        .filter_by(dag_id=ti.dag_id, run_id=ti.run_id, task_id=ti.task_id, map_index=ti.map_index)
        .all()
    )
    return {row.key: XComModel.deserialize_value(row) for row in rows}


def _run(dag_id: str) -> tuple[str, str, list[tuple[str, str, dict[str, Any]]]]:
    """Run the DAG once; its state and run id, and each task's id, state and XComs in the
    order run."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils.session import create_session

    bag = DagBag(str(REPO / "example_dags"))
    if bag.import_errors:
        raise SystemExit(f"the example DAGs do not import: {json.dumps(bag.import_errors)}")
    dag = bag.get_dag(dag_id)
    if dag is None:
        raise SystemExit(f"no DAG {dag_id!r}; there are {sorted(bag.dag_ids)}")
    dag_run = dag.test()
    with create_session() as session:
        tis = sorted(
            dag_run.get_task_instances(session=session),
            key=lambda ti: (ti.start_date is None, ti.start_date, ti.task_id),
        )
        tasks = [(ti.task_id, str(ti.state), _xcoms(session, ti)) for ti in tis]
    return str(dag_run.state), str(dag_run.run_id), tasks


def _report(dag_id: str, state: str, tasks: list[Any], seconds: float) -> None:
    print(f"DAG {dag_id}: {state} in {seconds:.0f} s")
    width = max(len(task_id) for task_id, _, _ in tasks)
    answer = None
    for task_id, task_state, xcom in tasks:
        line = f"  {task_id:<{width}}  {task_state}"
        if xcom.get("run_id"):
            line += f"  LangGraph run {xcom['run_id']} on thread {xcom.get('thread_id')}"
            if "return_value" in xcom:
                answer = xcom["return_value"]
        print(line)
    if answer is not None:
        print("The agent answered:")
        print(f"  {answer_line(answer)}")


def _agent_task(tasks: list[Any]) -> str | None:
    return next((task_id for task_id, _, xcom in tasks if xcom.get("run_id")), None)


def _serve_ui(dag_id: str, run_id: str, task_id: str | None, log: Path) -> None:
    """Airflow's API server on the demo's home, until Ctrl-C: where to see the run."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "AIRFLOW__API__HOST": "127.0.0.1", "AIRFLOW__API__PORT": str(port),
           "AIRFLOW__API__BASE_URL": url, "AIRFLOW__API__WORKERS": "1"}  # fmt: skip
    airflow = Path(sys.executable).with_name("airflow")
    with log.open("ab") as sink:
        server = subprocess.Popen(
            [str(airflow), "api-server"], env=env, stdin=subprocess.DEVNULL, stdout=sink,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        _wait_until_up(url, server)
        page = f"/dags/{dag_id}/runs/{quote(run_id, safe='')}"
        page += f"/tasks/{task_id}/plugin/agent-run" if task_id else ""
        print(f"The Airflow UI (local, everyone admin) shows this run: {url}{page}")
        print("Press Ctrl-C to stop it.", flush=True)
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not orphan it
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def _wait_until_up(url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"Airflow's API server ended ({server.returncode})")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/api/v2/monitor/health", timeout=2).status_code == 200:
                return
        time.sleep(0.5)
    raise SystemExit("Airflow's API server did not answer within 90 s")


def main() -> int:
    arguments = sys.argv[1:]
    ui = "--ui" in arguments
    arguments = [a for a in arguments if a != "--ui"]
    dag_id = arguments[0] if arguments else "example_invoke_agent"
    LOG_DIR.mkdir(exist_ok=True)
    log = LOG_DIR / f"demo-{dag_id}.log"
    log.unlink(missing_ok=True)
    home = tempfile.mkdtemp(prefix="airflow-lg-demo-")
    print(f"airflow-lg demo: the DAG {dag_id} against the bundled agents (agents/)")
    state = "not run"
    try:
        with agent_server.start_server() as server:
            print(f"  LangGraph Agent Server (langgraph dev): {server.url}, for this demo only")
            print(f"  Airflow's own log: {log.relative_to(REPO)}")
            with _output_to(log):
                _prepare_airflow(home, server.url)
                started = time.monotonic()
                state, run_id, tasks = _run(dag_id)
            _report(dag_id, state, tasks, time.monotonic() - started)
            if ui:
                _serve_ui(dag_id, run_id, _agent_task(tasks), log)
            else:
                print("See this run in the Airflow UI: bash scripts/demo.sh --ui")
    except (Exception, SystemExit):
        print(f"The demo failed: Airflow's log is in {log.relative_to(REPO)}", file=sys.stderr)
        raise
    finally:
        shutil.rmtree(home, ignore_errors=True)
    if state != "success":
        print(f"The DAG run failed: the task errors are in {log.relative_to(REPO)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
