"""Operators that run agents on a LangGraph Agent Server.

- :class:`CreateRunOperator` — ``runs.create``: a background run, optionally waited for
  (polling or join, in the worker or deferred to the triggerer).
- :class:`WaitRunOperator` — ``runs.wait`` (or ``runs.stream`` with ``stream_mode``): run and
  block until the final values, logging progress as it happens when streaming.
- :class:`BatchRunOperator` — ``runs.create_batch`` for many payloads, waited for together.

Every run carries the task instance's identity in its ``metadata`` (``airflow_dag_id``,
``airflow_task_id``, ``airflow_run_id``, ``airflow_map_index``, ``airflow_try_number``,
``airflow_logical_date``) so a run on the server can be traced back to its task.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from airflow.sdk import XComArg

from airflow_lg.exceptions import (
    LangGraphConfigError,
    LangGraphConflictError,
    LangGraphConnectionError,
    LangGraphError,
    LangGraphNotFoundError,
    LangGraphRunFailedError,
    LangGraphServerError,
)
from airflow_lg.links import LangGraphRunLink
from airflow_lg.operators._base import (
    ACTIVE_RUN_STATUSES,
    TASK_KEY,
    LangGraphBaseOperator,
    WaitingMixin,
    airflow_identity,
    check_run_arguments,
    check_stream_mode,
    find_task_run,
    raise_for_outcome,
    read_batch_outcomes,
    read_outcome,
    task_key,
    task_thread_id,
    thread_or_none,
)
from airflow_lg.schema import RunCreateMetadata, StreamPart
from airflow_lg.triggers.runs import WaitMode

# The runs.create / runs.wait arguments an operator passes through under their SDK names.
_RUN_ARGS = (
    "input",
    "command",
    "config",
    "context",
    "checkpoint",
    "checkpoint_id",
    "interrupt_before",
    "interrupt_after",
    "webhook",
    "multitask_strategy",
    "if_not_exists",
    "on_completion",
    "after_seconds",
    "durability",
)
STATE_KEY = "airflow_lg_run"  # in Airflow's task state store
_TEMPLATED = ("assistant_id", "thread_id", "input", "command", "config", "context", "metadata")


class _RunRequestOperator(LangGraphBaseOperator):
    """The arguments of one run (``runs.create`` / ``runs.wait``), with the SDK's names."""

    operator_extra_links = (LangGraphRunLink(),)

    template_fields: Sequence[str] = _TEMPLATED
    template_fields_renderers = {
        k: "json" for k in ("input", "command", "config", "context", "metadata")
    }

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
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not assistant_id:
            raise LangGraphConfigError("assistant_id is required (a graph name or assistant UUID)")
        check_run_arguments(
            thread_id=thread_id,
            input=input,
            command=command,
            config=config,
            context=context,
            metadata=metadata,
            multitask_strategy=multitask_strategy,
            if_not_exists=if_not_exists,
            on_completion=on_completion,
            after_seconds=after_seconds,
            durability=durability,
        )
        self.assistant_id = assistant_id
        self.thread_id = thread_id
        self.input = input
        self.command = command
        self.config = config
        self.context = context
        self.metadata = metadata
        self.checkpoint = checkpoint
        self.checkpoint_id = checkpoint_id
        self.interrupt_before = interrupt_before
        self.interrupt_after = interrupt_after
        self.webhook = webhook
        self.multitask_strategy = multitask_strategy
        self.if_not_exists = if_not_exists
        self.on_completion = on_completion
        self.after_seconds = after_seconds
        self.durability = durability

    def run_arguments(self, context: Any) -> dict[str, Any]:
        """The hook arguments of this run: the SDK's, plus the task's identity in metadata.

        A stateless run is kept (``on_completion="keep"``) unless the user says otherwise:
        with the server's default ``delete`` it vanishes with its result when it ends.
        """
        arguments = {name: getattr(self, name) for name in _RUN_ARGS}
        arguments["metadata"] = {**airflow_identity(context), **(self.metadata or {})}
        if thread_or_none(self.thread_id) is None and arguments["on_completion"] is None:
            arguments["on_completion"] = "keep"
        return arguments

    # ---- exactly once: one run per task instance, whatever happens to its tries ------------

    def target_thread(self, context: Any, arguments: dict[str, Any]) -> str | None:
        """The thread to run on: the user's, or — with ``reattach`` — the task instance's own
        thread, derived from its identity so that every try finds its runs again. On its own
        thread a run is never deleted, and a second concurrent run is refused (``reject``)."""
        thread_id = thread_or_none(self.thread_id)
        if thread_id is not None or not self.reattach:
            return thread_id
        thread_id = task_thread_id(arguments["metadata"][TASK_KEY])
        # The run creates its thread (if_not_exists): a refused run leaves nothing behind.
        arguments["if_not_exists"] = "create"
        arguments["on_completion"] = None
        if arguments["multitask_strategy"] is None:
            arguments["multitask_strategy"] = "reject"
        return thread_id

    def previous_run(self, context: Any, thread_id: str | None) -> dict[str, Any] | None:
        """A run of an earlier try of this task instance to adopt: still going (re-attach) or
        succeeded (its output, without running the agent again). A failed one is re-run, or
        fails the task (``on_previous_failure="fail"``)."""
        self._previous_id = None
        if not self.reattach or thread_id is None:
            return None
        run = self._stored_run(context) or find_task_run(self.hook, thread_id, task_key(context))
        if run is None:
            return None
        run_id, status = run["run_id"], run["status"]
        if status in ACTIVE_RUN_STATUSES:
            self.log.info("Re-attaching to run %s (%s) of an earlier try", run_id, status)
            return run
        if status == "success":
            self.log.info("Run %s of an earlier try succeeded: not running the agent again", run_id)
            return run
        if self.on_previous_failure == "fail":
            raise LangGraphError(
                f"run {run_id} of an earlier try ended with status {status} and "
                "on_previous_failure='fail'"
            )
        self.log.info("Run %s of an earlier try ended %s: starting a new one", run_id, status)
        self._previous_id = run_id
        return None

    def create_once(
        self, context: Any, thread_id: str | None, create: Any, adopt: Any = dict
    ) -> Any:
        """Create the run exactly once.

        When the request may have reached the server — its answer was lost, a gateway failed
        (5xx), or the thread already runs something (409) — look for this task instance's run:
        adopt it if it is there. If it is not, nothing was created and sending again is safe
        (a 409 from someone else's run on the user's thread is the user's ``reject``: raised).
        """
        policy = self.hook.settings.retry
        for attempt in range(1, policy.max_attempts + 1):
            try:
                return create()
            except (LangGraphConnectionError, LangGraphConflictError, LangGraphServerError) as exc:
                if not (self.reattach and thread_id):
                    raise
                found = find_task_run(self.hook, thread_id, task_key(context))
                if found is not None and found["run_id"] != self._previous_id:
                    self.log.warning(
                        "Creating the run failed (%s) but it exists: %s", exc, found["run_id"]
                    )
                    return adopt(found)
                if attempt == policy.max_attempts or isinstance(exc, LangGraphConflictError):
                    raise
                delay = policy.backoff(attempt)
                self.log.warning(
                    "Creating the run failed (%s), nothing was created: sending again in %.1f s",
                    exc,
                    delay,
                )
                time.sleep(delay)
        raise AssertionError("unreachable")

    def _stored_run(self, context: Any) -> dict[str, Any] | None:
        """The run an earlier try recorded in Airflow's task state store (Airflow ≥ 3.3)."""
        store = context.get("task_state_store")
        ref = store.get(STATE_KEY) if store is not None else None
        if not isinstance(ref, dict):
            return None
        try:
            return dict(self.hook.get_run(ref["thread_id"], ref["run_id"]))
        except LangGraphNotFoundError:
            return None

    def remember_run(self, context: Any, run: RunCreateMetadata | dict[str, Any]) -> None:
        """As soon as the run exists: XCom, and a note for on_kill."""
        ti = context["ti"]
        store = context.get("task_state_store")
        if store is not None and run.get("thread_id"):
            store.set(STATE_KEY, {"thread_id": run["thread_id"], "run_id": run["run_id"]})
        ti.xcom_push(key="run_id", value=run["run_id"])
        ti.xcom_push(key="thread_id", value=run.get("thread_id"))
        ti.xcom_push(key="assistant_id", value=self.assistant_id)
        self._last_run: dict[str, Any] = {
            "run_id": run["run_id"],
            "thread_id": run.get("thread_id"),
        }
        if run.get("thread_id"):
            self._active_runs = [{"thread_id": run["thread_id"], "run_id": run["run_id"]}]
        self.log.info("LangGraph run %s created on thread %s", run["run_id"], run.get("thread_id"))

    def publish(self, context: Any, outcome: dict[str, Any]) -> Any:
        """XCom the outcome's status (and interrupts), then return the output or raise."""
        ti = context["ti"]
        ti.xcom_push(key="status", value=outcome["status"])
        if outcome.get("interrupts"):
            ti.xcom_push(key="interrupts", value=outcome["interrupts"])
        result = raise_for_outcome(outcome, self.on_interrupt)  # type: ignore[arg-type]
        self._active_runs = []
        return result


