"""The values that travel with a run through the provider: :class:`RunRef` (which run, and what
is known of its status) and :class:`RunOutcome` (how it ended, as a user acts on it).

Both are small frozen types with one serialized form (``to_dict``/``from_dict``): the same dicts
go into trigger kwargs, trigger events and XCom, and are checked where they come back in
(:meth:`RunRef.from_dict` refuses a malformed one).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from airflow_lg.exceptions import (
    LangGraphError,
    LangGraphRunCancelledError,
    LangGraphRunFailedError,
    LangGraphRunPausedError,
    LangGraphRunTimeoutError,
)
from airflow_lg.schema import OnInterrupt, Outcome, RunStatus

MISSING_DETAIL = (
    "the run was deleted (rolled back, or a stateless run created with on_completion='delete', "
    "which vanishes when it ends)"
)

LOST_IN_OUTAGE_DETAIL = (
    "it is gone after the server was away: the server lost it (one that keeps runs in memory, "
    "such as `langgraph dev`, loses the runs it was running when it is killed), or it was "
    "deleted"
)


def parse_status(value: Any) -> RunStatus:
    """A status as a server (or a trigger event) gives it; an unknown one is an error naming it,
    not a wait that never ends."""
    try:
        return RunStatus(value)
    except ValueError:
        raise LangGraphError(
            f"unknown run status {value!r}; known: {[str(s) for s in RunStatus]}"
        ) from None


@dataclass(frozen=True)
class RunRef:
    """A run on the server: its ids and, once read, its status.

    ``status`` is None while unknown (a run just handed to a wait), a server status, or one of
    the provider's :attr:`RunStatus.ENDED` / :attr:`RunStatus.MISSING` (then ``detail`` says
    why it is missing).
    """

    thread_id: str
    run_id: str
    status: RunStatus | None = None
    detail: str | None = None

    def __post_init__(self) -> None:
        # RunRef("T", "R", "success") means RunStatus.SUCCESS: statuses are compared by identity
        if self.status is not None and not isinstance(self.status, RunStatus):
            object.__setattr__(self, "status", parse_status(self.status))

    @classmethod
    def of(cls, run: RunRef | Mapping[str, Any]) -> RunRef:
        """The reference of a run as the server answers it (a Run, or the ids of a new run),
        with its status when it has one; a RunRef is returned as it is."""
        return run if isinstance(run, RunRef) else cls.from_dict(run)

    @classmethod
    def from_dict(cls, value: Any) -> RunRef:
        """A reference from its serialized form; anything else is an error naming it."""
        if not isinstance(value, Mapping):
            raise LangGraphError(f"not a run reference: {value!r:.200}")
        thread_id, run_id = value.get("thread_id"), value.get("run_id")
        if not (isinstance(thread_id, str) and thread_id and isinstance(run_id, str) and run_id):
            raise LangGraphError(f"a run reference needs a thread_id and a run_id: {value!r:.200}")
        status = value.get("status")
        known = parse_status(status) if status is not None else None
        return cls(thread_id, run_id, known, value.get("detail"))

    def to_dict(self) -> dict[str, Any]:
        """The serialized form: the ids, plus the status and detail when known."""
        out: dict[str, Any] = {"thread_id": self.thread_id, "run_id": self.run_id}
        if self.status is not None:
            out["status"] = str(self.status)
        if self.detail is not None:
            out["detail"] = self.detail
        return out

    @property
    def ids(self) -> RunRef:
        """The same run, with nothing known of its status."""
        return RunRef(self.thread_id, self.run_id)

    def with_status(self, status: str) -> RunRef:
        return replace(self, status=parse_status(status))

    def missing(self, detail: str = MISSING_DETAIL) -> RunRef:
        """The same run, reported as gone from the server (``detail``: the likely reason)."""
        return replace(self, status=RunStatus.MISSING, detail=detail)

    @property
    def is_final(self) -> bool:
        return self.status is not None and self.status.is_final()

    def __str__(self) -> str:
        return f"run {self.run_id} on thread {self.thread_id}"


@dataclass(frozen=True)
class RunOutcome:
    """How an ended run ended: its :class:`~airflow_lg.schema.Outcome`, and its ``output``,
    ``error`` (``{"error": type, "message": ...}``), or the ``interrupts`` and ``next`` nodes
    where it paused. ``status`` is the server's (or ``missing``)."""

    thread_id: str
    run_id: str
    status: str
    outcome: Outcome
    output: Any = None
    error: dict[str, Any] | None = None
    interrupts: list[Any] | None = None
    next: list[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The serialized form (XCom): ids, status, outcome, then what this kind of end has."""
        out: dict[str, Any] = {
            "thread_id": self.thread_id,
            "run_id": self.run_id,
            "status": self.status,
            "outcome": str(self.outcome),
        }
        if self.outcome not in (Outcome.ERROR, Outcome.MISSING):
            out["output"] = self.output
        if self.outcome is Outcome.PAUSED:
            out["interrupts"] = self.interrupts or []
            out["next"] = self.next or []
        if self.error is not None:
            out["error"] = self.error
        return out

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> RunOutcome:
        return cls(
            thread_id=value["thread_id"],
            run_id=value["run_id"],
            status=value["status"],
            outcome=Outcome(value["outcome"]),
            output=value.get("output"),
            error=value.get("error"),
            interrupts=value.get("interrupts"),
            next=value.get("next"),
        )

    @property
    def ref(self) -> RunRef:
        return RunRef(self.thread_id, self.run_id)

    def accepted(self, on_interrupt: OnInterrupt) -> bool:
        """Whether the task succeeds with this outcome."""
        return self.outcome is Outcome.SUCCESS or (
            self.outcome is Outcome.PAUSED and on_interrupt == "succeed"
        )

    def result(self, on_interrupt: OnInterrupt) -> Any:
        """The run's output, or the error a user can act on."""
        where = f"LangGraph {self.ref}"
        if self.accepted(on_interrupt):
            return self.output
        if self.outcome is Outcome.PAUSED:
            raise LangGraphRunPausedError(
                f"{where} paused for human input (next: {self.next}); resume the thread with "
                "command={'resume': ...} (or, at a breakpoint, a run with no input), or set "
                f"on_interrupt='succeed'. Interrupts: {self.interrupts!r:.500}",
                interrupts=self.interrupts or [],
                thread_id=self.thread_id,
            )
        error = self.error or {}
        if self.outcome is Outcome.ERROR:
            raise LangGraphRunFailedError(
                str(error.get("error")),
                str(error.get("message")),
                run_id=self.run_id,
                thread_id=self.thread_id,
            )
        if self.outcome is Outcome.TIMEOUT:
            raise LangGraphRunTimeoutError(f"{where} hit the server's time limit (status timeout)")
        if self.outcome is Outcome.MISSING:
            raise LangGraphError(f"{where} no longer exists: {error.get('message')}")
        raise LangGraphRunCancelledError(f"{where} was cancelled (status interrupted)")
