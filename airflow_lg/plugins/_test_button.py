"""The Test button for connections made in the form, on Airflow 3.3.

The form hides the port of a ``langgraph`` connection (the server URL carries it), so the
connection is stored with no port. The list's Test button then posts ``"port": 0`` for it,
which the API server takes for a different endpoint than the stored one and refuses ("The host
or port to test differs from the stored connection", 400) — every form-made connection tested
red against a healthy server. Port 0 is no TCP port a server listens on: for a ``langgraph``
connection this middleware reads it as "no port" before the API sees the request, so the test
uses the stored connection, its key included. Nothing else is touched.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

TEST_PATH = "/api/v2/connections/test"


def without_port_zero(body: bytes) -> bytes:
    """The test request's body, with a ``langgraph`` connection's port 0 taken out."""
    try:
        request = json.loads(body)
    except ValueError:
        return body
    if not isinstance(request, dict) or request.get("conn_type") != "langgraph":
        return body
    if request.get("port") != 0:
        return body
    del request["port"]
    return json.dumps(request).encode()


class PortZeroAsNoPort:
    """ASGI middleware: see the module's docstring."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        is_test = scope.get("type") == "http" and scope.get("method") == "POST"
        if not (is_test and str(scope.get("path", "")).endswith(TEST_PATH)):
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            if message.get("type") != "http.request":  # the client left: pass that on
                await self.app(scope, _once(message, receive), send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = without_port_zero(b"".join(chunks))
        headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"content-length"]
        scope = {**scope, "headers": [*headers, (b"content-length", str(len(body)).encode())]}
        request = {"type": "http.request", "body": body, "more_body": False}
        await self.app(scope, _once(request, receive), send)


def _once(first: Message, receive: Receive) -> Receive:
    """``receive`` that gives ``first``, then what the server has next."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return first

    return replay
