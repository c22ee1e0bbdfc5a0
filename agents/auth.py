"""API-key authentication for the test bed's ``langgraph.auth.json`` configuration.

The dev server accepts any request unless a custom auth handler is configured, so 401 handling
can only be tested against a server started with this handler. It accepts exactly one key:
the value of the ``AGENTS_API_KEY`` environment variable, sent in the ``x-api-key`` header.
When that variable is unset or empty every request is refused (fail closed). ``/ok`` and
``/info`` are not routed through auth by the server and keep answering.
"""

from __future__ import annotations

import hmac
import os

from langgraph_sdk import Auth

API_KEY_ENV = "AGENTS_API_KEY"

auth = Auth()


@auth.authenticate
async def authenticate(headers: dict[bytes, bytes]) -> Auth.types.MinimalUserDict:
    """Accept the request only if its ``x-api-key`` equals ``$AGENTS_API_KEY``."""
    expected = os.environ.get(API_KEY_ENV, "").encode()
    given = headers.get(b"x-api-key", b"")
    # compare_digest: constant-time comparison, the habit for secrets even in a test bed.
    if not expected or not hmac.compare_digest(given, expected):
        raise Auth.exceptions.HTTPException(status_code=401, detail="Invalid or missing API key")
    return {"identity": "agents-test-user", "permissions": []}
