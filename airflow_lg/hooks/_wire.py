"""The one place that knows the runs API on the wire.

Each operation of the hook is a builder here that turns the SDK-style arguments into a
:class:`Call` (method, path, query, JSON body) or a :class:`StreamCall`, plus the decoding of
the answer. The hook's sync and async clients execute these the same way and differ only in
transport, so a wire fact (a path, a parameter's name, an error's shape) is written once.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx

from airflow_lg.exceptions import (
    LangGraphConfigError,
    LangGraphConnectionError,
    LangGraphHTTPError,
    LangGraphNotFoundError,
    LangGraphRunFailedError,
    LangGraphStreamInterruptedError,
    http_error_type,
)
from airflow_lg.hooks._settings import ClientSettings, RetryPolicy
from airflow_lg.schema import RunCreateMetadata, StreamPart

T = TypeVar("T")
Params = Mapping[str, Any]
OnRunCreated = Callable[[RunCreateMetadata], None]

# Client-side arguments of the run-creating calls: they shape the request, not its body.
_CLIENT_ONLY = frozenset(
    {"thread_id", "headers", "params", "on_run_created", "raise_error", "retry"}
)
_RUN_LOCATION = re.compile(r"(?:/threads/(?P<thread_id>[^/]+))?/runs/(?P<run_id>[^/?]+)")
RETRYABLE_STATUS = frozenset({429, 502, 503, 504})


def _identity(body: Any, response: httpx.Response) -> Any:
    return body


def _nothing(body: Any, response: httpx.Response) -> None:
    """For commands (cancel, delete) whose answer carries nothing: return None as the SDK does."""
    return None


@dataclass(frozen=True)
class Call(Generic[T]):
    """A request/response exchange, described without doing any I/O."""

    method: str
    path: str
    params: Params | None = None
    json: Any = None
    headers: Mapping[str, str] | None = None
    # Requests that create runs are re-sent only when they provably never reached the server.
    creates_run: bool = False
    # Long polls (wait, join): if the body breaks off after the server accepted the request,
    # re-join the run named by the response's Location header instead of failing.
    follow_location: bool = False
    # The server may stay silent up to its 5 s heartbeat: see call_timeout.
    long_poll: bool = False
    on_run_created: OnRunCreated | None = None
    decode: Callable[[Any, httpx.Response], T] = _identity
    retry: RetryPolicy | None = None
    # ``json`` as sent, encoded once when the call was built (which also validated it).
    content: bytes | None = field(default=None, repr=False, compare=False)

    @property
    def sends_body(self) -> bool:
        return self.method in ("POST", "PUT", "PATCH")


@dataclass(frozen=True)
class StreamCall:
    """A server-sent-event stream; ``resume_modes`` is what a re-join must ask for."""

    call: Call[None]
    resumable: bool
    resume_modes: str | Sequence[str] | None = None
    thread_id: str | None = None
    run_id: str | None = None


# --------------------------------------------------------------------------------------------
# Paths and bodies


def _seg(value: str, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise LangGraphConfigError(f"{name} must be a non-empty string, got {value!r}")
    return quote(value, safe="")


def run_path(thread_id: str | None, suffix: str = "") -> str:
    """``/threads/{T}/runs{suffix}`` for a thread-bound run, ``/runs{suffix}`` if stateless
    (``thread_id=None``; an empty string is an error, not a quiet stateless run)."""
    if thread_id is None:
        return f"/runs{suffix}"
    return f"/threads/{_seg(thread_id, 'thread_id')}/runs{suffix}"


def one_run_path(thread_id: str, run_id: str, suffix: str = "") -> str:
    return f"/threads/{_seg(thread_id, 'thread_id')}/runs/{_seg(run_id, 'run_id')}{suffix}"


def thread_path(thread_id: str, suffix: str = "") -> str:
    return f"/threads/{_seg(thread_id, 'thread_id')}{suffix}"


def run_body(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON body of a run-creating call from its arguments, under their wire names.

    Keys whose value is None are omitted (the server then applies its own default), as the SDK
    does; so are the client-side arguments. ``command`` loses its None entries too.
    """
    body = {k: v for k, v in arguments.items() if k not in _CLIENT_ONLY and v is not None}
    if isinstance(body.get("command"), Mapping):
        body["command"] = {k: v for k, v in body["command"].items() if v is not None}
    return body


