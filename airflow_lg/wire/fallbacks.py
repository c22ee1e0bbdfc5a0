"""What to send instead when a server refuses a call it does not implement, so the hook's
methods give every server's users the same result (``docs/compatibility.md``):

- ``GET /ok`` not found (aegra has ``/health`` and ``/info``): ``GET /info`` answering is the
  server being up;
- ``POST /runs/batch`` not found or not allowed (aegra): one ``POST /runs`` per item, in order;
- ``cancel(action="rollback")`` refused (aegra: 422): interrupt the run, wait for it to stop,
  then delete it — what rollback does.

A fallback is a plan of calls built without I/O; both transports run it the same way
(:func:`airflow_lg.hooks.langgraph` binds each method to its plan).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_lg.exceptions import (
    LangGraphConflictError,
    LangGraphError,
    LangGraphHTTPError,
    LangGraphNotFoundError,
    LangGraphValidationError,
)
from airflow_lg.wire.calls import Call
from airflow_lg.wire.payloads import create_run_arguments
from airflow_lg.wire.runs import cancel_run, create_run, delete_run
from airflow_lg.wire.threads import info

_NOT_IMPLEMENTED = (404, 405)


@dataclass(frozen=True)
class Step:
    call: Call[Any]
    # errors of this step that do not stop the plan (the step then gives None)
    tolerate: tuple[type[LangGraphError], ...] = ()


@dataclass(frozen=True)
class Fallback:
    steps: Sequence[Step]
    combine: Callable[[list[Any]], Any]


Plan = Callable[..., Fallback | None]
"""``plan(error, *args, **kwargs)``: the fallback for a call built from ``args``/``kwargs``
that failed with ``error``, or None when the error is the answer."""


def no_such_endpoint(error: LangGraphError) -> bool:
    """The server has no such route (405, or a 404 whose detail is the framework's bare "Not
    Found" — an unknown assistant or thread says which)."""
    if not isinstance(error, LangGraphHTTPError) or error.status_code not in _NOT_IMPLEMENTED:
        return False
    return error.status_code == 405 or error.detail in ("Not Found", {"detail": "Not Found"})


def health(error: LangGraphError, **call: Any) -> Fallback | None:
    if not isinstance(error, LangGraphNotFoundError):
        return None
    return Fallback([Step(info(**call))], combine=lambda results: {"ok": True})


# The plans below take the failed builder's keyword arguments as they were given (headers,
# params, retry, ...), so the builders' signatures are written once, in runs.py.


def create_batch(
    error: LangGraphError, payloads: Sequence[Mapping[str, Any]], **call: Any
) -> Fallback | None:
    if not no_such_endpoint(error):
        return None
    steps = [Step(create_run(None, **create_run_arguments(p), **call)) for p in payloads]
    return Fallback(steps, combine=list)


def cancel(error: LangGraphError, thread_id: str, run_id: str, **call: Any) -> Fallback | None:
    if call.get("action") != "rollback" or not isinstance(error, LangGraphValidationError):
        return None
    common = {k: v for k, v in call.items() if k not in ("wait", "action")}
    stop = cancel_run(thread_id, run_id, wait=True, action="interrupt", **common)
    # A run that ended meanwhile cannot be interrupted (404 on langgraph dev, 409 elsewhere);
    # it is deleted all the same.
    steps = [
        Step(stop, tolerate=(LangGraphNotFoundError, LangGraphConflictError)),
        Step(delete_run(thread_id, run_id, **common)),
    ]
    return Fallback(steps, combine=lambda results: None)
