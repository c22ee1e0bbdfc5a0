"""Batch: ``BatchRunOperator`` creating and waiting for 1,000 runs, against ``langgraph_sdk``.

The provider's side constructs the operator and calls its ``execute(context)`` with a minimal
fake context (a task instance that records ``xcom_push``), outside Airflow's scheduler, waiting
in the worker (``deferrable=False``), with its default ``chunk_size=100``, in two wait modes:
``wait_mode="watch"`` (the connection's shared watcher: a few thread searches for
all items, each run's status read as its thread goes idle), and ``wait_mode="join"`` (each run
joined, 50 at a time, then its status read; the same wait as the reference's). The requests
of each phase are counted by ``count_proxy.py``, which both sides go through. After the wait
the operator reads every run's outcome (``read_batch_outcomes``: each item's thread,
concurrently) to build its summary. The phases (create, wait, outcome reads) are timed from
the XCom pushes and from the moment ``complete`` is entered.

The reference does the same work with ``langgraph_sdk``'s async client on the same server in
the same run: the same 1,000 payloads through ``runs.create_batch`` in chunks of 100, then
``runs.join`` of every run, 50 at a time (the provider's join concurrency), keeping the
results. Trials alternate: reference, provider, reference (the reference's median is taken);
the threads of a trial are deleted afterwards so every trial meets the same server state.
Diagnostics: the reference again, also reading each run's status after its join (the
provider's wait protocol); and the cost of one outcome read, from the checkpoint versus from
the thread.

Usage: ``python bench/batch.py [--quick]``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c

c.private_airflow_home()

SEED = {"foo": None, "bar": "checked", "baz": None}
JOIN_CONCURRENCY = 50


class FakeTaskInstance:
    """What the operator reads from ``context["ti"]``; XComs are kept in a dict."""

    dag_id = "bench_batch"
    task_id = "batch"
    run_id = "bench__1"
    map_index = -1
    try_number = 1
    start_date = None

    def __init__(self) -> None:
        self.xcoms: dict[str, Any] = {}
        self.pushed_at: dict[str, float] = {}

    def xcom_push(self, key: str, value: Any, **kwargs: Any) -> None:
        self.xcoms[key] = value
        self.pushed_at[key] = time.perf_counter()


def _operator(n: int, mode: str) -> Any:
    from airflow_lg.operators.runs import BatchRunOperator

    return BatchRunOperator(
        task_id="batch",
        assistant_id="test_agent",
        inputs=[SEED] * n,
        deferrable=False,
        wait_mode=mode,  # type: ignore[arg-type]
    )


def provider_trial(n: int, mode: str, control_port: int | None = None) -> dict[str, Any]:
    operator = _operator(n, mode)
    ti = FakeTaskInstance()
    counts: dict[str, Any] = {}

    def snapshot(name: str) -> None:
        if control_port is not None:
            counts[name] = c.control(control_port, "COUNTS")

    push = ti.xcom_push
    chunk_ends: list[float] = []

    def counted_push(key: str, value: Any, **kwargs: Any) -> None:
        push(key, value, **kwargs)
        if key != "runs":
            return
        chunk_ends.append(time.perf_counter())  # a chunk is in
        if len(value) == n:
            snapshot("created")  # the last chunk is in: the wait begins

    ti.xcom_push = counted_push  # type: ignore[method-assign]
    context = {"ti": ti, "logical_date": None}
    marks: dict[str, float] = {}
    complete = operator.complete

    def timed_complete(ctx: Any, runs: Any) -> Any:
        # Only a timestamp: when the wait is over and the outcome phase begins.
        marks["outcomes_from"] = time.perf_counter()
        snapshot("waited")
        return complete(ctx, runs)

    operator.complete = timed_complete
    cpu0, start = c.cpu_seconds(), time.perf_counter()
    summary = operator.execute(context)
    end = time.perf_counter()
    cpu = c.cpu_seconds() - cpu0
    operator.hook.close()
    created = ti.pushed_at["runs"] - start  # the last chunk's XCom push
    wait_requests = _kinds_between(counts.get("created"), counts.get("waited"))
    return {
        "wait_requests": wait_requests,
        "wall_s": end - start,
        "cpu_s": cpu,
        "counts": summary["counts"],
        "created_s": created,
        "wait_phase_s": marks["outcomes_from"] - start - created,
        "outcome_phase_s": end - marks["outcomes_from"],
        "runs": [{"thread_id": r["thread_id"], "run_id": r["run_id"]} for r in summary["runs"]],
        "chunk_s": _spans(start, chunk_ends),
    }


def _spans(start: float, ends: list[float]) -> list[float]:
    """Seconds each chunk took, from the end of the one before (the first: from the start)."""
    return [b - a for a, b in zip([start, *ends[:-1]], ends, strict=True)]


def _kinds_between(before: Any, after: Any) -> dict[str, int] | None:
    if not before or not after:
        return None
    kinds = {k: v - before["kinds"].get(k, 0) for k, v in after["kinds"].items()}
    return {k: v for k, v in kinds.items() if v}


def outcome_reads(runs: list[dict[str, Any]], k: int) -> dict[str, float]:
    """Diagnostic: what one outcome read costs, in ms per run, on ``k`` runs each, one after
    the other: the run's own checkpoint (a thread history call, what ``read_outcome`` reads)
    against its thread (what ``read_batch_outcomes`` reads for a run alone on its thread)."""
    from airflow_lg.hooks.langgraph import LangGraphHook

    hook = LangGraphHook()
    first, second = runs[:k], runs[k : 2 * k]
    start = time.perf_counter()
    for ref in first:
        hook.get_thread_history(ref["thread_id"], limit=1, metadata={"run_id": ref["run_id"]})
    history = (time.perf_counter() - start) / len(first)
    start = time.perf_counter()
    for ref in second:
        hook.get_thread(ref["thread_id"])
    thread = (time.perf_counter() - start) / len(second)
    hook.close()
    return {"history_ms_per_run": 1000 * history, "thread_ms_per_run": 1000 * thread, "runs": k}


async def reference_trial(
    url: str, items: list[dict[str, Any]], status_read: bool = False
) -> dict[str, Any]:
    """``status_read``: a diagnostic variant that also reads each run's status after its join
    (``runs.get``), as the provider must to report which runs failed."""
    client = c.sdk_async(url)
    cpu0, start = c.cpu_seconds(), time.perf_counter()
    runs: list[dict[str, Any]] = []
    chunk_ends: list[float] = []
    for first in range(0, len(items), 100):
        runs += await client.runs.create_batch(items[first : first + 100])  # type: ignore[arg-type]
        chunk_ends.append(time.perf_counter())
    created = time.perf_counter() - start
    limit = asyncio.Semaphore(JOIN_CONCURRENCY)

    async def join(run: dict[str, Any]) -> Any:
        async with limit:
            values = await client.runs.join(run["thread_id"], run["run_id"])
            if status_read:
                await client.runs.get(run["thread_id"], run["run_id"])
            return values

    values = await asyncio.gather(*(join(r) for r in runs))
    wall = time.perf_counter() - start
    cpu = c.cpu_seconds() - cpu0
    await client.aclose()
    ok = sum(1 for v in values if isinstance(v, dict) and "__error__" not in v)
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "created_s": created,
        "counts": {"success": ok, "other": len(values) - ok},
        "runs": [{"thread_id": r["thread_id"], "run_id": r["run_id"]} for r in runs],
        "chunk_s": _spans(start, chunk_ends),
    }


def main(
    quick: bool, big: bool = False, server_kind: str | None = None, order: str | None = None
) -> dict[str, Any]:
    # reference first and last: every provider trial has a reference on each side
    # the server's pace drifts within a run (references spread 14-21 s): three of each, taken
    # in turns, and the medians compared
    plan = {50: ["reference", "watch", "reference"]} if quick else {
        1000: ["reference", "watch"] * 3 + ["reference", "join", "reference"],
    }  # fmt: skip
    if big:  # the in-memory server slows down past 10 minutes holding 10,000 threads
        plan = {10000: ["watch", "reference"]}  # ~8 min each on langgraph-api + PostgreSQL
    if order:  # e.g. "reference,watch": the same trials in another order, to see drift
        plan = {n: order.split(",") for n in plan}
    kind = server_kind or ("pg" if big else "dev")
    print(f"== batch: {sorted(plan)} items, BatchRunOperator vs langgraph_sdk create_batch + join"
          f" ({kind} server)", flush=True)  # fmt: skip
    trials: list[dict[str, Any]] = []
    diagnostic: dict[str, float] = {}
    with c.bench_server(kind, n_jobs=10) as server, c.CountingProxy(server.url) as proxy:
        c.use_connection(proxy.url)  # both sides go through the counting proxy
        for n, sequence in plan.items():
            items = _operator(n, "join").items({"ti": FakeTaskInstance(), "logical_date": None})
            for index, side in enumerate(sequence):
                if side == "reference":
                    result = asyncio.run(reference_trial(proxy.url, items))
                    _record(trials, server.url, result, "reference", "join", index)
                    continue
                result = provider_trial(n, side, proxy.control_port)
                if not quick and side == "join" and n == 1000:
                    diagnostic = outcome_reads(result["runs"], 50)
                    print(
                        f"  outcome read: {diagnostic['history_ms_per_run']:.1f} ms/run from "
                        f"the checkpoint, {diagnostic['thread_ms_per_run']:.1f} ms/run from "
                        "the thread",
                        flush=True,
                    )
                _record(trials, server.url, result, "provider", side, index)
        if not quick and not big:
            # Diagnostic: the reference doing the provider's protocol (join, then status).
            context = {"ti": FakeTaskInstance(), "logical_date": None}
            items = _operator(1000, "join").items(context)
            result = asyncio.run(reference_trial(proxy.url, items, status_read=True))
            _record(trials, server.url, result, "reference+status", "join", 9)
    results = {
        "server": kind,
        "sizes": sorted(plan),
        "plan": {str(n): seq for n, seq in plan.items()},
        "trials": trials,
        "summary": _summary(trials),
        "outcome_reads": diagnostic,
    }
    print(report(results), flush=True)
    name = "batch_quick" if quick else "batch_big" if big else "batch"
    c.write_result(f"{name}_{order.replace(',', '_')}" if order else name, results)
    return results


def _record(
    trials: list[dict[str, Any]], url: str, result: dict[str, Any], side: str, mode: str, rnd: int
) -> None:
    runs = result.pop("runs")
    asyncio.run(c.delete_threads(url, runs))
    result.update(side=side, mode=mode, round=rnd, n=len(runs))
    trials.append(result)
    extra = _chunk_line(result.get("chunk_s") or [])
    if "outcome_phase_s" in result:
        extra += (
            f"  (create {result['created_s']:.1f}s, wait {result['wait_phase_s']:.1f}s, "
            f"outcomes {result['outcome_phase_s']:.1f}s)"
        )
    print(
        f"  {side:9} {mode:4} wall {result['wall_s']:6.2f}s cpu {result['cpu_s']:5.2f}s "
        f"{result['counts']}{extra}",
        flush=True,
    )


def _chunk_line(spans: list[float]) -> str:
    """Each chunk's creation time, by quarter of the batch: does creating slow down as the
    server fills up, and equally on both sides?"""
    if len(spans) < 8:
        return ""
    q = len(spans) // 4
    quarters = [c.median(spans[i * q : (i + 1) * q]) for i in range(4)]
    return "  chunk s by quarter " + "/".join(f"{v:.2f}" for v in quarters)


def _summary(trials: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in {(t["side"], t["mode"], t["n"]) for t in trials}:
        group = [t for t in trials if (t["side"], t["mode"], t["n"]) == key]
        out[f"{key[2]}/{key[0]}/{key[1]}"] = {
            k: c.median([t[k] for t in group])
            for k in ("wall_s", "cpu_s", "created_s", "wait_phase_s", "outcome_phase_s")
            if k in group[0]
        } | {"trials": len(group), "wait_requests": group[0].get("wait_requests")}
    return out


def report(results: dict[str, Any]) -> str:
    s = results["summary"]
    rows = []
    for n in results["sizes"]:
        ref = s.get(f"{n}/reference/join")
        for mode in ("watch", "join"):
            p = s.get(f"{n}/provider/{mode}")
            if not p or not ref:
                continue
            r = c.ratio(p["wall_s"], ref["wall_s"])
            waited = sum((p.get("wait_requests") or {}).values())
            searches = (p.get("wait_requests") or {}).get("search_threads", 0)
            rows.append((
                f"{n} items, wait_mode={mode}", c.fmt(p["wall_s"]), c.fmt(ref["wall_s"]),
                c.fmt(r, digits=3), "yes" if r <= 1.0 else "NO", c.fmt(p["created_s"]),
                c.fmt(p["wait_phase_s"]), c.fmt(p["outcome_phase_s"]), str(searches), str(waited),
            ))  # fmt: skip
    header = (
        "case", "wall s", "ref wall s", "ratio", "<=1.0", "create s", "wait s", "outcomes s",
        "wait: searches", "wait: all requests",
    )  # fmt: skip
    text = "batch create-and-wait (medians)\n" + c.table(rows, header)
    text += (
        "\n'wait: all requests' counts from the last chunk created to the end of the wait: the "
        "watcher's searches, and each item's thread read as its run ends (its outcome and, "
        "where the thread tells, its status)"
    )
    if "1000/reference+status/join" in s and "1000/provider/watch" in s:
        r, p = s["1000/reference+status/join"], s["1000/provider/watch"]
        text += (
            f"\ndiagnostic, reference that also reads each run's status after its join: wall "
            f"{r['wall_s']:.2f}s (ratio of the provider's watch to it: "
            f"{c.ratio(p['wall_s'], r['wall_s']):.3f})"
        )
    return text


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--big", action="store_true", help="10,000 items instead (pg server)")
    parser.add_argument("--server", choices=c.SERVER_KINDS, default=None,
                        help="dev (langgraph dev, the default) or pg (langgraph-api on "
                        "PostgreSQL + Redis, the default with --big)")  # fmt: skip
    parser.add_argument("--order", default=None,
                        help="the trials, comma-separated, of reference, watch, join (e.g. "
                        "'reference,watch' with --big: the default order reversed)")  # fmt: skip
    args = parser.parse_args()
    main(args.quick, args.big, args.server, args.order)
