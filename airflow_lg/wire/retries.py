"""Failures on the wire: what a broken exchange becomes, what is retried, how long to wait.

Retrying never duplicates a run: a request that creates one is sent again only when it
provably never reached the server (see :func:`is_retryable`).
"""

from __future__ import annotations

from typing import Any

import httpx

from airflow_lg.exceptions import (
    LangGraphConnectionError,
    LangGraphHTTPError,
    LangGraphStreamInterruptedError,
)
from airflow_lg.hooks._settings import RetryPolicy
from airflow_lg.wire.calls import Call
from airflow_lg.wire.responses import run_metadata

RETRYABLE_STATUS = frozenset({429, 502, 503, 504})


# What OpenSSL says when the other end answers a TLS hello in plain HTTP (its wording moved
# across versions), and when it does not trust the server's certificate.
_PLAIN_HTTP_MARKERS = ("WRONG_VERSION_NUMBER", "record layer failure", "packet length too long")
_UNTRUSTED_MARKERS = ("CERTIFICATE_VERIFY_FAILED",)


def _tls_hint(exc: httpx.TransportError, base_url: str) -> str | None:
    """What to change in the connection when the TLS handshake itself failed."""
    text = str(exc)
    if any(marker in text for marker in _PLAIN_HTTP_MARKERS):
        plain = "http://" + base_url.partition("://")[2]
        return f"the server does not speak TLS on this port: use {plain}"
    if any(marker in text for marker in _UNTRUSTED_MARKERS):
        return (
            "the server's certificate is not trusted: set the connection extra 'verify' to "
            "your CA bundle's path"
        )
    return None


def transport_error(
    call: Call[Any],
    exc: httpx.TransportError,
    base_url: str,
    *,
    waited: float | None = None,
) -> LangGraphConnectionError:
    """A transport failure as a typed error; connect-phase failures never reached the server.

    ``waited``: the request was sent and no answer came (``ReadTimeout`` before any header)
    in that many seconds — said so, in those words, rather than "lost the connection".
    """
    never_sent = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))
    hint = _tls_hint(exc, base_url) if never_sent else None
    silent = waited is not None and isinstance(exc, httpx.ReadTimeout)
    if silent:
        message = (
            f"no response from the LangGraph server at {base_url} in {waited:g} s: it took "
            "the connection but never answered (is this the agent server's port? the "
            "connection extra timeout.response sets this budget)"
        )
    else:
        what = "could not connect to" if never_sent else "lost the connection to"
        detail = f"{type(exc).__name__}: {str(exc) or 'no detail'}"
        message = f"{what} the LangGraph server at {base_url} ({detail})"
        if hint:
            message = f"{message}: {hint}"
    return LangGraphConnectionError(
        f"{call.method} {call.path}: {message}",
        method=call.method,
        path=call.path,
        may_have_reached_server=not never_sent,
        no_response=silent,
        misconfigured=hint is not None,
    )


def is_retryable(exc: BaseException, call: Call[Any]) -> bool:
    """Transient failures are retried; a run creation only when re-sending cannot duplicate it.

    For a creating request that means: the connection was never made, or the server refused it
    outright with 429. A 502/504 or a broken connection may hide a run that was created.
    """
    if isinstance(exc, LangGraphStreamInterruptedError):
        return False
    if isinstance(exc, LangGraphConnectionError):
        if exc.misconfigured:
            return False
        return not (call.creates_run and exc.may_have_reached_server)
    if isinstance(exc, LangGraphHTTPError) and exc.status_code in RETRYABLE_STATUS:
        return not call.creates_run or exc.status_code == 429
    return False


OUTAGE_STATUS = frozenset({502, 503, 504})


def is_outage(exc: BaseException | None) -> bool:
    """The server is away: unreachable, the connection lost, or its gateway answering
    502/503/504 — what a restart or a deploy of the agent server looks like."""
    if isinstance(exc, LangGraphStreamInterruptedError):
        return False
    if isinstance(exc, LangGraphConnectionError):
        return not exc.misconfigured
    return isinstance(exc, LangGraphHTTPError) and exc.status_code in OUTAGE_STATUS


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