def encode_json(what: str, value: Any) -> bytes:
    """``value`` as the JSON bytes to send (the encoding httpx's ``json=`` would produce), or,
    before anything is sent, an error naming what cannot be sent as JSON. Builders encode
    their bodies here once: validating and sending share the work."""
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise LangGraphConfigError(f"{what} is not JSON-serializable: {exc}") from None
    return text.encode("utf-8")


def _body(what: str, value: Any) -> dict[str, Any]:
    """A Call's ``json`` and its encoded ``content``."""
    return {"json": value, "content": encode_json(what, value)}


def request_args(call: Call[Any], settings: ClientSettings) -> dict[str, Any]:
    """The arguments of ``build_request`` for ``call``, the same for both transports."""
    content, headers = call.content, call.headers
    if content is None and call.json is not None:
        content = encode_json("the request body", call.json)
    if content is not None and not any(k.lower() == "content-type" for k in headers or ()):
        headers = {"Content-Type": "application/json", **(headers or {})}
    return {
        "method": call.method,
        "url": call.path,
        "params": call.params,
        "content": content,
        "headers": headers,
        "timeout": call_timeout(call, settings),
    }


def stream_mode_param(stream_mode: str | Sequence[str] | None) -> str | None:
    """``stream_mode`` for a join-stream query: the server reads one value, so several modes are
    sent as a JSON array string rather than as a repeated parameter."""
    if stream_mode is None or isinstance(stream_mode, str):
        return stream_mode
    return json.dumps(list(stream_mode))


def merged_params(own: Params | None, extra: Params | None) -> dict[str, Any] | None:
    params = {k: v for k, v in (own or {}).items() if v is not None}
    params.update(extra or {})
    return params or None


def stream_headers(last_event_id: str | None, headers: Mapping[str, str] | None) -> dict[str, str]:
    merged = {"Last-Event-ID": last_event_id} if last_event_id else {}
    merged.update(headers or {})
    return merged


# --------------------------------------------------------------------------------------------
# Responses


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
    """The typed error for an HTTP error response, quoting the server's ``detail``."""
    try:
        body = json.loads(response.content) if response.content else None
    except ValueError:
        body = None
    if isinstance(body, dict) and "detail" in body:
        detail: Any = body["detail"]
    else:
        detail = response.text.strip() or response.reason_phrase
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


def stream_part(event: str, data: str, event_id: str | None) -> StreamPart:
    """One SSE event as a :class:`StreamPart`; data is JSON (empty data becomes None)."""
    try:
        decoded = json.loads(data) if data else None
    except ValueError:
        decoded = data
    return StreamPart(event or "message", decoded, event_id or None)


class StreamCursor:
    """Where a stream is, so a broken one can be resumed with ``Last-Event-ID``.

    It learns the run's ids from the response headers or the ``metadata`` event, remembers the
    last event id seen, and drops any event at or before it (a server that replays too much
    must not make the caller see an event twice).
    """

    def __init__(self, stream: StreamCall, on_run_created: OnRunCreated | None = None) -> None:
        self.stream = stream
        self.thread_id = stream.thread_id
        self.run_id = stream.run_id
        self.last_event_id: str | None = None
        self.breaks = 0  # consecutive breaks without an event in between
        self._on_run_created = on_run_created
        self._seen: set[str] = set()
        self._unidentified = False  # an event without id: a replay could not skip it
        self._tail_checked = False

    def on_response(self, response: httpx.Response) -> None:
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
            self._seen.add(part.id)
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
        self.stream = replace(
            join_stream(
                self.thread_id,
                self.run_id,
                stream_mode=self.stream.resume_modes,
                last_event_id=self.last_event_id,
                headers=_without_last_event_id(self.stream.call.headers),
                retry=self.stream.call.retry,
            ),
            resumable=True,
        )
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
        resumed = join_stream(
            self.thread_id,
            self.run_id,
            stream_mode=self.stream.resume_modes,
            last_event_id=self.last_event_id or "-1",
            headers=_without_last_event_id(call.headers),
            retry=call.retry,
        )
        self.stream = replace(resumed, resumable=True)
        return self.stream


