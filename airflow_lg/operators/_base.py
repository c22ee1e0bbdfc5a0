"""What every run-driving operator shares, in Airflow's terms: the connection, the outcome
policy, cancelling the remote runs when the task is killed, and waiting — in the worker, or
deferred to the triggerer — through :mod:`airflow_lg.waiting`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import timedelta
from functools import cached_property
from typing import Any, TypeVar

from airflow.configuration import conf
from airflow.sdk import BaseOperator

from airflow_lg.arguments import check_choice, check_failure_budget, for_task
from airflow_lg.exactly_once import TaskRuns
from airflow_lg.exceptions import LangGraphConfigError
from airflow_lg.hooks.langgraph import LangGraphHook
from airflow_lg.runs import RunRef
from airflow_lg.schema import (
    CancelAction,
    DeadlineReason,
    OnInterrupt,
    OnPreviousFailure,
    WaitMode,
)
from airflow_lg.triggers.runs import LangGraphRunTrigger
from airflow_lg.waiting import (
    WaitDeadlineExceeded,
    WaitOptions,
    cancel_runs,
    deadline_error,
    default_wait_mode,
    resume,
    validate_event,
    wait_for_runs,
)

T = TypeVar("T")


def default_deferrable() -> bool:
    return conf.getboolean("operators", "default_deferrable", fallback=False)


class LangGraphBaseOperator(BaseOperator):
    """The connection, the outcome policy, and cancelling remote runs when the task is killed.

    :param langgraph_conn_id: the ``langgraph`` connection.
    :param cancel_on_kill: cancel the remote run(s) whenever the task stops waiting without a
        result: killed, marked failed or cleared (also while deferred), execution_timeout, or
        wait_timeout.
    :param cancel_action: ``interrupt`` (stop the run) or ``rollback`` (also delete it).
    :param on_interrupt: a run that paused for a human: ``fail`` the task (default) or
        ``succeed`` with the output, whose ``__interrupt__`` holds the question.
    :param reattach: one run per task instance: a retry first looks for the run of an earlier
        try (re-attach if going, reuse if succeeded) and a run whose creation's answer was lost
        is adopted (:mod:`airflow_lg.exactly_once`). False: every try creates a new run.
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
        self.cancel_on_kill = cancel_on_kill
        self.cancel_action = cancel_action
        self.on_interrupt = on_interrupt
        self.reattach = reattach
        self.on_previous_failure = on_previous_failure
        for name in ("cancel_action", "on_interrupt", "on_previous_failure"):
            self.check(check_choice, name, getattr(self, name))
        # the runs on_kill cancels: set as soon as they exist, cleared when they ended
        self._active_runs: list[RunRef] = []

    def check(self, check: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run an argument check, naming this task in what it refuses."""
        return for_task(self.task_id, check, *args, **kwargs)

    @cached_property
    def hook(self) -> LangGraphHook:
        return LangGraphHook(self.langgraph_conn_id)

    def task_runs(self, context: Any) -> TaskRuns:
        """This task instance's runs on the server, for this try (exactly once)."""
        return TaskRuns(
            self.hook, context, self.log,
            reattach=self.reattach, on_previous_failure=self.on_previous_failure,
        )  # fmt: skip

    def on_kill(self) -> None:
        """Killed while running in a worker (marked failed, cleared, execution_timeout)."""
        self._cancel(self._active_runs)

    def _cancel(self, runs: Sequence[RunRef]) -> None:
        if self.cancel_on_kill and runs:
            cancel_runs(self.langgraph_conn_id, runs, self.cancel_action, self.log)


class WaitingMixin:
    """Waiting for runs in the worker or, deferred, in the triggerer (same code in both).

    Host classes call :meth:`init_waiting` from ``__init__`` with these parameters:

    :param deferrable: wait in the triggerer instead of a worker slot (default: Airflow's
        ``[operators] default_deferrable``).
    :param wait_mode: ``poll`` (``get_run`` every ``poll_interval`` seconds), ``join`` (a long
        poll per run that the server answers when the run ends) or ``watch`` (one shared
        watcher per connection asks the server about all waiting runs at once, about one
        request a second however many). By default ``watch`` when the task defers, and for a
        batch's items anywhere; ``poll`` for one run waited for in a worker.
    :param poll_interval: seconds between polls once a run has been going a while (the first
        re-check comes after 1 s, then 2, 4, ... up to this), and between tries after a failure.
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
    _active_runs: list[RunRef]
    # a wait for one run tells its nodes in the log; a batch's would be a flood
    tells_progress: bool = True
    # a batch waits for many runs at once: the watcher's ~1 request a second beats a poll each
    waits_for_many: bool = False
    # a deferred wait resumes with the ended runs' statuses read; a batch reads each item's
    # status with its outcome instead (and waits again itself for one still going)
    resume_reads_status: bool = True

    def init_waiting(
        self,
        deferrable: bool | None,
        wait_mode: WaitMode | None,
        poll_interval: float,
        wait_timeout: float | timedelta | None,
        failure_budget: int,
    ) -> None:
        if isinstance(wait_timeout, timedelta):
            wait_timeout = wait_timeout.total_seconds()
        check = self.check  # type: ignore[attr-defined]
        if wait_mode is not None:
            check(check_choice, "wait_mode", wait_mode)
        check(_check_waiting, poll_interval, failure_budget, wait_timeout)
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.wait_mode: WaitMode = wait_mode or default_wait_mode(
            self.deferrable, self.waits_for_many
        )
        self.poll_interval = float(poll_interval)
        self.wait_timeout = wait_timeout
        self.failure_budget = failure_budget

    def wait_options(self, context: Any) -> WaitOptions:
        """How this task waits: its mode and budgets, and the absolute time to stop — our
        wait_timeout or, when deferred (Airflow does not apply it to deferred tasks), the end
        of execution_timeout, whichever comes first."""
        deadline = time.time() + self.wait_timeout if self.wait_timeout is not None else None
        reason: DeadlineReason = "wait_timeout"
        start = getattr(context["ti"], "start_date", None)
        if self.deferrable and self.execution_timeout and start is not None:
            end = start.timestamp() + self.execution_timeout.total_seconds()
            if deadline is None or end < deadline:
                deadline, reason = end, "execution_timeout"
        return WaitOptions(
            mode=self.wait_mode,
            poll_interval=self.poll_interval,
            failure_budget=self.failure_budget,
            deadline=deadline,
            deadline_reason=reason,
            # deferred: a join or the watcher reports "ended" and execute_complete reads how
            # (no request per run in the triggerer); in a worker, each run's status is read as
            # it ends, while the others still go
            read_status=not self.deferrable,
            progress=self.tells_progress,
        )

    def wait_for(
        self, context: Any, runs: Sequence[RunRef], mode: WaitMode | None = None
    ) -> list[RunRef]:
        """Wait for ``runs`` to end; returns each with its final status.

        Runs whose status is already known to be final (just read, or reused) are not asked
        again. Deferrable: if any run is still going, defers (the task resumes in
        :meth:`execute_complete`). Otherwise waits right here, with the code the trigger runs.
        """
        self._active_runs = [ref.ids for ref in runs]
        if all(ref.status is not None and ref.status.is_terminal() for ref in runs):
            return list(runs)
        options = self.wait_options(context)
        if mode is not None:
            options = replace(options, mode=mode)
        if self.deferrable:
            for ref in runs:  # what is known without asking: a new run's answer says pending
                if ref.status is not None:
                    self.log.info("LangGraph %s is %s", ref, ref.status)
            self.defer(  # type: ignore[attr-defined]
                trigger=LangGraphRunTrigger(
                    self._active_runs,
                    options,
                    langgraph_conn_id=self.langgraph_conn_id,
                    cancel_on_kill=self.cancel_on_kill,
                    cancel_action=self.cancel_action,
                ),
                method_name="execute_complete",
                # None: Airflow's own trigger timeout would skip our cancel (cleanup only);
                # the trigger enforces the deadline itself.
                timeout=None,
            )
        try:
            return self.hook.blocking(self.waiting(self._active_runs, options))
        except WaitDeadlineExceeded as exc:
            self._cancel(exc.pending)  # type: ignore[attr-defined]
            raise deadline_error(exc.reason, str(exc)) from exc

    async def waiting(self, runs: list[RunRef], options: WaitOptions) -> list[RunRef]:
        """The wait in a worker (host classes may do more while it goes)."""
        return await wait_for_runs(self.hook, runs, options, self.log)

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger fired: its event checked and its runs' ends read
        (:func:`airflow_lg.waiting.resume`), then finish like a sync wait."""
        checked = validate_event(event)
        self._active_runs = [ref.ids for ref in checked.runs]  # a kill from now on cancels them
        runs = resume(self.hook, checked, read_ended=self.resume_reads_status)
        if runs is None or (self.resume_reads_status and not all(r.is_final for r in runs)):
            # A join answered before its run ended (never seen), or a thread looked idle with
            # the run still queued (langgraph-api, after a cancel of another queued run):
            # wait again, polling — the watcher would see the same idle thread at once.
            again = self.wait_for(context, self._active_runs, mode="poll")
            return self.complete(context, again)
        return self.complete(context, runs)

    def complete(self, context: Any, runs: list[RunRef]) -> Any:
        """Turn the ended runs into the task's result (host classes)."""
        raise NotImplementedError


def _check_waiting(poll_interval: float, failure_budget: int, wait_timeout: float | None) -> None:
    if not _seconds(poll_interval) or poll_interval <= 0:
        raise LangGraphConfigError(f"poll_interval must be > 0, got {poll_interval!r}")
    check_failure_budget(failure_budget)
    if wait_timeout is not None and (not _seconds(wait_timeout) or wait_timeout <= 0):
        # 0 would create the run and cancel it at once: never what was meant
        raise LangGraphConfigError(
            f"wait_timeout must be seconds > 0 (or a timedelta, or None for no limit), "
            f"got {wait_timeout!r}"
        )


def _seconds(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
