"""Hook overhead: ``LangGraphHook`` against ``langgraph_sdk`` doing the same calls, same server.

Operations, each through the sync client (``get_sync_client`` / ``hook.<op>``) and the async
one (``get_client`` / ``hook.a<op>``):

- ``get_run`` of a run that has ended (answered at once: the client's own cost is a large
  share of the latency);
- ``join_run`` of a run that has ended (the server answers it after ~0.5 s);
- ``wait_run`` and ``stream_run`` (``stream_mode="values"``) of a stateless ``test_agent``
  run (the server's queue, which looks for new runs every 0.5 s when idle, dominates);
- ``create_batch`` of 5 stateless ``test_agent`` runs.

Calls are made in blocks: a block is ``lanes`` concurrent callers (threads for the sync
clients, tasks for the async ones) each making ``per_lane`` calls through one client. Blocks
of the provider and of the reference alternate, the order flipping every round, so both see
the same server and the same noise. Per call we record the wall-clock latency; per block the
process CPU seconds (all threads: the async SDK decodes JSON in a thread pool) divided by the
calls. Reported: median and p95 latency, median CPU per call, and provider/reference ratios.

Usage: ``python bench/hook_overhead.py [--quick]``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c

c.private_airflow_home()

SEED = {"foo": None, "bar": "checked", "baz": None}
BATCH = [{"assistant_id": "test_agent", "input": SEED} for _ in range(5)]


def _sync_ops(
    hook: Any, sdk: Any, ended: dict[str, str]
) -> dict[str, tuple[Callable[[], Any], ...]]:
    t, r = ended["thread_id"], ended["run_id"]
    return {
        "get_run": (lambda: hook.get_run(t, r), lambda: sdk.runs.get(t, r)),
        "join_run": (lambda: hook.join_run(t, r), lambda: sdk.runs.join(t, r)),
        "wait_run": (
            lambda: hook.wait_run(None, "test_agent", input=SEED),
            lambda: sdk.runs.wait(None, "test_agent", input=SEED),
        ),
        "stream_run": (
            lambda: list(hook.stream_run(None, "test_agent", input=SEED, stream_mode="values")),
            lambda: list(sdk.runs.stream(None, "test_agent", input=SEED, stream_mode="values")),
        ),
        "create_batch": (lambda: hook.create_batch(BATCH), lambda: sdk.runs.create_batch(BATCH)),
    }


async def _collect(parts: Any) -> list[Any]:
    return [part async for part in parts]


def _async_ops(
    hook: Any, sdk: Any, ended: dict[str, str]
) -> dict[str, tuple[Callable[[], Any], ...]]:
    t, r = ended["thread_id"], ended["run_id"]
    return {
        "get_run": (lambda: hook.aget_run(t, r), lambda: sdk.runs.get(t, r)),
        "join_run": (lambda: hook.ajoin_run(t, r), lambda: sdk.runs.join(t, r)),
        "wait_run": (
            lambda: hook.await_run(None, "test_agent", input=SEED),
            lambda: sdk.runs.wait(None, "test_agent", input=SEED),
        ),
        "stream_run": (
            lambda: _collect(
                hook.astream_run(None, "test_agent", input=SEED, stream_mode="values")
            ),
            lambda: _collect(sdk.runs.stream(None, "test_agent", input=SEED, stream_mode="values")),
        ),
        "create_batch": (
            lambda: hook.acreate_batch(BATCH),
            lambda: sdk.runs.create_batch(BATCH),
        ),
    }


class Samples:
    def __init__(self) -> None:
        self.latency: list[float] = []
        self.cpu_per_call: list[float] = []

    def summary(self) -> dict[str, float]:
        return {
            "n": len(self.latency),
            "latency_median_ms": 1000 * c.median(self.latency),
            "latency_p95_ms": 1000 * c.percentile(self.latency, 95),
            "cpu_per_call_ms": 1000 * c.median(self.cpu_per_call),
        }


def _sync_block(
    make_call: Callable[[int], Callable[[], Any]],
    lanes: int,
    per_lane: int,
    pool: ThreadPoolExecutor,
) -> tuple[list[float], float]:
    def lane(index: int) -> list[float]:
        call = make_call(index)
        times = []
        for _ in range(per_lane):
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
        return times

    cpu0 = c.cpu_seconds()
    if lanes == 1:
        latencies = lane(0)
    else:
        latencies = [t for part in pool.map(lane, range(lanes)) for t in part]
    return latencies, (c.cpu_seconds() - cpu0) / (lanes * per_lane)


async def _async_block(
    call: Callable[[], Any], lanes: int, per_lane: int
) -> tuple[list[float], float]:
    async def lane() -> list[float]:
        times = []
        for _ in range(per_lane):
            start = time.perf_counter()
            await call()
            times.append(time.perf_counter() - start)
        return times

    cpu0 = c.cpu_seconds()
    parts = await asyncio.gather(*(lane() for _ in range(lanes)))
    return [t for part in parts for t in part], (c.cpu_seconds() - cpu0) / (lanes * per_lane)


def plan(quick: bool) -> dict[str, tuple[int, int, int]]:
    """op -> (lanes, calls per lane per block, rounds); n per side = lanes*per_lane*rounds.

    ``join_run`` of an ended run takes ~0.5 s on this server and ``wait_run``/``stream_run``
    ~1 s (its queue), so those run in 20 concurrent lanes (the server gets 20 jobs) to fit
    n = 200 per side in the time budget.
    """
    if quick:
        return {
            "get_run": (1, 10, 2),
            "join_run": (4, 1, 1),
            "wait_run": (4, 1, 1),
            "stream_run": (4, 1, 1),
            "create_batch": (1, 5, 2),
        }
    return {
        "get_run": (1, 25, 12),  # 300 per side
        "join_run": (20, 1, 10),  # 200 per side
        "wait_run": (20, 1, 10),
        "stream_run": (20, 1, 10),
        "create_batch": (1, 20, 10),  # 200 per side
    }


def main(quick: bool) -> dict[str, Any]:
    print("== hook overhead: LangGraphHook vs langgraph_sdk, same server, interleaved", flush=True)
    server = c.start_bench_server(n_jobs=20)
    c.use_connection(server.url)
    from airflow_lg.hooks.langgraph import LangGraphHook

    results: dict[str, Any] = {"plan": plan(quick), "ops": {}}
    try:
        setup = LangGraphHook()
        thread = setup.create_thread()
        ended = setup.create_run(thread["thread_id"], "test_agent", input=SEED)
        setup.join_run(ended["thread_id"], ended["run_id"])
        setup.close()
        ended = {"thread_id": ended["thread_id"], "run_id": ended["run_id"]}
        results["ops"]["sync"] = _run_sync(server.url, ended, plan(quick))
        results["ops"]["async"] = asyncio.run(_run_async(server.url, ended, plan(quick)))
    finally:
        server.close()
    print(report(results), flush=True)
    c.write_result("hook_overhead_quick" if quick else "hook_overhead", results)
    return results


def _run_sync(url: str, ended: dict[str, str], steps: dict[str, tuple[int, int, int]]) -> Any:
    from airflow_lg.hooks.langgraph import LangGraphHook

    lanes_max = max(lanes for lanes, _, _ in steps.values())
    hooks = [LangGraphHook() for _ in range(lanes_max)]
    sdks = [c.sdk_sync(url) for _ in range(lanes_max)]
    ops = [_sync_ops(h, s, ended) for h, s in zip(hooks, sdks, strict=True)]
    out: dict[str, Any] = {}
    for lane_ops in ops:  # every lane's clients built and connected before any measurement
        lane_ops["get_run"][0]()
        lane_ops["get_run"][1]()
    with ThreadPoolExecutor(max_workers=lanes_max) as pool:
        for op, (lanes, per_lane, rounds) in steps.items():
            samples = {"provider": Samples(), "reference": Samples()}
            for side in (0, 1):  # warm up: code paths loaded
                ops[0][op][side]()
            for rnd in range(rounds):
                order = (0, 1) if rnd % 2 == 0 else (1, 0)
                for side in order:
                    lat, cpu = _sync_block(
                        lambda i, side=side, op=op: ops[i][op][side], lanes, per_lane, pool
                    )
                    name = ("provider", "reference")[side]
                    samples[name].latency += lat
                    samples[name].cpu_per_call.append(cpu)
            out[op] = _compare(samples)
            print(_line("sync", op, out[op]), flush=True)
    for hook in hooks:
        hook.close()
    for sdk in sdks:
        sdk.http.client.close()
    return out


async def _run_async(
    url: str, ended: dict[str, str], steps: dict[str, tuple[int, int, int]]
) -> Any:
    from airflow_lg.hooks.langgraph import LangGraphHook

    hook = LangGraphHook()
    sdk = c.sdk_async(url)
    ops = _async_ops(hook, sdk, ended)
    out: dict[str, Any] = {}
    for op, (lanes, per_lane, rounds) in steps.items():
        samples = {"provider": Samples(), "reference": Samples()}
        for side in (0, 1):
            await ops[op][side]()
        for rnd in range(rounds):
            order = (0, 1) if rnd % 2 == 0 else (1, 0)
            for side in order:
                lat, cpu = await _async_block(ops[op][side], lanes, per_lane)
                name = ("provider", "reference")[side]
                samples[name].latency += lat
                samples[name].cpu_per_call.append(cpu)
        out[op] = _compare(samples)
        print(_line("async", op, out[op]), flush=True)
    await LangGraphHook.aclose_loop_clients()
    await sdk.aclose()
    return out


def _compare(samples: dict[str, Samples]) -> dict[str, Any]:
    p, r = samples["provider"].summary(), samples["reference"].summary()
    return {
        "provider": p,
        "reference": r,
        "latency_ratio": c.ratio(p["latency_median_ms"], r["latency_median_ms"]),
        "latency_p95_ratio": c.ratio(p["latency_p95_ms"], r["latency_p95_ms"]),
        "cpu_ratio": c.ratio(p["cpu_per_call_ms"], r["cpu_per_call_ms"]),
    }


def _line(transport: str, op: str, o: dict[str, Any]) -> str:
    p, r = o["provider"], o["reference"]
    return (
        f"  {transport:5} {op:12} n={p['n']}/{r['n']}  median {p['latency_median_ms']:7.2f} vs "
        f"{r['latency_median_ms']:7.2f} ms (x{o['latency_ratio']:.3f})  p95 "
        f"{p['latency_p95_ms']:7.2f} vs {r['latency_p95_ms']:7.2f} ms  cpu/call "
        f"{p['cpu_per_call_ms']:6.3f} vs {r['cpu_per_call_ms']:6.3f} ms (x{o['cpu_ratio']:.2f})"
    )


def report(results: dict[str, Any]) -> str:
    rows = []
    for transport in ("sync", "async"):
        for op, o in results["ops"].get(transport, {}).items():
            p, r = o["provider"], o["reference"]
            rows.append(
                (
                    f"{op} ({transport})",
                    f"{p['n']}/{r['n']}",
                    c.fmt(p["latency_median_ms"]),
                    c.fmt(r["latency_median_ms"]),
                    c.fmt(o["latency_ratio"], digits=3),
                    "yes" if o["latency_ratio"] <= 1.05 else "NO",
                    c.fmt(p["latency_p95_ms"]),
                    c.fmt(r["latency_p95_ms"]),
                    c.fmt(p["cpu_per_call_ms"], digits=3),
                    c.fmt(r["cpu_per_call_ms"], digits=3),
                    c.fmt(o["cpu_ratio"]),
                )
            )
    header = (
        "operation", "n", "median ms", "ref median ms", "ratio", "<=1.05", "p95 ms",
        "ref p95 ms", "cpu/call ms", "ref cpu/call ms", "cpu ratio",
    )  # fmt: skip
    return "hook overhead (provider vs langgraph_sdk)\n" + c.table(rows, header)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    main(parser.parse_args().quick)
