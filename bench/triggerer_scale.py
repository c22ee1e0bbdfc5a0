"""Triggerer scale: N concurrent run triggers in one event loop, as the triggerer runs them.

Each trigger waits on its own ``sleeper`` run. The provider's side is N
``LangGraphRunTrigger`` objects driven like ``TriggerRunner.run_trigger`` does: one asyncio
task per trigger, each iterating ``trigger.run()`` until its first event. The reference does
the same work with ``langgraph_sdk``'s async client on the same server in the same run:

- join mode: N ``client.runs.join(thread_id, run_id)`` calls in one loop;
- poll mode: N loops of ``client.runs.get`` + ``asyncio.sleep(poll_interval)`` until the run's
  status is terminal (the SDK has no polling wait of its own).

Every trial runs in a fresh child process (``--trial``), so that its RSS and CPU belong to
that trial alone; the runs are created in the child *before* the measured window, directly on
the server. The triggers and the reference talk to the server through ``count_proxy.py``,
which counts requests without touching the client. Per trial:

- peak RSS increase of the process, measured from just before the triggers start;
- CPU seconds of the process (``getrusage``), and their average in % of one core over the
  window (from the start to the last trigger's event);
- requests sent per run (by kind), connections opened;
- completion lag per run: when the trigger fired minus the run's ``updated_at`` (the moment
  the server marked it terminal, read afterwards with ``get_run``), p50 and p95;
- the server's CPU seconds in the window (is the server the bottleneck?).

Usage: ``python bench/triggerer_scale.py [--quick]``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c

TERMINAL = {"success", "error", "timeout", "interrupted"}


# --- the trial (child process) ---------------------------------------------------------------


def _create_runs(server_url: str, n: int, seconds: float) -> list[dict[str, str]]:
    """N kept stateless sleeper runs, created directly on the server (not counted)."""
    import httpx

    runs: list[dict[str, str]] = []
    with httpx.Client(base_url=server_url, timeout=120) as client:
        for start in range(0, n, 250):
            items = [
                {"assistant_id": "sleeper", "input": {"seconds": seconds}, "on_completion": "keep"}
                for _ in range(min(250, n - start))
            ]
            response = client.post("/runs/batch", json=items)
            response.raise_for_status()
            runs += [{"thread_id": r["thread_id"], "run_id": r["run_id"]} for r in response.json()]
    return runs


async def _server_view(server_url: str, runs: list[dict[str, str]]) -> list[dict[str, Any]]:
    """Every run as the server sees it now (after the window): status and updated_at."""
    import httpx

    limit = asyncio.Semaphore(32)
    async with httpx.AsyncClient(base_url=server_url, timeout=120) as client:

        async def one(ref: dict[str, str]) -> dict[str, Any]:
            async with limit:
                r = await client.get(f"/threads/{ref['thread_id']}/runs/{ref['run_id']}")
                r.raise_for_status()
                return dict(r.json())

        return await asyncio.gather(*(one(ref) for ref in runs))


def _record_errors(results: list[Any], out: list[Any]) -> None:
    """What ``gather(..., return_exceptions=True)`` gave: a waiter that raised is reported."""
    for index, result in enumerate(results):
        if isinstance(result, BaseException):
            out[index] = f"raised {type(result).__name__}: {result}"[:300]


async def _staggered(index: int, total: int, stagger: float) -> None:
    """Start waiter ``index`` of ``total`` at its slot in [0, stagger): triggers that reach the
    triggerer spread over time rather than all at once (0: all at once, as after a restart)."""
    if stagger > 0:
        await asyncio.sleep(stagger * index / total)


async def _provider_waits(
    runs: list[dict[str, str]],
    mode: str,
    poll: float,
    fired: list[float],
    out: list[Any],
    stagger: float,
) -> None:
    from airflow_lg.hooks.langgraph import LangGraphHook
    from airflow_lg.triggers.runs import LangGraphRunTrigger
    from airflow_lg.waiting import WaitOptions

    async def run_trigger(index: int, trigger: LangGraphRunTrigger) -> None:
        await _staggered(index, len(runs), stagger)
        # What TriggerRunner.run_trigger does, minus Airflow's bookkeeping: iterate the
        # trigger's run() and take its event.
        async for event in trigger.run():
            fired[index] = time.time()
            out[index] = event.payload.get("status")
            break

    triggers = [
        # as the provider's operators defer: the resumed task reads how the run ended
        LangGraphRunTrigger(
            [ref],
            WaitOptions(mode=mode, poll_interval=poll, read_status=False),  # type: ignore[arg-type]
            langgraph_conn_id="langgraph_default",
        )
        for ref in runs
    ]
    tasks = [asyncio.create_task(run_trigger(i, t)) for i, t in enumerate(triggers)]
    results = await asyncio.gather(*tasks, return_exceptions=True)
    _record_errors(results, out)
    await LangGraphHook.aclose_loop_clients()


async def _sdk_waits(
    runs: list[dict[str, str]],
    mode: str,
    poll: float,
    fired: list[float],
    out: list[Any],
    url: str,
    pool_timeout: float | None,
    stagger: float,
) -> None:
    import httpx

    timeout = httpx.Timeout(connect=5, read=300, write=300, pool=pool_timeout)
    client = c.sdk_async(url, timeout=timeout)

    async def join(index: int, ref: dict[str, str]) -> None:
        await _staggered(index, len(runs), stagger)
        await client.runs.join(ref["thread_id"], ref["run_id"])
        fired[index] = time.time()
        out[index] = "done"

    async def poll_loop(index: int, ref: dict[str, str]) -> None:
        await _staggered(index, len(runs), stagger)
        while True:
            run = await client.runs.get(ref["thread_id"], ref["run_id"])
            if run["status"] in TERMINAL:
                fired[index] = time.time()
                out[index] = "done"
                return
            await asyncio.sleep(poll)

    wait = join if mode == "join" else poll_loop
    tasks = [asyncio.create_task(wait(i, ref)) for i, ref in enumerate(runs)]
    results = await asyncio.gather(*tasks, return_exceptions=True)
    _record_errors(results, out)
    await client.aclose()


async def _raw_joins(
    runs: list[dict[str, str]], fired: list[float], out: list[Any], url: str
) -> None:
    """Diagnostic, join mode: the floor set by the server (and the proxy, and the machine).
    One plain asyncio connection per wait sends ``GET .../join`` and reads the chunked answer to
    its end; no HTTP client library, no JSON decoding, no status read afterwards."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80

    async def one(index: int, ref: dict[str, str]) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            path = f"/threads/{ref['thread_id']}/runs/{ref['run_id']}/join"
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            answer = b""
            while not answer.endswith(b"\r\n0\r\n\r\n"):
                chunk = await reader.read(65536)
                if not chunk:
                    break
                answer += chunk
            fired[index] = time.time()
            out[index] = "done" if answer.startswith(b"HTTP/1.1 200") else answer[:40].decode()
        finally:
            writer.close()

    results = await asyncio.gather(*(one(i, r) for i, r in enumerate(runs)), return_exceptions=True)
    _record_errors(results, out)