def _without_last_event_id(headers: Mapping[str, str] | None) -> dict[str, str]:
    return {k: v for k, v in (headers or {}).items() if k.lower() != "last-event-id"}


# --------------------------------------------------------------------------------------------
# Operations. Each takes the SDK's arguments (names and defaults) plus ``retry``, a per-call
# RetryPolicy overriding the connection's.


def create_run(
    thread_id: str | None,
    assistant_id: str,
    *,
    input: Any = None,
    command: Mapping[str, Any] | None = None,
    stream_mode: str | Sequence[str] = "values",
    stream_subgraphs: bool = False,
    stream_resumable: bool = False,
    metadata: Mapping[str, Any] | None = None,
    config: Mapping[str, Any] | None = None,
    context: Mapping[str, Any] | None = None,
    checkpoint: Mapping[str, Any] | None = None,
    checkpoint_id: str | None = None,
    checkpoint_during: bool | None = None,
    interrupt_before: str | Sequence[str] | None = None,
    interrupt_after: str | Sequence[str] | None = None,
    webhook: str | None = None,
    multitask_strategy: str | None = None,
    if_not_exists: str | None = None,
    on_completion: str | None = None,
    after_seconds: int | None = None,
    headers: Mapping[str, str] | None = None,
    params: Params | None = None,
    on_run_created: OnRunCreated | None = None,
    durability: str | None = None,
    retry: RetryPolicy | None = None,
) -> Call[Any]:
    """``runs.create``: a background run; the server answers the Run at once (``pending``)."""
    return Call(
        "POST",
        run_path(thread_id),
        params=params,
        **_body("the run's body", run_body(locals())),
        headers=headers,
        creates_run=True,
        on_run_created=on_run_created,
        retry=retry,
    )


def wait_run(
    thread_id: str | None,
    assistant_id: str,
    *,
    input: Any = None,
    command: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
    config: Mapping[str, Any] | None = None,
    context: Mapping[str, Any] | None = None,
    checkpoint: Mapping[str, Any] | None = None,
    checkpoint_id: str | None = None,
    checkpoint_during: bool | None = None,
    interrupt_before: str | Sequence[str] | None = None,
    interrupt_after: str | Sequence[str] | None = None,
    webhook: str | None = None,
    on_disconnect: str | None = None,
    on_completion: str | None = None,
    multitask_strategy: str | None = None,
    if_not_exists: str | None = None,
    after_seconds: int | None = None,
    raise_error: bool = True,
    headers: Mapping[str, str] | None = None,
    params: Params | None = None,
    on_run_created: OnRunCreated | None = None,
    durability: str | None = None,
    retry: RetryPolicy | None = None,
) -> Call[Any]:
    """``runs.wait``: run and block until the final state values (a long poll)."""
    return Call(
        "POST",
        run_path(thread_id, "/wait"),
        params=params,
        **_body("the run's body", run_body(locals())),
        headers=headers,
        creates_run=True,
        follow_location=True,
        long_poll=True,
        on_run_created=on_run_created,
        decode=lambda body, response: check_run_result(body, response, raise_error=raise_error),
        retry=retry,
    )


