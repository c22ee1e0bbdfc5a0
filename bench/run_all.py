"""Run the benchmarks one after the other, each in its own process, and summarise them.

    .venv/bin/python bench/run_all.py [--quick | --big] [--only hook_overhead,triggerer_scale,batch]

Each benchmark prints its own tables as it goes and saves its figures as JSON under
``bench/results/`` (``*_quick.json`` in quick mode). At the end, the figures are gathered into
one results table (figure, provider, reference, ratio, target, met?), printed and written to
``bench/results/summary[_quick].md``. The exit status is non-zero only if a benchmark crashed:
a missed target is a finding, reported, not a failure.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c

BENCHMARKS = ("hook_overhead", "triggerer_scale", "watcher_scale", "batch")
BIG = {"watcher_scale": ("--references-at-10000",)}
"""What ``--big`` adds to a benchmark's run (and it adds ``batch.py --big``)."""


def _load(name: str, quick: bool) -> dict[str, Any] | None:
    folder = Path(os.environ.get("BENCH_RESULTS", c.BENCH / "results"))
    path = folder / f"{name}{'_quick' if quick else ''}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _met(value: float, target: float) -> str:
    return "yes" if value <= target else "NO"


def summary_rows(quick: bool, names: tuple[str, ...] = BENCHMARKS) -> list[tuple[str, ...]]:
    """The summary's rows, from the saved results of the benchmarks ``names``."""
    rows: list[tuple[str, ...]] = []
    hook = _load("hook_overhead", quick) if "hook_overhead" in names else None
    if hook:
        for transport in ("sync", "async"):
            for op, o in hook["ops"].get(transport, {}).items():
                p, r = o["provider"], o["reference"]
                rows.append(
                    (
                        f"{op} ({transport}) median latency, ms",
                        c.fmt(p["latency_median_ms"]),
                        c.fmt(r["latency_median_ms"]),
                        c.fmt(o["latency_ratio"], digits=3),
                        "ratio <= 1.05",
                        _met(o["latency_ratio"], 1.05),
                    )
                )
    scale = _load("triggerer_scale", quick) if "triggerer_scale" in names else None
    if scale:
        big = max(scale["sizes"])
        poll = scale["poll_interval"]
        for mode in ("poll", "join"):
            p = scale["summary"].get(f"{big}/{mode}/provider")
            r = scale["summary"].get(f"{big}/{mode}/sdk")
            if not (p and r):
                continue
            lag_target = 1.0 if mode == "join" else poll
            figures = [
                ("peak RSS increase, MB", "rss_peak_increase_mb", 100.0, "<= 100 MB"),
                ("CPU, % of one core", "cpu_pct_of_core", 10.0, "<= 10 %"),
                ("completion lag p95, s", "lag_p95_s", lag_target, f"<= {lag_target:g} s"),
                ("requests per run", "requests_per_run", None, ""),
            ]
            if mode == "poll":
                figures.append(
                    (
                        "requests per run / poll instants elapsed",
                        "requests_vs_poll_budget",
                        1.0,
                        "<= 1",
                    )
                )
            for label, key, target, target_text in figures:
                rows.append(
                    (
                        f"{big} waits, {mode}: {label}",
                        c.fmt(p[key]),
                        c.fmt(r[key]),
                        c.fmt(c.ratio(p[key], r[key])),
                        target_text,
                        "" if target is None else _met(p[key], target),
                    )
                )
    rows += _watcher_rows(quick) if "watcher_scale" in names else []
    rows += _batch_rows(quick) if "batch" in names else []
    return rows


def _watcher_rows(quick: bool) -> list[tuple[str, ...]]:
    """The watcher at its largest N against the SDK's joins (targets at N = 10,000)."""
    import watcher_scale as ws

    found = _load("watcher_scale", quick)
    if not found:
        return []
    big = max(found["sizes"])
    by = {t["impl"]: t for t in found["trials"] if t["n"] == big}
    w, r = by.get("watch"), by.get("sdk_join")  # the SDK at 10,000: --references-at-10000
    if not w:
        return []
    rows = []
    for label, key in ws.FIGURES:
        target = ws.TARGETS.get(key) if big >= 10000 else None
        value, ref = w[key], (r[key] if r else None)
        rows.append((
            f"{big} watched waits: {label}", c.fmt(value) if value is not None else "n/a",
            c.fmt(ref) if ref is not None else "n/a",
            c.fmt(c.ratio(value, ref)) if value is not None and ref else "n/a",
            "" if target is None else f"<= {target:g}",
            "" if target is None or value is None else _met(value, target),
        ))  # fmt: skip
    return rows


