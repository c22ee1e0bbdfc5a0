"""The thread calls the operators need around runs, an assistant's schemas, and the server's
health: builders with the SDK's names and defaults (``threads.create``, ``get``, ``get_state``,
``get_history``, ``search``; ``assistants.search``, ``get_schemas``), plus ``retry``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import httpx

from airflow_lg.exceptions import LangGraphConfigError
from airflow_lg.hooks._settings import RetryPolicy
from airflow_lg.schema import Thread, ThreadState
from airflow_lg.wire.calls import (
    Call,
    Params,
    json_body,
    merged_params,
    segment,
    thread_path,
    without_none,
)


def create_thread(
    *,
    metadata: Mapping[str, Any] | None = None,
    thread_id: str | None = None,
    if_exists: str | None = None,
    supersteps: Sequence[Mapping[str, Sequence[Mapping[str, Any]]]] | None = None,
    graph_id: str | None = None,
    ttl: int | Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    params: Params | None = None,
    retry: RetryPolicy | None = None,
) -> Call[Thread]:
    """``threads.create``; with a chosen ``thread_id`` and ``if_exists="do_nothing"`` it is
    idempotent, hence safe to retry like any read."""
    if isinstance(ttl, int):  # minutes, as in the SDK: the server wants a TTL object
        ttl = {"ttl": ttl, "strategy": "delete"}
    if graph_id:
        metadata = {**(metadata or {}), "graph_id": graph_id}
    steps = None
    if supersteps:
        steps = [
            {
                "updates": [
                    {"values": u["values"], "command": u.get("command"), "as_node": u["as_node"]}
                    for u in step["updates"]
                ]
            }
            for step in supersteps
        ]
    body = without_none(
        thread_id=thread_id, metadata=metadata, if_exists=if_exists, supersteps=steps, ttl=ttl
    )
    # Without a thread_id the server names the thread: re-sending could make a second one.
    return Call(
        "POST",
        "/threads",
        params=params,
        **json_body("the thread's body", body),
        headers=headers,
        creates_run=thread_id is None,
        retry=retry,
    )


def get_thread(
    thread_id: str,
    *,
    include: Sequence[str] | None = None,
    headers: Mapping[str, str] | None = None,
    params: Params | None = None,
    retry: RetryPolicy | None = None,
) -> Call[Thread]:
    """``threads.get``: values, status (idle/busy/interrupted/error) and pending interrupts."""
    own = {"include": ",".join(include) if include else None}
    return Call(
        "GET", thread_path(thread_id), params=merged_params(own, params), headers=headers,
        retry=retry,
    )  # fmt: skip


def get_thread_state(
    thread_id: str,
    checkpoint: Mapping[str, Any] | str | None = None,
    checkpoint_id: str | None = None,
    *,
    subgraphs: bool = False,
    select: Sequence[str] | None = None,
    headers: Mapping[str, str] | None = None,
    params: Params | None = None,
    retry: RetryPolicy | None = None,
) -> Call[ThreadState]:
    """``threads.get_state``: values, next nodes, tasks (with their interrupts), checkpoint;
    of the latest checkpoint, or of the one given by ``checkpoint`` or ``checkpoint_id``.

    The parameters are in the SDK's order; a string in ``checkpoint``'s place is taken for a
    ``checkpoint_id``, as airflow-lg 0.1 had it second.
    """
    if isinstance(checkpoint, str):
        checkpoint, checkpoint_id = None, checkpoint
    if checkpoint:
        body = without_none(checkpoint=checkpoint, subgraphs=subgraphs, select=select)
        return Call(
            "POST",
            thread_path(thread_id, "/state/checkpoint"),
            params=params,
            **json_body("the state query", body),
            headers=headers,
            retry=retry,
        )
    path = thread_path(thread_id, "/state")
    if checkpoint_id:
        path += f"/{segment(checkpoint_id, 'checkpoint_id')}"
    own = {"subgraphs": "true" if subgraphs else None, "select": select}
    return Call("GET", path, params=merged_params(own, params), headers=headers, retry=retry)


def get_thread_history(
    thread_id: str,
    *,
    limit: int = 10,
    before: str | Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
    checkpoint: Mapping[str, Any] | None = None,
    select: Sequence[str] | None = None,
    headers: Mapping[str, str] | None = None,
    params: Params | None = None,
    retry: RetryPolicy | None = None,
) -> Call[list[ThreadState]]:
    """``threads.get_history``: the thread's checkpoints, newest first. With
    ``metadata={"run_id": R}`` they are one run's own states, whatever ran after it."""
    body = without_none(
        limit=limit, before=before, metadata=metadata, checkpoint=checkpoint, select=select
    )
    return Call(
        "POST",
        thread_path(thread_id, "/history"),
        params=params,
        **json_body("the history query", body),
        headers=headers,
        retry=retry,
    )


