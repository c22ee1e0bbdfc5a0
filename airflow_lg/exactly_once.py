"""One run per task instance, whatever happens to its tries: :class:`TaskRuns`.

An agent run sends e-mails, writes data and spends tokens; running it twice is the worst thing
this provider could do. The server has no idempotency key and names runs itself, so:

1. **Identity** — a task instance is ``dag_id/dag_run_id/task_id/map_index`` on every try
   (never the try number); each run carries it in ``metadata["airflow_lg_task_key"]``.
2. **Its own thread** — a run the user pins to no thread goes to ``uuid5(identity)``, created
   by the run itself (``if_not_exists="create"``) with ``multitask_strategy="reject"``: every try
   finds it again, a refused run leaves nothing behind, and a second run at once is refused.
3. **Look before create** — from the second try on, the run an earlier try recorded in
   Airflow's task state store (Airflow ≥ 3.3), else the newest run of this identity on the
   thread: still going → re-attach; succeeded → reuse its output; failed → run again
   (``on_previous_failure="rerun"``) or refuse. A first try has no earlier try to find.
4. **Adopt after a lost answer** — a creation whose answer was lost, that a gateway failed, or
   that the thread refused (409) is looked for; found → adopted, not found → nothing was
   created and sending again is safe.
5. **Batches** — each item is found by the identity and its index in its thread's metadata: a
   retry creates only the missing items, and after a lost answer only those are sent again.

This module decides; the operators say what to create and push what Airflow shows.
"""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from typing import Any, TypeVar

from airflow_lg.exceptions import (
    LangGraphConflictError,
    LangGraphConnectionError,
    LangGraphError,
    LangGraphHTTPError,
    LangGraphNotFoundError,
    LangGraphServerError,
    step,
)
from airflow_lg.hooks._outages import not_riding
from airflow_lg.hooks.langgraph import LangGraphHook
from airflow_lg.runs import RunRef, parse_status
from airflow_lg.schema import OnPreviousFailure, Run, RunCreate, RunStatus
from airflow_lg.wire.fallbacks import no_such_endpoint
from airflow_lg.wire.payloads import create_run_arguments

T = TypeVar("T")

# Namespace of the threads that airflow-lg derives from task identities (uuid5).
THREAD_NAMESPACE = uuid.UUID("5d3c9b1e-4f0a-5b7e-9c61-2a8f0e4d7b13")
TASK_KEY = "airflow_lg_task_key"
BATCH_INDEX = "airflow_batch_index"
STATE_KEY = "airflow_lg_run"  # in Airflow's task state store
_LOOKUP_LIMIT = 50  # runs of the task's thread looked through, newest first
_SEARCH_PAGE = 1000
# What may hide a run that was created: the answer was lost, a gateway failed, or a run of
# this task instance already holds its thread.
_MAYBE_CREATED = (LangGraphConnectionError, LangGraphConflictError, LangGraphServerError)


def task_key(context: Any) -> str:
    """The run-stable identity of a task instance: the same on every try, retry and clear of
    it within its DAG run (never the try number), different for every other task instance."""
    ti = context["ti"]
    return f"{ti.dag_id}/{ti.run_id}/{ti.task_id}/{ti.map_index}"


def task_thread_id(key: str) -> str:
    """The thread a task instance's runs go to when the user pins none: derived, not stored,
    so every try finds it again."""
    return str(uuid.uuid5(THREAD_NAMESPACE, key))


def item_thread_id(key: str, index: int) -> str:
    """The thread of batch item ``index`` where the server has no batch endpoint."""
    return task_thread_id(f"{key}#{index}")


def airflow_identity(context: Any) -> dict[str, Any]:
    """Run metadata that traces a run on the server back to its task instance; the task key
    is what a later try looks for."""
    ti = context["ti"]
    logical_date = context.get("logical_date")
    identity = {
        TASK_KEY: task_key(context),
        "airflow_dag_id": ti.dag_id,
        "airflow_task_id": ti.task_id,
        "airflow_run_id": ti.run_id,
        "airflow_map_index": ti.map_index,
        "airflow_try_number": ti.try_number,
        "airflow_logical_date": logical_date.isoformat() if logical_date else None,
    }
    # No None values: aegra accepts only str, int, float and bool in metadata (422 otherwise).
    return {name: value for name, value in identity.items() if value is not None}


