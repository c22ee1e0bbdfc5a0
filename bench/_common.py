"""What every benchmark shares: the private Airflow home, servers, statistics, measurements.

Import this module before anything imports Airflow: :func:`private_airflow_home` must run
first (Airflow reads its configuration once, at import).
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
SCRIPT = REPO / "scripts" / "agent_server.py"
PYTHON = REPO / ".venv" / "bin" / "python"
SDK_KEY_VARS = ("LANGGRAPH_API_KEY", "LANGSMITH_API_KEY", "LANGCHAIN_API_KEY")


# --- environment -----------------------------------------------------------------------------


def private_airflow_home() -> str:
    """A throwaway AIRFLOW_HOME for this process (and its children), set before Airflow loads.

    Also removes the API keys ``langgraph_sdk`` would read from the environment, so the
    reference client sends exactly what the provider sends (no ``x-api-key``).
    """
    home = os.environ.get("AIRFLOW_LG_BENCH_HOME")
    if not home:
        # Made here, removed when this process exits; child processes inherit and reuse it.
        home = tempfile.mkdtemp(prefix="airflow-lg-bench-home-")
        os.environ["AIRFLOW_LG_BENCH_HOME"] = home
        atexit.register(shutil.rmtree, home, ignore_errors=True)
    os.environ["AIRFLOW_HOME"] = home
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    for name in SDK_KEY_VARS:
        os.environ.pop(name, None)
    return home


def use_connection(url: str, conn_id: str = "langgraph_default", **extra: Any) -> None:
    """Point the Airflow connection ``conn_id`` at ``url`` through its environment variable."""
    conn = {"conn_type": "langgraph", "host": url, "extra": extra}
    os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(conn)


def sdk_sync(url: str) -> Any:
    from langgraph_sdk import get_sync_client

    return get_sync_client(url=url, api_key=None)


def sdk_async(url: str, **kwargs: Any) -> Any:
    from langgraph_sdk import get_client

    return get_client(url=url, api_key=None, **kwargs)


# --- servers ---------------------------------------------------------------------------------


def agent_server_module() -> ModuleType:
    """``scripts/agent_server.py``, loaded by path as ``tests/support/servers.py`` does."""
    if "agent_server" in sys.modules:
        return sys.modules["agent_server"]
    spec = importlib.util.spec_from_file_location("agent_server", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["agent_server"] = module
    spec.loader.exec_module(module)
    return module


def start_bench_server(n_jobs: int = 10, env: Mapping[str, str] | None = None) -> Any:
    """A ``langgraph dev`` server on a free loopback port running ``n_jobs`` runs at once."""
    return agent_server_module().start_server(env=env, n_jobs_per_worker=n_jobs)


SERVER_KINDS = ("dev", "pg")


@contextlib.contextmanager
def bench_server(kind: str = "dev", n_jobs: int = 10) -> Iterator[Any]:
    """A server on a free loopback port running ``n_jobs`` runs at once: ``dev`` (``langgraph
    dev``, in memory) or ``pg`` (langgraph-api on its PostgreSQL + Redis runtime, from
    ``scripts/server_beds.py``: what production runs, and where a queue of 10,000 runs does
    not stall the server)."""
    if kind == "dev":
        server = start_bench_server(n_jobs=n_jobs)
        try:
            yield server
        finally:
            server.close()
        return
    if kind not in SERVER_KINDS:
        raise ValueError(f"unknown server kind {kind!r}; expected one of {SERVER_KINDS}")
    agent_server_module()  # server_beds imports it by name
    sys.path.insert(0, str(SCRIPT.parent))
    import server_beds

    beds = server_beds.ServerBeds()
    try:
        yield beds.start(kind, n_jobs_per_worker=n_jobs)
    finally:
        beds.close()


def server_cpu_seconds(server: Any) -> float:
    """CPU seconds used so far by the server's process tree (user + system)."""
    return process_tree_cpu_seconds(server.pid)


def process_tree_cpu_seconds(pid: int | None) -> float:
    """CPU seconds used so far by process ``pid`` and its children (user + system)."""
    import psutil

    if pid is None:
        return 0.0
    try:
        root = psutil.Process(pid)
        total = 0.0
        for proc in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                total += times.user + times.system
        return total
    except psutil.Error:
        return 0.0


