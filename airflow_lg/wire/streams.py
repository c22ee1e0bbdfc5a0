"""Where a stream is, so that a broken one resumes without losing or repeating an event; the
steps both transports take around their reads (no I/O here)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx

from airflow_lg.exceptions import LangGraphConnectionError, LangGraphStreamInterruptedError
from airflow_lg.schema import StreamPart
from airflow_lg.wire.calls import OnRunCreated, StreamCall, without_last_event_id
from airflow_lg.wire.responses import run_metadata
from airflow_lg.wire.runs import join_stream


class StreamCursor:
    """Where a stream is, so a broken one can be resumed with ``Last-Event-ID``.

    It learns the run's ids from the response headers or the ``metadata`` event, remembers the
    last event id seen, and drops an event a re-join replays although an earlier connection
    delivered it (a server that replays too much must not make the caller see an event twice).
    Within one connection nothing is dropped: ``langgraph dev`` gives two events of the same
    millisecond the same id (seen with token streams), and both are real.
    """

    def __init__(self, stream: StreamCall, on_run_created: OnRunCreated | None = None) -> None:
        self.stream = stream
        self.thread_id = stream.thread_id
        self.run_id = stream.run_id
        self.last_event_id: str | None = None
        self.breaks = 0  # consecutive breaks without an event in between
        self._on_run_created = on_run_created
        self._seen: set[str] = set()  # ids delivered by earlier connections
        self._current: set[str] = set()  # ids delivered by this one
        self._unidentified = False  # an event without id: a replay could not skip it
        self._tail_checked = False

    def on_response(self, response: httpx.Response) -> None:
        self._seen |= self._current  # a new connection: what came before can only be replayed
        self._current = set()
        meta = run_metadata(response)
        if meta and not self.run_id:
            self.run_id = meta["run_id"]
            self.thread_id = meta["thread_id"] or self.thread_id
            if self._on_run_created:
                self._on_run_created(meta)

    def accept(self, part: StreamPart) -> StreamPart | None:
        if part.id is not None:
            if part.id in self._seen:
                return None
            self._current.add(part.id)
            self.last_event_id = part.id
        else:
            self._unidentified = True
        self.breaks = 0
        if part.event == "metadata" and isinstance(part.data, dict) and not self.run_id:
            self.run_id = part.data.get("run_id")
        return part

    def check_tail(self) -> bool:
        """After a clean EOF of a resumable stream, once: point at a re-join after the last
        event. The server can close a run's stream a moment before its last events are
        delivered (seen under load); the re-join replays whatever came after, usually
        nothing, so no event is lost. False when there is nothing to check."""
        if self._tail_checked or self._unidentified or not self.last_event_id:
            return False
        if not (self.stream.resumable and self.thread_id and self.run_id):
            return False
        self._tail_checked = True
        self.stream = self._rejoin(self.last_event_id)
        return True

    def resume(self, cause: Exception, max_breaks: int) -> StreamCall:
        """The stream call that picks up after the last event, or an error saying why not."""
        call = self.stream.call
        self.breaks += 1
        if self.breaks >= max_breaks:
            raise LangGraphConnectionError(
                f"the stream of run {self.run_id} broke off {self.breaks} times in a row "
                f"without an event in between; giving up ({cause})"
            ) from None
        if self.stream.resumable and self.run_id and not self.thread_id:
            raise LangGraphStreamInterruptedError(
                f"the stream of {call.method} {call.path} broke off ({cause}) and cannot be "
                "resumed: the server does not say which thread a stateless run is on, and a "
                f"stream is re-joined on its thread; stream on a thread to make it resumable "
                f"(run {self.run_id} may still be running)",
                run_id=self.run_id,
                thread_id=None,
            ) from None
        if self._unidentified or not (self.stream.resumable and self.thread_id and self.run_id):
            raise LangGraphStreamInterruptedError(
                f"the stream of {call.method} {call.path} broke off ({cause}) and cannot be "
                "resumed without losing events: create the run with stream_resumable=True to "
                f"make it resumable (run {self.run_id or '?'} on thread {self.thread_id or '?'}"
                " may still be running)",
                run_id=self.run_id,
                thread_id=self.thread_id,
            ) from None
        self.stream = self._rejoin(self.last_event_id or "-1")
        return self.stream

    def _rejoin(self, last_event_id: str) -> StreamCall:
        """The join-stream call that replays what came after ``last_event_id``, asking for
        what the original stream asked for."""
        assert self.thread_id and self.run_id  # checked by both callers
        call = self.stream.call
        rejoin = join_stream(
            self.thread_id,
            self.run_id,
            stream_mode=self.stream.resume_modes,
            last_event_id=last_event_id,
            headers=without_last_event_id(call.headers),
            retry=call.retry,
        )
        return replace(rejoin, resumable=True, version=self.stream.version)

    def accepted(self, parts: list[StreamPart]) -> Iterator[Any]:
        """The parts the caller has not seen yet, in the stream's version."""
        for part in parts:
            if (kept := self.accept(part)) is not None:
                if self.stream.version == "v2":
                    if (v2 := v2_part(kept)) is not None:
                        yield v2
                else:
                    yield kept


def v2_part(part: StreamPart) -> dict[str, Any] | None:
    """A part in the SDK's ``version="v2"`` shape: ``{type, ns, data, interrupts}``; None for
    the ``end`` event."""
    if part.event == "end":
        return None
    kind, *ns = part.event.split("|")
    data = part.data
    interrupts: list[Any] = []
    if kind == "values" and isinstance(data, dict) and "__interrupt__" in data:
        data = {k: v for k, v in data.items() if k != "__interrupt__"}
        interrupts = list(part.data["__interrupt__"])
    return {"type": kind, "ns": ns, "data": data, "interrupts": interrupts}
