"""Checks of the operators' arguments when the DAG is parsed, not at run time: every mistake
the server would refuse later, named with the argument (and, by the operators, the task).

The choices come from the Literals of :mod:`airflow_lg.schema`, written there once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from airflow_lg.exceptions import LangGraphConfigError
from airflow_lg.schema import (
    CancelAction,
    DisconnectMode,
    Durability,
    IfNotExists,
    MultitaskStrategy,
    OnCompletionBehavior,
    OnInterrupt,
    OnPreviousFailure,
    StreamMode,
    WaitMode,
    choices,
)

CHOICES: dict[str, tuple[str, ...]] = {
    "wait_mode": choices(WaitMode),
    "cancel_action": choices(CancelAction),
    "on_interrupt": choices(OnInterrupt),
    "on_previous_failure": choices(OnPreviousFailure),
    # what the server accepts (runs-api.md §2)
    "multitask_strategy": choices(MultitaskStrategy),
    "if_not_exists": choices(IfNotExists),
    "on_completion": choices(OnCompletionBehavior),
    "durability": choices(Durability),
    "on_disconnect": choices(DisconnectMode),
}
T = TypeVar("T")
_JSON_ARGUMENTS = ("input", "command", "config", "context", "metadata")


def templated(value: Any) -> bool:
    """A value Airflow will render later (or an XComArg): it can only be checked then."""
    return (isinstance(value, str) and "{{" in value) or type(value).__name__.endswith("XComArg")


def for_task(task_id: str, check: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run an argument check (or anything that refuses arguments), naming the task in what it
    refuses; returns what ``check`` returns."""
    try:
        return check(*args, **kwargs)
    except LangGraphConfigError as exc:
        raise LangGraphConfigError(f"task {task_id!r}: {exc}") from None


def check_choice(name: str, value: Any) -> None:
    if value not in CHOICES[name]:
        raise LangGraphConfigError(f"{name} must be one of {CHOICES[name]}, got {value!r}")


def check_failure_budget(failure_budget: Any) -> None:
    whole = isinstance(failure_budget, int) and not isinstance(failure_budget, bool)
    if not whole or failure_budget < 0:
        raise LangGraphConfigError(
            f"failure_budget must be an integer >= 0, got {failure_budget!r}"
        )


def check_run_arguments(**arguments: Any) -> None:
    """Fail at DAG-parse time on run arguments the server would refuse, naming the argument."""
    for name, value in arguments.items():
        if value is None or templated(value):
            continue
        if name in CHOICES:
            check_choice(name, value)
        if name in _JSON_ARGUMENTS:
            try:
                json.dumps(value, allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise LangGraphConfigError(f"{name} is not JSON-serializable: {exc}") from None
    after = arguments.get("after_seconds")
    if (
        after is not None
        and not templated(after)
        and (not isinstance(after, int) or isinstance(after, bool) or after < 0)
    ):
        raise LangGraphConfigError(f"after_seconds must be an integer >= 0, got {after!r}")
    config, context = arguments.get("config"), arguments.get("context")
    if isinstance(config, dict) and config.get("configurable") and context:
        raise LangGraphConfigError(
            "config['configurable'] and context cannot be used together: the server refuses "
            "it (400); pass the static values in context only"
        )
    command = arguments.get("command")
    resuming = isinstance(command, dict) and "resume" in command
    if resuming and "thread_id" in arguments and arguments["thread_id"] is None:
        raise LangGraphConfigError(
            "command={'resume': ...} needs the thread_id of the paused run: a resume "
            "without a thread has nothing to resume (the server refuses it)"
        )


def check_stream_mode(stream_mode: Any) -> None:
    if stream_mode is None or templated(stream_mode):
        return
    modes = [stream_mode] if isinstance(stream_mode, str) else list(stream_mode)
    known = choices(StreamMode)
    unknown = [m for m in modes if m not in known]
    if unknown:
        raise LangGraphConfigError(f"unknown stream_mode {unknown}; known: {list(known)}")


def thread_or_none(thread_id: Any) -> str | None:
    """A templated thread id that rendered to nothing ("", "None") means "no thread"."""
    if thread_id is None or (isinstance(thread_id, str) and thread_id.strip() in ("", "None")):
        return None
    return str(thread_id)
