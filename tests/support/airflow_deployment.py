"""A real Airflow 3.3 deployment for end-to-end tests, driven through REST API v2.

``AirflowDeployment`` runs ``airflow api-server``, ``scheduler``, ``dag-processor`` and
``triggerer`` as separate processes over a throwaway ``AIRFLOW_HOME`` (LocalExecutor on SQLite,
simple auth manager with admin:admin), using the settings measured in
``/work/shared/docs/airflow.md``. Unlike ``dag.test()`` this has a real triggerer, real task
heartbeats and real "mark failed" kills.

Each component runs in its own process group and writes stdout/stderr to
``<home>/<component>.log``. All ports are free loopback ports picked at start, including the
worker and triggerer log servers (airflow.md calls 8793/8794 fixed, but they are the defaults of
``[logging] worker_log_server_port`` / ``trigger_log_server_port``): deployments of several test
sessions can share this machine. ``fixed_log_ports=True`` restores 8793/8794.
"""

from __future__ import annotations

import atexit
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
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self, TypeVar
from urllib.parse import quote

import httpx
import psutil

COMPONENTS: Final = ("api-server", "scheduler", "dag-processor", "triggerer")
# component -> key of /api/v2/monitor/health (the api-server itself has none)
_HEALTH_KEYS: Final = {
    "scheduler": "scheduler",
    "triggerer": "triggerer",
    "dag-processor": "dag_processor",
}
# Airflow's default log-server ports; a busy port makes that component fail.
DEFAULT_LOG_SERVER_PORTS: Final = {"scheduler": 8793, "triggerer": 8794}
TERMINAL_TI_STATES: Final = frozenset(
    {"success", "failed", "skipped", "upstream_failed", "removed"}
)
TERMINAL_RUN_STATES: Final = frozenset({"success", "failed"})
KEEP_HOME_ENV: Final = "AIRFLOW_LG_E2E_KEEP_HOME"
USERNAME: Final = "admin"
PASSWORD: Final = "admin"
_POLL: Final = 0.2
_LOG_TAIL_LINES: Final = 40

T = TypeVar("T")