def stream_run(
    thread_id: str | None,
    assistant_id: str,
    *,
    input: Any = None,
    command: Mapping[str, Any] | None = None,
    stream_mode: str | Sequence[str] = "values",
    stream_subgraphs: bool = False,
    stream_resumable: bool = False,
    metadata: Mapping[str, Any] | None = None,
    config: Mapping[str, Any] | None = None,
    context: Mapping[str, Any] | None = None,
    checkpoint: Mapping[str, Any] | None = None,
    checkpoint_id: str | None = None,
    checkpoint_during: bool | None = None,
    interrupt_before: str | Sequence[str] | None = None,
    interrupt_after: str | Sequence[str] | None = None,
    feedback_keys: Sequence[str] | None = None,
    on_disconnect: str | None = None,
    on_completion: str | None = None,
    webhook: str | None = None,
    multitask_strategy: str | None = None,
    if_not_exists: str | None = None,
    after_seconds: int | None = None,
    headers: Mapping[str, str] | None = None,
    params: Params | None = None,
    on_run_created: OnRunCreated | None = None,
    durability: str | None = None,
    retry: RetryPolicy | None = None,
) -> StreamCall:
    """``runs.stream``: run and receive its events as they happen."""
    call: Call[None] = Call(
        "POST",
        run_path(thread_id, "/stream"),
        params=params,
        **_body("the run's body", run_body(locals())),
        headers=headers,
        creates_run=True,
        long_poll=True,
        on_run_created=on_run_created,
        retry=retry,
    )
    return StreamCall(
        call, resumable=stream_resumable, resume_modes=stream_mode, thread_id=thread_id
    )


def create_batch(
    payloads: Sequence[Mapping[str, Any]],
    *,
    headers: Mapping[str, str] | None = None,
    params: Params | None = None,
    retry: RetryPolicy | None = None,
) -> Call[Any]:
    """``runs.create_batch``: many stateless background runs in one request."""
    if isinstance(payloads, (str, bytes, Mapping)) or not isinstance(payloads, Sequence):
        raise LangGraphConfigError(
            f"create_batch takes a list of run payloads, got {type(payloads).__name__}"
        )
    items = []
    for index, payload in enumerate(payloads):
        if not isinstance(payload, Mapping) or not payload.get("assistant_id"):
            raise LangGraphConfigError(
                f"create_batch payload #{index} must be a mapping with an 'assistant_id', "
                f"got {payload!r:.200}"
            )
        items.append({k: v for k, v in payload.items() if v is not None})
    return Call(
        "POST",
        "/runs/batch",
        params=params,
        **_body("the batch", items),
        headers=headers,
        creates_run=True,
        retry=retry,
    )


def list_runs(
    thread_id: str,
    *,
    limit: int = 10,
    offset: int = 0,
    status: str | None = None,
    select: Sequence[str] | None = None,
    headers: Mapping[str, str] | None = None,
    params: Params | None = None,
    retry: RetryPolicy | None = None,
) -> Call[Any]:
    """``runs.list``: the thread's runs, newest first."""
    own = {"limit": limit, "offset": offset, "status": status, "select": select}
    return Call(
        "GET", run_path(thread_id), params=merged_params(own, params), headers=headers, retry=retry
    )


def get_run(
    thread_id: str,
    run_id: str,
    *,
    headers: Mapping[str, str] | None = None,
    params: Params | None = None,
    retry: RetryPolicy | None = None,
) -> Call[Any]:
    """``runs.get``."""
    return Call("GET", one_run_path(thread_id, run_id), params=params, headers=headers, retry=retry)


def cancel_run(
    thread_id: str,
    run_id: str,
    *,
    wait: bool = False,
    action: str = "interrupt",
    headers: Mapping[str, str] | None = None,
    params: Params | None = None,
    retry: RetryPolicy | None = None,
) -> Call[Any]:
    """``runs.cancel``: ``interrupt`` stops the run, ``rollback`` also deletes it."""
    own = {"wait": 1 if wait else 0, "action": action}
    return Call(
        "POST",
        one_run_path(thread_id, run_id, "/cancel"),
        params=merged_params(own, params),
        headers=headers,
        decode=_nothing,
        retry=retry,
    )


def delete_run(
    thread_id: str,
    run_id: str,
    *,
    headers: Mapping[str, str] | None = None,
    params: Params | None = None,
    retry: RetryPolicy | None = None,
) -> Call[Any]:
    """``runs.delete`` (cancel a running run first: deleting it leaves the thread busy)."""
    return Call(
        "DELETE",
        one_run_path(thread_id, run_id),
        params=params,
        headers=headers,
        decode=_nothing,
        retry=retry,
    )


