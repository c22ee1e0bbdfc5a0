"""Types of the runs API, named and shaped as in ``langgraph_sdk.schema``.

Values stay plain JSON (dicts, lists, strings) so they travel through XCom and trigger kwargs
unchanged; the TypedDicts only document their shape.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple, TypedDict

RunStatus = Literal["pending", "running", "error", "success", "timeout", "interrupted"]
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
All = Literal["*"]

#: Statuses after which a run never changes again.
TERMINAL_RUN_STATUSES: frozenset[str] = frozenset({"error", "success", "timeout", "interrupted"})


class Run(TypedDict, total=False):
    run_id: str
    thread_id: str
    assistant_id: str
    created_at: str
    updated_at: str
    status: RunStatus
    metadata: dict[str, Any]
    multitask_strategy: MultitaskStrategy
    kwargs: dict[str, Any]


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