# --- the counting proxy ----------------------------------------------------------------------


def control(port: int, command: str) -> Any:
    """Send one command to ``count_proxy.py``'s control port; its JSON answer."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(command.encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return json.loads(data)


async def delete_threads(url: str, runs: Sequence[Mapping[str, Any]]) -> None:
    """Delete the runs' threads, keeping the in-memory server lean between trials."""
    import asyncio

    import httpx

    limit = asyncio.Semaphore(32)
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:

        async def one(ref: Mapping[str, Any]) -> None:
            async with limit:
                await client.delete(f"/threads/{ref['thread_id']}")

        await asyncio.gather(*(one(ref) for ref in runs), return_exceptions=True)


class CountingProxy:
    """``bench/count_proxy.py`` in its own process, in front of ``upstream``.

    It forwards bytes unchanged both ways and counts the HTTP requests it sees, by kind.
    """

    def __init__(self, upstream: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(BENCH / "count_proxy.py"), upstream],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=None,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            self.close()
            raise RuntimeError("count_proxy.py did not start")
        ports = json.loads(line)
        self.port, self.control_port = int(ports["port"]), int(ports["control"])
        self.url = f"http://127.0.0.1:{self.port}"

    def _control(self, command: str) -> Any:
        return control(self.control_port, command)

    def reset(self) -> None:
        self._control("RESET")

    def counts(self) -> dict[str, Any]:
        return dict(self._control("COUNTS"))

    def cpu_seconds(self) -> float:
        import psutil

        with contextlib.suppress(psutil.Error):
            times = psutil.Process(self.process.pid).cpu_times()
            return float(times.user + times.system)
        return 0.0

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> CountingProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- measurements ----------------------------------------------------------------------------


def cpu_seconds() -> float:
    """CPU seconds (user + system) of this process, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def rss_mb() -> float:
    return _status_kb("VmRSS") / 1024


class PeakRss:
    """The peak RSS of this process from now on, in MB.

    Resets the kernel's high-water mark (``echo 5 > /proc/self/clear_refs``) so that ``VmHWM``
    is the peak since the start of the window, not of the process.
    """

    def __init__(self) -> None:
        self.exact = True
        try:
            with open("/proc/self/clear_refs", "w") as refs:
                refs.write("5")
        except OSError:
            self.exact = False  # then VmHWM is the lifetime peak: an upper bound
        self.baseline = rss_mb()

    def peak(self) -> float:
        return _status_kb("VmHWM") / 1024

    def increase(self) -> float:
        return self.peak() - self.baseline


# --- statistics ------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linear interpolation between closest ranks."""
    if not values:
        return float("nan")
    data = sorted(values)
    if len(data) == 1:
        return float(data[0])
    pos = (len(data) - 1) * q / 100.0
    low = int(pos)
    high = min(low + 1, len(data) - 1)
    return float(data[low] + (data[high] - data[low]) * (pos - low))


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


def ratio(provider: float, reference: float) -> float:
    return provider / reference if reference else float("nan")


@contextlib.contextmanager
def timed() -> Iterator[dict[str, float]]:
    out: dict[str, float] = {}
    start_wall, start_cpu = time.perf_counter(), cpu_seconds()
    try:
        yield out
    finally:
        out["wall"] = time.perf_counter() - start_wall
        out["cpu"] = cpu_seconds() - start_cpu


def write_result(name: str, result: dict[str, Any]) -> Path:
    """Save a benchmark's figures as JSON under ``bench/results/`` (and return the path)."""
    folder = Path(os.environ.get("BENCH_RESULTS", BENCH / "results"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(result, indent=2, sort_keys=True, default=str) + "\n")
    return path


def fmt(value: float, unit: str = "", digits: int = 2) -> str:
    if value != value:  # NaN
        return "n/a"
    return f"{value:.{digits}f}{unit}"


def table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    """A plain-text table for the console."""
    cells = [list(map(str, header))] + [list(map(str, r)) for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = []
    for index, row in enumerate(cells):
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