class AirflowDeploymentError(RuntimeError):
    """The deployment could not start, a wait timed out, or a REST call failed."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_in_use(port: int) -> bool:
    # SO_REUSEADDR like the servers themselves, so TIME_WAIT leftovers do not count as busy;
    # 0.0.0.0 because the log servers bind all interfaces.
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return True
        return False


def _bytecode_cache() -> dict[str, str]:
    """Let the components cache bytecode outside the venv.

    This machine sets PYTHONDONTWRITEBYTECODE and the venv has no .pyc files, so every airflow
    process would compile ~1000 modules from source: startup takes ~17 s instead of ~9 s.
    A shared prefix directory keeps the venv untouched and survives between deployments.
    """
    prefix = os.environ.get("PYTHONPYCACHEPREFIX") or str(
        Path(tempfile.gettempdir()) / "airflow-lg-pycache"
    )
    return {"PYTHONDONTWRITEBYTECODE": "", "PYTHONPYCACHEPREFIX": prefix}


def _tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log file)"
    return "\n".join(text.splitlines()[-lines:])


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _render_log_line(entry: dict[str, Any] | str) -> str:
    """One structured log message as a text line: ``timestamp [level] logger: event k=v``."""
    if isinstance(entry, str):  # the API falls back to raw lines when it cannot parse them
        return entry
    extra = {k: v for k, v in entry.items() if k not in ("timestamp", "level", "logger", "event")}
    parts = [
        str(entry.get("timestamp") or ""),
        f"[{entry['level']}]" if entry.get("level") else "",
        f"{entry['logger']}:" if entry.get("logger") else "",
        str(entry.get("event", "")),
        *(f"{key}={value}" for key, value in extra.items()),
    ]
    return " ".join(part for part in parts if part)


class AirflowDeployment:
    """A running Airflow deployment on ``dags_folder``; ``env`` is added to every component.

    ``url`` is the api-server's base URL and ``home`` the ``AIRFLOW_HOME`` (both set by
    ``start()``). REST helpers raise :class:`AirflowDeploymentError` on HTTP errors.
    """

    def __init__(
        self,
        dags_folder: Path,
        env: dict[str, str] | None = None,
        parallelism: int = 4,
        *,
        fixed_log_ports: bool = False,
    ) -> None:
        self.dags_folder = Path(dags_folder).resolve()
        # The log-server ports are ordinary settings ([logging] worker_log_server_port,
        # trigger_log_server_port): free ports let deployments of several test sessions run
        # side by side on this machine. fixed_log_ports=True uses Airflow's 8793/8794.
        self.log_server_ports = (
            dict(DEFAULT_LOG_SERVER_PORTS)
            if fixed_log_ports
            else {component: _free_port() for component in DEFAULT_LOG_SERVER_PORTS}
        )
        self.extra_env = dict(env or {})
        self.parallelism = parallelism
        self.home: Path | None = None
        self.port = 0
        self.url = ""
        self.startup_seconds = 0.0
        self._env: dict[str, str] = {}
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._client: httpx.Client | None = None
        self._token: str | None = None
        self._token_lock = threading.Lock()

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self, timeout: float = 90.0) -> None:
        """Create a fresh home, migrate the DB, start all components, wait until DAGs are parsed.

        Four components write one SQLite file; one that meets "database is locked" (SQLite's
        5 s) while they all start exits, and once took a whole tier down: the deployment is
        then started again, once, from a fresh home."""
        try:
            self._start(timeout)
        except AirflowDeploymentError as exc:
            if "database is locked" not in str(exc):
                raise
            print(f"airflow deployment: starting again after {str(exc)[:200]!r}", flush=True)
            self._start(timeout)

    def _start(self, timeout: float) -> None:
        if self._procs:
            raise AirflowDeploymentError("deployment already started")
        began = time.monotonic()
        self._check_log_ports()
        self._prepare_home()
        atexit.register(self.stop)  # even an interrupted session must not leave processes behind
        try:
            self._migrate()
            for component in COMPONENTS:
                self._spawn(component)
            self._client = httpx.Client(base_url=self.url, timeout=30.0)
            deadline = time.monotonic() + timeout
            self._wait_healthy(COMPONENTS, deadline)
            self._wait_dags_parsed(deadline)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began

    def stop(self) -> None:
        """SIGTERM every component's process group, SIGKILL what is left after ~10 s."""
        procs, self._procs = list(self._procs.values()), {}
        try:
            # Patience 2 s: nothing needs a graceful exit of a deployment that is thrown away.
            _terminate(procs, patience=2.0)
        except BaseException:  # a bug or a ^C while waiting must not leave processes behind
            _signal_groups(procs, signal.SIGKILL)
            raise
        atexit.unregister(self.stop)
        if self._client is not None:
            self._client.close()
            self._client = None
        # Set AIRFLOW_LG_E2E_KEEP_HOME=1 to keep the component logs and task logs for a post-mortem.
        if self.home is not None and not os.environ.get(KEEP_HOME_ENV):
            shutil.rmtree(self.home, ignore_errors=True)

    def restart(self, component: str, timeout: float = 60.0) -> None:
        """Stop one component (SIGTERM, then SIGKILL), start it again, wait until healthy."""
        if component not in self._procs:
            raise AirflowDeploymentError(f"unknown or stopped component {component!r}")
        # More than the triggerer's own 10 s escalation delay (see _terminate): a graceful exit
        # marks its job finished, so its triggers are reassigned at once rather than after the
        # 30 s health threshold a killed triggerer leaves behind.
        _terminate([self._procs[component]], grace=15.0)
        del self._procs[component]  # only now: if waiting failed, stop() still knows it
        if component in self.log_server_ports:
            self._check_log_ports([component])
        restarted_at = datetime.now(UTC)
        self._spawn(component)
        self._wait_healthy([component], time.monotonic() + timeout, since=restarted_at)

    def component_log(self, component: str) -> str:
        """Everything the component wrote to stdout/stderr (restarts append to the same file)."""
        return self._log_path(component).read_text(errors="replace")

    def processes(self) -> list[psutil.Process]:
        """The component processes and all their descendants (task workers, log servers...)."""
        return _process_tree(list(self._procs.values()))

    def wait_for(
        self,
        probe: Callable[[], T | None],
        timeout: float,
        what: str,
        component: str = "scheduler",
    ) -> T:
        """Poll ``probe`` until it returns non-None; on timeout the error names ``what`` and
        shows the tail of ``component``'s log. Fails at once if a component died."""
        return self._wait(probe, timeout, lambda: what, component)

    # ------------------------------------------------------------------ REST helpers

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """An authenticated REST call (``path`` relative to the base URL); raises on 4xx/5xx."""
        response = self._send(method, path, **kwargs)
        if response.status_code == 401:  # token expired (or api-server restarted): log in again
            self._token = None
            response = self._send(method, path, **kwargs)
        if response.is_error:
            raise AirflowDeploymentError(
                f"{method} {path} -> {response.status_code}: {response.text[:2000]}"
            )
        return response

    def health(self) -> dict[str, Any]:
        """``GET /api/v2/monitor/health`` (no auth needed)."""
        response = self._http().get("/api/v2/monitor/health")
        response.raise_for_status()
        return dict(response.json())

    def trigger(
        self,
        dag_id: str,
        conf: dict[str, Any] | None = None,
        logical_date: datetime | str | None = None,
    ) -> str:
        """Create a manual DAG run and return its ``dag_run_id``."""
        if isinstance(logical_date, datetime):
            logical_date = logical_date.isoformat()
        # logical_date is a required key of the body in 3.x, even when null
        body = {"logical_date": logical_date, "conf": conf or {}}
        path = f"/api/v2/dags/{_q(dag_id)}/dagRuns"
        for attempt in range(3):
            try:
                return str(self.api("POST", path, json=body).json()["dag_run_id"])
            except AirflowDeploymentError as exc:
                # SQLite was busy (the scheduler writes too): the api-server answers 500
                # "Database error", and its transaction created nothing
                if "Database error" not in str(exc) or attempt == 2:
                    raise
                time.sleep(1)
        raise AssertionError("unreachable")

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return dict(self.api("GET", _run_path(dag_id, run_id)).json())

    def wait_dag_run(self, dag_id: str, run_id: str, timeout: float = 60.0) -> str:
        """Wait until the run is ``success`` or ``failed`` and return that state."""

        def final_state() -> str | None:
            state = str(self.dag_run(dag_id, run_id)["state"])
            return state if state in TERMINAL_RUN_STATES else None

        return self._wait(
            final_state,
            timeout,
            lambda: (
                f"dag run {dag_id}/{run_id} to finish "
                f"(task states: {self._ti_states(dag_id, run_id)})"
            ),
            "scheduler",
        )

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        path = f"{_run_path(dag_id, run_id)}/taskInstances"
        return list(self.api("GET", path, params={"limit": 1000}).json()["task_instances"])

    def task_instance(
        self, dag_id: str, run_id: str, task_id: str, map_index: int = -1
    ) -> dict[str, Any]:
        path = self._ti_path(dag_id, run_id, task_id)
        if map_index >= 0:  # the unmapped path only finds map_index -1
            path += f"/{map_index}"
        return dict(self.api("GET", path).json())

    def wait_task_state(
        self,
        dag_id: str,
        run_id: str,
        task_id: str,
        states: str | Iterable[str],
        timeout: float = 60.0,
        map_index: int = -1,
    ) -> str:
        """Wait until the task instance is in one of ``states``; return the state seen.

        Fails early if the task reaches a terminal state that is not wanted, since it would
        never leave it on its own.
        """
        wanted = {states} if isinstance(states, str) else set(states)

        def reached() -> str | None:
            ti = self.task_instance(dag_id, run_id, task_id, map_index)
            state = ti["state"]
            if state in wanted:
                return str(state)
            if state in TERMINAL_TI_STATES:
                raise AirflowDeploymentError(
                    f"{dag_id}/{run_id}/{task_id} ended in {state!r} while waiting for "
                    f"{sorted(wanted)}\n{self._safe_task_log(dag_id, run_id, ti)}"
                )
            return None

        return self._wait(
            reached,
            timeout,
            lambda: f"{dag_id}/{run_id}/{task_id} to be in {sorted(wanted)}",
            "scheduler",
        )

    def xcom(
        self,
        dag_id: str,
        run_id: str,
        task_id: str,
        key: str = "return_value",
        map_index: int = -1,
    ) -> Any:
        """The XCom value as the task pushed it (tuples, datetimes... decoded too)."""
        path = f"{self._ti_path(dag_id, run_id, task_id)}/xcomEntries/{_q(key)}"
        # Not ?deserialize=true: that stringifies non-JSON types and even turns "42" into 42.
        value = self.api("GET", path, params={"map_index": map_index}).json()["value"]
        return _decode_xcom(value)

    def task_log(
        self, dag_id: str, run_id: str, task_id: str, try_number: int = 1, map_index: int = -1
    ) -> str:
        """The task log as plain text, one line per structured log message."""
        path = f"{self._ti_path(dag_id, run_id, task_id)}/logs/{try_number}"
        response = self.api(
            "GET",
            path,
            params={"map_index": map_index, "full_content": "true"},
            # only JSON and NDJSON are served; JSON gives one complete page with a content list
            headers={"Accept": "application/json"},
        )
        return "\n".join(_render_log_line(entry) for entry in response.json()["content"])

    def set_task_state(
        self, dag_id: str, run_id: str, task_id: str, state: str, map_index: int = -1
    ) -> list[dict[str, Any]]:
        """Mark a task instance ``success``/``failed``/``skipped`` like the UI does."""
        # The explicit map_index form: without it the API patches every map index of the task.
        path = f"{self._ti_path(dag_id, run_id, task_id)}/{map_index}"
        response = self.api("PATCH", path, json={"new_state": state})
        return list(response.json()["task_instances"])

    def clear_task(
        self, dag_id: str, run_id: str, task_ids: Sequence[str], **options: Any
    ) -> list[dict[str, Any]]:
        """Clear task instances of one run (new try), whatever their state; returns them.

        ``options`` are further ``ClearTaskInstancesBody`` fields (e.g. include_downstream).
        """
        body = {
            "dag_run_id": run_id,
            "task_ids": list(task_ids),
            "dry_run": False,  # the API defaults to a dry run
            "only_failed": False,  # ...and to clearing failed tasks only
            "reset_dag_runs": True,
            **options,
        }
        response = self.api("POST", f"/api/v2/dags/{_q(dag_id)}/clearTaskInstances", json=body)
        return list(response.json()["task_instances"])

    def extra_links(
        self, dag_id: str, run_id: str, task_id: str, map_index: int = -1
    ) -> dict[str, str | None]:
        """Operator extra links of a task instance: name -> URL (None when not available)."""
        path = f"{self._ti_path(dag_id, run_id, task_id)}/links"
        response = self.api("GET", path, params={"map_index": map_index})
        return dict(response.json()["extra_links"])

    # ------------------------------------------------------------------ internals

    def _prepare_home(self) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="airflow-lg-e2e-"))
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        passwords = self.home / "passwords.json"
        passwords.write_text(json.dumps({USERNAME: PASSWORD}))
        # Start from a clean slate: an inherited AIRFLOW_HOME/AIRFLOW__*/AIRFLOW_CONN_* of the
        # test process must not leak into the deployment; callers pass what they need in env.
        base = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        self._env = {**base, **self._settings(passwords), **_bytecode_cache(), **self.extra_env}

    def _settings(self, passwords: Path) -> dict[str, str]:
        assert self.home is not None
        return {
            "AIRFLOW_HOME": str(self.home),
            "PYTHONWARNINGS": "ignore",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple."
            "simple_auth_manager.SimpleAuthManager",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USERNAME}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__BASE_URL": self.url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            # Every component signs or checks JWTs (task tokens, log-server requests): one secret.
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home / 'airflow.db'}",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.2",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
            # a task marked failed is killed at its next heartbeat: ~1 s instead of ~4 s
            "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
            "AIRFLOW__CORE__PARALLELISM": str(self.parallelism),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self.log_server_ports["scheduler"]),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(self.log_server_ports["triggerer"]),
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
        }

    def _check_log_ports(self, components: Iterable[str] | None = None) -> None:
        ports = self.log_server_ports
        busy = {c: ports[c] for c in components or ports if _port_in_use(ports[c])}
        if busy:
            raise AirflowDeploymentError(
                f"log-server port(s) in use: {busy} (component: port). With fixed_log_ports "
                "another Airflow deployment on this machine is the usual cause: stop it first."
            )

    def _migrate(self) -> None:
        log = self._log_path("db-migrate")
        with log.open("ab") as out:
            result = subprocess.run(
                [sys.executable, "-m", "airflow", "db", "migrate"],
                env=self._env,
                cwd=self.home,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=180,
                check=False,
            )
        if result.returncode != 0:
            raise AirflowDeploymentError(
                f"airflow db migrate failed ({result.returncode}):\n{_tail(log)}"
            )

    def _spawn(self, component: str) -> None:
        with self._log_path(component).open("ab") as out:
            out.write(f"\n===== starting {component} at {datetime.now(UTC)} =====\n".encode())
            out.flush()
            self._procs[component] = subprocess.Popen(
                [sys.executable, "-m", "airflow", component],
                env=self._env,
                cwd=self.home,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: stop() signals the whole tree
            )

    def _log_path(self, component: str) -> Path:
        if self.home is None:
            raise AirflowDeploymentError("deployment not started")
        return self.home / f"{component}.log"

    def _http(self) -> httpx.Client:
        if self._client is None:
            raise AirflowDeploymentError("deployment not started")
        return self._client

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**kwargs.pop("headers", {}), "Authorization": f"Bearer {self._bearer()}"}
        return self._http().request(method, path, headers=headers, **kwargs)

    def _bearer(self) -> str:
        with self._token_lock:
            if self._token is None:
                response = self._http().post(
                    "/auth/token", json={"username": USERNAME, "password": PASSWORD}
                )
                if response.is_error:
                    raise AirflowDeploymentError(
                        f"POST /auth/token -> {response.status_code}: {response.text}"
                    )
                self._token = str(response.json()["access_token"])
            return self._token

    def _ti_path(self, dag_id: str, run_id: str, task_id: str) -> str:
        return f"{_run_path(dag_id, run_id)}/taskInstances/{_q(task_id)}"

    def wait_dag_run_succeeded(self, dag_id: str, run_id: str, timeout: float = 60.0) -> None:
        """Wait for the run to finish and assert it succeeded; if not, the assertion shows each
        task's state and the log tail of those that did not succeed, so a failure in CI says
        why without a rerun."""
        state = self.wait_dag_run(dag_id, run_id, timeout)
        assert state == "success", self._why_not_success(dag_id, run_id, state)

    def _why_not_success(self, dag_id: str, run_id: str, state: str) -> str:
        try:
            tis = self.task_instances(dag_id, run_id)
        except (AirflowDeploymentError, httpx.HTTPError) as exc:
            return f"dag run {dag_id}/{run_id} is {state} (task instances unavailable: {exc})"
        parts = [f"dag run {dag_id}/{run_id} is {state}; task states: {_states_of(tis)}"]
        for ti in tis:
            if ti["state"] not in ("success", "skipped"):
                parts.append(f"--- {ti['task_id']} [{ti['map_index']}] is {ti['state']}:")
                parts.append(self._safe_task_log(dag_id, run_id, ti))
        return "\n".join(parts)

    def _ti_states(self, dag_id: str, run_id: str) -> dict[str, Any]:
        try:
            return _states_of(self.task_instances(dag_id, run_id))
        except (AirflowDeploymentError, httpx.HTTPError) as exc:
            return {"?": str(exc)}

    def _safe_task_log(self, dag_id: str, run_id: str, ti: dict[str, Any]) -> str:
        try:
            log = self.task_log(
                dag_id, run_id, ti["task_id"], max(1, ti["try_number"]), ti["map_index"]
            )
        except (AirflowDeploymentError, httpx.HTTPError) as exc:
            return f"(task log unavailable: {exc})"
        return "task log tail:\n" + "\n".join(log.splitlines()[-_LOG_TAIL_LINES:])

    def _wait(
        self,
        probe: Callable[[], T | None],
        timeout: float,
        what: Callable[[], str],
        component: str,
    ) -> T:
        """Poll ``probe`` until it returns non-None; on timeout, say what and show a log tail."""
        deadline = time.monotonic() + timeout
        while True:
            self._check_alive()
            result = probe()
            if result is not None:
                return result
            if time.monotonic() >= deadline:
                raise AirflowDeploymentError(
                    f"timed out after {timeout:.0f}s waiting for {what()}\n"
                    f"--- tail of {component}.log ---\n{_tail(self._log_path(component))}"
                )
            time.sleep(_POLL)

    def _check_alive(self) -> None:
        """A component that died makes every wait fail at once, with its log tail."""
        for component, proc in self._procs.items():
            if proc.poll() is not None:
                raise AirflowDeploymentError(
                    f"airflow {component} exited with code {proc.returncode}\n"
                    f"--- tail of {component}.log ---\n{_tail(self._log_path(component))}"
                )

    def _wait_healthy(
        self, components: Iterable[str], deadline: float, since: datetime | None = None
    ) -> None:
        """Wait until the API answers and each job reports healthy (heartbeat after ``since``)."""
        for component in components:
            probe = self._health_probe(component, since)
            remaining = max(1.0, deadline - time.monotonic())
            self.wait_for(probe, remaining, f"{component} to be healthy", component)

    def _health_probe(self, component: str, since: datetime | None) -> Callable[[], bool | None]:
        key = _HEALTH_KEYS.get(component)

        def probe() -> bool | None:
            try:
                health = self.health()
            except httpx.HTTPError:  # api-server not listening yet
                return None
            if key is None:  # the api-server: answering is healthy
                return True
            entry = health.get(key) or {}
            beat = _parse_time(entry.get(f"latest_{key}_heartbeat"))
            fresh = since is None or (beat is not None and beat > since)
            return True if entry.get("status") == "healthy" and fresh else None

        return probe

    def _expected_dag_files(self) -> set[str]:
        # Airflow's safe mode only parses files mentioning both "airflow" and "dag".
        return {
            str(path)
            for path in self.dags_folder.rglob("*.py")
            if "__pycache__" not in path.parts and _mentions_dag(path.read_text(errors="replace"))
        }

    def _wait_dags_parsed(self, deadline: float) -> None:
        expected = self._expected_dag_files()

        def missing_files() -> set[str]:
            dags = self.api("GET", "/api/v2/dags", params={"limit": 1000}).json()["dags"]
            return expected - {self._dag_file(dag["fileloc"]) for dag in dags}

        def parsed() -> bool | None:
            self._raise_import_errors(expected)
            return True if not missing_files() else None

        remaining = max(1.0, deadline - time.monotonic())
        self._wait(
            parsed,
            remaining,
            lambda: f"DAG files to be parsed: {sorted(missing_files())}",
            "dag-processor",
        )

    def _dag_file(self, path: str) -> str:
        """An absolute path: import errors name files relative to the dags folder (the bundle)."""
        return str((self.dags_folder / path).resolve())  # an absolute path stays as it is

    def _raise_import_errors(self, files: set[str]) -> None:
        errors = self.api("GET", "/api/v2/importErrors").json()["import_errors"]
        broken = [e for e in errors if self._dag_file(e["filename"]) in files]
        if broken:
            details = "\n".join(f"{e['filename']}:\n{e['stack_trace']}" for e in broken)
            raise AirflowDeploymentError(f"DAG files failed to import:\n{details}")