def search_threads(
    *,
    metadata: Mapping[str, Any] | None = None,
    values: Mapping[str, Any] | None = None,
    ids: Sequence[str] | None = None,
    status: str | None = None,
    limit: int = 10,
    offset: int = 0,
    sort_by: str | None = None,
    sort_order: str | None = None,
    select: Sequence[str] | None = None,
    extract: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    params: Params | None = None,
    retry: RetryPolicy | None = None,
    response_format: Literal["array", "object"] = "array",
) -> Call[Any]:
    """``threads.search``: by metadata, values, ids or status; ``select``/``extract`` shrink
    the answer. A search changes nothing: retried like a read.

    ``response_format="object"`` (not in the SDK, as ``assistants.search`` has it) also
    returns the server's pagination headers: ``{"threads": [...], "next": offset or None,
    "total": count or None}`` — how a caller pages through thousands of threads."""
    if response_format not in ("array", "object"):
        raise LangGraphConfigError("response_format must be 'array' or 'object'")
    body = without_none(
        metadata=metadata,
        values=values,
        ids=list(ids) if ids is not None else None,
        status=status,
        limit=limit,
        offset=offset,
        sort_by=sort_by,
        sort_order=sort_order,
        select=list(select) if select else None,
        extract=dict(extract) if extract else None,
    )

    def decode(found: Any, response: httpx.Response) -> Any:
        if response_format == "object":
            return {
                "threads": found,
                "next": _header_int(response, "X-Pagination-Next"),
                "total": _header_int(response, "X-Pagination-Total"),
            }
        return found

    return Call(
        "POST",
        "/threads/search",
        params=params,
        headers=headers,
        retry=retry,
        decode=decode,
        **json_body("the search", body),
    )


def _header_int(response: httpx.Response, name: str) -> int | None:
    value = response.headers.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def search_assistants(
    *,
    metadata: Mapping[str, Any] | None = None,
    graph_id: str | None = None,
    name: str | None = None,
    limit: int = 10,
    offset: int = 0,
    sort_by: str | None = None,
    sort_order: str | None = None,
    select: Sequence[str] | None = None,
    response_format: Literal["array", "object"] = "array",
    headers: Mapping[str, str] | None = None,
    params: Params | None = None,
    retry: RetryPolicy | None = None,
) -> Call[Any]:
    """``assistants.search``: a graph's assistants (by ``graph_id``), or any by metadata or
    name; ``response_format="object"`` adds the next page's offset, as the SDK does."""
    if response_format not in ("array", "object"):
        raise LangGraphConfigError("response_format must be 'array' or 'object'")
    body = without_none(
        metadata=metadata or None, graph_id=graph_id or None, name=name or None, limit=limit,
        offset=offset, sort_by=sort_by, sort_order=sort_order, select=select or None,
    )  # fmt: skip

    def decode(found: Any, response: httpx.Response) -> Any:
        if response_format == "object":
            return {"assistants": found, "next": response.headers.get("X-Pagination-Next")}
        return found

    return Call(
        "POST", "/assistants/search", params=params, headers=headers, retry=retry,
        decode=decode, **json_body("the search", body),
    )  # fmt: skip


def get_assistant_schemas(
    assistant_id: str,
    *,
    headers: Mapping[str, str] | None = None,
    params: Params | None = None,
    retry: RetryPolicy | None = None,
) -> Call[dict[str, Any]]:
    """``assistants.get_schemas``: the graph's input, output, state and context JSON Schemas
    (the server wants the assistant's UUID here, not a graph name)."""
    path = f"/assistants/{segment(assistant_id, 'assistant_id')}/schemas"
    return Call("GET", path, params=params, headers=headers, retry=retry)


def health(*, retry: RetryPolicy | None = None) -> Call[Any]:
    """``GET /ok``: the server is up (needs no API key)."""
    return Call("GET", "/ok", retry=retry)


def info(*, retry: RetryPolicy | None = None) -> Call[dict[str, Any]]:
    """``GET /info``: the server's version and flags (needs no API key)."""
    return Call("GET", "/info", retry=retry)
