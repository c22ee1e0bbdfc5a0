"""Operators that run agents on a LangGraph Agent Server.

- :class:`CreateRunOperator` — ``runs.create``: a background run, optionally waited for
  (polling or join, in the worker or deferred to the triggerer).
- :class:`WaitRunOperator` — ``runs.wait`` (or ``runs.stream`` with ``stream_mode``): run and
  block until the final values, logging progress as it happens when streaming.
- :class:`~airflow_lg.operators.batch.BatchRunOperator` — ``runs.create_batch`` for many
  payloads, waited for together.

Every run carries the task instance's identity in its ``metadata`` (``airflow_dag_id``,
``airflow_task_id``, ``airflow_run_id``, ``airflow_map_index``, ``airflow_try_number``,
``airflow_logical_date``) so a run on the server can be traced back to its task, and so that a
retry finds it again (:mod:`airflow_lg.exactly_once`).
"""

from __future__ import annotations

import contextvars
import inspect
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any, Literal

from airflow_lg.arguments import check_run_arguments, check_stream_mode, thread_or_none
from airflow_lg.exactly_once import TaskRuns
from airflow_lg.exceptions import (
    LangGraphConfigError,
    LangGraphError,
    LangGraphRunFailedError,
    name_step,
    step,
)
from airflow_lg.inputs import check_arguments
from airflow_lg.operators._base import LangGraphBaseOperator, WaitingMixin
from airflow_lg.operators.batch import BatchRunOperator
from airflow_lg.outcomes import read_outcome
from airflow_lg.progress import ProgressLog, answer_line, progress_line
from airflow_lg.runs import RunOutcome, RunRef
from airflow_lg.schema import Outcome, Run, RunCreateMetadata, RunStatus, StreamPart, WaitMode
from airflow_lg.waiting import FAILURE_BUDGET, POLL_INTERVAL, ride_from_now

__all__ = ["BatchRunOperator", "CreateRunOperator", "WaitRunOperator", "progress_line"]

How = Literal["created", "re-attached", "reused", "adopted"]
# What the log says when the task has its run: "created" only when this request made it, so
# that a post-mortem never reads a re-attach as a second run.
_HOW_LOGGED: dict[str, str] = {
    "created": "LangGraph run %s created on thread %s",
    "re-attached": "LangGraph run %s on thread %s: re-attached to it (an earlier try created it)",
    "reused": "LangGraph run %s on thread %s: reusing its output (it succeeded in an earlier try)",
    "adopted": "LangGraph run %s on thread %s: adopted (this try created it; its answer was lost)",
}


def _how_previous(run: Run) -> How:
    return "reused" if run["status"] == RunStatus.SUCCESS else "re-attached"


