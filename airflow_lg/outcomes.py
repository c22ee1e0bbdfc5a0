"""How an ended run ended, read from the server: one run (:func:`read_outcome`) or many runs
alone on their threads (:func:`read_batch_outcomes`).

Values and pauses are read from the run's own last checkpoint (the thread's history for that
``run_id``): ``join`` of an ended run answers the thread's *current* values, which a later run
on the same thread may have changed. A run is paused when it stopped with nodes still to run —
after ``interrupt()`` (with interrupt payloads) or at a static breakpoint
(``interrupt_before``/``interrupt_after``, without) — even though its status is ``success``.

The reads are written once, async; sync callers run them through
:meth:`LangGraphHook.blocking`. :func:`outcome_of` is the part without I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_lg.exceptions import (
    LangGraphError,
    LangGraphNotFoundError,
    LangGraphServerError,
    step,
)
from airflow_lg.hooks._outages import riding_outages
from airflow_lg.hooks.langgraph import LangGraphHook
from airflow_lg.runs import RunOutcome, RunRef, parse_status
from airflow_lg.schema import Outcome, RunStatus, Thread, ThreadState, interrupts_of
from airflow_lg.waiting import bounded_gather, gone

_NO_RESULT: Any = object()
_UNKNOWN_ERROR = {
    "error": "Error",
    "message": "the run failed; the server no longer has the details",
}
# Batch outcome reads at once; join (for error details) is a long poll, outside the hook's gate.
READ_CONCURRENCY = 50
# Checkpoints looked through for a run's own where the server cannot filter history by run.
_HISTORY_SCAN = 50


class RunStillGoing(LangGraphError):
    """A run seen ended (its thread no longer busy) is pending or running when its outcome is
    read: langgraph-api sets a thread idle when a queued run on it is cancelled, even with
    another still queued. The caller waits for it again."""

    def __init__(self, ref: RunRef) -> None:
        self.ref = ref
        super().__init__(f"LangGraph {ref} is {ref.status}, though its wait saw it end")


def read_outcome(hook: LangGraphHook, ref: RunRef, result: Any = _NO_RESULT) -> RunOutcome:
    """The outcome of the ended run ``ref`` (whose status is known). ``result`` is what the
    caller already received for the run (wait/stream), used when the server kept no
    checkpoint."""
    return hook.blocking(aread_outcome(hook, ref, result))


async def aread_outcome(hook: LangGraphHook, ref: RunRef, result: Any = _NO_RESULT) -> RunOutcome:
    if ref.status is RunStatus.MISSING:
        return outcome_of(ref, None)
    # the run has ended: a server away now is waited for
    with riding_outages(), step(f"reading the output of {ref}"):
        checkpoint = await _last_checkpoint(hook, ref)
        error = await _error_of(hook, ref) if ref.status is RunStatus.ERROR else None
    return outcome_of(ref, checkpoint, error, result)


def read_batch_outcomes(hook: LangGraphHook, refs: Sequence[RunRef]) -> list[RunOutcome]:
    """:func:`read_outcome` for many ended runs that are each alone on their thread, as batch
    items are (``create_batch`` makes a thread per run): in order, read concurrently.

    Such a thread's state *is* its run's final state, and the thread answers cheaply with its
    values, its status and the run's error — where a checkpoint read costs the server tens of
    milliseconds of CPU per run once it holds many threads. The checkpoint is still read where
    only it can tell: a thread that is interrupted (paused, at a breakpoint, or cancelled) or
    busy with another run.

    A run whose status is unread (``ended``: a watcher saw its thread go idle, a join
    answered) gets it from the same read where the thread tells (:func:`status_told_by`),
    otherwise from the run: one request per item in the common case, as the SDK's join. One
    that turns out to be still going raises :class:`RunStillGoing`.
    """
    return hook.blocking(aread_batch_outcomes(hook, refs))


async def aread_batch_outcomes(hook: LangGraphHook, refs: Sequence[RunRef]) -> list[RunOutcome]:
    with riding_outages():
        return await bounded_gather(READ_CONCURRENCY, lambda ref: _read_alone(hook, ref), refs)


async def _read_alone(hook: LangGraphHook, ref: RunRef) -> RunOutcome:
    if ref.status is RunStatus.MISSING:
        return outcome_of(ref, None)
    unread = ref.status is None or not ref.status.is_final()  # "ended": seen ending, no more
    try:
        thread = await hook.aget_thread(ref.thread_id)
    except LangGraphNotFoundError:  # deleted with its run
        return outcome_of(await gone(hook, ref) if unread else ref, None)
    if unread:
        ref = await _status_of(hook, ref, thread)
        if ref.status is RunStatus.MISSING:
            return outcome_of(ref, None)
    checkpoint: ThreadState | None
    # aegra's threads carry no values: there, the checkpoint is read
    if thread.get("status") in ("idle", "error") and "values" in thread:
        checkpoint = {"values": thread.get("values"), "tasks": [], "next": []}
    else:
        checkpoint = await _last_checkpoint(hook, ref)
    error = None
    if ref.status is RunStatus.ERROR:
        error = thread.get("error") if isinstance(thread.get("error"), dict) else None
        if error is None:
            error = await _error_of(hook, ref)
    return outcome_of(ref, checkpoint, error)


def status_told_by(thread: Thread) -> RunStatus | None:
    """How the run alone on this thread ended, where the thread itself tells: ``success`` for a
    thread idle with values and no error. Anything else is read from the run: an error (failed,
    or timed out), interrupted (paused, or cancelled mid-way), idle with an error (cancelled at
    its last step) or without values (cancelled before it started), busy, or a server whose
    threads say less (aegra's carry no values)."""
    idle = thread.get("status") == "idle" and isinstance(thread.get("values"), dict)
    return RunStatus.SUCCESS if idle and "error" in thread and thread["error"] is None else None


async def _status_of(hook: LangGraphHook, ref: RunRef, thread: Thread) -> RunRef:
    told = status_told_by(thread)
    if told is not None:
        return ref.with_status(told)
    try:
        run = await hook.aget_run(ref.thread_id, ref.run_id)
    except LangGraphNotFoundError:
        return await gone(hook, ref)
    read = ref.with_status(parse_status(run.get("status")))
    if read.status is None or not read.status.is_terminal():
        raise RunStillGoing(read)
    return read


async def _last_checkpoint(hook: LangGraphHook, ref: RunRef) -> ThreadState | None:
    try:
        history = await hook.aget_thread_history(
            ref.thread_id, limit=1, metadata={"run_id": ref.run_id}
        )
    except LangGraphNotFoundError:
        return None  # deleted: rolled back, or a stateless run with on_completion="delete"
    except LangGraphServerError as exc:
        if exc.status_code != 500:
            raise
        # aegra fails a history filtered by metadata (500): look through the newest
        # checkpoints for the run's own instead.
        return await _last_checkpoint_unfiltered(hook, ref)
    return history[0] if history else None


async def _last_checkpoint_unfiltered(hook: LangGraphHook, ref: RunRef) -> ThreadState | None:
    try:
        history = await hook.aget_thread_history(ref.thread_id, limit=_HISTORY_SCAN)
    except LangGraphNotFoundError:
        return None
    for checkpoint in history:  # newest first
        if (checkpoint.get("metadata") or {}).get("run_id") == ref.run_id:
            return checkpoint
    return None


async def _error_of(hook: LangGraphHook, ref: RunRef) -> dict[str, Any] | None:
    """The agent's error: ``join`` reports it for the thread's latest run."""
    try:
        body = await hook.ajoin_run(ref.thread_id, ref.run_id, raise_error=False)
    except LangGraphError:
        return None
    error = body.get("__error__") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else None


# ---- no I/O -------------------------------------------------------------------------------------


def outcome_of(
    ref: RunRef,
    checkpoint: ThreadState | None,
    error: dict[str, Any] | None = None,
    result: Any = _NO_RESULT,
) -> RunOutcome:
    """The outcome of an ended run from what was read about it: its last ``checkpoint`` (or
    None if the server kept none), the agent's ``error`` for a failed run, and ``result``."""
    status = ref.status or RunStatus.MISSING
    ids: dict[str, Any] = {"thread_id": ref.thread_id, "run_id": ref.run_id, "status": str(status)}
    if status is RunStatus.MISSING:
        missing = {"error": "RunNotFound", "message": ref.detail or "not found"}
        return RunOutcome(**ids, outcome=Outcome.MISSING, error=missing)
    values = checkpoint.get("values") if checkpoint else None
    if checkpoint is None and result is not _NO_RESULT:
        values = (
            {k: v for k, v in result.items() if k != "__interrupt__"}
            if isinstance(result, dict)
            else result
        )
    # Paused is read from where the run stopped, never from its status alone: langgraph-api
    # says `success` for a run paused by interrupt(), aegra says `interrupted` — which on
    # langgraph-api means cancelled with action="interrupt", leaving nodes still to run but
    # no interrupt payload. So `interrupted` is a pause only when the agent asked something.
    if status in (RunStatus.SUCCESS, RunStatus.INTERRUPTED):
        interrupts, waiting = _pause_of(checkpoint, result)
        if interrupts or (waiting and status is RunStatus.SUCCESS):
            if interrupts and isinstance(values, dict):
                values = {**values, "__interrupt__": interrupts}
            return RunOutcome(
                **ids, outcome=Outcome.PAUSED, output=values, interrupts=interrupts, next=waiting
            )
    if status is RunStatus.SUCCESS:
        return RunOutcome(**ids, outcome=Outcome.SUCCESS, output=values)
    if status is RunStatus.ERROR:
        return RunOutcome(**ids, outcome=Outcome.ERROR, error=error or _UNKNOWN_ERROR)
    if status is RunStatus.TIMEOUT:
        stopped = {"error": "RunTimeout", "message": "the server stopped the run at its time limit"}
        return RunOutcome(**ids, outcome=Outcome.TIMEOUT, output=values, error=stopped)
    cancelled = {"error": "RunCancelled", "message": "the run was cancelled"}
    return RunOutcome(**ids, outcome=Outcome.CANCELLED, output=values, error=cancelled)


def _pause_of(checkpoint: ThreadState | None, result: Any) -> tuple[list[Any], list[str]]:
    """The interrupt payloads and the nodes still to run where the run stopped."""
    if checkpoint is None:
        return (interrupts_of(result) or [] if result is not _NO_RESULT else []), []
    interrupts = [i for task in checkpoint.get("tasks") or [] for i in task.get("interrupts") or []]
    return interrupts, list(checkpoint.get("next") or [])
