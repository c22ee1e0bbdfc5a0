"""A request described without doing any I/O: :class:`Call` (one exchange) and
:class:`StreamCall` (a server-sent-event stream), their paths, bodies and httpx arguments.

The builders in :mod:`.runs` and :mod:`.threads` make these; both transports of the hook send
them the same way, so a wire fact is written once.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx

from airflow_lg.exceptions import LangGraphConfigError
from airflow_lg.hooks._settings import ClientSettings, RetryPolicy
from airflow_lg.schema import RunCreateMetadata, StreamVersion

T = TypeVar("T")
Params = Mapping[str, Any]
OnRunCreated = Callable[[RunCreateMetadata], None]

# Arguments of the run-creating builders that shape the request, not its body.
CLIENT_ONLY = frozenset(
    {"thread_id", "headers", "params", "on_run_created", "raise_error", "retry", "version"}
)
# Arguments whose name on the wire differs from the SDK's (the SDK renames them the same way).
WIRE_NAMES = {"langsmith_tracing": "langsmith_tracer"}


def _identity(body: Any, response: httpx.Response) -> Any:
    return body


def nothing(body: Any, response: httpx.Response) -> None:
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


@dataclass(frozen=True)
class StreamCall:
    """A server-sent-event stream; ``resume_modes`` is what a re-join must ask for."""

    call: Call[None]
    resumable: bool
    resume_modes: str | Sequence[str] | None = None
    thread_id: str | None = None
    run_id: str | None = None
    # "v2": parts become the SDK's v2 dicts ({type, ns, data, interrupts})
    version: StreamVersion = "v1"


# ---- paths --------------------------------------------------------------------------------


def segment(value: str, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise LangGraphConfigError(f"{name} must be a non-empty string, got {value!r}")
    return quote(value, safe="")


def run_path(thread_id: str | None, suffix: str = "") -> str:
    """``/threads/{T}/runs{suffix}`` for a thread-bound run, ``/runs{suffix}`` if stateless
    (``thread_id=None``; an empty string is an error, not a quiet stateless run)."""
    if thread_id is None:
        return f"/runs{suffix}"
    return f"/threads/{segment(thread_id, 'thread_id')}/runs{suffix}"


def one_run_path(thread_id: str, run_id: str, suffix: str = "") -> str:
    return f"/threads/{segment(thread_id, 'thread_id')}/runs/{segment(run_id, 'run_id')}{suffix}"


def thread_path(thread_id: str, suffix: str = "") -> str:
    return f"/threads/{segment(thread_id, 'thread_id')}{suffix}"


# ---- bodies -------------------------------------------------------------------------------


@cache
def _parameters(builder: Callable[..., Any]) -> tuple[str, ...]:
    return tuple(inspect.signature(builder).parameters)


def run_body(builder: Callable[..., Any], arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON body of a run-creating call: ``builder``'s own parameters (never any other
    local) under their wire names, minus the client-side ones and those that are None (the
    server then applies its default, as with the SDK). ``command`` loses its None entries."""
    body = {
        WIRE_NAMES.get(name, name): arguments[name]
        for name in _parameters(builder)
        if name not in CLIENT_ONLY and arguments[name] is not None
    }
    if isinstance(body.get("command"), Mapping):
        body["command"] = {k: v for k, v in body["command"].items() if v is not None}
    return body


def without_none(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


def encode_json(what: str, value: Any) -> bytes:
    """``value`` as the JSON bytes to send (the encoding httpx's ``json=`` would produce), or,
    before anything is sent, an error naming what cannot be sent as JSON. Builders encode
    their bodies here once: validating and sending share the work."""
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise LangGraphConfigError(f"{what} is not JSON-serializable: {exc}") from None
    return text.encode("utf-8")


def json_body(what: str, value: Any) -> dict[str, Any]:
    """A Call's ``json`` and its encoded ``content``."""
    return {"json": value, "content": encode_json(what, value)}


# ---- query and headers --------------------------------------------------------------------


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


def without_last_event_id(headers: Mapping[str, str] | None) -> dict[str, str]:
    return {k: v for k, v in (headers or {}).items() if k.lower() != "last-event-id"}


# ---- what httpx is given ------------------------------------------------------------------

LONG_POLL_MIN_READ = 15.0
"""Long polls and streams get at least this read timeout: the server is silent for up to 5 s
between heartbeats, and a shorter timeout would cut every long wait."""


def read_timeout(call: Call[Any], settings: ClientSettings) -> float:
    """Seconds ``call`` waits for the server to say something: the ``read`` silence for a long
    poll or a stream, the short ``response`` budget for anything else."""
    if call.long_poll:
        return max(settings.timeout["read"], LONG_POLL_MIN_READ)
    return settings.timeout.get("response", settings.timeout["read"])


def call_timeout(call: Call[Any], settings: ClientSettings) -> httpx.Timeout:
    timeout = settings.timeout
    return httpx.Timeout(
        connect=timeout["connect"],
        read=read_timeout(call, settings),
        write=timeout["write"],
        pool=timeout["pool"],
    )


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