def join_run(
    thread_id: str,
    run_id: str,
    *,
    raise_error: bool = True,
    headers: Mapping[str, str] | None = None,
    params: Params | None = None,
    retry: RetryPolicy | None = None,
) -> Call[Any]:
    """``runs.join``: block until the run ends, then its final values (a long poll).

    Unlike the SDK, a failed run raises (``raise_error``, as for ``wait``): the server answers
    HTTP 200 with ``__error__`` and a caller should not mistake that for a result.
    """
    return Call(
        "GET",
        one_run_path(thread_id, run_id, "/join"),
        params=params,
        headers=headers,
        follow_location=True,
        long_poll=True,
        decode=lambda body, response: check_run_result(body, response, raise_error=raise_error),
        retry=retry,
    )


def join_stream(
    thread_id: str,
    run_id: str,
    *,
    cancel_on_disconnect: bool = False,
    stream_mode: str | Sequence[str] | None = None,
    headers: Mapping[str, str] | None = None,
    params: Params | None = None,
    last_event_id: str | None = None,
    retry: RetryPolicy | None = None,
) -> StreamCall:
    """``runs.join_stream``: the (rest of the) run's events; ``last_event_id`` resumes."""
    own = {
        "cancel_on_disconnect": "true" if cancel_on_disconnect else "false",
        "stream_mode": stream_mode_param(stream_mode),
    }
    call: Call[None] = Call(
        "GET",
        one_run_path(thread_id, run_id, "/stream"),
        params=merged_params(own, params),
        headers=stream_headers(last_event_id, headers),
        long_poll=True,
        retry=retry,
    )
    # A join can be resumed when its events carry ids (the run is resumable); the cursor
    # refuses to resume one whose events did not.
    return StreamCall(
        call, resumable=True, resume_modes=stream_mode, thread_id=thread_id, run_id=run_id
    )


# Threads, and the server's health: what the operators need around runs.


def create_thread(
    *,
    thread_id: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    if_exists: str | None = None,
    graph_id: str | None = None,
    ttl: int | Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    params: Params | None = None,
    retry: RetryPolicy | None = None,
) -> Call[Any]:
    """``threads.create``; with a chosen ``thread_id`` and ``if_exists="do_nothing"`` it is
    idempotent, hence safe to retry like any read."""
    if isinstance(ttl, int):  # minutes, as in the SDK: the server wants a TTL object
        ttl = {"ttl": ttl, "strategy": "delete"}
    body = {"thread_id": thread_id, "metadata": metadata, "if_exists": if_exists, "ttl": ttl}
    if graph_id:
        body["metadata"] = {**(metadata or {}), "graph_id": graph_id}
    body = {k: v for k, v in body.items() if v is not None}
    # Without a thread_id the server names the thread: re-sending could make a second one.
    return Call(
        "POST",
        "/threads",
        params=params,
        **_body("the thread's body", body),
        headers=headers,
        creates_run=thread_id is None,
        retry=retry,
    )


def get_thread_history(
    thread_id: str,
    *,
    limit: int = 10,
    before: str | Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
    checkpoint: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    params: Params | None = None,
    retry: RetryPolicy | None = None,
) -> Call[Any]:
    """``threads.get_history``: the thread's checkpoints, newest first. With
    ``metadata={"run_id": R}`` they are one run's own states, whatever ran after it."""
    body = {"limit": limit, "before": before, "metadata": metadata, "checkpoint": checkpoint}
    body = {k: v for k, v in body.items() if v is not None}
    return Call(
        "POST",
        thread_path(thread_id, "/history"),
        params=params,
        **_body("the history query", body),
        headers=headers,
        retry=retry,
    )