def _states_of(tis: list[dict[str, Any]]) -> dict[str, Any]:
    return {ti["task_id"]: ti["state"] for ti in tis}


def _decode_xcom(value: Any) -> Any:
    """JSON values come back as they are; other types inside Airflow's serde envelopes."""
    if not _has_serde_envelope(value):
        return value
    from airflow.sdk.serde import deserialize  # imports airflow (~2 s): only when needed

    return deserialize(value)


def _has_serde_envelope(value: Any) -> bool:
    if isinstance(value, dict):
        return "__classname__" in value or any(map(_has_serde_envelope, value.values()))
    if isinstance(value, list):
        return any(map(_has_serde_envelope, value))
    return False


def _q(segment: str) -> str:
    """A path segment, quoted: manual run ids contain ":" and "+"."""
    return quote(segment, safe="")


def _run_path(dag_id: str, run_id: str) -> str:
    return f"/api/v2/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}"


def _mentions_dag(text: str) -> bool:
    lowered = text.lower()
    return "airflow" in lowered and "dag" in lowered


def _terminate(
    procs: Sequence[subprocess.Popen[bytes]], grace: float = 10.0, patience: float | None = None
) -> None:
    """SIGTERM the process groups, wait up to ``grace`` s, then SIGKILL groups and leftovers.

    Descendants are remembered before signalling, so one that moved to another process group
    (or was orphaned when its parent exited) is still found and killed. Usually all is gone in
    ~2 s, but about every other time the triggerer takes 10 s: its supervisor misses that the
    trigger runner already exited and sits out its escalation delay. With ``patience``, a
    component whose children are all gone but which is still alive that much later is killed
    early (fine when the whole deployment is discarded; a restart wants the graceful exit).
    """
    leaders = _leaders(procs)
    children = {leader.pid: _children(leader) for leader in leaders}
    alive = [*leaders, *(child for group in children.values() for child in group)]
    _signal_groups(procs, signal.SIGTERM)
    deadline = time.monotonic() + grace
    orphaned_since: dict[int, float] = {}
    while alive and time.monotonic() < deadline:
        _, alive = psutil.wait_procs(alive, timeout=0.2)
        if patience is not None:
            _kill_stuck_leaders(leaders, children, orphaned_since, patience)
    if alive:
        _signal_groups(procs, signal.SIGKILL)
        for proc in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        psutil.wait_procs(alive, timeout=5)
    for popen in procs:  # reap, so no zombies remain
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.wait(timeout=1)


