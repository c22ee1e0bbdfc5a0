"""Waiting for runs to end — in a worker, or deferred to the triggerer — with the same code.

- :class:`WaitOptions`: how to wait, serialized by one function for the trigger's kwargs.
- :func:`wait_for_runs`: the wait itself (poll ``get_run`` every ``poll_interval``; ``join``,
  a long poll the server answers when the run ends; or ``watch``, one shared
  :class:`~airflow_lg.watching.Watcher` per connection and event loop asking about all runs at
  once), with a budget of consecutive transient failures and an absolute deadline that
  survives a triggerer restart.
- :class:`WaitEvent` and :func:`resume`: what a trigger fires, checked where the task resumes,
  and turned into the runs' final statuses — one function for the operators and the sensor.
- :func:`cancel_runs` / :func:`acancel_runs`: the one way runs are cancelled (kill, deadline).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal, TypeVar

from airflow_lg.exceptions import (
    LangGraphConnectionError,
    LangGraphError,
    LangGraphNotFoundError,
    LangGraphRateLimitError,
    LangGraphServerError,
    LangGraphWaitTimeoutError,
)
from airflow_lg.hooks._outages import not_riding, riding_outages
from airflow_lg.hooks._outages import ride_from_now as ride_from_now  # for the operators
from airflow_lg.hooks.langgraph import LangGraphHook, RetryPolicy
from airflow_lg.progress_reads import Progress
from airflow_lg.runs import LOST_IN_OUTAGE_DETAIL, RunRef, parse_status
from airflow_lg.schema import TERMINAL_RUN_STATUSES, DeadlineReason, RunStatus, WaitMode
from airflow_lg.watching import WatchUnsupported, watcher_for

T = TypeVar("T")
R = TypeVar("R")

POLL_INTERVAL = 5.0
FAILURE_BUDGET = 5
CONCURRENCY = 50  # runs waited on at once per wait: join holds a connection per run
TRANSIENT_ERRORS = (LangGraphConnectionError, LangGraphServerError, LangGraphRateLimitError)
# Cancelling is best effort within Airflow's kill window (a trigger's on_kill gets 30 s).
CANCEL_RETRY = RetryPolicy(max_attempts=2, min_wait=0.2, max_wait=1.0)
_CANCEL_CONCURRENCY = 20


TOLD_RUNS = 10
"""Runs whose final status a resumed task logs one by one (more: the batch logs its counts)."""


def default_wait_mode(deferred: bool, many: bool = False) -> WaitMode:
    """``watch`` for a deferred wait and for many runs at once (a batch): one shared watcher
    costs about a request a second however many wait; ``poll`` for one run in a worker, whose
    log then tells each status the run passes through."""
    return "watch" if deferred or many else "poll"


@dataclass(frozen=True)
class WaitOptions:
    """How to wait. ``deadline`` is absolute (epoch seconds) so that a restarted triggerer keeps
    it; ``stop_statuses`` may hold a non-terminal status (a sensor waiting for ``running``);
    ``read_status=False`` makes a join report its run as ``ended`` and leaves the status read to
    the resumed task, so a triggerer sends one request per wait."""

    mode: WaitMode = "poll"
    poll_interval: float = POLL_INTERVAL
    failure_budget: int = FAILURE_BUDGET
    deadline: float | None = None
    deadline_reason: DeadlineReason = "wait_timeout"
    concurrency: int = CONCURRENCY
    stop_statuses: frozenset[str] = field(default=TERMINAL_RUN_STATUSES)
    read_status: bool = True
    progress: bool = False  # tell the run's nodes in the log as they run (one run's wait)

    def to_dict(self) -> dict[str, Any]:
        """JSON values only (trigger kwargs are stored in the metadata DB)."""
        return {**asdict(self), "stop_statuses": sorted(self.stop_statuses)}

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> WaitOptions:
        known = {k: v for k, v in value.items() if k in cls.__dataclass_fields__}
        options = cls(**known)
        return replace(
            options,
            poll_interval=float(options.poll_interval),
            failure_budget=int(options.failure_budget),
            concurrency=int(options.concurrency),
            stop_statuses=frozenset(options.stop_statuses or TERMINAL_RUN_STATUSES),
        )

    @property
    def joins(self) -> bool:
        # join returns only when the run ends: useless for a non-terminal target ("running")
        return self.mode == "join" and self.stop_statuses <= TERMINAL_RUN_STATUSES

    @property
    def watches(self) -> bool:
        # a thread's status tells that its runs ended, not that one is running: polled then
        return self.mode == "watch" and self.stop_statuses <= TERMINAL_RUN_STATUSES


class WaitDeadlineExceeded(LangGraphWaitTimeoutError):
    """Our own wait deadline passed before every run ended (the runs may still be going)."""

    def __init__(
        self, reason: DeadlineReason, finished: list[RunRef], pending: list[RunRef]
    ) -> None:
        self.reason = reason
        self.finished = finished
        self.pending = pending
        ids = ", ".join(ref.run_id for ref in pending[:5])
        more = f" and {len(pending) - 5} more" if len(pending) > 5 else ""
        super().__init__(
            f"stopped waiting at the {reason.replace('_', ' ')}: {len(pending)} run(s) had not "
            f"ended ({ids}{more})"
        )


# ---- the wait -----------------------------------------------------------------------------------


async def bounded_gather(
    limit: int, work: Callable[[T], Awaitable[R]], items: Sequence[T]
) -> list[R]:
    """``work`` on every item concurrently, at most ``limit`` at once; results in order."""
    gate = asyncio.Semaphore(max(1, limit))

    async def one(item: T) -> R:
        async with gate:
            return await work(item)

    return list(await asyncio.gather(*(one(item) for item in items)))


async def wait_for_runs(
    hook: LangGraphHook,
    runs: Sequence[RunRef | Mapping[str, Any]],
    options: WaitOptions,
    log: Any,
    on_end: Callable[[int, RunRef], None] | None = None,
) -> list[RunRef]:
    """Wait until every run (a RunRef, or a Run as the server answered it) reaches a stop
    status; return each with its status, in the order given. Raises WaitDeadlineExceeded, the
    error that exhausted the failure budget, or a non-transient error (a rejected key).
    ``on_end(index, run)`` is called in the loop as each run's wait is done (a batch in a
    worker starts reading that item's outcome while the others still go)."""
    with riding_outages():  # the tasks below copy the context: they ride too
        refs = [RunRef.of(ref).ids for ref in runs]
        return await _wait_for_all(refs, hook, options, log, on_end)


