"""The exception family of airflow-lg.

Every error the provider raises derives from :class:`LangGraphError`, itself an
``AirflowException``, so a DAG author can catch one type. HTTP errors carry what is needed to
act on them without reading a traceback: the status, the method and path that failed, and the
server's own ``detail`` message. Messages never contain request headers (the API key travels in
one).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from airflow.sdk.exceptions import AirflowException, AirflowFailException


class LangGraphError(AirflowException):
    """Root of every error raised by airflow-lg."""


@contextlib.contextmanager
def step(what: str) -> Iterator[None]:
    """Errors raised in this block lead with what the task was doing, in its user's terms
    ("looking for an earlier try's run"), before the request that failed — whose path may
    name a thread the user never made. The innermost step names it; the type is kept."""
    try:
        yield
    except LangGraphError as exc:
        name_step(exc, what)
        raise


def name_step(exc: LangGraphError, what: str) -> None:
    """Lead ``exc``'s message with ``what`` (see :func:`step`), unless a step already did."""
    if not getattr(exc, "step", None) and exc.args and isinstance(exc.args[0], str):
        exc.step = what  # type: ignore[attr-defined]
        exc.args = (f"{what}: {exc.args[0]}", *exc.args[1:])


class LangGraphConfigError(LangGraphError):
    """The connection or an argument is unusable before anything is sent (bad URL, bad extra)."""


class LangGraphConnectionError(LangGraphError):
    """The server could not be reached, or the connection broke, after all retries.

    ``may_have_reached_server`` is False only when the request provably never left (the
    connection was never established): the one case where re-sending a run creation is safe.
    ``no_response``: the server took the request and said nothing within the call's budget.
    ``misconfigured``: retrying cannot help (TLS spoken to a plain-HTTP port, an untrusted
    certificate): the connection itself must change.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str = "",
        path: str = "",
        may_have_reached_server: bool = True,
        no_response: bool = False,
        misconfigured: bool = False,
    ) -> None:
        super().__init__(message)
        self.method = method
        self.path = path
        self.may_have_reached_server = may_have_reached_server
        self.no_response = no_response
        self.misconfigured = misconfigured


class LangGraphHTTPError(LangGraphError):
    """The server answered with an HTTP error status."""

    def __init__(
        self,
        status_code: int,
        method: str,
        path: str,
        detail: Any,
        *,
        retry_after: float | None = None,
    ) -> None:
        # AirflowException declares status_code as an HTTPStatus for its API server; a
        # server may answer codes HTTPStatus does not know, so keep the plain int.
        self.status_code = status_code  # type: ignore[assignment]
        self.method = method
        self.path = path
        self.detail = detail
        self.retry_after = retry_after
        super().__init__(f"{method} {path} failed with HTTP {status_code}: {format_detail(detail)}")


class LangGraphValidationError(LangGraphHTTPError):
    """400 or 422: the server refused the request's content (bad id, enum, body...)."""


class LangGraphAuthError(LangGraphHTTPError):
    """401 or 403: the API key is missing, wrong, or not allowed to do this."""


class LangGraphNotFoundError(LangGraphHTTPError):
    """404: no such run, thread or assistant (or a stateless run already deleted)."""


class LangGraphConflictError(LangGraphHTTPError):
    """409: the thread is busy and the multitask strategy is ``reject``."""


class LangGraphRateLimitError(LangGraphHTTPError):
    """429: too many requests; ``retry_after`` holds the server's advice in seconds."""


class LangGraphServerError(LangGraphHTTPError):
    """5xx: the server (or a gateway in front of it) failed."""


class LangGraphRunFailedError(LangGraphError):
    """The agent run itself failed: the server reported ``__error__`` for it."""

    def __init__(
        self,
        error_type: str,
        message: str,
        *,
        run_id: str | None = None,
        thread_id: str | None = None,
    ) -> None:
        self.error_type = error_type
        self.error_message = message
        self.run_id = run_id
        self.thread_id = thread_id
        # the agent's own words first: a log line in the UI shows its start, and ids are long
        where = f" (agent run {run_id} on thread {thread_id})" if run_id else " (agent run)"
        super().__init__(f"{error_type}: {message}{where}")


class LangGraphStreamInterruptedError(LangGraphConnectionError):
    """A stream broke mid-way and cannot be resumed without losing events.

    Raised for streams created without ``stream_resumable=True``: the run goes on on the server
    (unless ``on_disconnect="cancel"``), and ``run_id``/``thread_id`` say where to find it.
    """

    def __init__(self, message: str, *, run_id: str | None, thread_id: str | None) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.thread_id = thread_id


_STATUS_TYPES: dict[int, type[LangGraphHTTPError]] = {
    400: LangGraphValidationError,
    401: LangGraphAuthError,
    403: LangGraphAuthError,
    404: LangGraphNotFoundError,
    409: LangGraphConflictError,
    422: LangGraphValidationError,
    429: LangGraphRateLimitError,
}


def http_error_type(status_code: int) -> type[LangGraphHTTPError]:
    """The exception class for an HTTP error status."""
    if status_code >= 500:
        return LangGraphServerError
    return _STATUS_TYPES.get(status_code, LangGraphHTTPError)


def format_detail(detail: Any) -> str:
    """Render a server ``detail`` (a string, or FastAPI's list of validation errors) readably."""
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict) and "msg" in item:
                loc = ".".join(str(p) for p in item.get("loc", []) if p != "body")
                parts.append(f"{loc}: {item['msg']}" if loc else str(item["msg"]))
            else:
                parts.append(str(item))
        return "; ".join(parts)
    return str(detail)


class LangGraphRunTimeoutError(LangGraphError):
    """The *server* stopped the run at its own time limit (run status ``timeout``)."""


class LangGraphWaitTimeoutError(LangGraphError):
    """*We* stopped waiting: the task's ``wait_timeout`` passed while runs were still going."""


class LangGraphRunCancelledError(LangGraphError, AirflowFailException):
    """The run was cancelled on the server (status ``interrupted``); retrying would not help."""


class LangGraphRunPausedError(LangGraphError, AirflowFailException):
    """The run paused for a human (``interrupt()``); resume its thread with
    ``command={"resume": ...}``. The interrupts are in XCom under ``interrupts``."""

    def __init__(self, message: str, *, interrupts: list[Any], thread_id: str | None) -> None:
        super().__init__(message)
        self.interrupts = interrupts
        self.thread_id = thread_id
