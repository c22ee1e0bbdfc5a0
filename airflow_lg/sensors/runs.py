"""RunStatusSensor: wait for a given run to reach a status, poking, rescheduling or deferred."""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import cached_property
from typing import Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_lg.exceptions import LangGraphConfigError, LangGraphError
from airflow_lg.hooks.langgraph import LangGraphHook
from airflow_lg.links import LangGraphRunLink
from airflow_lg.operators._base import (
    OnInterrupt,
    check_choice,
    default_deferrable,
    raise_for_outcome,
    read_outcome,
    validate_event,
)
from airflow_lg.schema import TERMINAL_RUN_STATUSES
from airflow_lg.triggers.runs import ENDED, LangGraphRunTrigger, WaitMode


class RunStatusSensor(BaseSensorOperator):
    """Wait until the run ``(thread_id, run_id)`` reaches one of ``target_statuses``.

    On a target status the sensor returns the run's output (XCom ``return_value``); on one of
    ``failure_statuses`` it fails with the agent's error, the server's timeout, or the
    cancellation. A run that paused for a human (status ``success`` with ``__interrupt__``)
    follows ``on_interrupt``. With ``deferrable=True`` the wait happens in the triggerer,
    bounded by the sensor's ``timeout``; ``wait_mode="join"`` lets the server answer the moment
    the run ends instead of polling every ``poke_interval``.
    """

    template_fields: Sequence[str] = ("thread_id", "run_id")
    operator_extra_links = (LangGraphRunLink(),)

    def __init__(
        self,
        *,
        thread_id: str,
        run_id: str,
        target_statuses: Sequence[str] = ("success",),
        failure_statuses: Sequence[str] = ("error", "timeout", "interrupted"),
        langgraph_conn_id: str = LangGraphHook.default_conn_name,
        deferrable: bool | None = None,
        wait_mode: WaitMode = "poll",
        on_interrupt: OnInterrupt = "fail",
        failure_budget: int = 5,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.thread_id = thread_id
        self.run_id = run_id
        self.target_statuses = list(target_statuses)
        self.failure_statuses = list(failure_statuses)
        overlap = set(self.target_statuses) & set(self.failure_statuses)
        if overlap:
            raise LangGraphConfigError(
                f"statuses {sorted(overlap)} are both target and failure statuses"
            )
        self.langgraph_conn_id = langgraph_conn_id
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.wait_mode = wait_mode
        self.on_interrupt = on_interrupt
        self.failure_budget = failure_budget
        check_choice("wait_mode", wait_mode)
        check_choice("on_interrupt", on_interrupt)

    @cached_property
    def hook(self) -> LangGraphHook:
        return LangGraphHook(self.langgraph_conn_id)

    def _ref(self) -> dict[str, Any]:
        return {"thread_id": self.thread_id, "run_id": self.run_id}

    def poke(self, context: Any) -> bool | PokeReturnValue:
        status = self.hook.get_run(self.thread_id, self.run_id)["status"]
        self.log.info("LangGraph run %s is %s", self.run_id, status)
        return self._judge(context, {**self._ref(), "status": status})

    def _judge(self, context: Any, ref: dict[str, Any]) -> bool | PokeReturnValue:
        status = ref["status"]
        if status in self.target_statuses:
            output = None
            if status in TERMINAL_RUN_STATUSES:
                outcome = read_outcome(self.hook, ref)
                if outcome.get("interrupts"):
                    context["ti"].xcom_push(key="interrupts", value=outcome["interrupts"])
                output = raise_for_outcome(outcome, self.on_interrupt)
            return PokeReturnValue(is_done=True, xcom_value=output)
        if status in self.failure_statuses:
            raise_for_outcome(read_outcome(self.hook, ref), self.on_interrupt)
            raise LangGraphError(f"LangGraph run {self.run_id} reached failure status {status}")
        if status in TERMINAL_RUN_STATUSES:
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
        answer = self.poke(context)
        if isinstance(answer, PokeReturnValue):
            return answer.xcom_value
        self.defer(
            trigger=LangGraphRunTrigger(
                runs=[self._ref()],
                langgraph_conn_id=self.langgraph_conn_id,
                wait_mode=self.wait_mode,
                poll_interval=self.poke_interval,
                failure_budget=self.failure_budget,
                deadline=time.time() + self.timeout,
                # the sensor watches a run it did not create: killing it cancels nothing
                cancel_on_kill=False,
                stop_statuses=sorted(
                    set(self.target_statuses) | set(self.failure_statuses) | TERMINAL_RUN_STATUSES
                ),
                read_status=False,  # read in execute_complete: one request per wait
            ),
            method_name="execute_complete",
            timeout=None,
        )

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> Any:
        event = validate_event(event)
        if event["status"] == "deadline":
            from airflow.sdk.exceptions import AirflowSensorTimeout

            raise AirflowSensorTimeout(f"sensor timeout reached: {event.get('message')}")
        if event["status"] == "failed":
            raise LangGraphError(f"waiting for the LangGraph run failed: {event.get('message')}")
        ref = event["runs"][0]
        if ref["status"] == ENDED:  # a join saw it end: how, the sensor reads here
            ref = {**ref, "status": self.hook.get_run(self.thread_id, self.run_id)["status"]}
            if ref["status"] not in TERMINAL_RUN_STATUSES:
                return self.execute(context)  # a join answered early (never seen): wait again
        answer = self._judge(context, ref)
        if isinstance(answer, PokeReturnValue):
            return answer.xcom_value
        raise LangGraphError(f"the trigger ended on non-final event {event!r:.300}")
