"""BatchRunOperator: many stateless runs through ``runs.create_batch``, waited for together."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

from airflow.sdk import XComArg

from airflow_lg import wire
from airflow_lg.exactly_once import BATCH_INDEX, TaskRuns, airflow_identity
from airflow_lg.exceptions import (
    LangGraphConfigError,
    LangGraphConnectionError,
    LangGraphError,
    LangGraphServerError,
)
from airflow_lg.inputs import OBJECT_ARGUMENTS, check_graph_input, check_object
from airflow_lg.operators._base import LangGraphBaseOperator, WaitingMixin
from airflow_lg.outcomes import (
    READ_CONCURRENCY,
    RunStillGoing,
    aread_batch_outcomes,
    read_batch_outcomes,
)
from airflow_lg.progress import answer_line, short
from airflow_lg.runs import RunOutcome, RunRef
from airflow_lg.schema import RunCreate, RunStatus, WaitMode
from airflow_lg.waiting import (
    FAILURE_BUDGET,
    POLL_INTERVAL,
    TOLD_RUNS,
    WaitOptions,
    wait_for_runs,
)


class BatchRunOperator(WaitingMixin, LangGraphBaseOperator):
    """Many stateless runs through ``runs.create_batch``, waited for together.

    Give either ``inputs`` (one graph input per run, all for the operator's ``assistant_id``)
    or ``payloads`` (full ``RunCreate`` items as in the SDK's ``create_batch``: ``assistant_id``,
    ``input``, ``config``, ``context``, ``metadata``, ...; the operator's ``assistant_id``,
    ``config`` and ``context`` are defaults for the items that do not say). Both are templated
    and can come from an upstream task's XCom. Items are sent in chunks of ``chunk_size``, each
    kept (``on_completion="keep"``) so its result can be read.

    Returns (and pushes to XCom) ``{"runs": [...], "counts": {...}}``: one entry per payload, in
    input order, ``{index, run_id, thread_id, status, outcome, output | error}``, and the
    number of runs per outcome. With ``fail_on_partial_error`` (default) the task fails if any
    run did not succeed — after pushing the results, so nothing is lost.
    """

    tells_progress = False
    waits_for_many = True
    resume_reads_status = False

    template_fields: Sequence[str] = (
        "assistant_id",
        "inputs",
        "payloads",
        "config",
        "context",
        "metadata",
        "langgraph_conn_id",
    )
    template_fields_renderers = {
        k: "json" for k in ("inputs", "payloads", "config", "context", "metadata")
    }

    def __init__(
        self,
        *,
        assistant_id: str | None = None,
        inputs: Sequence[Any] | XComArg | str | None = None,
        payloads: Sequence[dict[str, Any]] | XComArg | str | None = None,
        config: dict[str, Any] | None = None,
        context: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        chunk_size: int = 100,
        stagger_seconds: int = 0,
        fail_on_partial_error: bool = True,
        deferrable: bool | None = None,
        wait_mode: WaitMode | None = None,
        poll_interval: float = POLL_INTERVAL,
        wait_timeout: float | timedelta | None = None,
        failure_budget: int = FAILURE_BUDGET,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.check(_check_batch, assistant_id, inputs, payloads, chunk_size, stagger_seconds)
        self.assistant_id = assistant_id
        self.inputs = inputs
        self.payloads = payloads
        self.config = config
        self.context = context
        self.metadata = metadata
        self.chunk_size = chunk_size
        self.stagger_seconds = stagger_seconds
        self.fail_on_partial_error = fail_on_partial_error
        self.init_waiting(deferrable, wait_mode, poll_interval, wait_timeout, failure_budget)
        self._read_early: dict[str, RunOutcome] = {}  # by run id: outcomes read while waiting

    def items(self, context: Any) -> list[RunCreate]:
        """The RunCreate items to send, each kept and tagged with the task and its index."""
        source = self.inputs if self.inputs is not None else self.payloads
        name = "inputs" if self.inputs is not None else "payloads"
        if isinstance(source, (str, bytes, dict)) or not isinstance(source, Sequence):
            raise LangGraphConfigError(
                f"{name} must be a list, got {type(source).__name__}: {source!r:.200}"
            )
        if not source:
            raise LangGraphConfigError(f"{name} is empty: there is nothing to run")
        for default in ("config", "context", "metadata"):  # the operator's, as rendered
            check_object(default, getattr(self, default))
        identity = airflow_identity(context)
        accepted: set[tuple[str, str]] = set()
        items: list[RunCreate] = []
        for index, entry in enumerate(source):
            chunk_number = index // self.chunk_size
            if self.payloads is not None and not isinstance(entry, dict):
                raise LangGraphConfigError(
                    f"payloads[{index}] must be a mapping, got {entry!r:.200}"
                )
            item: Any = dict(entry) if self.payloads is not None else {"input": entry}
            if not item.get("assistant_id"):
                item["assistant_id"] = self.assistant_id
            self._check_item(f"{name}[{index}]", item, accepted)
            item.setdefault("config", self.config)
            item.setdefault("context", self.context)
            item.setdefault("on_completion", "keep")
            if self.stagger_seconds and chunk_number:
                # later chunks start later: the server is not handed the whole backfill at once
                item.setdefault("after_seconds", chunk_number * self.stagger_seconds)
            item["metadata"] = {
                **identity,
                BATCH_INDEX: index,
                **(self.metadata or {}),
                **(item.get("metadata") or {}),
            }
            items.append(item)
        return items

    def _check_item(self, what: str, item: dict[str, Any], accepted: set[tuple[str, str]]) -> None:
        """One item before anything is sent: known keys, objects where objects go, and an
        input the graph takes (asked once per assistant and kind of value)."""
        wire.check_batch_payload(what, item)
        for name in OBJECT_ARGUMENTS:
            check_object(f"{what}['{name}']", item.get(name))
        value = item.get("input")
        label = f"{what}['input']" if self.payloads is not None else what
        asked = (item["assistant_id"], type(value).__name__)
        if asked not in accepted:  # a non-object asks the graph's schema once per kind
            check_graph_input(self.hook, item["assistant_id"], label, value)
            accepted.add(asked)

    def execute(self, context: Any) -> Any:
        items = self.check(self.items, context)
        once = self.task_runs(context)
        runs = once.previous_items(len(items))
        missing = [i for i in range(len(items)) if i not in runs]
        if runs:
            self.log.info(
                "Adopting %d runs of an earlier try; creating %d", len(runs), len(missing)
            )
        for start in range(0, len(missing), self.chunk_size):
            chunk = missing[start : start + self.chunk_size]
            runs.update(self._create_chunk(once, items, chunk, runs))
            self._active_runs = [runs[i] for i in sorted(runs)]
            context["ti"].xcom_push(key="runs", value=[r.to_dict() for r in self._active_runs])
            self.log.info("Created %d of %d runs", start + len(chunk), len(missing))
        ordered = [runs[i] for i in range(len(items))]
        return self.complete(context, self.wait_for(context, ordered))

    def _create_chunk(
        self, once: TaskRuns, items: list[RunCreate], indexes: list[int], runs: dict[int, RunRef]
    ) -> dict[int, RunRef]:
        """A chunk could not be created: without re-attaching, a retry of this task would
        create every item again, so stop what this try started; with it, the retry adopts
        them. A transient failure that outlasted the retries is raised as it is."""
        try:
            return once.create_items(items, indexes)
        except (LangGraphConnectionError, LangGraphServerError) as exc:
            if self.reattach:
                raise
            failure: LangGraphError = exc
        except LangGraphError as exc:
            failure = exc
        where = f"creating items {indexes[0]}-{indexes[-1]} of the batch failed ({failure})"
        if not self.reattach and runs:
            self._cancel(list(runs.values()))
            raise LangGraphError(
                f"{where}; the {len(runs)} runs created before were cancelled"
            ) from failure
        raise LangGraphError(where) from failure

    def _tell(self, results: list[dict[str, Any]], counts: dict[str, int]) -> None:
        """The batch in the task log: its counts, then the first items' answers or errors."""
        self.log.info("LangGraph batch of %d runs ended: %s", len(results), counts)
        for result in results[:_TOLD_ITEMS]:
            self.log.info("%s", _item_line(result))
        if len(results) > _TOLD_ITEMS:
            self.log.info("... and %d more (all in XCom)", len(results) - _TOLD_ITEMS)

    def wait_options(self, context: Any) -> WaitOptions:
        # Each item's status comes with its outcome read (its thread tells how its run ended,
        # alone on it): the wait only learns that it ended — no request per item to wait.
        return replace(super().wait_options(context), read_status=False)

    async def waiting(self, runs: list[RunRef], options: WaitOptions) -> list[RunRef]:
        """In a worker, each item's outcome is read as soon as its run ended, while the others
        still go: the batch is done when its last run is, not a round of reads later. A read
        that failed here is made again by :meth:`complete`, which reports what it raises."""
        reads: dict[str, asyncio.Task[list[RunOutcome]]] = {}
        gate = asyncio.Semaphore(READ_CONCURRENCY)  # as many as its end reads

        async def read(ref: RunRef) -> list[RunOutcome]:
            async with gate:
                return await aread_batch_outcomes(self.hook, [ref])

        def ended(index: int, ref: RunRef) -> None:
            if ref.is_final or ref.status is RunStatus.ENDED:
                reads[ref.run_id] = asyncio.ensure_future(read(ref))

        try:
            ended_runs = await wait_for_runs(self.hook, runs, options, self.log, on_end=ended)
            answers = await asyncio.gather(*reads.values(), return_exceptions=True)
        finally:
            for task in reads.values():
                task.cancel()
            # retrieved, so a read that failed before a deadline is not reported at loop close
            await asyncio.gather(*reads.values(), return_exceptions=True)
        for run_id, answer in zip(reads, answers, strict=True):
            if isinstance(answer, list):  # a read that failed (or still going) is read again
                self._read_early[run_id] = answer[0]
        return ended_runs

    def complete(self, context: Any, runs: list[RunRef]) -> Any:
        outcomes = self._outcomes(context, runs)
        results = [{"index": index, **o.to_dict()} for index, o in enumerate(outcomes)]
        counts = dict(Counter(str(o.outcome) for o in outcomes))
        summary = {"runs": results, "counts": counts, "total": len(results)}
        self._active_runs = []
        self._tell(results, counts)
        failed = [r for r, o in zip(results, outcomes, strict=True) if not o.accepted(
            self.on_interrupt  # type: ignore[arg-type]
        )]  # fmt: skip
        if failed and self.fail_on_partial_error:
            context["ti"].xcom_push(key="batch", value=summary)
            raise LangGraphError(
                f"{len(failed)} of {len(results)} runs did not succeed ({counts}); first: "
                f"#{failed[0]['index']} run {failed[0]['run_id']}: "
                f"{short(failed[0].get('error') or failed[0].get('interrupts'))}. "
                "All results are in XCom under 'batch'."
            )
        return summary

    def _outcomes(self, context: Any, runs: list[RunRef]) -> list[RunOutcome]:
        """Every item's outcome, in order: those read while waiting, then the rest."""
        early = self._read_early
        late = [ref for ref in runs if ref.run_id not in early]
        try:
            read = read_batch_outcomes(self.hook, late) if late else []
        except RunStillGoing as exc:
            self.log.warning("%s: waiting for the items not read yet again, polling", exc)
            # deferred, the task resumes with every item; in a worker only these wait again
            again = self.wait_for(context, [r.ids for r in (runs if self.deferrable else late)],
                                  mode="poll")  # fmt: skip
            late = [ref for ref in again if ref.run_id not in early]
            read = read_batch_outcomes(self.hook, late) if late else []
        self._read_early = {}
        early |= {ref.run_id: outcome for ref, outcome in zip(late, read, strict=True)}
        return [early[ref.run_id] for ref in runs]


_TOLD_ITEMS = TOLD_RUNS  # answers told in the log; XCom has every one


def _item_line(result: dict[str, Any]) -> str:
    head = f"item #{result['index']} (run {result['run_id']}) {result['outcome']}"
    if result["outcome"] == "success":
        return f"{head}: {answer_line(result.get('output'))}"
    return f"{head}: {short(result.get('error') or result.get('interrupts'))}"


def _check_batch(
    assistant_id: Any, inputs: Any, payloads: Any, chunk_size: Any, stagger_seconds: Any
) -> None:
    if (inputs is None) == (payloads is None):
        raise LangGraphConfigError("BatchRunOperator needs exactly one of inputs or payloads")
    if not assistant_id and inputs is not None:
        raise LangGraphConfigError(
            "assistant_id is required with inputs (a graph name or assistant UUID); or give "
            "payloads that each name their assistant_id"
        )
    if not assistant_id and isinstance(payloads, Sequence) and not isinstance(payloads, str):
        lacking = [i for i, p in enumerate(payloads) if not (isinstance(p, dict) and p.get(
            "assistant_id"
        ))]  # fmt: skip
        if lacking:
            raise LangGraphConfigError(
                f"payloads{lacking[:5]} name no assistant_id and the operator has none: set "
                "assistant_id on the operator (the default) or in each payload"
            )
    if not isinstance(chunk_size, int) or chunk_size <= 0:
        raise LangGraphConfigError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    if not isinstance(stagger_seconds, int) or stagger_seconds < 0:
        raise LangGraphConfigError(
            f"stagger_seconds must be an integer >= 0, got {stagger_seconds!r}"
        )