async def _wait_for_all(
    refs: list[RunRef],
    hook: LangGraphHook,
    options: WaitOptions,
    log: Any,
    on_end: Callable[[int, RunRef], None] | None = None,
) -> list[RunRef]:
    limit = asyncio.Semaphore(max(1, options.concurrency))
    tasks = [asyncio.ensure_future(_wait_one(hook, ref, options, limit, log)) for ref in refs]
    if on_end is not None:
        for index, task in enumerate(tasks):
            task.add_done_callback(functools.partial(_ended, on_end, index))
    timeout = None if options.deadline is None else max(0.0, options.deadline - time.time())
    try:
        done, pending = await asyncio.wait(
            tasks, timeout=timeout, return_when=asyncio.FIRST_EXCEPTION
        )
        for task in done:
            if (error := task.exception()) is not None:
                raise error
        if pending:
            finished = [t.result() for t in tasks if t in done]
            left = [ref for ref, t in zip(refs, tasks, strict=True) if t in pending]
            raise WaitDeadlineExceeded(options.deadline_reason, finished, left)
        return [t.result() for t in tasks]
    finally:
        for task in tasks:
            task.cancel()
        # let them unregister from a shared watcher before the caller goes on
        await asyncio.gather(*tasks, return_exceptions=True)


def _ended(on_end: Callable[[int, RunRef], None], index: int, task: asyncio.Task[RunRef]) -> None:
    if not task.cancelled() and task.exception() is None:
        on_end(index, task.result())


FIRST_POLL = 1.0
"""Seconds before the first re-check of a run that was going: most agent runs end within
seconds, and a task should not wait a whole ``poll_interval`` for one that ended in one."""


def poll_delays(poll_interval: float) -> Iterator[float]:
    """The pauses between polls: from :data:`FIRST_POLL`, doubling up to ``poll_interval``
    (1, 2, 4, 5, 5, ... for the default 5 s) — a quick run is seen quickly, a long one costs
    about one request per ``poll_interval``."""
    delay = min(FIRST_POLL, poll_interval)
    while True:
        yield delay
        delay = min(poll_interval, delay * 2)


async def _wait_one(
    hook: LangGraphHook, ref: RunRef, options: WaitOptions, limit: asyncio.Semaphore, log: Any
) -> RunRef:
    if options.watches:
        watched = await _watch_one(hook, ref, options, log)
        if watched is not None:
            return watched
        options = replace(options, mode="poll")
    failures = 0
    last_status = None
    delays = poll_delays(options.poll_interval)
    progress = Progress(ref, log) if options.progress else None
    while True:
        try:
            status = await _check(hook, ref, options, limit, progress)
        except LangGraphNotFoundError:
            log.warning("LangGraph %s no longer exists", ref)
            return await gone(hook, ref)
        except TRANSIENT_ERRORS as exc:
            if getattr(exc, "misconfigured", False):
                raise  # https to a plain-HTTP port: no number of tries will help
            failures += 1
            if failures > options.failure_budget:
                raise
            log.warning(
                "Could not read run %s (%s); failure %d of %d allowed, retrying in %.1f s",
                ref.run_id, exc, failures, options.failure_budget, options.poll_interval,
            )  # fmt: skip
            await asyncio.sleep(options.poll_interval)
            continue
        failures = 0
        if status is RunStatus.ENDED:
            log.info("LangGraph %s ended", ref)
            return ref.with_status(status)
        if status != last_status:
            log.info("LangGraph %s is %s", ref, status)
            last_status = status
        if status in options.stop_statuses:
            return ref.with_status(status)
        await asyncio.sleep(next(delays))


