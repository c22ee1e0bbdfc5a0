"""Waiting for runs until they end, in the triggerer (deferred tasks) or in a worker.

:func:`wait_for_runs` is the single implementation of "wait for these runs": the trigger runs
it in the triggerer's event loop, and the operators run the very same coroutine when they wait
without deferring. It waits by polling ``get_run`` every ``poll_interval`` or by ``join``
(a long poll the server answers as soon as the run ends), tolerates a budget of consecutive
transient failures (sleeping between tries, never hot-looping), and stops at an absolute
deadline that, being a timestamp in the trigger's kwargs, survives a triggerer restart.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_lg.exceptions import (
    LangGraphConnectionError,
    LangGraphError,
    LangGraphNotFoundError,
    LangGraphRateLimitError,
    LangGraphServerError,
    LangGraphWaitTimeoutError,
)
from airflow_lg.hooks.langgraph import LangGraphHook, RetryPolicy
from airflow_lg.schema import TERMINAL_RUN_STATUSES

WaitMode = Literal["poll", "join"]
DeadlineReason = Literal["wait_timeout", "execution_timeout"]
TRANSIENT_ERRORS = (LangGraphConnectionError, LangGraphServerError, LangGraphRateLimitError)
EVENT_STATUSES = frozenset({"done", "deadline", "failed"})
ENDED = "ended"
"""A run's status in a trigger's event when a join saw it end: the resumed task reads the
status itself, so that a triggerer holding many joins sends one request per run, not two."""
MISSING_DETAIL = (
    "the run was deleted (rolled back, or a stateless run created with on_completion='delete', "
    "which vanishes when it ends)"
)


def missing_run(ref: dict[str, Any]) -> dict[str, Any]:
    """The result for a run the server no longer has."""
    return {
        "thread_id": ref["thread_id"],
        "run_id": ref["run_id"],
        "status": "missing",
        "detail": MISSING_DETAIL,
    }


@dataclass(frozen=True)
class WaitOptions:
    mode: WaitMode = "poll"
    poll_interval: float = 5.0
    failure_budget: int = 5
    deadline: float | None = None  # epoch seconds
    deadline_reason: DeadlineReason = "wait_timeout"
    concurrency: int = 50  # runs waited on at once: join holds a connection per run
    # statuses that end the wait; a sensor may wait for a non-terminal one (e.g. "running")
    stop_statuses: frozenset[str] = TERMINAL_RUN_STATUSES
    # after a join, read the run's status here; a trigger reports ENDED instead
    read_status: bool = True


class WaitDeadlineExceeded(LangGraphWaitTimeoutError):
    """Our own wait deadline passed before every run ended (the runs may still be going)."""

    def __init__(
        self, reason: DeadlineReason, finished: list[dict[str, Any]], pending: list[dict[str, Any]]
    ) -> None:
        self.reason = reason
        self.finished = finished
        self.pending = pending
        ids = ", ".join(ref["run_id"] for ref in pending[:5])
        more = f" and {len(pending) - 5} more" if len(pending) > 5 else ""
        super().__init__(
            f"stopped waiting at the {reason.replace('_', ' ')}: {len(pending)} run(s) had not "
            f"ended ({ids}{more})"
        )


async def wait_for_runs(
    hook: LangGraphHook,
    runs: Sequence[dict[str, Any]],
    options: WaitOptions,
    log: Any,
) -> list[dict[str, Any]]:
    """Wait until every run has a terminal status; return ``{thread_id, run_id, status}`` per
    run, in the order given. Raises WaitDeadlineExceeded, or the error that exhausted the
    failure budget, or a non-transient error (a run that no longer exists, a rejected key)."""
    limit = asyncio.Semaphore(max(1, options.concurrency))
    tasks = [asyncio.ensure_future(_wait_one(hook, ref, options, limit, log)) for ref in runs]
    timeout = None if options.deadline is None else max(0.0, options.deadline - time.time())
    try:
        done, pending = await asyncio.wait(
            tasks, timeout=timeout, return_when=asyncio.FIRST_EXCEPTION
        )
        for task in done:
            if task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
        if pending:
            finished = [t.result() for t in tasks if t in done]
            left = [dict(ref) for ref, t in zip(runs, tasks, strict=True) if t in pending]
            raise WaitDeadlineExceeded(options.deadline_reason, finished, left)
        return [t.result() for t in tasks]
    finally:
        for task in tasks:
            task.cancel()


async def _wait_one(
    hook: LangGraphHook,
    ref: dict[str, Any],
    options: WaitOptions,
    limit: asyncio.Semaphore,
    log: Any,
) -> dict[str, Any]:
    thread_id, run_id = ref["thread_id"], ref["run_id"]
    # join returns only when the run ends: useless for a non-terminal target such as "running"
    join = options.mode == "join" and options.stop_statuses <= TERMINAL_RUN_STATUSES
    failures = 0
    last_status = None
    while True:
        try:
            queued = limit.locked()
            async with limit:
                # A run that ended while its wait queued for a join slot is not joined: the
                # server answers a join of an ended run only after ~0.5 s, which a batch
                # would pay per run. A wait that gets its slot at once joins at once (its
                # operator has just seen the run going), sparing a request.
                run = await hook.aget_run(thread_id, run_id) if join and queued else None
                if join and (run is None or run.get("status") not in TERMINAL_RUN_STATUSES):
                    await hook.ajoin_run(thread_id, run_id, raise_error=False)
                    if not options.read_status:
                        log.info("LangGraph run %s on thread %s ended", run_id, thread_id)
                        return {"thread_id": thread_id, "run_id": run_id, "status": ENDED}
                    run = None
                if run is None:
                    run = await hook.aget_run(thread_id, run_id)
        except LangGraphNotFoundError:
            log.warning("LangGraph run %s on thread %s no longer exists", run_id, thread_id)
            return missing_run(ref)
        except TRANSIENT_ERRORS as exc:
            failures += 1
            if failures > options.failure_budget:
                raise
            log.warning(
                "Could not read run %s (%s); failure %d of %d allowed, retrying in %.1f s",
                run_id, exc, failures, options.failure_budget, options.poll_interval,
            )  # fmt: skip
            await asyncio.sleep(options.poll_interval)
            continue
        failures = 0
        status = run.get("status")
        if status != last_status:
            log.info("LangGraph run %s on thread %s is %s", run_id, thread_id, status)
            last_status = status
        if status in options.stop_statuses:
            return {"thread_id": thread_id, "run_id": run_id, "status": status}
        await asyncio.sleep(options.poll_interval)


CANCEL_RETRY = RetryPolicy(max_attempts=2, min_wait=0.2, max_wait=1.0)


async def cancel_runs(
    hook: LangGraphHook, runs: Sequence[dict[str, Any]], action: str, log: Any
) -> None:
    """Cancel the runs concurrently, each tried twice at most: Airflow gives a trigger's on_kill
    30 s. A run that already ended (404) is fine; other failures are logged."""
    limit = asyncio.Semaphore(20)

    async def cancel(ref: dict[str, Any]) -> None:
        async with limit:
            try:
                await hook.acancel_run(
                    ref["thread_id"], ref["run_id"], action=action, retry=CANCEL_RETRY
                )
                log.info("Cancelled LangGraph run %s (%s)", ref["run_id"], action)
            except LangGraphNotFoundError:
                log.info("LangGraph run %s had already ended; nothing to cancel", ref["run_id"])
            except Exception as exc:
                log.error("Could not cancel LangGraph run %s: %s", ref["run_id"], exc)

    await asyncio.gather(*(cancel(ref) for ref in runs))


class LangGraphRunTrigger(BaseTrigger):
    """Waits in the triggerer for one or many runs to end, then fires one event.

    The event is ``{"status": "done", "runs": [{thread_id, run_id, status}, ...]}``, or
    ``{"status": "deadline" | "failed", "message": ..., "runs": [...]}``. Outputs are not in the
    event (they could be large): the task reads them when it resumes. With
    ``read_status=False`` (what this provider's operators and sensor ask for), a run a join saw
    end is reported as ``"ended"`` (:data:`ENDED`): the join's answer does not say how the run
    ended, and the resumed task reads that, keeping the triggerer's work at one request per
    run.

    When the user kills the deferred task (mark failed/success, clear), Airflow ≥ 3.3 awaits
    :meth:`on_kill`, which cancels exactly the runs in this trigger's kwargs. A triggerer restart
    only calls ``cleanup()``, which cancels nothing.
    """

    def __init__(
        self,
        runs: Sequence[dict[str, Any]],
        langgraph_conn_id: str = LangGraphHook.default_conn_name,
        wait_mode: WaitMode = "poll",
        poll_interval: float = 5.0,
        failure_budget: int = 5,
        deadline: float | None = None,
        deadline_reason: DeadlineReason = "wait_timeout",
        cancel_on_kill: bool = True,
        cancel_action: str = "interrupt",
        concurrency: int = 50,
        stop_statuses: Sequence[str] | None = None,
        read_status: bool = True,
    ) -> None:
        super().__init__()
        self.runs = [{"thread_id": r["thread_id"], "run_id": r["run_id"]} for r in runs]
        self.langgraph_conn_id = langgraph_conn_id
        self.wait_mode = wait_mode
        self.poll_interval = float(poll_interval)
        self.failure_budget = int(failure_budget)
        self.deadline = deadline
        self.deadline_reason = deadline_reason
        self.cancel_on_kill = cancel_on_kill
        self.cancel_action = cancel_action
        self.concurrency = int(concurrency)
        self.stop_statuses = sorted(stop_statuses or TERMINAL_RUN_STATUSES)
        self.read_status = read_status

    def serialize(self) -> tuple[str, dict[str, Any]]:
        # Stored in the metadata DB: JSON values and the connection id only, never a secret.
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "runs": self.runs,
                "langgraph_conn_id": self.langgraph_conn_id,
                "wait_mode": self.wait_mode,
                "poll_interval": self.poll_interval,
                "failure_budget": self.failure_budget,
                "deadline": self.deadline,
                "deadline_reason": self.deadline_reason,
                "cancel_on_kill": self.cancel_on_kill,
                "cancel_action": self.cancel_action,
                "concurrency": self.concurrency,
                "stop_statuses": self.stop_statuses,
                "read_status": self.read_status,
            },
        )

    def _hook(self) -> LangGraphHook:
        return LangGraphHook(self.langgraph_conn_id)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        options = WaitOptions(
            mode=self.wait_mode,
            poll_interval=self.poll_interval,
            failure_budget=self.failure_budget,
            deadline=self.deadline,
            deadline_reason=self.deadline_reason,
            concurrency=self.concurrency,
            stop_statuses=frozenset(self.stop_statuses),
            read_status=self.read_status,
        )
        hook = self._hook()
        try:
            results = await wait_for_runs(hook, self.runs, options, self.log)
        except WaitDeadlineExceeded as exc:
            # Airflow does not apply execution_timeout to a deferred task: we do, and cancel
            # like a killed task would. Our own wait_timeout cancels too (see the operators).
            if self.cancel_on_kill:
                await cancel_runs(hook, exc.pending, self.cancel_action, self.log)
            yield TriggerEvent(
                {
                    "status": "deadline",
                    "reason": exc.reason,
                    "message": str(exc),
                    "runs": exc.finished + [{**r, "status": None} for r in exc.pending],
                }
            )
            return
        except LangGraphError as exc:
            yield TriggerEvent({"status": "failed", "message": str(exc), "runs": self.runs})
            return
        yield TriggerEvent({"status": "done", "runs": results})

    async def on_kill(self) -> None:
        """The user killed the deferred task: cancel this trigger's runs (Airflow ≥ 3.3)."""
        if self.cancel_on_kill:
            await cancel_runs(self._hook(), self.runs, self.cancel_action, self.log)