class CreateRunOperator(WaitingMixin, _RunRequestOperator):
    """Create a background run (``runs.create``) and, by default, wait for its output.

    XCom: ``run_id``, ``thread_id``, ``assistant_id`` as soon as the run exists; ``status``
    (and ``interrupts`` if it paused for a human) when it ends; the return value is the run's
    final values (``wait_for_completion=True``) or the Run (``False``).

    A stateless run (``thread_id=None``) is created with ``on_completion="keep"`` unless you say
    otherwise: with the server's default ``delete`` the run and its result vanish when it ends,
    and nobody could read them — not this task, not a sensor, not you in the server's UI.

    :param wait_for_completion: wait for the run to end and return its output.
    :param stream_mode: / :param stream_resumable: / :param stream_subgraphs: what the run
        records for a later ``join_stream``.
    (The waiting parameters are those of :class:`~airflow_lg.operators._base.WaitingMixin`;
    the kill/interrupt ones those of :class:`~airflow_lg.operators._base.LangGraphBaseOperator`.)
    """

    def __init__(
        self,
        *,
        wait_for_completion: bool = True,
        stream_mode: str | list[str] = "values",
        stream_resumable: bool = False,
        stream_subgraphs: bool = False,
        deferrable: bool | None = None,
        wait_mode: WaitMode = "poll",
        poll_interval: float = 5.0,
        wait_timeout: float | timedelta | None = None,
        failure_budget: int = 5,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_stream_mode(stream_mode)
        self.wait_for_completion = wait_for_completion
        self.stream_mode = stream_mode
        self.stream_resumable = stream_resumable
        self.stream_subgraphs = stream_subgraphs
        self.init_waiting(deferrable, wait_mode, poll_interval, wait_timeout, failure_budget)

    def execute(self, context: Any) -> Any:
        arguments = self.run_arguments(context)
        thread_id = self.target_thread(context, arguments)
        run = self.previous_run(context, thread_id) or self.create_once(
            context,
            thread_id,
            lambda: self.hook.create_run(
                thread_id,
                self.assistant_id,
                stream_mode=self.stream_mode,
                stream_resumable=self.stream_resumable,
                stream_subgraphs=self.stream_subgraphs,
                **arguments,
            ),
        )
        self.remember_run(context, run)
        if not self.wait_for_completion:
            return run
        return self.complete(context, self.wait_for(context, [run]))

    def complete(self, context: Any, runs: list[dict[str, Any]]) -> Any:
        return self.publish(context, read_outcome(self.hook, runs[0]))


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
        super().__init__(**kwargs)
        check_stream_mode(stream_mode)
        check_run_arguments(on_disconnect=on_disconnect)
        self.stream_mode = stream_mode
        self.stream_subgraphs = stream_subgraphs
        # "continue": a dropped connection is re-joined, and on_kill cancels explicitly.
        self.on_disconnect = on_disconnect

    def execute(self, context: Any) -> Any:
        arguments = self.run_arguments(context)
        thread_id = self.target_thread(context, arguments)
        if thread_id is None and self.stream_mode is not None:
            # a stream is resumed, checked and cancelled on its thread: give it one
            thread_id = self.hook.create_thread(metadata=airflow_identity(context))["thread_id"]
            arguments["on_completion"] = None
        try:
            previous = self.previous_run(context, thread_id)
            if previous is not None:
                result = self._follow(context, previous)
            else:
                result = self.create_once(
                    context,
                    thread_id,
                    lambda: self._invoke(context, thread_id, arguments),
                    adopt=lambda found: self._follow(context, found),
                )
        except LangGraphRunFailedError:
            context["ti"].xcom_push(key="status", value="error")
            raise
        run = self._last_run
        status = self.hook.get_run(run["thread_id"], run["run_id"])["status"]
        return self.publish(context, read_outcome(self.hook, {**run, "status": status}, result))

    def _modes(self) -> list[str]:
        mode = self.stream_mode or "values"
        modes = [mode] if isinstance(mode, str) else list(mode)
        return modes if "values" in modes else [*modes, "values"]

    def _invoke(self, context: Any, thread_id: str | None, arguments: dict[str, Any]) -> Any:
        """runs.wait, or runs.stream with the progress logged."""
        created = lambda meta: self.remember_run(context, meta)  # noqa: E731
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

    def _follow(self, context: Any, run: dict[str, Any]) -> Any:
        """Wait for a run an earlier try (or a lost answer) left: join it, or replay its stream."""
        self.remember_run(context, run)
        if self.stream_mode is None:
            return self.hook.join_run(run["thread_id"], run["run_id"], raise_error=True)
        parts = self.hook.join_stream(
            run["thread_id"], run["run_id"], stream_mode=self._modes(), last_event_id="-1"
        )
        return self._consume(parts)

    def _consume(self, parts: Any) -> Any:
        """Log each event worth it; the last values are the result; an error event raises."""
        values: Any = None
        for part in parts:
            self.log_progress(part)
            if part.event == "values":
                values = part.data
            elif part.event == "error":
                error = part.data if isinstance(part.data, dict) else {"message": part.data}
                raise LangGraphRunFailedError(
                    str(error.get("error", "Error")),
                    str(error.get("message", "")),
                    run_id=self._last_run["run_id"],
                    thread_id=self._last_run["thread_id"],
                )
        return values

    def log_progress(self, part: StreamPart) -> None:
        """One readable line per event worth a human's attention."""
        line = progress_line(part)
        if line:
            self.log.info("%s", line)


def progress_line(part: StreamPart) -> str | None:
    """A stream event as one log line (None for events too chatty to log one by one)."""
    event, data = part.event, part.data
    if event == "metadata" and isinstance(data, dict):
        return f"run {data.get('run_id')} started (attempt {data.get('attempt', 1)})"
    if event.startswith("updates") and isinstance(data, dict):
        return "; ".join(_node_update(node, update) for node, update in data.items())
    if event.startswith("custom"):
        return f"custom: {_short(data)}"
    if event == "error":
        return f"error: {_short(data)}"
    if event.startswith(("values", "messages", "debug", "tasks", "checkpoints", "events")):
        return None
    return f"{event}: {_short(data)}"


def _node_update(node: str, update: Any) -> str:
    if node == "__interrupt__":
        return f"paused for human input: {_short(update)}"
    if not update:
        return f"node {node} finished (no update)"
    keys = ", ".join(update) if isinstance(update, dict) else _short(update)
    return f"node {node} finished: updated {keys}"


def _short(data: Any, limit: int = 300) -> str:
    text = json.dumps(data, default=str, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class BatchRunOperator(WaitingMixin, LangGraphBaseOperator):
    """Many stateless runs through ``runs.create_batch``, waited for together.

    Give either ``inputs`` (one graph input per run) or ``payloads`` (full ``RunCreate`` items:
    ``input``, ``config``, ``context``, ``metadata``, ...; ``assistant_id`` defaults to the
    operator's). Both are templated and can come from an upstream task's XCom. Items are sent
    in chunks of ``chunk_size``, each kept (``on_completion="keep"``) so its result can be read.

    Returns (and pushes to XCom) ``{"runs": [...], "counts": {...}}``: one entry per payload, in
    input order, ``{index, run_id, thread_id, status, outcome, output | error}``, and the
    number of runs per outcome. With ``fail_on_partial_error`` (default) the task fails if any
    run did not succeed — after pushing the results, so nothing is lost.
    """

    template_fields: Sequence[str] = (
        "assistant_id",
        "inputs",
        "payloads",
        "config",
        "context",
        "metadata",
    )
    template_fields_renderers = {
        k: "json" for k in ("inputs", "payloads", "config", "context", "metadata")
    }

    def __init__(
        self,
        *,
        assistant_id: str,
        inputs: Sequence[Any] | XComArg | str | None = None,
        payloads: Sequence[dict[str, Any]] | XComArg | str | None = None,
        config: dict[str, Any] | None = None,
        context: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        chunk_size: int = 100,
        stagger_seconds: int = 0,
        fail_on_partial_error: bool = True,
        deferrable: bool | None = None,
        wait_mode: WaitMode = "poll",
        poll_interval: float = 5.0,
        wait_timeout: float | timedelta | None = None,
        failure_budget: int = 5,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (inputs is None) == (payloads is None):
            raise LangGraphConfigError("BatchRunOperator needs exactly one of inputs or payloads")
        if not isinstance(chunk_size, int) or chunk_size <= 0:
            raise LangGraphConfigError(f"chunk_size must be a positive integer, got {chunk_size!r}")
        self.assistant_id = assistant_id
        self.inputs = inputs
        self.payloads = payloads
        self.config = config
        self.context = context
        self.metadata = metadata
        self.chunk_size = chunk_size
        if not isinstance(stagger_seconds, int) or stagger_seconds < 0:
            raise LangGraphConfigError(
                f"stagger_seconds must be an integer >= 0, got {stagger_seconds!r}"
            )
        self.stagger_seconds = stagger_seconds
        self.fail_on_partial_error = fail_on_partial_error
        self.init_waiting(deferrable, wait_mode, poll_interval, wait_timeout, failure_budget)

    def items(self, context: Any) -> list[dict[str, Any]]:
        """The RunCreate items to send, each kept and tagged with the task and its index."""
        source = self.inputs if self.inputs is not None else self.payloads
        name = "inputs" if self.inputs is not None else "payloads"
        if isinstance(source, (str, bytes, dict)) or not isinstance(source, Sequence):
            raise LangGraphConfigError(
                f"{name} must be a list, got {type(source).__name__}: {source!r:.200}"
            )
        if not source:
            raise LangGraphConfigError(f"{name} is empty: there is nothing to run")
        identity = airflow_identity(context)
        items = []
        for index, entry in enumerate(source):
            chunk_number = index // self.chunk_size
            if self.payloads is not None and not isinstance(entry, dict):
                raise LangGraphConfigError(
                    f"payloads[{index}] must be a mapping, got {entry!r:.200}"
                )
            item = dict(entry) if self.payloads is not None else {"input": entry}
            item.setdefault("assistant_id", self.assistant_id)
            item.setdefault("config", self.config)
            item.setdefault("context", self.context)
            item.setdefault("on_completion", "keep")
            if self.stagger_seconds and chunk_number:
                # later chunks start later: the server is not handed the whole backfill at once
                item.setdefault("after_seconds", chunk_number * self.stagger_seconds)
            item["metadata"] = {
                **identity,
                "airflow_batch_index": index,
                **(self.metadata or {}),
                **(item.get("metadata") or {}),
            }
            items.append(item)
        return items

    def execute(self, context: Any) -> Any:
        items = self.items(context)
        key = task_key(context)
        runs = self._previous_items(key, len(items)) if self.reattach else {}
        missing = [i for i in range(len(items)) if i not in runs]
        if runs:
            self.log.info(
                "Adopting %d runs of an earlier try; creating %d", len(runs), len(missing)
            )
        for start in range(0, len(missing), self.chunk_size):
            chunk = missing[start : start + self.chunk_size]
            runs.update(self._create_chunk(key, items, chunk, runs))
            self._active_runs = [runs[i] for i in sorted(runs)]
            context["ti"].xcom_push(key="runs", value=self._active_runs)
            self.log.info("Created %d of %d runs", start + len(chunk), len(missing))
        ordered = [runs[i] for i in range(len(items))]
        return self.complete(context, self.wait_for(context, ordered))

    def _previous_items(self, key: str, count: int) -> dict[int, dict[str, Any]]:
        """Items that earlier tries created, by index: the newest run of each, if it is going
        or succeeded (adopted). A failed one is created again, or refused
        (``on_previous_failure="fail"``). Batch runs are stateless: their threads carry the
        task's identity and the item's index in their metadata."""
        newest: dict[int, dict[str, Any]] = {}
        page, offset = 1000, 0
        while True:
            threads = self.hook.search_threads(
                metadata={TASK_KEY: key}, limit=page, offset=offset, sort_by="created_at",
                sort_order="desc",
            )  # fmt: skip
            for thread in threads:
                index = (thread.get("metadata") or {}).get("airflow_batch_index")
                if isinstance(index, int) and 0 <= index < count and index not in newest:
                    runs = self.hook.list_runs(thread["thread_id"], limit=1)
                    if runs:
                        newest[index] = {k: runs[0][k] for k in ("thread_id", "run_id", "status")}
            if len(threads) < page:
                break
            offset += page
        adopted = {}
        for index, run in newest.items():
            if run["status"] in ACTIVE_RUN_STATUSES or run["status"] == "success":
                adopted[index] = {"thread_id": run["thread_id"], "run_id": run["run_id"]}
            elif self.on_previous_failure == "fail":
                raise LangGraphError(
                    f"item #{index}'s run {run['run_id']} of an earlier try ended with status "
                    f"{run['status']} and on_previous_failure='fail'"
                )
        return adopted

    def _create_chunk(
        self, key: str, items: list[dict[str, Any]], indexes: list[int], runs: dict[int, Any]
    ) -> dict[int, dict[str, Any]]:
        """Create these items once. After a lost answer or a gateway error, the items the server
        has are adopted and only the others are sent again."""
        created: dict[int, dict[str, Any]] = {}
        todo = list(indexes)
        policy = self.hook.settings.retry
        for attempt in range(1, policy.max_attempts + 1):
            try:
                answer = self.hook.create_batch([items[i] for i in todo])
            except (LangGraphConnectionError, LangGraphServerError) as exc:
                if not self.reattach:
                    self._fail_creation(indexes, runs, exc)
                seen = self._previous_items(key, len(items))
                created.update({i: seen[i] for i in todo if i in seen})
                todo = [i for i in todo if i not in created]
                if not todo:
                    return created
                if attempt == policy.max_attempts:
                    raise
                self.log.warning(
                    "Creating %d items failed (%s): sending them again", len(todo), exc
                )
                time.sleep(policy.backoff(attempt))
                continue
            except LangGraphError as exc:
                self._fail_creation(indexes, runs, exc)
            created.update(
                {
                    i: {"thread_id": r["thread_id"], "run_id": r["run_id"]}
                    for i, r in zip(todo, answer, strict=True)
                }
            )
            return created
        raise AssertionError("unreachable")

    def _fail_creation(self, indexes: list[int], runs: dict[int, Any], exc: Exception) -> None:
        """A chunk could not be created. Without re-attaching, a retry of this task would create
        every item again: stop what this try started. With it, the retry adopts them."""
        where = f"creating items {indexes[0]}-{indexes[-1]} of the batch failed ({exc})"
        if not self.reattach and runs:
            self._cancel(list(runs.values()))
            raise LangGraphError(
                f"{where}; the {len(runs)} runs created before were cancelled"
            ) from exc
        raise LangGraphError(where) from exc

    def complete(self, context: Any, runs: list[dict[str, Any]]) -> Any:
        outcomes = read_batch_outcomes(self.hook, runs)
        results = [{"index": index, **outcome} for index, outcome in enumerate(outcomes)]
        counts = dict(Counter(r["outcome"] for r in results))
        summary = {"runs": results, "counts": counts, "total": len(results)}
        self._active_runs = []
        accepted = {"success", "paused"} if self.on_interrupt == "succeed" else {"success"}
        failed = [r for r in results if r["outcome"] not in accepted]
        if failed and self.fail_on_partial_error:
            context["ti"].xcom_push(key="batch", value=summary)
            raise LangGraphError(
                f"{len(failed)} of {len(results)} runs did not succeed ({counts}); first: "
                f"#{failed[0]['index']} run {failed[0]['run_id']}: "
                f"{_short(failed[0].get('error') or failed[0].get('interrupts'))}. "
                "All results are in XCom under 'batch'."
            )
        return summary
