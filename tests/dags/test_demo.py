"""The README's main job (``scripts/demo.sh`` runs ``scripts/run_example.py``): a person sees
what they came for — the agent's answer, where its run is — in a few lines, Airflow's own
log goes to the file it names, and nothing is left in the temp folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
    assert lines[-2] == "The agent answered:"
    assert lines[-1].strip().startswith("You said: Summarise the orders of")
    assert "DAG example_invoke_agent: success" in done.stdout
    assert any("ask_agent" in line and "LangGraph run" in line for line in lines)
    log = REPO / ".run" / "demo-example_invoke_agent.log"
    assert str(log.relative_to(REPO)) in done.stdout
    assert "[DAG TEST] end task task_id=report" in log.read_text()  # Airflow's lines went there
    assert list(tmp_path.iterdir()) == []