_NOT_SENT_AGAIN = (
    "The creation got no answer and its run is not on the server (yet): not sending it again "
    "in this try, since the server may still make it. The task's next try looks for it first."
)


class TaskRuns:
    """The runs of one task instance on the server, as one try sees them.

    :param reattach: False: every try creates a new run (no look-up, no adoption).
    :param on_previous_failure: an earlier try's run failed: ``rerun`` or ``fail``.
    """

    def __init__(
        self,
        hook: LangGraphHook,
        context: Any,
        log: Any,
        *,
        reattach: bool = True,
        on_previous_failure: OnPreviousFailure = "rerun",
    ) -> None:
        self.hook = hook
        self.context = context
        self.log = log
        self.reattach = reattach
        self.on_previous_failure = on_previous_failure
        self.key = task_key(context)
        self._replaced: str | None = None  # the failed run of an earlier try being re-run
        self._replaced_items: dict[int, str] = {}  # the same, per batch item
        self._item_threads: set[str] = set()

    @property
    def first_try(self) -> bool:
        """No earlier try of this task instance ever ran (Airflow counts tries from 1, and a
        clear or retry counts on): nothing of it can exist on the server."""
        return getattr(self.context["ti"], "try_number", None) == 1

    def identity(self) -> dict[str, Any]:
        return airflow_identity(self.context)

    # ---- one run -----------------------------------------------------------------------------

    def thread(self, thread_id: str | None, arguments: dict[str, Any]) -> str | None:
        """The thread to run on: the user's, or — with ``reattach`` — the task instance's own,
        adjusting ``arguments`` so that the run creates it and refuses company."""
        if thread_id is not None or not self.reattach:
            return thread_id
        arguments["if_not_exists"] = "create"
        arguments["on_completion"] = None
        if arguments.get("multitask_strategy") is None:
            arguments["multitask_strategy"] = "reject"
        return task_thread_id(self.key)

    def previous(self, thread_id: str | None) -> Run | None:
        """A run of an earlier try to adopt: still going (re-attach) or succeeded (its output,
        without running the agent again). A failed one is re-run, or refused."""
        self._replaced = None
        if not self.reattach or thread_id is None or self.first_try:
            return None
        with step("looking for this task's run from an earlier try"):
            run = self._stored() or self.find(thread_id)
        if run is None:
            return None
        run_id, status = run["run_id"], parse_status(run["status"])
        if status.is_active():
            self.log.info("Re-attaching to run %s (%s) of an earlier try", run_id, status)
            return run
        if status is RunStatus.SUCCESS:
            self.log.info("Run %s of an earlier try succeeded: not running the agent again", run_id)
            return run
        if self.on_previous_failure == "fail":
            raise LangGraphError(
                f"run {run_id} of an earlier try ended with status {status} and "
                "on_previous_failure='fail'"
            )
        self.log.info("Run %s of an earlier try ended %s: starting a new one", run_id, status)
        self._replaced = run_id
        return None

    def create(
        self,
        thread_id: str | None,
        create: Callable[[], T],
        adopt: Callable[[Run], T],
        *,
        step_name: str | None = "creating the run",
    ) -> T:
        """``create()`` exactly once. When the request may have reached the server, look for
        this task instance's run and ``adopt`` it; if it is not there, nothing was created and
        sending again is safe (a 409 from someone else's run on the user's thread is the
        user's ``reject``: raised) — except after a creation that got no answer at all: the
        server may still be making that run, so it is not sent again in this try (the next
        try looks first). ``step_name`` leads the creation's errors (None: the caller names
        them, as a wait that creates its run does once the run exists)."""
        policy = self.hook.settings.retry
        for attempt in range(1, policy.max_attempts + 1):
            try:
                # a creation keeps its short retries (its wait may ride)
                with not_riding(), step(step_name) if step_name else nullcontext():
                    return create()
            except _MAYBE_CREATED as exc:
                if not (self.reattach and thread_id):
                    raise
                found = self._look_after_failed_creation(thread_id, exc)
                if found is not None and found["run_id"] != self._replaced:
                    self.log.warning(
                        "Creating the run failed (%s) but it exists: %s", exc, found["run_id"]
                    )
                    return adopt(found)
                if getattr(exc, "no_response", False):
                    self.log.warning(_NOT_SENT_AGAIN)
                    raise
                if attempt == policy.max_attempts or isinstance(exc, LangGraphConflictError):
                    raise
                self._pause(attempt, f"Creating the run failed ({exc}), nothing was created")
        raise AssertionError("unreachable")

    def _look_after_failed_creation(self, thread_id: str, failed: LangGraphError) -> Run | None:
        """The run a creation that failed midway may have made. A server that never answered
        the creation and does not answer the look-up either is reported by the creation's
        own error (the task's retry looks again before creating anything)."""
        try:
            with step(f"checking whether the failed creation made a run ({failed})"):
                return self.find(thread_id)
        except LangGraphConnectionError as lookup:
            if getattr(failed, "no_response", False) and lookup.no_response:
                raise failed from lookup
            raise

    def find(self, thread_id: str) -> Run | None:
        """The newest run on ``thread_id`` created for this task instance, or None.

        The task key in the run's metadata tells; on the task instance's own thread a run
        without any key is taken too, for servers that keep no run metadata (aegra)."""
        owned = thread_id == task_thread_id(self.key) or thread_id in self._item_threads
        try:
            runs = self.hook.list_runs(thread_id, limit=_LOOKUP_LIMIT)
        except LangGraphNotFoundError:
            return None
        for run in runs:  # newest first
            key = (run.get("metadata") or {}).get(TASK_KEY)
            # a run of another task resuming this thread carries its own key: never ours
            if key == self.key or (owned and key is None):
                return run
        return None

    def record(self, ref: RunRef) -> None:
        """As soon as the run exists: where the next try looks first (Airflow ≥ 3.3)."""
        store = self.context.get("task_state_store")
        if store is not None:
            store.set(STATE_KEY, {"thread_id": ref.thread_id, "run_id": ref.run_id})

    def _stored(self) -> Run | None:
        store = self.context.get("task_state_store")
        value = store.get(STATE_KEY) if store is not None else None
        if not isinstance(value, dict):
            return None
        try:
            return self.hook.get_run(value["thread_id"], value["run_id"])
        except LangGraphNotFoundError:
            return None

    def _pause(self, attempt: int, why: str) -> None:
        delay = self.hook.settings.retry.backoff(attempt)
        self.log.warning("%s: sending again in %.1f s", why, delay)
        time.sleep(delay)

    # ---- batch items ---------------------------------------------------------------------------

    def previous_items(self, count: int) -> dict[int, RunRef]:
        """Items earlier tries created, by index: the newest run of each, if it is going or
        succeeded (adopted). A failed one is created again, or refused."""
        self._replaced_items = {}
        if not self.reattach or self.first_try:
            return {}
        adopted = {}
        with step("looking for this task's batch runs from an earlier try"):
            earlier = self._items_on_server(count)
        for index, run in earlier.items():
            if run.status is not None and (run.status.is_active() or run.status == "success"):
                adopted[index] = run.ids
            elif self.on_previous_failure == "fail":
                raise LangGraphError(
                    f"item #{index}'s {run} of an earlier try ended with status {run.status} "
                    "and on_previous_failure='fail'"
                )
            else:
                self._replaced_items[index] = run.run_id
        return adopted

    def create_items(self, items: Sequence[RunCreate], indexes: list[int]) -> dict[int, RunRef]:
        """Create these items once. After a lost answer or a gateway error, the items the
        server has are adopted and only the others are sent again. Other errors raise.

        Where the server has no batch endpoint (aegra), each item is created on a thread of
        its own derived from the task and the index, exactly like a single run."""
        created: dict[int, RunRef] = {}
        todo = list(indexes)
        policy = self.hook.settings.retry
        for attempt in range(1, policy.max_attempts + 1):
            try:
                answer = self.hook.create_batch_strict([items[i] for i in todo])
            except (LangGraphConnectionError, LangGraphServerError) as exc:
                if not self.reattach:
                    raise
                with step("checking which items the failed batch creation made"):
                    seen = self._items_on_server(len(items))
                # what this try created; never the failed run of an earlier try it replaces
                created.update({
                    i: seen[i].ids
                    for i in todo
                    if i in seen and seen[i].run_id != self._replaced_items.get(i)
                })  # fmt: skip
                todo = [i for i in todo if i not in created]
                if not todo:
                    return created
                unanswered = getattr(exc, "no_response", False)
                if unanswered:
                    self.log.warning(_NOT_SENT_AGAIN)
                if unanswered or attempt == policy.max_attempts:
                    raise
                self._pause(attempt, f"Creating {len(todo)} items failed ({exc})")
                continue
            except LangGraphHTTPError as exc:
                if not no_such_endpoint(exc):
                    raise
                self.log.info("The server has no batch endpoint: creating items one by one")
                if not self.reattach:  # stateless runs, as the batch would have made
                    answer = self.hook.create_batch([items[i] for i in todo])
                    created.update({i: RunRef.of(r).ids for i, r in zip(todo, answer, strict=True)})
                    return created
                return {**created, **self._create_each(items, todo)}
            created.update({i: RunRef.of(r).ids for i, r in zip(todo, answer, strict=True)})
            return created
        raise AssertionError("unreachable")

    def _create_each(self, items: Sequence[RunCreate], indexes: list[int]) -> dict[int, RunRef]:
        created = {}
        for index in indexes:
            thread_id = item_thread_id(self.key, index)
            self._item_threads.add(thread_id)
            self._replaced = self._replaced_items.get(index)
            arguments = {**create_run_arguments(items[index]), "if_not_exists": "create"}
            arguments["multitask_strategy"] = "reject"
            arguments.pop("on_completion", None)  # a thread run keeps its thread anyway
            run = self.create(
                thread_id,
                create=functools.partial(self.hook.create_run, thread_id, **arguments),
                adopt=lambda found: found,
            )
            created[index] = RunRef.of(run).ids
        self._replaced = None
        return created

    def _items_on_server(self, count: int) -> dict[int, RunRef]:
        """The newest run of each item index of this task instance (batch runs are stateless:
        their threads carry the identity and the index in their metadata)."""
        newest: dict[int, RunRef] = {}
        offset = 0
        while True:
            threads = self.hook.search_threads(
                metadata={TASK_KEY: self.key}, limit=_SEARCH_PAGE, offset=offset,
                sort_by="created_at", sort_order="desc",
            )  # fmt: skip
            for thread in threads:
                index = (thread.get("metadata") or {}).get(BATCH_INDEX)
                if isinstance(index, int) and 0 <= index < count and index not in newest:
                    runs = self.hook.list_runs(thread["thread_id"], limit=1)
                    if runs:
                        newest[index] = RunRef.of(runs[0])
            if len(threads) < _SEARCH_PAGE:
                break
            offset += _SEARCH_PAGE
        if newest:
            return newest  # made through the batch endpoint
        # Made one by one (no batch endpoint), each on its own thread, in index order: probe
        # in that order and stop at the first item never made — one 404 where the server has
        # the endpoint and nothing was made yet.
        for index in range(count):
            thread_id = item_thread_id(self.key, index)
            self._item_threads.add(thread_id)
            run = self.find(thread_id)
            if run is None:
                break
            newest[index] = RunRef.of(run)
        return newest
