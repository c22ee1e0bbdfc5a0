"""What every run-driving operator shares: Airflow identity, waiting (in the worker or deferred
to the triggerer), outcomes, and cancelling the remote runs when the task is killed.

An *outcome* is a run's end as a user acts on it: ``success`` (output in XCom), ``paused``
(the agent called ``interrupt()``: the run's status is ``success`` but it waits for a human),
``error`` (the agent raised), ``timeout`` (the *server* stopped it) and ``cancelled`` (status
``interrupted``). Our own wait deadline is not an outcome of the run but of the wait.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import Any, Literal

from airflow.configuration import conf
from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowTaskTimeout

from airflow_lg.exceptions import (
    LangGraphConfigError,
    LangGraphError,
    LangGraphNotFoundError,
    LangGraphRunCancelledError,
    LangGraphRunFailedError,
    LangGraphRunPausedError,
    LangGraphRunTimeoutError,
    LangGraphWaitTimeoutError,
)
from airflow_lg.hooks.langgraph import LangGraphHook, RetryPolicy
from airflow_lg.schema import TERMINAL_RUN_STATUSES, interrupts_of
from airflow_lg.triggers.runs import (
    ENDED,
    EVENT_STATUSES,
    LangGraphRunTrigger,
    WaitDeadlineExceeded,
    WaitMode,
    WaitOptions,
    missing_run,
    wait_for_runs,
)

OnInterrupt = Literal["fail", "succeed"]
OnPreviousFailure = Literal["rerun", "fail"]
CancelAction = Literal["interrupt", "rollback"]
# Cancelling is best effort within Airflow's kill window: two quick tries.
CANCEL_RETRY = RetryPolicy(max_attempts=2, min_wait=0.2, max_wait=1.0)

_CHOICES: dict[str, tuple[str, ...]] = {
    "wait_mode": ("poll", "join"),
    "cancel_action": ("interrupt", "rollback"),
    "on_interrupt": ("fail", "succeed"),
    "on_previous_failure": ("rerun", "fail"),
}
ACTIVE_RUN_STATUSES = frozenset({"pending", "running"})
FINAL_STATUSES = TERMINAL_RUN_STATUSES | {"missing"}


def default_deferrable() -> bool:
    return conf.getboolean("operators", "default_deferrable", fallback=False)


# Namespace of the threads that airflow-lg derives from task identities (uuid5).
THREAD_NAMESPACE = uuid.UUID("5d3c9b1e-4f0a-5b7e-9c61-2a8f0e4d7b13")
TASK_KEY = "airflow_lg_task_key"


def task_key(context: Any) -> str:
    """The run-stable identity of a task instance: the same on every try, retry and clear of
    it within its DAG run (never the try number), different for every other task instance."""
    ti = context["ti"]
    return f"{ti.dag_id}/{ti.run_id}/{ti.task_id}/{ti.map_index}"


def task_thread_id(key: str) -> str:
    """The thread a task instance's runs go to when the user pins none: derived, not stored,
    so every try finds it again."""
    return str(uuid.uuid5(THREAD_NAMESPACE, key))


def airflow_identity(context: Any) -> dict[str, Any]:
    """Run metadata that traces a run on the server back to its task instance; the task key
    is what a later try looks for."""
    ti = context["ti"]
    logical_date = context.get("logical_date")
    return {
        TASK_KEY: task_key(context),
        "airflow_dag_id": ti.dag_id,
        "airflow_task_id": ti.task_id,
        "airflow_run_id": ti.run_id,
        "airflow_map_index": ti.map_index,
        "airflow_try_number": ti.try_number,
        "airflow_logical_date": logical_date.isoformat() if logical_date else None,
    }


def find_task_run(hook: LangGraphHook, thread_id: str, key: str) -> dict[str, Any] | None:
    """The newest run on ``thread_id`` created for the task instance ``key``, or None."""
    try:
        runs = hook.list_runs(thread_id, limit=50)
    except LangGraphNotFoundError:
        return None
    for run in runs:  # newest first
        if (run.get("metadata") or {}).get(TASK_KEY) == key:
            return dict(run)
    return None


def check_choice(name: str, value: str) -> None:
    if value not in _CHOICES[name]:
        raise LangGraphConfigError(f"{name} must be one of {_CHOICES[name]}, got {value!r}")


# What the server accepts (runs-api.md §2): checked when the DAG is parsed, not at run time.
_RUN_ENUMS: dict[str, tuple[str, ...]] = {
    "multitask_strategy": ("reject", "interrupt", "rollback", "enqueue"),
    "if_not_exists": ("create", "reject"),
    "on_completion": ("delete", "keep"),
    "durability": ("sync", "async", "exit"),
    "on_disconnect": ("cancel", "continue"),
}
STREAM_MODES = (
    "values", "messages", "updates", "events", "tasks", "checkpoints", "debug", "custom",
    "messages-tuple",
)  # fmt: skip


def _templated(value: Any) -> bool:
    """A value Airflow will render later (or an XComArg): it can only be checked then."""
    return (isinstance(value, str) and "{{" in value) or type(value).__name__.endswith("XComArg")


def check_run_arguments(**arguments: Any) -> None:
    """Fail at DAG-parse time on run arguments the server would refuse, naming the argument."""
    for name, value in arguments.items():
        if value is None or _templated(value):
            continue
        if name in _RUN_ENUMS and value not in _RUN_ENUMS[name]:
            raise LangGraphConfigError(f"{name} must be one of {_RUN_ENUMS[name]}, got {value!r}")
        if name in ("input", "command", "config", "context", "metadata"):
            try:
                json.dumps(value, allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise LangGraphConfigError(f"{name} is not JSON-serializable: {exc}") from None
    if arguments.get("after_seconds") is not None and not _templated(arguments["after_seconds"]):
        after = arguments["after_seconds"]
        if not isinstance(after, int) or isinstance(after, bool) or after < 0:
            raise LangGraphConfigError(f"after_seconds must be an integer >= 0, got {after!r}")
    config, context = arguments.get("config"), arguments.get("context")
    if isinstance(config, dict) and config.get("configurable") and context:
        raise LangGraphConfigError(
            "config['configurable'] and context cannot be used together: the server refuses "
            "it (400); pass the static values in context only"
        )
    command = arguments.get("command")
    resuming = isinstance(command, dict) and "resume" in command
    if resuming and "thread_id" in arguments and arguments["thread_id"] is None:
        raise LangGraphConfigError(
            "command={'resume': ...} needs the thread_id of the paused run: a resume "
            "without a thread has nothing to resume (the server refuses it)"
        )


def check_stream_mode(stream_mode: Any) -> None:
    if stream_mode is None or _templated(stream_mode):
        return
    modes = [stream_mode] if isinstance(stream_mode, str) else list(stream_mode)
    unknown = [m for m in modes if m not in STREAM_MODES]
    if unknown:
        raise LangGraphConfigError(f"unknown stream_mode {unknown}; known: {list(STREAM_MODES)}")


_NO_RESULT: Any = object()


def read_outcome(
    hook: LangGraphHook, ref: dict[str, Any], result: Any = _NO_RESULT
) -> dict[str, Any]:
    """The outcome of an ended run: ``ref`` (thread_id, run_id, status) plus ``outcome`` and
    ``output`` / ``error`` / ``interrupts`` / ``next``.

    Values and pauses are read from the run's own last checkpoint (the thread's history for
    that run_id): ``join`` of an ended run answers the thread's *current* values, which a later
    run on the same thread may have changed. A run is paused when it stopped with nodes still
    to run — after ``interrupt()`` (with interrupt payloads) or at a static breakpoint
    (``interrupt_before``/``interrupt_after``, without) — even though its status is success.
    ``result`` is what the caller already received for the run (wait/stream), used when the
    server kept no checkpoint.
    """
    if ref["status"] == "missing":
        return outcome_of(ref, None)
    checkpoint = _last_checkpoint(hook, ref)
    error = _error_of(hook, ref) if ref["status"] == "error" else None
    return outcome_of(ref, checkpoint, error, result)


def outcome_of(
    ref: dict[str, Any],
    checkpoint: dict[str, Any] | None,
    error: dict[str, Any] | None = None,
    result: Any = _NO_RESULT,
) -> dict[str, Any]:
    """The outcome of an ended run from what was read about it: its last ``checkpoint`` (or
    None if the server kept none), the agent's ``error`` for a failed run, and ``result``."""
    status = ref["status"]
    outcome: dict[str, Any] = {"thread_id": ref["thread_id"], "run_id": ref["run_id"]}
    outcome["status"] = status
    if status == "missing":
        outcome["outcome"] = "missing"
        outcome["error"] = {"error": "RunNotFound", "message": ref.get("detail", "not found")}
        return outcome
    values = checkpoint.get("values") if checkpoint else None
    if checkpoint is None and result is not _NO_RESULT:
        values = (
            {k: v for k, v in result.items() if k != "__interrupt__"}
            if isinstance(result, dict)
            else result
        )
    if status == "success":
        interrupts, waiting = _pause_of(checkpoint, result)
        outcome["outcome"] = "paused" if interrupts or waiting else "success"
        outcome["output"] = (
            {**values, "__interrupt__": interrupts}
            if interrupts and isinstance(values, dict)
            else values
        )
        if outcome["outcome"] == "paused":
            outcome["interrupts"] = interrupts
            outcome["next"] = waiting
    elif status == "error":
        outcome["outcome"] = "error"
        outcome["error"] = error or _UNKNOWN_ERROR
    elif status == "timeout":
        outcome["outcome"] = "timeout"
        outcome["output"] = values
        outcome["error"] = {
            "error": "RunTimeout",
            "message": "the server stopped the run at its time limit",
        }
    else:  # interrupted: cancelled by a client
        outcome["outcome"] = "cancelled"
        outcome["output"] = values
        outcome["error"] = {"error": "RunCancelled", "message": "the run was cancelled"}
    return outcome