class _RunRequestOperator(LangGraphBaseOperator):
    """The arguments of one run (``runs.create`` / ``runs.wait``), with the SDK's names.

    The keyword arguments of ``__init__`` between ``thread_id`` and ``**kwargs`` *are* the run's
    arguments: :attr:`RUN_ARGUMENTS` is read from this signature, the one list of them.
    """

    # langgraph_conn_id too: its rendered value tells the UI plugin which server to read.
    template_fields: Sequence[str] = (
        "assistant_id", "thread_id", "input", "command", "config", "context", "metadata",
        "langgraph_conn_id",
    )  # fmt: skip
    template_fields_renderers = {
        k: "json" for k in ("input", "command", "config", "context", "metadata")
    }
    RUN_ARGUMENTS: tuple[str, ...] = ()  # set below the class, from __init__'s signature

    def __init__(
        self,
        *,
        assistant_id: str,
        thread_id: str | None = None,
        input: Any = None,
        command: dict[str, Any] | None = None,
        config: dict[str, Any] | None = None,
        context: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        checkpoint: dict[str, Any] | None = None,
        checkpoint_id: str | None = None,
        interrupt_before: str | list[str] | None = None,
        interrupt_after: str | list[str] | None = None,
        webhook: str | None = None,
        multitask_strategy: str | None = None,
        if_not_exists: str | None = None,
        on_completion: str | None = None,
        after_seconds: int | None = None,
        durability: str | None = None,
        strict_resume: bool | None = None,
        langsmith_tracing: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        given = {name: value for name, value in locals().items() if name in self.RUN_ARGUMENTS}
        super().__init__(**kwargs)
        if not assistant_id:
            raise LangGraphConfigError(
                f"task {self.task_id!r}: assistant_id is required (a graph name or assistant UUID)"
            )
        self.check(check_run_arguments, thread_id=thread_id, **given)
        self.assistant_id = assistant_id
        self.thread_id = thread_id
        for name, value in given.items():
            setattr(self, name, value)
        self._run: RunRef | None = None  # this try's run, once it exists

    def run_arguments(self, context: Any, task_runs: TaskRuns) -> dict[str, Any]:
        """The hook arguments of this run: the SDK's, plus the task's identity in metadata.

        A stateless run is kept (``on_completion="keep"``) unless the user says otherwise:
        with the server's default ``delete`` it vanishes with its result when it ends.
        """
        arguments = {name: getattr(self, name) for name in self.RUN_ARGUMENTS}
        # as rendered, before anything is sent: what parse time could not check of templated
        # values (JSON, configurable with context, a resume without a thread), then a
        # template that rendered to 'None' or to text
        thread_id = thread_or_none(self.thread_id)
        self.check(check_run_arguments, thread_id=thread_id, **arguments)
        self.check(check_arguments, self.hook, self.assistant_id, arguments)
        arguments["metadata"] = {**task_runs.identity(), **(arguments["metadata"] or {})}
        if thread_id is None and arguments["on_completion"] is None:
            arguments["on_completion"] = "keep"
        return arguments

    def remember_run(
        self, context: Any, task_runs: TaskRuns, run: Run | RunCreateMetadata, how: How
    ) -> RunRef:
        """As soon as the run exists: the task state store, XCom, and a note for on_kill."""
        ti = context["ti"]
        ti.xcom_push(key="run_id", value=run["run_id"])
        ti.xcom_push(key="thread_id", value=run.get("thread_id"))
        ti.xcom_push(key="assistant_id", value=self.assistant_id)
        thread_id = run.get("thread_id")
        ref = RunRef(thread_id or "", run["run_id"])
        if thread_id:
            self._active_runs = [ref]  # first: a kill from now on cancels it
            task_runs.record(ref)
            if run.get("status") is not None:
                ref = RunRef.of(run)
        self._run = ref
        self.log.info(_HOW_LOGGED[how], run["run_id"], thread_id)
        return ref

    def publish(self, context: Any, outcome: RunOutcome) -> Any:
        """XCom the outcome's status (and interrupts), then return the output or raise."""
        ti = context["ti"]
        ti.xcom_push(key="status", value=outcome.status)
        if outcome.interrupts:
            ti.xcom_push(key="interrupts", value=outcome.interrupts)
        result = outcome.result(self.on_interrupt)  # type: ignore[arg-type]
        self._active_runs = []
        if outcome.outcome is Outcome.SUCCESS and result is not None:
            self.log.info("LangGraph run %s answered: %s", outcome.run_id, answer_line(result))
        return result


_RunRequestOperator.RUN_ARGUMENTS = tuple(
    name
    for name, parameter in inspect.signature(_RunRequestOperator.__init__).parameters.items()
    if parameter.kind is parameter.KEYWORD_ONLY and name not in ("assistant_id", "thread_id")
)


class CreateRunOperator(WaitingMixin, _RunRequestOperator):
    """Create a background run (``runs.create``) and, by default, wait for its output.

    XCom: ``run_id``, ``thread_id``, ``assistant_id`` as soon as the run exists; ``status``
    (and ``interrupts`` if it paused for a human) when it ends; the return value is the run's
    final values (``wait_for_completion=True``) or the Run (``False``).

    A stateless run (``thread_id=None`` with ``reattach=False``) is created with
    ``on_completion="keep"`` unless you say otherwise: with the server's default ``delete`` the
    run and its result vanish when it ends, and nobody could read them — not this task, not a
    sensor, not you in the server's UI.

    :param wait_for_completion: wait for the run to end and return its output.
    :param stream_mode: / :param stream_resumable: / :param stream_subgraphs: what the run
        records for a later ``join_stream``. By default ``values``, and ``updates`` too when
        this task joins the run (``wait_mode="join"``): its wait tells each node in the log.
    (The waiting parameters are those of :class:`~airflow_lg.operators._base.WaitingMixin`;
    the kill/interrupt ones those of :class:`~airflow_lg.operators._base.LangGraphBaseOperator`.)
    """

    def __init__(
        self,
        *,
        wait_for_completion: bool = True,
        stream_mode: str | list[str] | None = None,
        stream_resumable: bool = False,
        stream_subgraphs: bool = False,
        deferrable: bool | None = None,
        wait_mode: WaitMode | None = None,
        poll_interval: float = POLL_INTERVAL,
        wait_timeout: float | timedelta | None = None,
        failure_budget: int = FAILURE_BUDGET,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.check(check_stream_mode, stream_mode)
        self.wait_for_completion = wait_for_completion
        self.stream_mode = stream_mode
        self.stream_resumable = stream_resumable
        self.stream_subgraphs = stream_subgraphs
        self.init_waiting(deferrable, wait_mode, poll_interval, wait_timeout, failure_budget)

    @property
    def recorded_stream_mode(self) -> str | list[str]:
        """What the run records for a join_stream: as given; by default its values, and its
        node updates too when this task joins it, so the wait can tell them in the log."""
        if self.stream_mode is not None:
            return self.stream_mode
        joins = self.wait_for_completion and self.wait_mode == "join"
        return ["values", "updates"] if joins else "values"

    def execute(self, context: Any) -> Any:
        # In a context of its own: once the run exists, its wait rides out a server away.
        return contextvars.copy_context().run(self._execute, context)

    def _execute(self, context: Any) -> Any:
        once = self.task_runs(context)
        arguments = self.run_arguments(context, once)
        thread_id = once.thread(thread_or_none(self.thread_id), arguments)

        def create() -> tuple[Run, How]:
            run = self.hook.create_run(
                thread_id,
                self.assistant_id,
                stream_mode=self.recorded_stream_mode,
                stream_resumable=self.stream_resumable,
                stream_subgraphs=self.stream_subgraphs,
                **arguments,
            )
            return run, "created"

        previous = once.previous(thread_id)
        if previous is not None:
            run, how = previous, _how_previous(previous)
        else:
            run, how = once.create(thread_id, create, adopt=lambda found: (found, "adopted"))
        ref = self.remember_run(context, once, run, how)
        if not self.wait_for_completion:
            return run
        return self.complete(context, self.wait_for(context, [ref]))

    def complete(self, context: Any, runs: list[RunRef]) -> Any:
        return self.publish(context, read_outcome(self.hook, runs[0]))


# What CreateRunOperator takes and WaitRunOperator cannot: it holds its request open in the
# worker until the run ends (runs.wait / runs.stream), so there is nothing to defer or poll.
_NOT_FOR_WAIT_RUN = {
    "deferrable": "it waits in the worker, holding runs.wait (or runs.stream) open",
    "wait_mode": "it waits in the worker, holding runs.wait (or runs.stream) open",
    "poll_interval": "it does not poll: the server answers when the run ends",
    "failure_budget": "it does not poll: the server answers when the run ends",
    "wait_for_completion": "it always waits for the run's output",
    "wait_timeout": "its wait is bounded by Airflow's execution_timeout",
}


def _refuse_waiting_arguments(kwargs: dict[str, Any]) -> None:
    """A waiting argument given to WaitRunOperator: say what to use instead, naming the task,
    rather than Airflow's generic "Invalid arguments were passed"."""
    if "deferrable" in kwargs and not kwargs["deferrable"]:
        kwargs.pop("deferrable")  # what it does anyway
    given = [name for name in _NOT_FOR_WAIT_RUN if name in kwargs]
    if given:
        task_id = kwargs.get("task_id", "?")
        raise LangGraphConfigError(
            f"task {task_id!r}: WaitRunOperator does not take {given[0]}: "
            f"{_NOT_FOR_WAIT_RUN[given[0]]}. To wait without holding a worker slot (deferred "
            "to the triggerer), polling or joining, use CreateRunOperator(deferrable=True): "
            "it creates the same run and returns the same output."
        )


class WaitRunOperator(_RunRequestOperator):
    """Run an agent and block until its final values (``runs.wait``) — the remote ``ainvoke``.

    With ``stream_mode`` it streams instead (``runs.stream``) and writes the run's progress to
    the task log as it happens — one line per node update, custom event or error — then
    returns the final values. ``values`` is added to the modes if missing. A streamed run
    always runs on a thread (a fresh one if ``thread_id`` is None) and is resumable, so a
    dropped connection loses no event and the run can be checked and cancelled.

    Whatever the server answered, the task's outcome is the run's own status: a run the server
    timed out or someone cancelled does not pass for a success with partial values.
    """

    def __init__(
        self,
        *,
        stream_mode: str | list[str] | None = None,
        stream_subgraphs: bool = False,
        on_disconnect: str | None = None,
        **kwargs: Any,
    ) -> None:
        _refuse_waiting_arguments(kwargs)
        super().__init__(**kwargs)
        self.check(check_stream_mode, stream_mode)
        self.check(check_run_arguments, on_disconnect=on_disconnect)
        self.stream_mode = stream_mode
        self.stream_subgraphs = stream_subgraphs
        # "continue": a dropped connection is re-joined, and on_kill cancels explicitly.
        self.on_disconnect = on_disconnect

    def execute(self, context: Any) -> Any:
        # In a context of its own: once the run exists, its wait rides out a server away.
        return contextvars.copy_context().run(self._execute, context)

    def _execute(self, context: Any) -> Any:
        once = self.task_runs(context)
        arguments = self.run_arguments(context, once)
        thread_id = once.thread(thread_or_none(self.thread_id), arguments)
        if thread_id is None and self.stream_mode is not None:
            # a stream is resumed, checked and cancelled on its thread: give it one
            with step("creating a thread for the streamed run"):
                thread_id = self.hook.create_thread(metadata=once.identity())["thread_id"]
            arguments["on_completion"] = None
        try:
            previous = once.previous(thread_id)
            if previous is not None:
                result = self._follow(context, once, previous, _how_previous(previous))
            else:
                result = once.create(
                    thread_id,
                    lambda: self._invoke(context, once, thread_id, arguments),
                    adopt=lambda found: self._follow(context, once, found, "adopted"),
                    step_name=None,  # _invoke names its creation's errors, not its wait's
                )
        except LangGraphRunFailedError:
            context["ti"].xcom_push(key="status", value="error")
            raise
        assert self._run is not None  # remembered as soon as it existed
        run = self._run
        ride_from_now()  # the run exists: reading its end rides out a server away
        status = self.hook.get_run(run.thread_id, run.run_id)["status"]
        return self.publish(context, read_outcome(self.hook, run.with_status(status), result))

    def _modes(self) -> list[str]:
        mode = self.stream_mode or "values"
        modes = [mode] if isinstance(mode, str) else list(mode)
        return modes if "values" in modes else [*modes, "values"]

    def _invoke(
        self, context: Any, once: TaskRuns, thread_id: str | None, arguments: dict[str, Any]
    ) -> Any:
        """runs.wait, or runs.stream with the progress logged."""

        def created(meta: RunCreateMetadata) -> None:
            self.remember_run(context, once, meta, "created")
            ride_from_now()

        self._run = None
        try:
            return self._wait_or_stream(thread_id, arguments, created)
        except LangGraphError as exc:
            if self._run is None:  # the run was never made: the creation failed
                name_step(exc, "creating the run")
            raise

    def _wait_or_stream(
        self, thread_id: str | None, arguments: dict[str, Any], created: Any
    ) -> Any:
        if self.stream_mode is None:
            return self.hook.wait_run(
                thread_id,
                self.assistant_id,
                on_disconnect=self.on_disconnect,
                on_run_created=created,
                raise_error=True,
                **arguments,
            )
        parts = self.hook.stream_run(
            thread_id,
            self.assistant_id,
            stream_mode=self._modes(),
            stream_subgraphs=self.stream_subgraphs,
            stream_resumable=True,
            on_disconnect=self.on_disconnect,
            on_run_created=created,
            **arguments,
        )
        return self._consume(parts)

    def _follow(self, context: Any, once: TaskRuns, run: Run, how: How) -> Any:
        """Wait for a run an earlier try (or a lost answer) left: join it, or replay its stream."""
        self.remember_run(context, once, run, how)
        ride_from_now()
        if self.stream_mode is None:
            return self.hook.join_run(run["thread_id"], run["run_id"], raise_error=True)
        parts = self.hook.join_stream(
            run["thread_id"], run["run_id"], stream_mode=self._modes(), last_event_id="-1"
        )
        return self._consume(parts)

    def _consume(self, parts: Iterable[StreamPart]) -> Any:
        """Log each event worth it; the last values are the result; an error event raises."""
        values: Any = None
        # "values" is always streamed (the result); told only when the DAG asked for it
        asked = self.stream_mode or []
        told = ProgressLog(values="values" in ([asked] if isinstance(asked, str) else asked))
        for part in parts:
            for line in told.lines(part):
                self.log.info("%s", line)
            if part.event == "values":
                values = part.data
            elif part.event == "error":
                error = part.data if isinstance(part.data, dict) else {"message": part.data}
                raise LangGraphRunFailedError(
                    str(error.get("error", "Error")),
                    str(error.get("message", "")),
                    run_id=self._run.run_id if self._run else None,
                    thread_id=self._run.thread_id if self._run else None,
                )
        for line in told.flush():
            self.log.info("%s", line)
        return values
