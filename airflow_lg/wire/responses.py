"""Reading the server's answers: bodies, the run a response is about, ``Retry-After``, typed
HTTP errors quoting the server's message, and failed runs reported inside an HTTP 200."""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

import httpx

from airflow_lg.exceptions import (
    LangGraphConnectionError,
    LangGraphHTTPError,
    LangGraphNotFoundError,
    LangGraphRunFailedError,
    http_error_type,
)
from airflow_lg.schema import RunCreateMetadata
from airflow_lg.wire.calls import Call

T = TypeVar("T")
_RUN_LOCATION = re.compile(r"(?:/threads/(?P<thread_id>[^/]+))?/runs/(?P<run_id>[^/?]+)")


def run_metadata(response: httpx.Response) -> RunCreateMetadata | None:
    """The ids of the run a response is about, from its ``Content-Location`` header."""
    location = response.headers.get("content-location")
    match = _RUN_LOCATION.search(location) if location else None
    if not match:
        return None
    return RunCreateMetadata(run_id=match["run_id"], thread_id=match["thread_id"])


def decode_body(response: httpx.Response) -> Any:
    """JSON body of a successful response; None for an empty one (202/204).

    Long polls pad their body with newlines while they wait; JSON ignores leading whitespace.
    """
    content = response.content
    if not content.strip():
        return None
    try:
        return json.loads(content)
    except ValueError:
        raise LangGraphConnectionError(
            f"{response.request.method} {response.request.url.path} answered HTTP "
            f"{response.status_code} with a body that is not JSON: {content[:200]!r}",
            method=response.request.method,
            path=response.request.url.path,
        ) from None


def retry_after_seconds(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds, whether given as seconds or as an HTTP date."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    import pendulum

    try:
        when = pendulum.instance(parsedate_to_datetime(value))
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - pendulum.now("UTC")).total_seconds())


def http_error(response: httpx.Response) -> LangGraphHTTPError:
    """The typed error for an HTTP error response, quoting the server's ``detail`` (or its
    ``message``, where a server says it that way)."""
    try:
        body = json.loads(response.content) if response.content else None
    except ValueError:
        body = None
    detail: Any = response.text.strip() or response.reason_phrase
    if isinstance(body, dict):
        # langgraph-api says {"detail": ...}; aegra {"error", "message", "details"}.
        for key in ("detail", "message"):
            if body.get(key) not in (None, ""):
                detail = body[key]
                break
    return http_error_type(response.status_code)(
        response.status_code,
        response.request.method,
        response.request.url.path,
        detail,
        retry_after=retry_after_seconds(response),
    )


def check_run_result(result: Any, response: httpx.Response, *, raise_error: bool) -> Any:
    """Turn ``__error__`` in a wait/join body (sent with HTTP 200) into a typed error.

    ``join`` reports an unknown run the same way (``"404: Run not found"``); that becomes a
    not-found error rather than an agent failure.
    """
    if not (raise_error and isinstance(result, dict) and "__error__" in result):
        return result
    error = result["__error__"] or {}
    error_type = str(error.get("error", "Error")) if isinstance(error, dict) else "Error"
    message = str(error.get("message", "")) if isinstance(error, dict) else str(error)
    meta = run_metadata(response)
    if error_type == "HTTPException" and message.startswith("404"):
        raise LangGraphNotFoundError(
            404, response.request.method, response.request.url.path, message
        )
    raise LangGraphRunFailedError(
        error_type,
        message,
        run_id=meta["run_id"] if meta else None,
        thread_id=meta["thread_id"] if meta else None,
    )


def decode_response(call: Call[T], response: httpx.Response) -> T:
    """The result of a fully read response, or its typed HTTP error."""
    if response.is_error:
        raise http_error(response)
    return call.decode(decode_body(response), response)


def notify_run_created(call: Call[Any], response: httpx.Response) -> None:
    """Tell the caller the run exists as soon as the headers say so, before a long body."""
    if response.is_error:
        return
    if call.on_run_created and (meta := run_metadata(response)):
        call.on_run_created(meta)
