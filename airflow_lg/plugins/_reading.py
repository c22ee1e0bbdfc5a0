"""The agent runs as the UI shows them, read from the server through the hook (no Airflow).

:func:`aread_detail` reads one run for its task view: the run, how it ended (the provider's own
:func:`~airflow_lg.outcomes.aread_outcome`) and its steps from the thread's history.
:func:`aread_rows` reads many runs for a list: one ``GET`` of each run, and one thread search
for all of them (a thread says ``interrupted`` when its agent waits for a person, which a run
paused by ``interrupt()`` does not: its status is ``success``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from airflow_lg.exceptions import LangGraphError, LangGraphNotFoundError, LangGraphServerError
from airflow_lg.hooks.langgraph import LangGraphHook
from airflow_lg.outcomes import aread_outcome
from airflow_lg.runs import RunOutcome, RunRef
from airflow_lg.schema import Outcome, RunStatus
from airflow_lg.waiting import bounded_gather

_CONCURRENCY = 10  # reads at once for a list: a UI page must not crowd out the DAGs' own calls
_HISTORY_LIMIT = 100  # checkpoints shown as steps

# What a person reads for a run, from its status and its thread's.
PAUSED = "paused"  # waiting for a person (interrupt()) or at a breakpoint
FAILED = "failed"
DISPLAY: Mapping[str, str] = {
    "pending": "pending",
    "running": "running",
    "success": "success",
    "error": FAILED,
    "timeout": "timed out",
    "interrupted": "cancelled",
    "missing": "missing",
    "unreachable": "unknown",
}
ATTENTION = frozenset({PAUSED, FAILED, "timed out", "unknown"})


@dataclass
class Step:
    """One step of a run: the nodes that ran from one checkpoint to the next."""

    step: int
    nodes: list[str]
    finished_at: str | None
    errors: list[str] = field(default_factory=list)
    asks: list[Any] = field(default_factory=list)


@dataclass
class RunRow:
    """A run in a list: enough to spot what needs a person."""

    ref: RunRef
    status: str  # for a person: DISPLAY's values, or PAUSED
    created_at: str | None = None
    updated_at: str | None = None
    assistant_id: str | None = None
    problem: str | None = None  # why the server could not be read

    @property
    def seconds(self) -> float | None:
        """How long the run took, or has been going so far."""
        began = _time(self.created_at) if self.created_at else None
        if self.status in ("pending", "running"):
            return (datetime.now(UTC) - began).total_seconds() if began else None
        ended = _time(self.updated_at) if self.updated_at else None
        return (ended - began).total_seconds() if began and ended else None


@dataclass
class RunDetail:
    """One run for its task view."""

    row: RunRow
    input: Any = None
    outcome: RunOutcome | None = None
    steps: list[Step] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return self.row.status in ("pending", "running")


async def aread_detail(hook: LangGraphHook, ref: RunRef) -> RunDetail:
    try:
        run = await hook.aget_run(ref.thread_id, ref.run_id)
    except LangGraphNotFoundError:
        return RunDetail(RunRow(ref, DISPLAY["missing"], problem="the server no longer has it"))
    except LangGraphError as exc:
        return RunDetail(RunRow(ref, DISPLAY["unreachable"], problem=str(exc)))
    row = _row(ref, run)
    detail = RunDetail(row, input=(run.get("kwargs") or {}).get("input"))
    status = RunStatus(run["status"])
    try:
        detail.steps = await _steps(hook, ref)
        if status.is_terminal():
            detail.outcome = await aread_outcome(hook, ref.with_status(status))
    except LangGraphError as exc:
        row.problem = str(exc)
    if detail.outcome is not None and detail.outcome.outcome is Outcome.PAUSED:
        row.status = PAUSED
    return detail


async def aread_rows(hook: LangGraphHook, refs: Sequence[RunRef]) -> list[RunRow]:
    """Each run's row, in order; a server that cannot be reached gives rows saying so."""
    rows = await bounded_gather(_CONCURRENCY, lambda ref: _read_row(hook, ref), refs)
    paused = await _paused_threads(hook, [r.ref.thread_id for r in rows if r.status == "success"])
    mark_paused(rows, paused)
    return rows


