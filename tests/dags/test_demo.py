"""The README's main job (``scripts/demo.sh`` runs ``scripts/run_example.py``): a person sees
what they came for — the agent's answer, where its run is — in a few lines, Airflow's own
log goes to the file it names, and nothing is left in the temp folder."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx

REPO = Path(__file__).resolve().parents[2]


def test_the_demo_prints_a_few_lines_ending_with_the_answer_and_cleans_up(tmp_path: Path) -> None:
    # A clean environment (no Airflow settings of this tier) and a temp folder of its own, so
    # anything it leaves behind shows.
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "USER")}
    env["TMPDIR"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "run_example.py")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    lines = done.stdout.splitlines()
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(lines) <= 15, done.stdout
    assert done.stderr == ""
    assert lines[-3] == "The agent answered:"
    assert lines[-2].strip().startswith("You said: Summarise the orders of")
    assert lines[-1] == "See this run in the Airflow UI: bash scripts/demo.sh --ui"
    assert "DAG example_invoke_agent: success" in done.stdout
    assert any("ask_agent" in line and "LangGraph run" in line for line in lines)
    log = REPO / ".run" / "demo-example_invoke_agent.log"
    assert str(log.relative_to(REPO)) in done.stdout
    assert "[DAG TEST] end task task_id=report" in log.read_text()  # Airflow's lines went there
    assert list(tmp_path.iterdir()) == []


def test_the_demo_with_ui_serves_the_runs_agent_run_tab_until_ctrl_c(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "USER")}
    env["TMPDIR"] = str(tmp_path)
    demo = subprocess.Popen(
        [sys.executable, str(REPO / "scripts" / "run_example.py"), "--ui"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in demo.stdout or []]).start()
    try:
        shown = _line_starting(lines, "The Airflow UI (local, everyone admin) shows this run: ")
        url = urlsplit(shown.rsplit(" ", 1)[1])
        base = f"{url.scheme}://{url.netloc}"
        # the tab's address is a page of Airflow's UI ...
        _, _, dag_id, _, run_id, _, task_id, _, tab = url.path.split("/")
        assert (dag_id, task_id, tab) == ("example_invoke_agent", "ask_agent", "agent-run")
        assert httpx.get(shown.rsplit(" ", 1)[1]).status_code == 200
        # ... whose frame, the plugin's page, shows the agent's answer
        token = httpx.get(f"{base}/auth/token").json()["access_token"]
        page = httpx.get(
            f"{base}/langgraph/task/{dag_id}/{run_id}/{task_id}/-1",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert page.status_code == 200 and "You said: Summarise the orders of" in page.text
        assert unquote(run_id).startswith("manual__")
    finally:
        demo.send_signal(signal.SIGINT)
        code = demo.wait(timeout=60)
    assert code == 0, demo.stderr.read() if demo.stderr else ""
    with_timeout = httpx.Client(timeout=2)
    try:
        with_timeout.get(f"{base}/api/v2/monitor/health")
        raise AssertionError("the UI still answers after Ctrl-C")
    except httpx.TransportError:
        pass
    assert list(tmp_path.iterdir()) == []


def _line_starting(lines: queue.Queue[str], prefix: str, timeout: float = 300) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1).rstrip("\n")
        except queue.Empty:
            continue
        if line.startswith(prefix):
            return line
    raise AssertionError(f"the demo printed no line starting {prefix!r}")
