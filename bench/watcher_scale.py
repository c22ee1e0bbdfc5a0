"""Watcher scale: N deferred waits held in one event loop — the shared watcher
(``wait_mode="watch"``) against today's poll and join modes and ``langgraph_sdk`` joins.

Each trial runs in a fresh child process, on one server with 10 jobs: N ``sleeper`` runs are
created directly on the server first (not counted), so about 10 run at a time and the rest
queue — a triggerer holding N waits while their runs trickle to an end. Then:

1. **hold**: N waits start at once (as after a triggerer restart), driven the way the triggerer
   drives them (one task per ``LangGraphRunTrigger``, iterating ``run()`` until its first event;
   the reference: one ``client.runs.join`` per run). After a settling time, requests/s, % of
   one core of the process and the server's CPU are measured over the rest of the hold (the
   steady state); the completion lag (fired minus the run's ``updated_at``) is taken over the
   runs that ended by themselves;
2. **burst**: every run still queued is cancelled at once (one ``POST /runs/cancel`` by status,
   straight to the server), and the time until the last wait fired is measured, with the
   requests it took.

Requests are counted by ``count_proxy.py``; at N = 10,000 the join-mode waits (one socket
each, two through the proxy) go straight to the server, and their requests are not counted.
A last scenario restarts the server (SIGTERM, same port and state) in the middle of a hold of
1,000 watched waits: all must fire, none may fail.

Usage: ``python bench/watcher_scale.py [--quick]``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c
import triggerer_scale as ts

IMPLS = ("watch", "poll", "join", "sdk_join")
DIRECT_FROM = 5000  # join-mode waits at or above this many go straight to the server


def _raise_file_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def _waits(config: dict[str, Any], runs: list[dict[str, str]], fired: list[float],
                 out: list[Any], url: str, began: list[float]) -> None:  # fmt: skip
    impl = config["impl"]
    if impl == "sdk_join":
        import httpx

        timeout = httpx.Timeout(connect=30, read=600, write=600, pool=None)
        client = c.sdk_async(url, timeout=timeout)

        async def join(index: int, ref: dict[str, str]) -> None:
            began[index] = time.time()
            await client.runs.join(ref["thread_id"], ref["run_id"])
            fired[index], out[index] = time.time(), "done"

        results = await asyncio.gather(*(join(i, r) for i, r in enumerate(runs)),
                                       return_exceptions=True)  # fmt: skip
        ts._record_errors(results, out)
        await client.aclose()
        return
    from airflow_lg.hooks.langgraph import LangGraphHook
    from airflow_lg.triggers.runs import LangGraphRunTrigger
    from airflow_lg.waiting import WaitOptions

    options = WaitOptions(mode=impl, poll_interval=config["poll_interval"], read_status=False)
    if config.get("trace"):
        _trace_reads(LangGraphHook)

    async def run_trigger(index: int, trigger: LangGraphRunTrigger) -> None:
        began[index] = time.time()  # it runs to its first wait (registered) before others start
        async for event in trigger.run():
            fired[index], out[index] = time.time(), event.payload.get("status")
            break

    conn_id = "langgraph_direct" if url == config["server_url"] else "langgraph_default"
    triggers = [LangGraphRunTrigger([r], options, langgraph_conn_id=conn_id) for r in runs]
    results = await asyncio.gather(*(run_trigger(i, t) for i, t in enumerate(triggers)),
                                   return_exceptions=True)  # fmt: skip
    ts._record_errors(results, out)
    await LangGraphHook.aclose_loop_clients()


TRACE: list[dict[str, Any]] = []


def _trace_reads(hook_class: Any) -> None:
    """``--trace``: each search and run read the watcher makes, timed, written to stderr at the
    end (to see what a tick costs and when a thread's end was first seen)."""
    search, get = hook_class.asearch_threads, hook_class.aget_run

    async def traced_search(self: Any, **filters: Any) -> Any:
        started = time.time()
        found = await search.__get__(self)(**filters)  # the hook's call descriptor
        TRACE.append({
            "t": started, "s": time.time() - started, "kind": "search",
            "ids": len(filters.get("ids") or ()), "offset": filters.get("offset", 0),
            "found": len(found),
            "idle": [t["thread_id"] for t in found if t.get("status") != "busy"],
        })  # fmt: skip
        return found

    async def traced_get(self: Any, thread_id: str, run_id: str, **kw: Any) -> Any:
        started = time.time()
        run = await get.__get__(self)(thread_id, run_id, **kw)
        TRACE.append({"t": started, "s": time.time() - started, "kind": "get",
                      "thread_id": thread_id, "status": run.get("status")})  # fmt: skip
        return run

    hook_class.asearch_threads, hook_class.aget_run = traced_search, traced_get


def _cancel_queued(server_url: str) -> None:
    import httpx

    with httpx.Client(base_url=server_url, timeout=300) as client:
        answer = client.post("/runs/cancel", json={"status": "pending"})
        if answer.status_code != 404:  # 404: nothing was queued any more
            answer.raise_for_status()


def trial(config: dict[str, Any]) -> dict[str, Any]:
    _raise_file_limit()
    c.private_airflow_home()
    c.use_connection(config["proxy_url"])
    c.use_connection(config["server_url"], conn_id="langgraph_direct")
    import httpx  # noqa: F401
    import langgraph_sdk  # noqa: F401

    import airflow_lg.triggers.runs  # noqa: F401

    n = config["n"]
    direct = config["impl"] in ("join", "sdk_join") and n >= DIRECT_FROM
    url = config["server_url"] if direct else config["proxy_url"]
    runs = ts._create_runs(config["server_url"], n, config["seconds"])
    fired = [float("nan")] * n
    began = [float("nan")] * n
    out: list[Any] = [None] * n
    port, pid = config["control_port"], config["server_pid"]
    c.control(port, "RESET")
    gc.collect()
    rss = c.PeakRss()
    marks: dict[str, Any] = {}

    def mark(name: str) -> None:
        marks[name] = {
            "t": time.time(), "cpu": c.cpu_seconds(),
            "server_cpu": c.process_tree_cpu_seconds(pid),
            "requests": c.control(port, "COUNTS")["requests"],
        }  # fmt: skip

    async def main() -> None:
        mark("start")
        waits = asyncio.ensure_future(_waits(config, runs, fired, out, url, began))
        await asyncio.sleep(config["settle_s"])
        mark("steady")
        await asyncio.sleep(config["hold_s"] - config["settle_s"])
        mark("burst")
        await asyncio.to_thread(_cancel_queued, config["server_url"])
        marks["cancelled"] = time.time()  # the server answered: every cancel is visible
        async with asyncio.timeout(config["burst_timeout"]):
            await waits
        mark("end")

    asyncio.run(main())
    peak = rss.increase()
    kinds = c.control(port, "COUNTS")["kinds"]
    view = asyncio.run(ts._server_view(config["server_url"], runs))
    burst_at = marks["burst"]["t"]
    ended = [datetime.fromisoformat(run["updated_at"]).timestamp() for run in view]
    in_hold = [
        i for i, run in enumerate(view)
        if fired[i] == fired[i] and fired[i] < burst_at and run["status"] == "success"
    ]  # fmt: skip
    # A run that ended before its wait began (10,000 waits take seconds to start) is not a
    # completion lag but the first look's
    lags = [fired[i] - ended[i] for i in in_hold if ended[i] >= began[i]]
    before = [fired[i] - began[i] for i in in_hold if ended[i] < began[i]]
    if TRACE:  # the slowest ends of the hold: when the watcher first saw each thread idle
        first_idle: dict[str, float] = {}
        for entry in TRACE:
            for thread_id in entry.get("idle", ()):
                first_idle.setdefault(thread_id, entry["t"] + entry["s"])
        slow = sorted((fired[i] - ended[i], i) for i in in_hold if ended[i] >= began[i])[-20:]
        trace = {
            "marks": marks,
            "reads": [{k: v for k, v in e.items() if k != "idle"} for e in TRACE],
            "slow": [{"lag": lag, "ended": ended[i], "fired": fired[i],
                      "seen_idle": first_idle.get(view[i]["thread_id"])} for lag, i in slow],
        }  # fmt: skip
        print(json.dumps(trace, default=str), file=sys.stderr)
    asyncio.run(c.delete_threads(config["server_url"], runs))
    errors = [o for o in out if isinstance(o, str) and o.startswith("raised")]
    steady, end = marks["steady"], marks["burst"]
    span = end["t"] - steady["t"]
    return {
        **{k: v for k, v in config.items() if k not in ("proxy_url", "server_url")},
        "direct": direct,
        "steady_requests_per_s": None if direct else (end["requests"] - steady["requests"]) / span,
        "steady_cpu_pct_of_core": 100.0 * (end["cpu"] - steady["cpu"]) / span,
        "steady_server_cpu_pct_of_core": 100.0 * (end["server_cpu"] - steady["server_cpu"]) / span,
        "rss_peak_increase_mb": peak,
        "ended_in_hold": len(lags),
        "ended_before_waits": len(before),
        "first_look_s": max(before, default=float("nan")),
        "lag_p50_s": c.percentile(lags, 50),
        "lag_p95_s": c.percentile(lags, 95),
        "burst_runs": sum(1 for f in fired if f == f and f >= burst_at),
        "burst_resolved_s": max((f for f in fired if f == f), default=float("nan")) - burst_at,
        # The server's answer to the bulk cancel: PostgreSQL stamps each run with the
        # transaction's start but shows them all at its commit, so the server's share of the
        # burst is until it answered, and the watcher's what follows
        "burst_cancel_answered_s": marks["cancelled"] - burst_at,
        "burst_after_answer_s": (
            max((f for f in fired if f == f), default=float("nan")) - marks["cancelled"]
        ),
        "burst_requests": None if direct else marks["end"]["requests"] - end["requests"],
        "requests_by_kind": kinds,
        "fired": sum(1 for f in fired if f == f),
        "outcomes": dict(Counter(str(o)[:40] for o in out)),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
    }


# --- the driver ------------------------------------------------------------------------------


def run_trial(config: dict[str, Any], during: Any = None) -> dict[str, Any]:
    process = subprocess.Popen(
        [sys.executable, __file__, "--trial", json.dumps(config)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ},
    )  # fmt: skip
    worker = threading.Thread(target=during) if during else None
    if worker:
        worker.start()
    try:
        stdout, stderr = process.communicate(timeout=config["timeout"])
    except subprocess.TimeoutExpired:
        process.kill()  # its own process: the servers are not its children
        process.communicate()
        raise
    if worker:
        worker.join()
    if process.returncode != 0:
        raise RuntimeError(f"trial {config['impl']} N={config['n']} failed:\n{stderr[-4000:]}")
    if config.get("trace") and stderr.strip():
        name = f"watcher_{config['impl']}_{config['n']}.trace.json"
        c.write_result(name.removesuffix(".json"), json.loads(stderr.strip().splitlines()[-1]))
    return dict(json.loads(stdout.strip().splitlines()[-1]))


PG_FROM = 5000
"""N from which the ``auto`` server is langgraph-api on PostgreSQL: ``langgraph dev`` holding
10,000 queued runs spends a whole core on its in-memory queue and ends no run in a 40 s hold
(measured), so what a watcher sees there is the server stalling."""


def server_for(n: int, server_kind: str) -> str:
    return server_kind if server_kind != "auto" else ("pg" if n >= PG_FROM else "dev")


def main(
    quick: bool,
    sizes: list[int] | None = None,
    impls: tuple[str, ...] | None = None,
    references_at_10000: bool = False,
    server_kind: str = "auto",
    no_restart: bool = False,
    trace: bool = False,
    out: str | None = None,
) -> dict[str, Any]:
    _raise_file_limit()
    c.private_airflow_home()
    sizes = sizes or ([50] if quick else [1000, 10000])
    impls = impls or (("watch", "sdk_join") if quick else IMPLS)
    hold, settle = (12.0, 4.0) if quick else (40.0, 10.0)
    seconds = 3.0 if quick else 1.0  # some runs still queued when the burst comes
    kinds = {n: server_for(n, server_kind) for n in sizes}
    print(f"== watcher scale: N {sizes}, hold {hold:g} s (steady from {settle:g} s), then a "
          f"burst; sleeper runs of {seconds:g} s on a 10-job server ({kinds})",
          flush=True)  # fmt: skip
    results: dict[str, Any] = {
        "sizes": sizes, "hold_s": hold, "servers": kinds, "trials": [], "restart": None,
    }  # fmt: skip
    base: dict[str, Any] = {}
    for kind in dict.fromkeys(kinds.values()):
        with c.bench_server(kind, n_jobs=10) as server, c.CountingProxy(server.url) as proxy:
            base = {
                "seconds": seconds, "poll_interval": 5.0, "hold_s": hold, "settle_s": settle,
                "proxy_url": proxy.url, "control_port": proxy.control_port,
                "server_url": server.url, "server_pid": server.pid, "server": kind,
                "burst_timeout": 300, "timeout": 900, "trace": trace,
            }  # fmt: skip
            for n in (n for n in sizes if kinds[n] == kind):
                for impl in impls:
                    if n >= 10000 and impl != "watch" and not references_at_10000:
                        continue  # ~10 min each on this machine: --references-at-10000
                    try:
                        result = run_trial({**base, "n": n, "impl": impl})
                    except (RuntimeError, subprocess.TimeoutExpired) as exc:
                        if impl == "watch":
                            raise
                        # a reference that overwhelms the server (poll at 10,000: its bulk
                        # cancel went unanswered for 5 min) is a finding; the others still run
                        last = str(exc).strip().splitlines()[-1:]
                        results.setdefault("crashed", []).append(
                            {"impl": impl, "n": n, "error": last[0] if last else repr(exc)}
                        )
                        print(f"  {impl:8} N={n:<5} CRASHED: {last}", flush=True)
                        continue
                    results["trials"].append(result)
                    print(_line(result), flush=True)
    if not quick and "watch" in impls and not no_restart:
        results["restart"] = _restart(base, server_for(1000, server_kind))
    print(report(results), flush=True)
    c.write_result("watcher_scale_quick" if quick else out or "watcher_scale", results)
    return results


def _restart(base: dict[str, Any], server_kind: str) -> dict[str, Any]:
    """1,000 watched waits on a private server that is restarted (SIGTERM, then started again
    on the same port with its state) 15 s into a 60 s hold."""
    with c.bench_server(server_kind, n_jobs=10) as server, c.CountingProxy(server.url) as proxy:
        config = {**base, "n": 1000, "impl": "watch", "hold_s": 60.0,
                  "proxy_url": proxy.url, "control_port": proxy.control_port,
                  "server_url": server.url, "server_pid": server.pid}  # fmt: skip

        def restart() -> None:
            time.sleep(15)
            started = time.time()
            server.restart()
            config["restart_s"] = time.time() - started

        result = run_trial(config, during=restart)
        result["label"] = "1,000 watched waits, server restarted 15 s into the hold"
        result["restart_s"] = config.get("restart_s")
        result["steady_server_cpu_pct_of_core"] = float("nan")  # the pid changed
        print(f"  [{result['label']}]\n{_line(result)}", flush=True)
        return result


def _line(r: dict[str, Any]) -> str:
    extra = f" ERRORS={r['errors']} ({r['first_error']})" if r["errors"] else ""
    req = "n/a" if r["steady_requests_per_s"] is None else f"{r['steady_requests_per_s']:.2f}"
    return (
        f"  {r['impl']:8} N={r['n']:<5} steady: {req} req/s, {r['steady_cpu_pct_of_core']:5.2f}% "
        f"core, server {r['steady_server_cpu_pct_of_core']:5.1f}%  "
        f"rss +{r['rss_peak_increase_mb']:6.1f}MB  "
        f"lag p50 {r['lag_p50_s']:5.2f}s p95 {r['lag_p95_s']:5.2f}s ({r['ended_in_hold']} ended; "
        f"{r['ended_before_waits']} before, seen {r['first_look_s']:.1f}s in)  "
        f"burst of {r['burst_runs']}: {r['burst_resolved_s']:5.1f}s (server "
        f"{r['burst_cancel_answered_s']:5.1f}s, then {r['burst_after_answer_s']:4.1f}s), "
        f"{r['burst_requests']} req  "
        f"fired {r['fired']}/{r['n']}{extra}"
    )  # fmt: skip


TARGETS = {  # at N = 10,000, for the watcher
    "steady_requests_per_s": 1.5,
    "steady_cpu_pct_of_core": 2.0,
    "rss_peak_increase_mb": 200.0,
    "lag_p95_s": 1.5,
    "burst_after_answer_s": 15.0,  # the server's own cancelling is not the watcher's to beat
}
FIGURES = (
    ("requests/s, steady", "steady_requests_per_s"),
    ("% of one core, steady", "steady_cpu_pct_of_core"),
    ("server % of one core, steady", "steady_server_cpu_pct_of_core"),
    ("peak RSS increase, MB", "rss_peak_increase_mb"),
    ("completion lag p50, s", "lag_p50_s"),
    ("completion lag p95, s", "lag_p95_s"),
    ("runs ended in the hold after their wait began", "ended_in_hold"),
    ("runs ended before their wait began: the last seen after, s", "first_look_s"),
    ("burst: all resolved after the cancel was sent, s", "burst_resolved_s"),
    ("burst: the server's bulk cancel answered, s", "burst_cancel_answered_s"),
    ("burst: all resolved after that answer, s", "burst_after_answer_s"),
    ("burst: requests", "burst_requests"),
    ("errors", "errors"),
)


def report(results: dict[str, Any]) -> str:
    rows = []
    for n in results["sizes"]:
        by = {t["impl"]: t for t in results["trials"] if t["n"] == n}
        w, ref = by.get("watch"), by.get("sdk_join")
        if not w:
            continue
        for label, key in FIGURES:
            target = TARGETS.get(key) if n >= 10000 else None
            value = w[key]
            met = "" if target is None or value is None else ("yes" if value <= target else "NO")
            others = [by[i][key] if i in by else None for i in ("poll", "join", "sdk_join")]
            rows.append((
                f"N={n} {results['servers'].get(n, '')}", label, _f(value),
                *(_f(o) for o in others),
                _f(c.ratio(value, ref[key])) if ref and value is not None and ref[key] else "",
                "" if target is None else f"<= {target:g}", met,
            ))  # fmt: skip
    header = ("case", "figure", "watch", "poll", "join", "sdk join", "watch/sdk", "target", "met")
    text = "watcher scale (one trial each)\n" + c.table(rows, header)
    r = results.get("restart")
    if r:
        text += (
            f"\nserver restart mid-hold (N=1000, restart took {r['restart_s']:.1f} s): fired "
            f"{r['fired']}/{r['n']}, errors {r['errors']}, burst after it resolved in "
            f"{r['burst_resolved_s']:.1f} s"
        )
    return text


def _f(value: Any) -> str:
    return "n/a" if value is None else c.fmt(value)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sizes", help="comma-separated N (default 1000,10000)")
    parser.add_argument("--impls", help=f"comma-separated, of {','.join(IMPLS)}")
    parser.add_argument(
        "--references-at-10000", action="store_true",
        help="also poll, join and the SDK's joins at N=10,000 (~30 min more)",
    )  # fmt: skip
    parser.add_argument(
        "--server",
        choices=("auto", *c.SERVER_KINDS),
        default="auto",
        help=f"dev: langgraph dev; pg: langgraph-api on PostgreSQL; auto (default): pg from "
        f"N={PG_FROM}, dev below",
    )
    parser.add_argument("--no-restart", action="store_true", help="skip the restart scenario")
    parser.add_argument(
        "--trace",
        action="store_true",
        help="write each trial's reads, timed, to bench/results/*.trace.json",
    )
    parser.add_argument(
        "--out", help="results name under bench/results/ (default watcher_scale), so a run of "
        "some sizes or modes does not replace the full run's",
    )  # fmt: skip
    parser.add_argument("--trial", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.trial:
        print(json.dumps(trial(json.loads(args.trial)), default=str))
    else:
        sizes = [int(n) for n in args.sizes.split(",")] if args.sizes else None
        impls = tuple(args.impls.split(",")) if args.impls else None
        main(args.quick, sizes, impls, args.references_at_10000, args.server,
             args.no_restart, args.trace, args.out)  # fmt: skip
