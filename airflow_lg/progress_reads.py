"""A waiting run's progress, read from the server and told in the wait's log (the task log,
also from the triggerer): :class:`Progress`. The lines themselves come from
:mod:`airflow_lg.progress`, which imports nothing of Airflow (the demo imports it before
Airflow is configured)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from airflow_lg.exceptions import (
    LangGraphError,
    LangGraphServerError,
    LangGraphStreamInterruptedError,
)
from airflow_lg.progress import ProgressLog

if TYPE_CHECKING:
    from airflow_lg.hooks.langgraph import LangGraphHook
    from airflow_lg.runs import RunRef


PROGRESS_EVERY = 15.0
"""Seconds between two checkpoint reads of a polled run's progress."""
NOT_STARTED_AGAIN = 2.0
"""Seconds until a run that had no checkpoint yet is read again (a watched run is looked at
before anyone knows whether it started)."""


class Progress:
    """A run's progress told in the wait's log (the task log, also from the triggerer): node
    by node as the run's own event stream says, when joining — the same one long poll as a
    join, answered when the run ends; or, when polling, the step its newest checkpoint is at,
    read while the run is running (a request more per poll)."""

    def __init__(self, ref: RunRef, log: Any) -> None:
        self.ref, self.log = ref, log
        self.lines = ProgressLog(values=False)
        self.step: int | None = None
        self.readable = True
        self.next_look = 0.0  # monotonic time of the next checkpoint read, when polling

    async def follow(self, hook: LangGraphHook) -> None:
        """Until the run ends: its node updates, and custom events where the run records
        them (a run created without ``updates`` in its ``stream_mode`` streams none: only its
        status is told). A stream that breaks and cannot resume (its events carry no ids)
        costs nothing of the failure budget: the wait goes on as a plain join."""
        stream = hook.ajoin_stream(
            self.ref.thread_id, self.ref.run_id, stream_mode=["updates", "custom"]
        )
        try:
            async for part in stream:
                if part.event != "end":  # aegra ends its streams with one
                    self._tell(self.lines.lines(part))
        except LangGraphStreamInterruptedError as exc:
            self.log.info(
                "LangGraph %s: its event stream broke (%s); waiting without it", self.ref, exc
            )
            await hook.ajoin_run(self.ref.thread_id, self.ref.run_id, raise_error=False)
        self._tell(self.lines.flush())

    async def look(self, hook: LangGraphHook) -> None:
        """The step the running run is at, told when it moved; read at most every
        :data:`PROGRESS_EVERY` seconds (a checkpoint read costs the server more than a status
        read: progress must not double a poller's load)."""
        if not self.readable or time.monotonic() < self.next_look:
            return
        self.next_look = time.monotonic() + PROGRESS_EVERY
        try:
            newest = await hook.aget_thread_history(
                self.ref.thread_id, limit=1, metadata={"run_id": self.ref.run_id}
            )
        except LangGraphServerError as exc:
            # aegra fails a history by metadata (500): the status must do
            self.readable = exc.status_code != 500
            return
        except LangGraphError:
            return  # progress is a courtesy: the status read decides
        checkpoint = newest[0] if newest and isinstance(newest[0], dict) else None
        if checkpoint is None:  # not started yet (queued): looked at again soon
            self.next_look = time.monotonic() + NOT_STARTED_AGAIN
        step = ((checkpoint or {}).get("metadata") or {}).get("step")
        if checkpoint is None or not isinstance(step, int) or step == self.step:
            return
        self.step = step
        names = [t.get("name") for t in checkpoint.get("tasks") or [] if isinstance(t, dict)]
        nodes = [str(n) for n in names if n and n != "__start__"]
        if nodes:
            self.log.info("LangGraph run %s: step %d, running %s", self.ref.run_id, step + 1,
                          ", ".join(nodes))  # fmt: skip

    def _tell(self, lines: Iterator[str]) -> None:
        for line in lines:
            self.log.info("LangGraph run %s: %s", self.ref.run_id, line)