def get_thread(
    thread_id: str,
    *,
    headers: Mapping[str, str] | None = None,
    params: Params | None = None,
    retry: RetryPolicy | None = None,
) -> Call[Any]:
    """``threads.get``: values, status (idle/busy/interrupted/error) and pending interrupts."""
    return Call("GET", thread_path(thread_id), params=params, headers=headers, retry=retry)


def get_thread_state(
    thread_id: str,
    checkpoint_id: str | None = None,
    *,
    subgraphs: bool = False,
    headers: Mapping[str, str] | None = None,
    params: Params | None = None,
    retry: RetryPolicy | None = None,
) -> Call[Any]:
    """``threads.get_state``: values, next nodes, tasks (with their interrupts), checkpoint."""
    path = thread_path(thread_id, "/state")
    if checkpoint_id:
        path += f"/{_seg(checkpoint_id, 'checkpoint_id')}"
    own = {"subgraphs": "true" if subgraphs else None}
    return Call("GET", path, params=merged_params(own, params), headers=headers, retry=retry)


def search_threads(
    *,
    metadata: Mapping[str, Any] | None = None,
    values: Mapping[str, Any] | None = None,
    status: str | None = None,
    limit: int = 10,
    offset: int = 0,
    sort_by: str | None = None,
    sort_order: str | None = None,
    headers: Mapping[str, str] | None = None,
    params: Params | None = None,
    retry: RetryPolicy | None = None,
) -> Call[Any]:
    """``threads.search``: by metadata, values or status. A search changes nothing: retried."""
    body = {
        "metadata": metadata,
        "values": values,
        "status": status,
        "limit": limit,
        "offset": offset,
        "sort_by": sort_by,
        "sort_order": sort_order,
    }
    body = {k: v for k, v in body.items() if v is not None}
    return Call(
        "POST",
        "/threads/search",
        params=params,
        headers=headers,
        retry=retry,
        **_body("the search", body),
    )


def health(*, retry: RetryPolicy | None = None) -> Call[Any]:
    """``GET /ok``: the server is up (needs no API key)."""
    return Call("GET", "/ok", retry=retry)


def info(*, retry: RetryPolicy | None = None) -> Call[Any]:
    """``GET /info``: the server's version and flags (needs no API key)."""
    return Call("GET", "/info", retry=retry)


# --------------------------------------------------------------------------------------------
# Failures: what is retried, how long to wait, and what a broken exchange becomes.


def transport_error(
    call: Call[Any], exc: httpx.TransportError, base_url: str
) -> LangGraphConnectionError:
    """A transport failure as a typed error; connect-phase failures never reached the server."""
    never_sent = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))
    what = "could not connect to" if never_sent else "lost the connection to"
    return LangGraphConnectionError(
        f"{call.method} {call.path}: {what} the LangGraph server at {base_url} "
        f"({type(exc).__name__}: {str(exc) or 'no detail'})",
        method=call.method,
        path=call.path,
        may_have_reached_server=not never_sent,
    )


def is_retryable(exc: BaseException, call: Call[Any]) -> bool:
    """Transient failures are retried; a run creation only when re-sending cannot duplicate it.

    For a creating request that means: the connection was never made, or the server refused it
    outright with 429. A 502/504 or a broken connection may hide a run that was created.
    """
    if isinstance(exc, LangGraphStreamInterruptedError):
        return False
    if isinstance(exc, LangGraphConnectionError):
        return not (call.creates_run and exc.may_have_reached_server)
    if isinstance(exc, LangGraphHTTPError) and exc.status_code in RETRYABLE_STATUS:
        return not call.creates_run or exc.status_code == 429
    return False


def retry_wait(exc: BaseException | None, backoff: float) -> float:
    """Seconds to wait before the next try: the backoff, but never less than ``Retry-After``."""
    retry_after = getattr(exc, "retry_after", None)
    return max(backoff, retry_after) if retry_after is not None else backoff


def retry_after_too_long(exc: BaseException | None, policy: RetryPolicy) -> bool:
    retry_after = getattr(exc, "retry_after", None)
    return retry_after is not None and retry_after > policy.max_retry_after