def _last_checkpoint(hook: LangGraphHook, ref: dict[str, Any]) -> dict[str, Any] | None:
    try:
        history = hook.get_thread_history(
            ref["thread_id"], limit=1, metadata={"run_id": ref["run_id"]}
        )
    except LangGraphNotFoundError:
        return None  # deleted: rolled back, or a stateless run with on_completion="delete"
    return history[0] if history else None


def _pause_of(checkpoint: dict[str, Any] | None, result: Any) -> tuple[list[Any], list[str]]:
    """The interrupt payloads and the nodes still to run where the run stopped."""
    if checkpoint is None:
        return (interrupts_of(result) or [] if result is not _NO_RESULT else []), []
    interrupts = [i for task in checkpoint.get("tasks") or [] for i in task.get("interrupts") or []]
    return interrupts, list(checkpoint.get("next") or [])


_UNKNOWN_ERROR = {
    "error": "Error",
    "message": "the run failed; the server no longer has the details",
}


def _error_of(hook: LangGraphHook, ref: dict[str, Any]) -> dict[str, Any] | None:
    """The agent's error: ``join`` reports it for the thread's latest run."""
    try:
        body = hook.join_run(ref["thread_id"], ref["run_id"], raise_error=False)
    except LangGraphError:
        body = None
    return _join_error(body)


