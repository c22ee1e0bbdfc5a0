"""Types of the runs API, named and shaped as in ``langgraph_sdk.schema``, and the provider's own
choices. Every enumerated value the provider checks is written here once; the argument checks
(:mod:`airflow_lg.arguments`) read their choices from these Literals.

Values stay plain JSON (dicts, lists, strings) so they travel through XCom and trigger kwargs
unchanged; the TypedDicts document their shape.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal, NamedTuple, TypedDict, get_args

# ---- the server's vocabulary (the SDK's names) ----------------------------------------------

ThreadStatus = Literal["idle", "busy", "interrupted", "error"]
StreamMode = Literal[
    "values",
    "messages",
    "updates",
    "events",
    "tasks",
    "checkpoints",
    "debug",
    "custom",
    "messages-tuple",
]
DisconnectMode = Literal["cancel", "continue"]
OnCompletionBehavior = Literal["delete", "keep"]
MultitaskStrategy = Literal["reject", "interrupt", "rollback", "enqueue"]
IfNotExists = Literal["create", "reject"]
OnConflictBehavior = Literal["raise", "do_nothing"]
CancelAction = Literal["interrupt", "rollback"]
Durability = Literal["sync", "async", "exit"]
StreamVersion = Literal["v1", "v2"]
All = Literal["*"]

# ---- the provider's own choices --------------------------------------------------------------

WaitMode = Literal["poll", "join", "watch"]
OnInterrupt = Literal["fail", "succeed"]
OnPreviousFailure = Literal["rerun", "fail"]
DeadlineReason = Literal["wait_timeout", "execution_timeout", "sensor_timeout"]


def choices(literal: Any) -> tuple[str, ...]:
    """The values of a Literal above, for checks and messages."""
    return tuple(get_args(literal))


class RunStatus(StrEnum):
    """A run's status: the server's six, and two the provider adds while waiting.

    ``ENDED``: a join saw the run end; how it ended is read by the resumed task (a triggerer
    holding thousands of joins then sends one request per run). ``MISSING``: the server no
    longer has the run (rolled back, or a stateless run deleted on completion).
    """

    PENDING = "pending"
    RUNNING = "running"
    ERROR = "error"
    SUCCESS = "success"
    TIMEOUT = "timeout"
    INTERRUPTED = "interrupted"
    ENDED = "ended"
    MISSING = "missing"

    def is_terminal(self) -> bool:
        """The server will never change this status again."""
        return self in _TERMINAL

    def is_active(self) -> bool:
        return self in (RunStatus.PENDING, RunStatus.RUNNING)

    def is_final(self) -> bool:
        """Known to be over, and how: terminal, or gone from the server."""
        return self in _TERMINAL or self is RunStatus.MISSING


_TERMINAL = frozenset(
    {RunStatus.ERROR, RunStatus.SUCCESS, RunStatus.TIMEOUT, RunStatus.INTERRUPTED}
)
#: Statuses after which a run never changes again (as plain strings, for wire values).
TERMINAL_RUN_STATUSES: frozenset[str] = frozenset(str(s) for s in _TERMINAL)
SERVER_RUN_STATUSES: tuple[str, ...] = tuple(
    str(s) for s in RunStatus if s not in (RunStatus.ENDED, RunStatus.MISSING)
)


class Outcome(StrEnum):
    """A run's end as a user acts on it (see :class:`airflow_lg.runs.RunOutcome`)."""

    SUCCESS = "success"
    PAUSED = "paused"  # status success, but it waits for a human (interrupt or breakpoint)
    ERROR = "error"
    TIMEOUT = "timeout"  # the *server* stopped it
    CANCELLED = "cancelled"  # status interrupted
    MISSING = "missing"


# ---- shapes the server answers (total=False: servers add and omit fields) -------------------


class Run(TypedDict, total=False):
    run_id: str
    thread_id: str
    assistant_id: str
    created_at: str
    updated_at: str
    status: str
    metadata: dict[str, Any]
    multitask_strategy: MultitaskStrategy
    kwargs: dict[str, Any]


class Thread(TypedDict, total=False):
    thread_id: str
    created_at: str
    updated_at: str
    metadata: dict[str, Any]
    status: ThreadStatus
    values: Any
    interrupts: dict[str, Any]
    error: Any


class ThreadTask(TypedDict, total=False):
    id: str
    name: str
    error: str | None
    interrupts: list[dict[str, Any]]


class ThreadState(TypedDict, total=False):
    """A checkpoint of a thread: what ``get_state`` and each ``get_history`` item answer."""

    values: Any
    next: list[str]
    checkpoint: dict[str, Any]
    metadata: dict[str, Any]
    created_at: str | None
    parent_checkpoint: dict[str, Any] | None
    tasks: list[ThreadTask]
    interrupts: list[dict[str, Any]]


class RunCreate(TypedDict, total=False):
    """One item of :meth:`LangGraphHook.create_batch` (always a stateless run on the server)."""

    thread_id: str | None
    assistant_id: str
    input: dict[str, Any] | None
    metadata: dict[str, Any] | None
    config: dict[str, Any] | None
    context: dict[str, Any] | None
    checkpoint_id: str | None
    interrupt_before: All | list[str] | None
    interrupt_after: All | list[str] | None
    webhook: str | None
    multitask_strategy: MultitaskStrategy | None
    on_completion: OnCompletionBehavior | None
    after_seconds: int | None


class RunCreateMetadata(TypedDict):
    """What ``on_run_created`` receives: the ids of the run the server just made."""

    run_id: str
    thread_id: str | None


class StreamPart(NamedTuple):
    """One server-sent event: its name, its decoded JSON data and its id (resumable streams)."""

    event: str
    data: Any
    id: str | None = None


def interrupts_of(result: Any) -> list[dict[str, Any]] | None:
    """The ``__interrupt__`` payloads of a wait/join result, or None if the run did not pause.

    A run that called ``interrupt()`` ends with status ``success``: only this marker in its
    result tells that it is waiting for a human.
    """
    if isinstance(result, dict) and result.get("__interrupt__"):
        return list(result["__interrupt__"])
    return None
