"""What a batch item may carry, checked before anything is sent, and the item in the two shapes
it travels in: the server's (``POST /runs/batch``) and ``create_run``'s keyword arguments (one
run per item, where a server has no batch endpoint)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping
from typing import Any

from airflow_lg.exceptions import LangGraphConfigError
from airflow_lg.wire.calls import CLIENT_ONLY, WIRE_NAMES

_SDK_NAMES = {wire: sdk for sdk, wire in WIRE_NAMES.items()}


@functools.cache
def _sdk_keys() -> frozenset[str]:
    from airflow_lg.wire.runs import create_run  # its module needs this one first

    parameters = inspect.signature(create_run).parameters
    return frozenset(name for name in parameters if name not in CLIENT_ONLY)


@functools.cache
def batch_payload_keys() -> tuple[str, ...]:
    """What a batch item may carry: the arguments of a stateless ``create_run``, under the
    SDK's name or the server's (``langsmith_tracing`` / ``langsmith_tracer``)."""
    names = _sdk_keys() | {WIRE_NAMES[k] for k in _sdk_keys() if k in WIRE_NAMES}
    return tuple(sorted(names))


def check_batch_payload(what: str, payload: Any) -> None:
    """A batch item before anything is sent: a mapping with an assistant and only known keys
    (a typo such as ``inptu`` would otherwise be refused by one server and dropped by another).
    A key whose value is None is never sent, whatever its name."""
    if not isinstance(payload, Mapping) or not payload.get("assistant_id"):
        raise LangGraphConfigError(
            f"{what} must be a mapping with an 'assistant_id', got {payload!r:.200}"
        )
    given = {key for key, value in payload.items() if value is not None}
    unknown = sorted(given - set(batch_payload_keys()))
    if unknown:
        raise LangGraphConfigError(
            f"{what} has unknown key(s) {unknown}; known: {list(batch_payload_keys())}"
        )


def wire_item(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The item as ``POST /runs/batch`` takes it: the server's names, no None values."""
    return {WIRE_NAMES.get(k, k): v for k, v in payload.items() if v is not None}


def create_run_arguments(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The item as ``create_run``'s keyword arguments: the SDK's names, no None values."""
    return {_SDK_NAMES.get(k, k): v for k, v in payload.items() if v is not None}
