"""What a batch item may carry, checked before anything is sent."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping
from typing import Any

from airflow_lg.exceptions import LangGraphConfigError
from airflow_lg.wire.calls import CLIENT_ONLY


@functools.cache
def batch_payload_keys() -> tuple[str, ...]:
    """What a batch item may carry: the arguments of a stateless ``create_run`` (what the
    server's batch item takes, and what a server without the endpoint is sent one by one)."""
    from airflow_lg.wire.runs import create_run  # its module needs this one first

    parameters = inspect.signature(create_run).parameters
    return tuple(sorted(name for name in parameters if name not in CLIENT_ONLY))


def check_batch_payload(what: str, payload: Any) -> None:
    """A batch item before anything is sent: a mapping with an assistant and only known keys
    (a typo such as ``inptu`` would otherwise be refused by one server and dropped by another)."""
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
