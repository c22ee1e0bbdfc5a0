"""RunStatusSensor: wait for a given run to reach a status, poking, rescheduling or deferred."""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import cached_property
from typing import Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_lg.arguments import check_choice, check_failure_budget, for_task
from airflow_lg.exceptions import LangGraphConfigError, LangGraphError
from airflow_lg.hooks.langgraph import LangGraphHook
from airflow_lg.operators._base import default_deferrable
from airflow_lg.outcomes import read_outcome
from airflow_lg.runs import RunRef
from airflow_lg.schema import TERMINAL_RUN_STATUSES, OnInterrupt, RunStatus, WaitMode
from airflow_lg.triggers.runs import LangGraphRunTrigger
from airflow_lg.waiting import FAILURE_BUDGET, WaitOptions, default_wait_mode, resume


class RunStatusSensor(BaseSensorOperator):
    """Wait until the run ``(thread_id, run_id)`` reaches one of ``target_statuses``.

    On a target status the sensor returns the run's output (XCom ``return_value``); on one of
    ``failure_statuses`` it fails with the agent's error, the server's timeout, or the
    cancellation. A run that paused for a human (status ``success`` with ``__interrupt__``)
    follows ``on_interrupt``. With ``deferrable=True`` the wait happens in the triggerer,
    bounded by the sensor's ``timeout``: the connection's shared watcher (``wait_mode="watch"``,
    the default: about one request a second for all the runs a triggerer waits on), a poll
    every ``poke_interval`` (``"poll"``), or a join (``"join"``). A sensor that waits for a
    status a run passes through (``running``) polls: a thread's status cannot tell it.
    """

    template_fields: Sequence[str] = ("thread_id", "run_id", "langgraph_conn_id")

    def __init__(
        self,
        *,
        thread_id: str,
        run_id: str,
        target_statuses: Sequence[str] = ("success",),
        failure_statuses: Sequence[str] = ("error", "timeout", "interrupted"),
        langgraph_conn_id: str = LangGraphHook.default_conn_name,
        deferrable: bool | None = None,
        wait_mode: WaitMode | None = None,
        on_interrupt: OnInterrupt = "fail",
        failure_budget: int = FAILURE_BUDGET,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        for_task(self.task_id, _check_statuses, target_statuses, failure_statuses)
        self.thread_id = thread_id
        self.run_id = run_id
        self.target_statuses = list(target_statuses)
        self.failure_statuses = list(failure_statuses)
        overlap = set(self.target_statuses) & set(self.failure_statuses)
        if overlap:
            raise LangGraphConfigError(
                f"task {self.task_id!r}: statuses {sorted(overlap)} are both target and "
                "failure statuses"
            )
        self.langgraph_conn_id = langgraph_conn_id
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.wait_mode: WaitMode = wait_mode or default_wait_mode(self.deferrable)
        self.on_interrupt = on_interrupt
        self.failure_budget = failure_budget
        if wait_mode is not None:
            for_task(self.task_id, check_choice, "wait_mode", wait_mode)
        for_task(self.task_id, check_choice, "on_interrupt", on_interrupt)
        for_task(self.task_id, check_failure_budget, failure_budget)

    @cached_property
    def hook(self) -> LangGraphHook:
        return LangGraphHook(self.langgraph_conn_id)

    @property
    def ref(self) -> RunRef:
        return RunRef(self.thread_id, self.run_id)

    def poke(self, context: Any) -> bool | PokeReturnValue:
        status = self.hook.get_run(self.thread_id, self.run_id)["status"]
        self.log.info("LangGraph run %s is %s", self.run_id, status)
        return self._judge(context, self.ref.with_status(status))

    def _judge(self, context: Any, ref: RunRef) -> bool | PokeReturnValue:
        status = ref.status
        if status in self.target_statuses:
            output = None
            if status is not None and status.is_terminal():
                outcome = read_outcome(self.hook, ref)
                if outcome.interrupts:
                    context["ti"].xcom_push(key="interrupts", value=outcome.interrupts)
                output = outcome.result(self.on_interrupt)
            return PokeReturnValue(is_done=True, xcom_value=output)
        if status in self.failure_statuses or status is RunStatus.MISSING:
            read_outcome(self.hook, ref).result(self.on_interrupt)
            raise LangGraphError(f"LangGraph run {self.run_id} reached failure status {status}")
        if status is not None and status.is_terminal():
            raise LangGraphError(
                f"LangGraph run {self.run_id} ended with status {status}, which is neither a "
                f"target {self.target_statuses} nor a failure status {self.failure_statuses}"
            )
        return False

    def execute(self, context: Any) -> Any:
        # what the "LangGraph run" link and downstream tasks read
        context["ti"].xcom_push(key="thread_id", value=self.thread_id)
        context["ti"].xcom_push(key="run_id", value=self.run_id)
        if not self.deferrable:
            return super().execute(context)
        return self._poke_or_defer(context)

    def _poke_or_defer(self, context: Any, mode: WaitMode | None = None) -> Any:
        answer = self.poke(context)
        if isinstance(answer, PokeReturnValue):
            return answer.xcom_value
        return self._defer(mode)  # raises TaskDeferred

    def _defer(self, mode: WaitMode | None = None) -> None:
        stops = set(self.target_statuses) | set(self.failure_statuses) | TERMINAL_RUN_STATUSES
        options = WaitOptions(
            mode=mode or self.wait_mode,
            poll_interval=self.poke_interval,
            failure_budget=self.failure_budget,
            deadline=time.time() + self.timeout,
            deadline_reason="sensor_timeout",
            stop_statuses=frozenset(stops),
            read_status=False,  # read in execute_complete: one request per wait
            progress=True,
        )
        self.defer(
            # the sensor watches a run it did not create: killing it cancels nothing
            trigger=LangGraphRunTrigger(
                [self.ref], options, langgraph_conn_id=self.langgraph_conn_id, cancel_on_kill=False
            ),
            method_name="execute_complete",
            timeout=None,
        )

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> Any:
        runs = resume(self.hook, event, deadline_reason="sensor_timeout")
        if runs is None:  # a join answered early, or the thread looked idle: poll now
            return self._poke_or_defer(context, mode="poll")
        answer = self._judge(context, runs[0])
        if isinstance(answer, PokeReturnValue):
            return answer.xcom_value
        raise LangGraphError(f"the trigger ended on non-final event {event!r:.300}")


def _check_statuses(target: Sequence[str], failure: Sequence[str]) -> None:
    """A misspelt status would never be reached: the sensor would wait until its timeout."""
    known = [str(s) for s in RunStatus if s is not RunStatus.ENDED]
    for name, statuses in (("target_statuses", target), ("failure_statuses", failure)):
        if isinstance(statuses, str):
            raise LangGraphConfigError(f"{name} must be a list of statuses, got {statuses!r}")
        unknown = [s for s in statuses if s not in known]
        if unknown:
            raise LangGraphConfigError(f"{name} has unknown status(es) {unknown}; known: {known}")
    if not target:
        raise LangGraphConfigError("target_statuses is empty: the sensor could never succeed")
