"""Small builders shared by the unit tests (no I/O: httpx objects are only constructed)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from airflow_lg.hooks._settings import ClientSettings
from airflow_lg.wire import Call, request_args

BASE_URL = "http://lg.test"


def response(
    status: int = 200,
    *,
    content: bytes | None = None,
    json: Any = None,
    headers: Mapping[str, str] | None = None,
    method: str = "POST",
    path: str = "/threads/T/runs/wait",
) -> httpx.Response:
    """An ``httpx.Response`` answering ``method path`` on the test base URL."""
    request = httpx.Request(method, BASE_URL + path)
    if json is not None:
        return httpx.Response(status, json=json, headers=headers, request=request)
    return httpx.Response(status, content=content or b"", headers=headers, request=request)


def to_request(call: Call[Any], base_url: str = BASE_URL) -> httpx.Request:
    """The request the hook's clients build for ``call`` (nothing is sent)."""
    with httpx.Client(base_url=base_url) as client:
        return client.build_request(**request_args(call, ClientSettings(base_url=base_url)))