def mark_paused(rows: Sequence[RunRow], paused_threads: set[str]) -> None:
    """A thread waiting for a person is its newest run's doing: of a thread's runs listed,
    only that one is marked paused (an earlier run on it ended as it says)."""
    newest: dict[str, RunRow] = {}
    for row in rows:
        known = newest.get(row.ref.thread_id)
        if known is None or (row.created_at or "") > (known.created_at or ""):
            newest[row.ref.thread_id] = row
    for thread_id, row in newest.items():
        if thread_id in paused_threads and row.status == "success":
            row.status = PAUSED


async def _read_row(hook: LangGraphHook, ref: RunRef) -> RunRow:
    try:
        return _row(ref, await hook.aget_run(ref.thread_id, ref.run_id))
    except LangGraphNotFoundError:
        return RunRow(ref, DISPLAY["missing"], problem="the server no longer has it")
    except LangGraphError as exc:
        return RunRow(ref, DISPLAY["unreachable"], problem=str(exc))


async def _paused_threads(hook: LangGraphHook, thread_ids: list[str]) -> set[str]:
    """The threads, of those given, whose agent waits for a person (one search)."""
    if not thread_ids:
        return set()
    try:
        threads = await hook.asearch_threads(
            ids=thread_ids, status="interrupted", limit=min(len(thread_ids), 1000)
        )
    except LangGraphError:
        return set()  # a list still shows the runs' own statuses
    return {str(t["thread_id"]) for t in threads}


def _row(ref: RunRef, run: Mapping[str, Any]) -> RunRow:
    status = str(run.get("status"))
    return RunRow(
        ref.with_status(status),
        DISPLAY.get(status, status),
        created_at=run.get("created_at"),
        updated_at=run.get("updated_at"),
        assistant_id=run.get("assistant_id"),
    )


async def _steps(hook: LangGraphHook, ref: RunRef) -> list[Step]:
    """The run's steps, oldest first, from its own checkpoints."""
    try:
        history = await hook.aget_thread_history(
            ref.thread_id, limit=_HISTORY_LIMIT, metadata={"run_id": ref.run_id}
        )
    except LangGraphNotFoundError:
        return []
    except LangGraphServerError as exc:
        if exc.status_code != 500:
            raise
        # aegra fails a history filtered by metadata: filter here
        history = await hook.aget_thread_history(ref.thread_id, limit=_HISTORY_LIMIT)
        history = [h for h in history if (h.get("metadata") or {}).get("run_id") == ref.run_id]
    return steps_of(list(reversed(history)))


def steps_of(checkpoints: Sequence[Mapping[str, Any]]) -> list[Step]:
    """Steps from checkpoints oldest first: a checkpoint's tasks are the nodes run from it,
    finished when the next checkpoint was written (a paused task carries what it asks)."""
    steps: list[Step] = []
    for index, checkpoint in enumerate(checkpoints):
        tasks = [t for t in checkpoint.get("tasks") or [] if t.get("name") != "__start__"]
        if not tasks:
            continue
        later = checkpoints[index + 1] if index + 1 < len(checkpoints) else None
        steps.append(
            Step(
                step=_step_number(checkpoint, index),
                nodes=[str(t.get("name")) for t in tasks],
                finished_at=later.get("created_at") if later else None,
                errors=[str(t["error"]) for t in tasks if t.get("error")],
                asks=[i for t in tasks for i in t.get("interrupts") or []],
            )
        )
    return steps


def _step_number(checkpoint: Mapping[str, Any], index: int) -> int:
    step = (checkpoint.get("metadata") or {}).get("step")
    return step + 1 if isinstance(step, int) else index


def _time(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