async def gone(hook: LangGraphHook, ref: RunRef) -> RunRef:
    """The run as the server no longer has it: after an outage, one it may have lost."""
    if (await hook.atransport()).outage.was_away:
        return ref.missing(LOST_IN_OUTAGE_DETAIL)
    return ref.missing()


async def _watch_one(
    hook: LangGraphHook, ref: RunRef, options: WaitOptions, log: Any
) -> RunRef | None:
    """The run's end as the connection's shared watcher sees it; None where the server cannot
    be watched (the wait polls instead). Holds no slot of ``options.concurrency``: a watch
    costs no connection."""
    watcher = await watcher_for(hook)
    try:
        ended = await watcher.wait(
            ref,
            read_status=options.read_status,
            failure_budget=options.failure_budget,
            log=log,
            progress=Progress(ref, log) if options.progress else None,
        )
    except WatchUnsupported as exc:
        log.warning("LangGraph %s: %s; polling it instead", ref, exc)
        return None
    log.info("LangGraph %s %s", ref, "ended" if ended.status is RunStatus.ENDED else
             f"is {ended.status}")  # fmt: skip
    return ended


async def _check(
    hook: LangGraphHook,
    ref: RunRef,
    options: WaitOptions,
    limit: asyncio.Semaphore,
    progress: Progress | None,
) -> RunStatus:
    """One look at the run: its status (polling), or once it ended (joining)."""
    queued = limit.locked()
    async with limit:
        if not options.joins:
            status = parse_status((await hook.aget_run(ref.thread_id, ref.run_id))["status"])
            going = status is RunStatus.RUNNING and status not in options.stop_statuses
            if progress is not None and going:
                await progress.look(hook)
            return status
        # A run that ended while its wait queued for a join slot is not joined: the server
        # answers a join of an ended run only after ~0.5 s, which a batch would pay per run. A
        # wait that gets its slot at once joins at once (its caller has just seen the run
        # going), sparing a request.
        if queued:
            status = parse_status((await hook.aget_run(ref.thread_id, ref.run_id))["status"])
            if status.is_terminal():
                return status
        if progress is not None:
            await progress.follow(hook)
        else:
            await hook.ajoin_run(ref.thread_id, ref.run_id, raise_error=False)
        if not options.read_status:
            return RunStatus.ENDED
        return parse_status((await hook.aget_run(ref.thread_id, ref.run_id))["status"])


# ---- the trigger's event, and resuming from it ------------------------------------------------

EventStatus = Literal["done", "deadline", "failed"]


@dataclass(frozen=True)
class WaitEvent:
    """What a trigger fires: ``done`` with every run's status, or ``deadline``/``failed`` with a
    message (and, for a deadline, its reason). Outputs are not in it (they could be large): the
    resumed task reads them."""

    status: EventStatus
    runs: tuple[RunRef, ...]
    message: str | None = None
    reason: DeadlineReason | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status, "runs": [r.to_dict() for r in self.runs]}
        if self.message is not None:
            out["message"] = self.message
        if self.reason is not None:
            out["reason"] = self.reason
        return out

    @classmethod
    def from_dict(cls, event: Any) -> WaitEvent:
        """The event, checked before anything acts on it."""
        if not isinstance(event, Mapping) or event.get("status") not in (
            "done",
            "deadline",
            "failed",
        ):
            raise LangGraphError(f"unexpected trigger event: {event!r:.300}")
        runs = event.get("runs")
        if not isinstance(runs, list) or not runs:
            raise LangGraphError(f"trigger event without valid runs: {event!r:.300}")
        try:
            refs = tuple(RunRef.from_dict(r) for r in runs)
        except LangGraphError as exc:
            raise LangGraphError(
                f"trigger event without valid runs ({exc}): {event!r:.300}"
            ) from None
        if event["status"] == "done" and not all(r.status for r in refs):
            raise LangGraphError(f"trigger event without final statuses: {event!r:.300}")
        return cls(event["status"], refs, event.get("message"), event.get("reason"))


def validate_event(event: Any) -> WaitEvent:
    """A trigger event as it reaches ``execute_complete``, checked (see :class:`WaitEvent`)."""
    return WaitEvent.from_dict(event)