def _batch_rows(quick: bool) -> list[tuple[str, ...]]:
    rows = []
    for batch in (_load("batch", quick), None if quick else _load("batch_big", quick)):
        rows += _batch_rows_of(batch) if batch else []
    return rows


def _batch_rows_of(batch: dict[str, Any]) -> list[tuple[str, ...]]:
    rows = []
    for n in batch["sizes"]:
        r = batch["summary"].get(f"{n}/reference/join")
        for mode in ("watch", "join"):
            p = batch["summary"].get(f"{n}/provider/{mode}")
            if not (p and r):
                continue
            value = c.ratio(p["wall_s"], r["wall_s"])
            rows.append((
                f"batch of {n}, {mode}: create and wait, s", c.fmt(p["wall_s"]),
                c.fmt(r["wall_s"]), c.fmt(value, digits=3), "ratio <= 1.0", _met(value, 1.0),
            ))  # fmt: skip
            if mode == "watch":
                searches = (p.get("wait_requests") or {}).get("search_threads", 0)
                rows.append((
                    f"batch of {n}, watch: searches to wait for all", str(searches), str(n),
                    c.fmt(c.ratio(searches, n), digits=3), "<= 20", _met(searches, 20),
                ))  # fmt: skip
    return rows


def summary(quick: bool, names: tuple[str, ...] = BENCHMARKS) -> str:
    header = ("figure", "provider", "reference", "ratio", "target", "met?")
    return c.table(summary_rows(quick, names), header)


def markdown(quick: bool, names: tuple[str, ...] = BENCHMARKS) -> str:
    header = ("figure", "provider", "reference", "ratio", "target", "met?")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in summary_rows(quick, names)]
    return "\n".join(lines) + "\n"


def provider_state() -> dict[str, Any]:
    """Which provider code was measured: the commit, and a digest of ``airflow_lg/`` as it was on
    disk (the provider is installed editable, and the working tree may differ from the commit)."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted((c.REPO / "airflow_lg").rglob("*.py")):
        digest.update(path.relative_to(c.REPO).as_posix().encode() + b"\0" + path.read_bytes())

    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], cwd=c.REPO, capture_output=True, text=True, check=True
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return "unknown"

    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "airflow_lg_changed_since_commit": bool(git("status", "--porcelain", "airflow_lg")),
        "airflow_lg_sha256": digest.hexdigest()[:16],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small n: a smoke run")
    parser.add_argument("--only", default=",".join(BENCHMARKS), help="comma-separated names")
    parser.add_argument(
        "--big", action="store_true",
        help="also the references at 10,000 waits and a batch of 10,000 (~45 min more)",
    )  # fmt: skip
    args = parser.parse_args()
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = set(names) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark(s) {sorted(unknown)}; known: {list(BENCHMARKS)}")
    c.private_airflow_home()  # one throwaway AIRFLOW_HOME, inherited by every benchmark
    failed = []
    started = time.time()
    runs = [(name, [name]) for name in names]
    if args.big and not args.quick:
        runs = [(name, [name, *BIG.get(name, ())]) for name in names]
        runs += [("batch_big", ["batch", "--big"])] if "batch" in names else []
    for name, (script, *options) in runs:
        begin = time.time()
        command = [sys.executable, str(c.BENCH / f"{script}.py"), *options]
        if args.quick:
            command.append("--quick")
        code = subprocess.call(command)
        print(f"-- {name}: {time.time() - begin:.0f} s (exit {code})\n", flush=True)
        if code != 0:
            failed.append(name)
    state = provider_state()
    changed = " (working tree differs from the commit)" * state["airflow_lg_changed_since_commit"]
    print(f"== summary ({'quick' if args.quick else 'full'}, {time.time() - started:.0f} s)")
    print(
        f"provider code: commit {state['commit']}, airflow_lg/ sha256 {state['airflow_lg_sha256']}"
        + changed
    )
    if args.quick:
        print("quick mode: small n, short runs; the targets are for the full run (1,000 waits)")
    print(summary(args.quick, tuple(names)))
    folder = Path(os.environ.get("BENCH_RESULTS", c.BENCH / "results"))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"summary{'_quick' if args.quick else ''}.md").write_text(
        f"Provider code: commit {state['commit']}, airflow_lg/ sha256 {state['airflow_lg_sha256']}"
        + changed
        + ".\n\n"
        + markdown(args.quick, tuple(names))
    )
    (folder / f"provider_state{'_quick' if args.quick else ''}.json").write_text(
        json.dumps(state, indent=2) + "\n"
    )
    if failed:
        print(f"benchmarks that crashed: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
