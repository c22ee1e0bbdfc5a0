"""The runs API's operations, as builders: the SDK's arguments (names and defaults, checked
against ``langgraph_sdk`` by a test) in, a :class:`~.calls.Call` or :class:`~.calls.StreamCall`
out. Each also takes ``retry``, a per-call RetryPolicy overriding the connection's.

This is the one place that mirrors the SDK's signatures; the hook binds each builder to its
sync and async transports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_lg.exceptions import LangGraphConfigError
from airflow_lg.hooks._settings import RetryPolicy
from airflow_lg.schema import Run, StreamVersion, choices
from airflow_lg.wire.calls import (
    Call,
    OnRunCreated,
    Params,
    StreamCall,
    json_body,
    merged_params,
    nothing,
    one_run_path,
    run_body,
    run_path,
    stream_headers,
    stream_mode_param,
)
from airflow_lg.wire.payloads import check_batch_payload, wire_item
from airflow_lg.wire.responses import check_run_result


def _version(version: str) -> StreamVersion:
    if version not in choices(StreamVersion):
        raise LangGraphConfigError(
            f"version must be one of {choices(StreamVersion)}, got {version!r}"
        )
    return version  # type: ignore[return-value]


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
    langsmith_tracing: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    params: Params | None = None,
    on_run_created: OnRunCreated | None = None,
    durability: str | None = None,
    strict_resume: bool | None = None,
    retry: RetryPolicy | None = None,
) -> Call[Run]:
    """``runs.create``: a background run; the server answers the Run at once (``pending``)."""
    return Call(
        "POST",
        run_path(thread_id),
        params=params,
        **json_body("the run's body", run_body(create_run, locals())),
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
    langsmith_tracing: Mapping[str, Any] | None = None,
    raise_error: bool = True,
    headers: Mapping[str, str] | None = None,
    params: Params | None = None,
    on_run_created: OnRunCreated | None = None,
    durability: str | None = None,
    strict_resume: bool | None = None,
    retry: RetryPolicy | None = None,
) -> Call[Any]:
    """``runs.wait``: run and block until the final state values (a long poll)."""
    return Call(
        "POST",
        run_path(thread_id, "/wait"),
        params=params,
        **json_body("the run's body", run_body(wait_run, locals())),
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
    langsmith_tracing: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    params: Params | None = None,
    on_run_created: OnRunCreated | None = None,
    durability: str | None = None,
    strict_resume: bool | None = None,
    version: StreamVersion = "v1",
    retry: RetryPolicy | None = None,
) -> StreamCall:
    """``runs.stream``: run and receive its events as they happen."""
    call: Call[None] = Call(
        "POST",
        run_path(thread_id, "/stream"),
        params=params,
        **json_body("the run's body", run_body(stream_run, locals())),
        headers=headers,
        creates_run=True,
        long_poll=True,
        on_run_created=on_run_created,
        retry=retry,
    )
    return StreamCall(
        call,
        resumable=stream_resumable,
        resume_modes=stream_mode,
        thread_id=thread_id,
        version=_version(version),
    )


def create_batch(
    payloads: Sequence[Mapping[str, Any]],
    *,
    headers: Mapping[str, str] | None = None,
    params: Params | None = None,
    retry: RetryPolicy | None = None,
) -> Call[list[Run]]:
    """``runs.create_batch``: many stateless background runs in one request."""
    if isinstance(payloads, (str, bytes, Mapping)) or not isinstance(payloads, Sequence):
        raise LangGraphConfigError(
            f"create_batch takes a list of run payloads, got {type(payloads).__name__}"
        )
    items = []
    for index, payload in enumerate(payloads):
        check_batch_payload(f"create_batch payload #{index}", payload)
        items.append(wire_item(payload))
    return Call(
        "POST",
        "/runs/batch",
        params=params,
        **json_body("the batch", items),
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
) -> Call[list[Run]]:
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
) -> Call[Run]:
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
) -> Call[None]:
    """``runs.cancel``: ``interrupt`` stops the run, ``rollback`` also deletes it."""
    own = {"wait": 1 if wait else 0, "action": action}
    return Call(
        "POST",
        one_run_path(thread_id, run_id, "/cancel"),
        params=merged_params(own, params),
        headers=headers,
        long_poll=wait,  # answered when the run has stopped
        decode=nothing,
        retry=retry,
    )


def delete_run(
    thread_id: str,
    run_id: str,
    *,
    headers: Mapping[str, str] | None = None,
    params: Params | None = None,
    retry: RetryPolicy | None = None,
) -> Call[None]:
    """``runs.delete`` (cancel a running run first: deleting it leaves the thread busy)."""
    return Call(
        "DELETE",
        one_run_path(thread_id, run_id),
        params=params,
        headers=headers,
        decode=nothing,
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