def resume(
    hook: LangGraphHook,
    event: Any,
    deadline_reason: DeadlineReason | None = None,
    read_ended: bool = True,
) -> list[RunRef] | None:
    """Where a deferred task picks up: the trigger's runs, each with how it ended; None when a
    join answered before its run ended (never seen) and the caller must wait again.

    A ``deadline`` or ``failed`` event raises what the task fails with: the wait's own timeout,
    Airflow's ``execution_timeout`` or the sensor's ``timeout``, or the error that ended the
    wait; ``deadline_reason`` overrides the event's (a sensor's deadline is always its timeout,
    also for a trigger an earlier version deferred). Runs a join saw end (``ended``) have their
    status read here, concurrently — unless ``read_ended=False`` (a batch: each item's status
    comes with its outcome read).
    """
    checked = event if isinstance(event, WaitEvent) else validate_event(event)
    if checked.status == "failed":
        raise LangGraphError(f"waiting for the LangGraph run(s) failed: {checked.message}")
    if checked.status == "deadline":
        raise deadline_error(deadline_reason or checked.reason or "wait_timeout", checked.message)
    runs = list(checked.runs)
    ended = [i for i, ref in enumerate(runs) if ref.status is RunStatus.ENDED]
    if not ended or not read_ended:
        return runs
    read = hook.blocking(_read_statuses(hook, [runs[i] for i in ended]))
    for i, ref in zip(ended, read, strict=True):
        runs[i] = ref
        if len(ended) <= TOLD_RUNS:  # the trigger only saw it end (a batch tells its counts)
            hook.log.info("LangGraph %s is %s", ref, ref.status)
    if any(not ref.is_final for ref in read):
        return None
    return runs


async def _read_statuses(hook: LangGraphHook, refs: Sequence[RunRef]) -> list[RunRef]:
    with riding_outages():
        return await bounded_gather(CONCURRENCY, functools.partial(_read_status, hook), refs)


async def _read_status(hook: LangGraphHook, ref: RunRef) -> RunRef:
    try:
        return ref.with_status((await hook.aget_run(ref.thread_id, ref.run_id))["status"])
    except LangGraphNotFoundError:
        return ref.missing()


def deadline_error(reason: str, message: str | None) -> BaseException:
    """What a task fails with when a wait's deadline passed, by the deadline's reason."""
    if reason == "execution_timeout":
        from airflow.sdk.exceptions import AirflowTaskTimeout

        return AirflowTaskTimeout(f"execution_timeout reached: {message}")
    if reason == "sensor_timeout":
        from airflow.sdk.exceptions import AirflowSensorTimeout

        return AirflowSensorTimeout(f"sensor timeout reached: {message}")
    return LangGraphWaitTimeoutError(f"wait_timeout reached: {message}")


# ---- cancelling ---------------------------------------------------------------------------------


def _report_cancel(log: Any, ref: RunRef, action: str, error: BaseException | None) -> None:
    if error is None:
        log.info("Cancelled LangGraph run %s (%s)", ref.run_id, action)
    elif isinstance(error, LangGraphNotFoundError):
        log.info("LangGraph run %s had already ended; nothing to cancel", ref.run_id)
    else:
        log.error("Could not cancel LangGraph run %s: %s", ref.run_id, error)


async def acancel_runs(hook: LangGraphHook, runs: Sequence[RunRef], action: str, log: Any) -> None:
    """Cancel the runs concurrently, each tried twice at most. A run that already ended (404)
    is fine; other failures are logged, never raised."""

    async def cancel(ref: RunRef) -> None:
        try:
            await hook.acancel_run(ref.thread_id, ref.run_id, action=action, retry=CANCEL_RETRY)
        except Exception as exc:
            _report_cancel(log, ref, action, exc)
        else:
            _report_cancel(log, ref, action, None)

    with not_riding():  # a cancel has seconds (a kill's grace), not the outage budget
        await bounded_gather(_CANCEL_CONCURRENCY, cancel, runs)


def cancel_runs(conn_id: str, runs: Sequence[RunRef], action: str, log: Any) -> None:
    """:func:`acancel_runs` for a worker's ``on_kill``, one run after the other.

    ``on_kill`` runs in a signal handler, maybe while the main thread is inside an event loop
    (a sync wait) or in the middle of a read on the operator's client: so no event loop, a
    fresh sync client, few retries, and no exception may escape.
    """
    with LangGraphHook(conn_id, retry=CANCEL_RETRY) as hook, not_riding():
        for ref in runs:
            try:
                hook.cancel_run(ref.thread_id, ref.run_id, action=action)
            except Exception as exc:
                _report_cancel(log, ref, action, exc)
            else:
                _report_cancel(log, ref, action, None)
