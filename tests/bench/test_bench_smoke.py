"""A smoke run of the benchmarks (``bench/run_all.py --quick``): they run, against real
servers, and print every figure of the performance doc with its ratio to the reference.

Nothing here asserts a timing: the figures themselves are for ``docs/performance.md``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

FIGURES = [
    *(
        f"{op} ({side}) median latency, ms"
        for side in ("sync", "async")
        for op in ("get_run", "wait_run", "stream_run", "join_run", "create_batch")
    ),
    *(
        f"20 waits, {mode}: {figure}"
        for mode in ("poll", "join")
        for figure in (
            "peak RSS increase, MB",
            "CPU, % of one core",
            "completion lag p95, s",
            "requests per run",
        )
    ),
    "20 waits, poll: requests per run / poll instants elapsed",
    *(
        f"50 watched waits: {figure}"
        for figure in (
            "% of one core, steady",
            "peak RSS increase, MB",
            "completion lag p95, s",
            "burst: all resolved after that answer, s",
        )
    ),
    "batch of 50, watch: create and wait, s",
    "batch of 50, watch: searches to wait for all",
]
_NUMBER = r"\d+(?:\.\d+)?"


@pytest.mark.timeout(660)
def test_the_quick_bench_prints_every_figure_with_its_reference_and_ratio() -> None:
    done = subprocess.run(
        [sys.executable, "bench/run_all.py", "--quick"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = done.stdout[done.stdout.index("== summary") :]
    for figure in FIGURES:
        row = re.search(
            rf"^{re.escape(figure)}\s+({_NUMBER})\s+({_NUMBER})\s+({_NUMBER})\s", summary, re.M
        )
        assert row, f"no '{figure}' row with provider, reference and ratio in:\n{summary}"