async def _raw_join_then_get(
    runs: list[dict[str, str]], fired: list[float], out: list[Any], url: str
) -> None:
    """Diagnostic, join mode: the floor of the provider's protocol. A join's answer carries the
    thread's values but not the run's status, so the trigger reads the status once the join
    returns: here both requests go over one plain asyncio connection per wait, with no HTTP
    library, so whatever lag remains is the server's."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80

    async def exchange(reader: Any, writer: Any, path: str) -> bytes:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        if b"content-length:" in head.lower():
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            return head + await reader.readexactly(length)
        answer = head
        while not answer.endswith(b"\r\n0\r\n\r\n"):
            chunk = await reader.read(65536)
            if not chunk:
                break
            answer += chunk
        return answer

    async def one(index: int, ref: dict[str, str]) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            path = f"/threads/{ref['thread_id']}/runs/{ref['run_id']}"
            await exchange(reader, writer, path + "/join")
            answer = await exchange(reader, writer, path)
            fired[index] = time.time()
            status = json.loads(answer.split(b"\r\n\r\n", 1)[1])["status"]
            out[index] = "done" if status in TERMINAL else status
        finally:
            writer.close()

    results = await asyncio.gather(*(one(i, r) for i, r in enumerate(runs)), return_exceptions=True)
    _record_errors(results, out)


def trial(config: dict[str, Any]) -> dict[str, Any]:
    c.private_airflow_home()
    c.use_connection(config["proxy_url"], **config.get("conn_extra", {}))
    # Everything either side imports, imported before the window.
    import httpx  # noqa: F401
    import langgraph_sdk  # noqa: F401

    import airflow_lg.triggers.runs  # noqa: F401

    n, mode, impl, poll = config["n"], config["mode"], config["impl"], config["poll_interval"]
    long_runs: list[dict[str, str]] = []
    if config.get("long_first"):
        # Starvation scenario: long runs are waited on first and hold their connections.
        long_runs = _create_runs(config["server_url"], config["long_first"], config["long_seconds"])
    runs = _create_runs(config["server_url"], n, config["seconds"])
    created_at = time.time()
    everything = long_runs + runs
    fired = [float("nan")] * len(everything)
    out: list[Any] = [None] * len(everything)
    c.control(config["control_port"], "RESET")
    gc.collect()
    rss = c.PeakRss()
    cpu0, t0 = c.cpu_seconds(), time.time()

    stagger = float(config.get("stagger", 0.0))

    async def main() -> None:
        if impl == "provider":
            await _provider_waits(everything, mode, poll, fired, out, stagger)
        elif impl == "raw_floor":
            await _raw_joins(everything, fired, out, config["proxy_url"])
        elif impl == "raw_join_then_get":
            await _raw_join_then_get(everything, fired, out, config["proxy_url"])
        else:
            await _sdk_waits(
                everything,
                mode,
                poll,
                fired,
                out,
                config["proxy_url"],
                config["sdk_pool_timeout"],
                stagger,
            )

    if config.get("profile"):  # a diagnosis aid: cProfile of the window, to this path
        import cProfile

        with cProfile.Profile() as profiler:
            asyncio.run(main())
        profiler.dump_stats(config["profile"])
    else:
        asyncio.run(main())
    wall = time.time() - t0
    cpu = c.cpu_seconds() - cpu0
    peak_increase = rss.increase()
    counts = c.control(config["control_port"], "COUNTS")

    view = asyncio.run(_server_view(config["server_url"], everything))
    lags, waits, budget = [], [], []
    for index in range(len(long_runs), len(everything)):
        run = view[index]
        done_at = datetime.fromisoformat(run["updated_at"]).timestamp()
        if fired[index] == fired[index]:  # not NaN
            lags.append(fired[index] - done_at)
            waits.append(fired[index] - t0)
            # what a perfect poller may send until it fires: at 0, P, 2P, ... (< fire time)
            budget.append(1 + int((fired[index] - t0) // poll))
    if config.get("cleanup", True):
        asyncio.run(c.delete_threads(config["server_url"], everything))
    statuses = Counter(str(o) if not str(o).startswith("raised") else "raised" for o in out)
    errors = [o for o in out if isinstance(o, str) and o.startswith("raised")]
    total = len(everything)
    return {
        **{k: v for k, v in config.items() if k not in ("proxy_url", "server_url")},
        "waited": total,
        "created_seconds_before_start": t0 - created_at,
        "wall_s": wall,
        "cpu_s": cpu,
        "cpu_pct_of_core": 100.0 * cpu / wall if wall else float("nan"),
        "rss_peak_increase_mb": peak_increase,
        "rss_exact": rss.exact,
        "rss_baseline_mb": rss.baseline,
        "requests": counts["requests"],
        "requests_per_run": counts["requests"] / total,
        "poll_budget_per_run": sum(budget) / len(budget) if budget else float("nan"),
        "requests_vs_poll_budget": (
            counts["requests"] / total / (sum(budget) / len(budget)) if budget else float("nan")
        ),
        "requests_by_kind": counts["kinds"],
        "connections_opened": counts["connections"],
        "max_open_connections": counts["max_open_connections"],
        "lag_p50_s": c.percentile(lags, 50),
        "lag_p95_s": c.percentile(lags, 95),
        "lag_max_s": max(lags) if lags else float("nan"),
        "wait_p50_s": c.percentile(waits, 50),
        "fired": len(lags),
        "server_statuses": dict(Counter(r["status"] for r in view)),
        "outcomes": dict(statuses),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
    }


# --- the driver ------------------------------------------------------------------------------


def run_trial(config: dict[str, Any], server: Any, proxy: c.CountingProxy) -> dict[str, Any]:
    server_cpu0, proxy_cpu0 = c.server_cpu_seconds(server), proxy.cpu_seconds()
    started = time.time()
    process = subprocess.run(
        [sys.executable, __file__, "--trial", json.dumps(config)],
        capture_output=True,
        text=True,
        timeout=config["timeout"],
        env={**os.environ},
    )
    if process.returncode != 0:
        raise RuntimeError(f"trial {config} failed:\n{process.stderr[-4000:]}")
    result = dict(json.loads(process.stdout.strip().splitlines()[-1]))
    elapsed = time.time() - started
    server_cpu = c.server_cpu_seconds(server) - server_cpu0
    result["server_cpu_s"] = server_cpu
    result["server_cpu_pct_of_core_trial"] = 100.0 * server_cpu / elapsed
    result["proxy_cpu_s"] = proxy.cpu_seconds() - proxy_cpu0
    return result


def _summary(trials: list[dict[str, Any]]) -> dict[str, Any]:
    keys = (
        "wall_s", "cpu_s", "cpu_pct_of_core", "rss_peak_increase_mb", "requests_per_run",
        "poll_budget_per_run", "requests_vs_poll_budget",
        "lag_p50_s", "lag_p95_s", "lag_max_s", "wait_p50_s", "server_cpu_s", "errors",
        "connections_opened", "max_open_connections",
    )  # fmt: skip
    summary: dict[str, Any] = {k: c.median([t[k] for t in trials]) for k in keys}
    summary["repeats"] = len(trials)
    summary["requests_by_kind"] = trials[0]["requests_by_kind"]
    summary["first_error"] = next((t["first_error"] for t in trials if t["first_error"]), None)
    return summary


LONG_RUN_SECONDS = 60.0

DIAGNOSTICS = (
    # (label, overrides), N=1000: what limits the provider, and the server's floor.
    (
        "poll, connection extra max_concurrent_requests=2 (a smaller gate and pool)",
        {"mode": "poll", "impl": "provider", "conn_extra": {"max_concurrent_requests": 2}},
    ),
    (
        "join floor: plain asyncio sockets, one per wait, join only (server + proxy limit)",
        {"mode": "join", "impl": "raw_floor"},
    ),
    (
        "join floor with the status read: plain sockets, join then get_run per wait",
        {"mode": "join", "impl": "raw_join_then_get"},
    ),
    # Long waits: the per-wait costs (connect, request, answer) spread over a wait as long as
    # a real agent run, instead of 5 s.
    (
        f"provider join, {LONG_RUN_SECONDS:g} s runs",
        {"mode": "join", "impl": "provider", "seconds": LONG_RUN_SECONDS},
    ),
    (
        f"reference join, {LONG_RUN_SECONDS:g} s runs",
        {"mode": "join", "impl": "sdk", "seconds": LONG_RUN_SECONDS},
    ),
    (
        f"provider poll, {LONG_RUN_SECONDS:g} s runs",
        {"mode": "poll", "impl": "provider", "seconds": LONG_RUN_SECONDS},
    ),
)


def main(quick: bool, repeats: int | None = None) -> dict[str, Any]:
    c.private_airflow_home()
    if quick:
        plan, seconds, poll, jobs = {20: 1}, 1.0, 0.5, 50
    else:
        # N=1000 trials take 15-40 s each: one repeat there keeps the bench in its budget.
        plan, seconds, poll, jobs = {100: 2, 1000: 1}, 5.0, 5.0, 1100
    if repeats:
        plan = {n: repeats for n in plan}
    print(
        f"== triggerer scale: N (repeats) {plan}, sleeper runs of {seconds:g} s, poll interval "
        f"{poll:g} s, server with {jobs} jobs",
        flush=True,
    )
    server = c.start_bench_server(n_jobs=jobs)
    results: dict[str, Any] = {
        "sizes": sorted(plan),
        "repeats": {str(n): r for n, r in plan.items()},
        "seconds": seconds,
        "poll_interval": poll,
        "server_jobs": jobs,
        "trials": [],
        "diagnostics": [],
    }
    try:
        with c.CountingProxy(server.url) as proxy:
            base = {
                "seconds": seconds,
                "poll_interval": poll,
                "proxy_url": proxy.url,
                "control_port": proxy.control_port,
                "server_url": server.url,
                "sdk_pool_timeout": None,
                "timeout": 240,
            }
            for n, reps in plan.items():
                for rep in range(reps):
                    for mode in ("poll", "join"):
                        impls = ("provider", "sdk") if (rep % 2 == 0) else ("sdk", "provider")
                        for impl in impls:
                            config = {**base, "n": n, "mode": mode, "impl": impl, "rep": rep}
                            result = run_trial(config, server, proxy)
                            results["trials"].append(result)
                            print(_line(result), flush=True)
            if not quick:
                print("-- diagnostics (N=1000)", flush=True)
                for label, overrides in DIAGNOSTICS:
                    result = run_trial({**base, "n": 1000, **overrides}, server, proxy)
                    result["label"] = label
                    results["diagnostics"].append(result)
                    print(f"  [{label}]\n{_line(result)}", flush=True)
                results["diagnostics"].append(_starvation(base, server, proxy))
                results["diagnostics"].append(_sdk_default_pool(base, server, proxy))
    finally:
        server.close()
    results["summary"] = _summaries(results["trials"])
    print(report(results), flush=True)
    c.write_result("triggerer_scale_quick" if quick else "triggerer_scale", results)
    return results


def _starvation(base: dict[str, Any], server: Any, proxy: c.CountingProxy) -> dict[str, Any]:
    """Join mode, default connection: 100 waits on 15 s runs start first, then 100 waits on
    2 s runs. Long polls once shared one pool of 100 connections, and the short waits could
    not start their join until the long ones ended; each long poll now has its own."""
    label = "join starvation: 100 waits on 15 s runs first, then 100 on 2 s runs (lag of the 2 s)"
    config = {
        **base,
        "n": 100,
        "mode": "join",
        "impl": "provider",
        "seconds": 2.0,
        "long_first": 100,
        "long_seconds": 15.0,
    }
    result = run_trial(config, server, proxy)
    result["label"] = label
    print(f"  [{label}]\n{_line(result)}", flush=True)
    return result


def _sdk_default_pool(base: dict[str, Any], server: Any, proxy: c.CountingProxy) -> dict[str, Any]:
    """The reference as ``get_client()`` makes it (pool timeout 5 s), N=300 joins: the
    reference in the main table runs with no pool timeout, or it would fail."""
    label = "reference with the SDK's default pool timeout (5 s), N=300 join"
    config = {**base, "n": 300, "mode": "join", "impl": "sdk", "sdk_pool_timeout": 5.0}
    result = run_trial(config, server, proxy)
    result["label"] = label
    print(f"  [{label}]\n{_line(result)}", flush=True)
    return result


def _line(r: dict[str, Any]) -> str:
    extra = f" ERRORS={r['errors']} ({r['first_error']})" if r["errors"] else ""
    return (
        f"  {r['impl']:8} {r['mode']:4} N={r['n']:<5} wall {r['wall_s']:5.1f}s  "
        f"cpu {r['cpu_s']:5.2f}s ({r['cpu_pct_of_core']:4.1f}% core)  "
        f"rss +{r['rss_peak_increase_mb']:5.1f}MB  req/run {r['requests_per_run']:4.2f}  "
        f"lag p50 {r['lag_p50_s']:5.2f}s p95 {r['lag_p95_s']:5.2f}s  "
        f"conns {r['connections_opened']}  server cpu {r['server_cpu_s']:4.1f}s{extra}"
    )


def _summaries(trials: list[dict[str, Any]]) -> dict[str, Any]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for t in trials:
        groups.setdefault(f"{t['n']}/{t['mode']}/{t['impl']}", []).append(t)
    return {key: _summary(group) for key, group in groups.items()}


def report(results: dict[str, Any]) -> str:
    rows = []
    poll = results["poll_interval"]
    for n in results["sizes"]:
        for mode in ("poll", "join"):
            p = results["summary"].get(f"{n}/{mode}/provider")
            s = results["summary"].get(f"{n}/{mode}/sdk")
            if not p or not s:
                continue
            lag_target = 1.0 if mode == "join" else poll
            figures = (
                ("peak RSS increase (MB)", "rss_peak_increase_mb", 100.0 if n >= 1000 else None),
                ("CPU (s)", "cpu_s", None),
                ("CPU (% of one core)", "cpu_pct_of_core", 10.0 if n >= 1000 else None),
                ("requests per run", "requests_per_run", None),
                (
                    "requests per run / poll instants elapsed",
                    "requests_vs_poll_budget",
                    1.0 if mode == "poll" else None,
                ),
                ("completion lag p50 (s)", "lag_p50_s", None),
                ("completion lag p95 (s)", "lag_p95_s", lag_target if n >= 1000 else None),
                ("server CPU in trial (s)", "server_cpu_s", None),
            )
            for label, key, target in figures:
                met = "" if target is None else ("yes" if p[key] <= target else "NO")
                rows.append(
                    (
                        f"N={n} {mode}",
                        label,
                        c.fmt(p[key]),
                        c.fmt(s[key]),
                        c.fmt(c.ratio(p[key], s[key])),
                        "" if target is None else f"<= {target:g}",
                        met,
                    )
                )
    header = ("case", "figure", "provider", "reference", "ratio", "target", "met")
    text = "triggerer scale (medians of repeats)\n" + c.table(rows, header)
    if results.get("diagnostics"):
        diag = [
            (
                d["label"],
                c.fmt(d["cpu_s"]),
                c.fmt(d["cpu_pct_of_core"], digits=1),
                c.fmt(d["rss_peak_increase_mb"], digits=1),
                c.fmt(d["requests_per_run"]),
                c.fmt(d["lag_p50_s"]),
                c.fmt(d["lag_p95_s"]),
                str(d["errors"]),
            )
            for d in results["diagnostics"]
        ]
        head = (
            "diagnostic",
            "cpu s",
            "% core",
            "rss +MB",
            "req/run",
            "lag p50",
            "lag p95",
            "errors",
        )
        text += "\n\ndiagnostics\n" + c.table(diag, head)
    return text


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=None, help="repeats for every N")
    parser.add_argument("--trial", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.trial:
        print(json.dumps(trial(json.loads(args.trial)), default=str))
    else:
        main(args.quick, args.repeats)