def _join_error(body: Any) -> dict[str, Any] | None:
    error = body.get("__error__") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else None


def read_batch_outcomes(
    hook: LangGraphHook, refs: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """:func:`read_outcome` for many ended runs that are each alone on their thread, as batch
    items are (``create_batch`` makes a thread per run): in order, read concurrently.

    Such a thread's state *is* its run's final state, and the thread answers cheaply with its
    values, its status and the run's error — where a checkpoint read costs the server tens of
    milliseconds of CPU per run, once it holds many threads. The checkpoint is still read where
    only it can tell: a thread that is interrupted (paused, at a breakpoint, or cancelled) or
    busy with another run.
    """
    return asyncio.run(_aread_batch_outcomes(hook, refs))


async def _aread_batch_outcomes(
    hook: LangGraphHook, refs: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    limit = asyncio.Semaphore(50)  # join (error details) is a long poll, outside the hook's gate

    async def one(ref: dict[str, Any]) -> dict[str, Any]:
        async with limit:
            return await _aread_alone(hook, ref)

    try:
        return list(await asyncio.gather(*(one(ref) for ref in refs)))
    finally:
        await LangGraphHook.aclose_loop_clients()


async def _aread_alone(hook: LangGraphHook, ref: dict[str, Any]) -> dict[str, Any]:
    if ref["status"] == "missing":
        return outcome_of(ref, None)
    try:
        thread = await hook.aget_thread(ref["thread_id"])
    except LangGraphNotFoundError:
        return outcome_of(ref, None)  # deleted with its run
    checkpoint: dict[str, Any] | None
    if thread.get("status") in ("idle", "error"):
        checkpoint = {"values": thread.get("values"), "tasks": [], "next": []}
    else:
        checkpoint = await _alast_checkpoint(hook, ref)
    error = None
    if ref["status"] == "error":
        error = thread.get("error") if isinstance(thread.get("error"), dict) else None
        if error is None:
            error = await _aerror_of(hook, ref)
    return outcome_of(ref, checkpoint, error)


async def _alast_checkpoint(hook: LangGraphHook, ref: dict[str, Any]) -> dict[str, Any] | None:
    try:
        history = await hook.aget_thread_history(
            ref["thread_id"], limit=1, metadata={"run_id": ref["run_id"]}
        )
    except LangGraphNotFoundError:
        return None
    return history[0] if history else None


async def _aerror_of(hook: LangGraphHook, ref: dict[str, Any]) -> dict[str, Any] | None:
    try:
        body = await hook.ajoin_run(ref["thread_id"], ref["run_id"], raise_error=False)
    except LangGraphError:
        body = None
    return _join_error(body)


def raise_for_outcome(outcome: dict[str, Any], on_interrupt: OnInterrupt) -> Any:
    """The run's output, or the error a user can act on."""
    kind = outcome["outcome"]
    where = f"run {outcome['run_id']} on thread {outcome['thread_id']}"
    if kind == "success" or (kind == "paused" and on_interrupt == "succeed"):
        return outcome.get("output")
    if kind == "paused":
        raise LangGraphRunPausedError(
            f"LangGraph {where} paused for human input (next: {outcome.get('next')}); resume "
            "the thread with command={'resume': ...} (or, at a breakpoint, a run with no input), "
            f"or set on_interrupt='succeed'. Interrupts: {outcome['interrupts']!r:.500}",
            interrupts=outcome["interrupts"],
            thread_id=outcome["thread_id"],
        )
    error = outcome.get("error") or {}
    if kind == "error":
        raise LangGraphRunFailedError(
            str(error.get("error")),
            str(error.get("message")),
            run_id=outcome["run_id"],
            thread_id=outcome["thread_id"],
        )
    if kind == "timeout":
        raise LangGraphRunTimeoutError(
            f"LangGraph {where} hit the server's time limit (status timeout)"
        )
    if kind == "missing":
        raise LangGraphError(f"LangGraph {where} no longer exists: {error.get('message')}")
    raise LangGraphRunCancelledError(f"LangGraph {where} was cancelled (status interrupted)")


def validate_event(event: Any) -> dict[str, Any]:
    """A trigger event, checked before anything acts on it."""
    if not isinstance(event, dict) or event.get("status") not in EVENT_STATUSES:
        raise LangGraphError(f"unexpected trigger event: {event!r:.300}")
    runs = event.get("runs")
    if (
        not isinstance(runs, list)
        or not runs
        or not all(isinstance(r, dict) and r.get("thread_id") and r.get("run_id") for r in runs)
    ):
        raise LangGraphError(f"trigger event without valid runs: {event!r:.300}")
    if event["status"] == "done" and not all(r.get("status") for r in runs):
        raise LangGraphError(f"trigger event without final statuses: {event!r:.300}")
    return event


def thread_or_none(thread_id: Any) -> str | None:
    """A templated thread id that rendered to nothing ("", "None") means "no thread"."""
    if thread_id is None or (isinstance(thread_id, str) and thread_id.strip() in ("", "None")):
        return None
    return str(thread_id)


class LangGraphBaseOperator(BaseOperator):
    """The connection, the outcome policy, and cancelling remote runs when the task is killed.

    :param langgraph_conn_id: the ``langgraph`` connection.
    :param cancel_on_kill: cancel the remote run(s) whenever the task stops waiting without a
        result: killed, marked failed or cleared (also while deferred), execution_timeout, or
        wait_timeout.
    :param cancel_action: ``interrupt`` (stop the run) or ``rollback`` (also delete it).
    :param on_interrupt: a run that paused for a human: ``fail`` the task (default) or
        ``succeed`` with the output, whose ``__interrupt__`` holds the question.
    :param reattach: one run per task instance: each try first looks for the run of an earlier
        try (re-attach if going, reuse if succeeded) and adopts a run whose creation's answer
        was lost. False: every try creates a new run.
    :param on_previous_failure: an earlier try's run failed: ``rerun`` (default) or ``fail``.
    """

    ui_color = "#1c3c3c"
    ui_fgcolor = "#ffffff"

    def __init__(
        self,
        *,
        langgraph_conn_id: str = LangGraphHook.default_conn_name,
        cancel_on_kill: bool = True,
        cancel_action: CancelAction = "interrupt",
        on_interrupt: OnInterrupt = "fail",
        reattach: bool = True,
        on_previous_failure: OnPreviousFailure = "rerun",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.langgraph_conn_id = langgraph_conn_id
        self.reattach = reattach
        self.on_previous_failure = on_previous_failure
        check_choice("on_previous_failure", on_previous_failure)
        self.cancel_on_kill = cancel_on_kill
        self.cancel_action = cancel_action
        self.on_interrupt = on_interrupt
        check_choice("cancel_action", cancel_action)
        check_choice("on_interrupt", on_interrupt)
        self._active_runs: list[dict[str, Any]] = []

    @cached_property
    def hook(self) -> LangGraphHook:
        return LangGraphHook(self.langgraph_conn_id)

    def on_kill(self) -> None:
        """Killed while running in a worker (marked failed, cleared, execution_timeout)."""
        self._cancel(self._active_runs)

    def _cancel(self, runs: Sequence[dict[str, Any]]) -> None:
        """Cancel each run, best effort and briefly.

        on_kill runs in a signal handler, maybe while the main thread is inside an event loop or
        in the middle of a read on the operator's client: so a fresh sync client, few retries,
        and no exception may escape.
        """
        if not (self.cancel_on_kill and runs):
            return
        with LangGraphHook(self.langgraph_conn_id, retry=CANCEL_RETRY) as hook:
            for ref in runs:
                try:
                    hook.cancel_run(ref["thread_id"], ref["run_id"], action=self.cancel_action)
                    self.log.info(
                        "Cancelled LangGraph run %s (%s)", ref["run_id"], self.cancel_action
                    )
                except LangGraphNotFoundError:
                    self.log.info("LangGraph run %s had already ended", ref["run_id"])
                except Exception as exc:
                    self.log.error("Could not cancel LangGraph run %s: %s", ref["run_id"], exc)


class WaitingMixin:
    """Waiting for runs in the worker or, deferred, in the triggerer (same code in both).

    Host classes call :meth:`init_waiting` from ``__init__`` with these parameters:

    :param deferrable: wait in the triggerer instead of a worker slot (default: Airflow's
        ``[operators] default_deferrable``).
    :param wait_mode: ``poll`` (``get_run`` every ``poll_interval`` seconds) or ``join`` (a
        long poll the server answers when the run ends: no polling delay).
    :param poll_interval: seconds between polls, and between tries after a failure.
    :param wait_timeout: seconds to wait for the run(s) before failing (None: no limit). Distinct
        from ``execution_timeout``, which Airflow applies to the whole task.
    :param failure_budget: consecutive transient failures (server down, 5xx, 429) tolerated while
        waiting before the task fails; the run goes on meanwhile.
    """

    hook: LangGraphHook
    langgraph_conn_id: str
    cancel_on_kill: bool
    cancel_action: CancelAction
    execution_timeout: timedelta | None
    log: Any
    _active_runs: list[dict[str, Any]]

    def init_waiting(
        self,
        deferrable: bool | None,
        wait_mode: WaitMode,
        poll_interval: float,
        wait_timeout: float | timedelta | None,
        failure_budget: int,
    ) -> None:
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.wait_mode = wait_mode
        self.poll_interval = float(poll_interval)
        if isinstance(wait_timeout, timedelta):
            wait_timeout = wait_timeout.total_seconds()
        self.wait_timeout = wait_timeout
        self.failure_budget = failure_budget
        check_choice("wait_mode", wait_mode)
        if self.poll_interval <= 0:
            raise LangGraphConfigError(f"poll_interval must be > 0, got {poll_interval!r}")
        if failure_budget < 0:
            raise LangGraphConfigError(f"failure_budget must be >= 0, got {failure_budget!r}")

    def _deadline(self, context: Any) -> tuple[float | None, str]:
        """The absolute time to stop waiting, and why: our wait_timeout, or — when deferred,
        since Airflow does not apply it to deferred tasks — the end of execution_timeout."""
        deadline = time.time() + self.wait_timeout if self.wait_timeout is not None else None
        reason = "wait_timeout"
        start = getattr(context["ti"], "start_date", None)
        if self.deferrable and self.execution_timeout and start is not None:
            end = start.timestamp() + self.execution_timeout.total_seconds()
            if deadline is None or end < deadline:
                deadline, reason = end, "execution_timeout"
        return deadline, reason

    def wait_for(
        self, context: Any, runs: Sequence[dict[str, Any]], stop_statuses: Sequence[str] = ()
    ) -> list[dict[str, Any]]:
        """Wait for ``runs`` to end; returns their final ``{thread_id, run_id, status}``.

        Deferrable: checks once, and if any run is still going, defers (the task resumes in
        :meth:`execute_complete`). Otherwise waits right here, with the code the trigger runs.
        """
        self._active_runs = [{"thread_id": r["thread_id"], "run_id": r["run_id"]} for r in runs]
        stops = frozenset(stop_statuses or TERMINAL_RUN_STATUSES)
        deadline, reason = self._deadline(context)
        if self.deferrable:
            current = [self._status(r) for r in self._active_runs]
            for ref in current:
                self.log.info(
                    "LangGraph run %s on thread %s is %s",
                    ref["run_id"],
                    ref["thread_id"],
                    ref["status"],
                )
            if all(r["status"] in stops for r in current):
                return current
            self.defer(  # type: ignore[attr-defined]
                trigger=LangGraphRunTrigger(
                    runs=self._active_runs,
                    langgraph_conn_id=self.langgraph_conn_id,
                    wait_mode=self.wait_mode,
                    poll_interval=self.poll_interval,
                    failure_budget=self.failure_budget,
                    deadline=deadline,
                    deadline_reason=reason,  # type: ignore[arg-type]
                    cancel_on_kill=self.cancel_on_kill,
                    cancel_action=self.cancel_action,
                    stop_statuses=sorted(stops),
                    read_status=False,  # read in execute_complete: one request per wait
                ),
                method_name="execute_complete",
                # None: Airflow's own trigger timeout would skip our cancel (cleanup only);
                # the trigger enforces the deadline itself.
                timeout=None,
            )
        options = WaitOptions(
            mode=self.wait_mode,
            poll_interval=self.poll_interval,
            failure_budget=self.failure_budget,
            deadline=deadline,
            deadline_reason=reason,  # type: ignore[arg-type]
            stop_statuses=stops,
        )
        try:
            return asyncio.run(self._wait_async(options))
        except WaitDeadlineExceeded as exc:
            self._cancel(exc.pending)  # type: ignore[attr-defined]
            raise LangGraphWaitTimeoutError(f"wait_timeout reached: {exc}") from exc

    async def _wait_async(self, options: WaitOptions) -> list[dict[str, Any]]:
        try:
            return await wait_for_runs(self.hook, self._active_runs, options, self.log)
        finally:
            await LangGraphHook.aclose_loop_clients()

    def _status(self, ref: dict[str, Any]) -> dict[str, Any]:
        run = self.hook.get_run(ref["thread_id"], ref["run_id"])
        return {**ref, "status": run["status"]}

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger fired: validate its event, then finish like a sync wait."""
        event = validate_event(event)
        self._active_runs = [
            {"thread_id": r["thread_id"], "run_id": r["run_id"]} for r in event["runs"]
        ]
        if event["status"] == "failed":
            raise LangGraphError(f"waiting for the LangGraph run(s) failed: {event.get('message')}")
        if event["status"] == "deadline":
            if event.get("reason") == "execution_timeout":
                raise AirflowTaskTimeout(f"execution_timeout reached: {event.get('message')}")
            raise LangGraphWaitTimeoutError(f"wait_timeout reached: {event.get('message')}")
        return self.complete(context, self._read_ended(context, event["runs"]))

    def _read_ended(self, context: Any, runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The statuses of the runs a join saw end in the triggerer (status ENDED)."""
        read = [self._ended_status(r) if r["status"] == ENDED else r for r in runs]
        if all(r["status"] in FINAL_STATUSES for r in read):
            return read
        # A join answered before its run ended (never seen): wait again, which defers.
        return self.wait_for(context, runs)

    def _ended_status(self, ref: dict[str, Any]) -> dict[str, Any]:
        try:
            return self._status(ref)
        except LangGraphNotFoundError:
            return missing_run(ref)

    def complete(self, context: Any, runs: list[dict[str, Any]]) -> Any:
        """Turn the ended runs into the task's result (host classes)."""
        raise NotImplementedError