def _kill_stuck_leaders(
    leaders: list[psutil.Process],
    children: dict[int, list[psutil.Process]],
    orphaned_since: dict[int, float],
    patience: float,
) -> None:
    now = time.monotonic()
    for leader in leaders:
        if not children[leader.pid] or not _running(leader):
            continue  # only a component that had children can be waiting for one in vain
        if any(_running(child) for child in children[leader.pid]):
            continue
        if now - orphaned_since.setdefault(leader.pid, now) >= patience:
            with contextlib.suppress(psutil.NoSuchProcess):
                leader.kill()


def _running(proc: psutil.Process) -> bool:
    """Alive and not a zombie (an exited child its parent has not reaped yet)."""
    try:
        return bool(proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def _process_tree(procs: Sequence[subprocess.Popen[bytes]]) -> list[psutil.Process]:
    return [proc for leader in _leaders(procs) for proc in (leader, *_children(leader))]


def _leaders(procs: Sequence[subprocess.Popen[bytes]]) -> list[psutil.Process]:
    found: list[psutil.Process] = []
    for popen in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            found.append(psutil.Process(popen.pid))
    return found


def _children(leader: psutil.Process) -> list[psutil.Process]:
    try:
        return list(leader.children(recursive=True))
    except psutil.NoSuchProcess:
        return []


def _signal_groups(procs: Sequence[subprocess.Popen[bytes]], sig: signal.Signals) -> None:
    for proc in procs:
        # the group id equals the leader's pid (start_new_session), valid even after it exited
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