class Rejoin(Exception):
    """A long poll broke off after the server accepted it: join the run instead.

    Raised out of the retry loop (it is never retryable), so that the request which created
    the run is not sent again whatever happens to the join.
    """

    def __init__(self, call: Call[Any]) -> None:
        super().__init__(call.path)
        self.call = call


def broken_body(
    call: Call[Any], response: httpx.Response, exc: httpx.TransportError, base_url: str
) -> Exception:
    """What to raise when the answer broke off after the server accepted the request.

    A long poll re-joins the run named by ``Location``; anything else fails, naming the run the
    server had already created (from ``Content-Location``) so nothing is lost silently.
    """
    location = response.headers.get("location")
    if not response.is_error and call.follow_location and location and location.endswith("/join"):
        return Rejoin(
            Call(
                "GET",
                location,
                headers=call.headers,
                follow_location=True,
                long_poll=True,
                decode=call.decode,
                retry=call.retry,
            )
        )
    error = transport_error(call, exc, base_url)
    meta = run_metadata(response)
    if meta and not response.is_error:
        error.args = (
            f"{error.args[0]}; the server had created run {meta['run_id']} on thread "
            f"{meta['thread_id']}",
        )
    return error


def decode_response(call: Call[T], response: httpx.Response) -> T:
    """The result of a fully read response, or its typed HTTP error."""
    if response.is_error:
        raise http_error(response)
    return call.decode(decode_body(response), response)


LONG_POLL_MIN_READ = 15.0
"""Long polls and streams get at least this read timeout: the server is silent for up to 5 s
between heartbeats, and a shorter timeout would cut every long wait."""


def call_timeout(call: Call[Any], settings: ClientSettings) -> httpx.Timeout:
    timeout = dict(settings.timeout)
    if call.long_poll:
        timeout["read"] = max(timeout["read"], LONG_POLL_MIN_READ)
    return httpx.Timeout(**timeout)


_NEWLINE = re.compile(r"\r\n|\r|\n")


class LineDecoder:
    """Bytes to lines, split only at ``\n``, ``\r`` and ``\r\n`` as SSE defines them.

    Not ``str.splitlines()`` (nor httpx's ``iter_lines``): they also split at U+2028, U+2029
    and U+0085, which the server sends raw inside JSON strings, and would cut an event's data.
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""

    def feed(self, chunk: bytes) -> list[str]:
        text = self._pending + self._decoder.decode(chunk)
        held = ""
        if text.endswith("\r"):  # maybe the first half of \r\n: wait for the next chunk
            text, held = text[:-1], "\r"
        *lines, last = _NEWLINE.split(text)
        self._pending = last + held
        return lines

    def flush(self) -> list[str]:
        rest = self._pending + self._decoder.decode(b"", final=True)
        self._pending = ""
        return _NEWLINE.split(rest.rstrip("\r")) if rest else []


class SSEParser:
    """Bytes of an event stream to :class:`StreamPart` objects."""

    def __init__(self) -> None:
        self._lines = LineDecoder()
        self._events = SSEDecoder()

    def feed(self, chunk: bytes) -> list[StreamPart]:
        return self._parts(self._lines.feed(chunk))

    def flush(self) -> list[StreamPart]:
        """At EOF: the last line ends; an event not ended by a blank line is dropped."""
        return self._parts(self._lines.flush())

    def _parts(self, lines: list[str]) -> list[StreamPart]:
        return [part for line in lines if (part := self._events.feed(line)) is not None]


class SSEDecoder:
    """Server-sent events, line by line: ``event:``/``data:``/``id:`` fields, a blank line ends
    an event, lines starting with ``:`` are comments (the server's 5 s heartbeats)."""

    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []
        self._id: str | None = None

    def feed(self, line: str) -> StreamPart | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self._id = value
        return None

    def _dispatch(self) -> StreamPart | None:
        if not self._data and not self._event:
            self._id = None
            return None
        part = stream_part(self._event, "\n".join(self._data), self._id)
        self._event, self._data, self._id = "", [], None
        return part
