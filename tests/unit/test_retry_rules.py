"""What is retried, how long to wait, and what a broken exchange becomes (pure functions only:
the hook's real retry loop is exercised against a real server behind a fault proxy)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from airflow_lg import wire as _wire
from airflow_lg.exceptions import (
    LangGraphConfigError,
    LangGraphConnectionError,
    LangGraphRunFailedError,
    LangGraphStreamInterruptedError,
)
from airflow_lg.hooks._settings import RetryPolicy
from tests.unit.helpers import BASE_URL, response

READ = _wire.get_run("T", "R")
CREATE = _wire.create_run("T", "agent")


def transport(exc: httpx.TransportError, call: _wire.Call = READ) -> LangGraphConnectionError:
    return _wire.transport_error(call, exc, BASE_URL)


def status(code: int, **headers: str) -> Exception:
    return _wire.http_error(response(code, json={"detail": "x"}, headers=headers))


FAILURES: dict[str, Callable[[], BaseException]] = {
    "connect error": lambda: transport(httpx.ConnectError("refused")),
    "connect timeout": lambda: transport(httpx.ConnectTimeout("slow handshake")),
    "pool timeout": lambda: transport(httpx.PoolTimeout("no free connection")),
    "read timeout": lambda: transport(httpx.ReadTimeout("timed out")),
    "read error": lambda: transport(httpx.ReadError("reset by peer")),
    "write error": lambda: transport(httpx.WriteError("broken pipe")),
    "remote protocol error": lambda: transport(httpx.RemoteProtocolError("server hung up")),
    "HTTP 400": lambda: status(400),
    "HTTP 401": lambda: status(401),
    "HTTP 404": lambda: status(404),
    "HTTP 409": lambda: status(409),
    "HTTP 422": lambda: status(422),
    "HTTP 429": lambda: status(429),
    "HTTP 500": lambda: status(500),
    "HTTP 501": lambda: status(501),
    "HTTP 502": lambda: status(502),
    "HTTP 503": lambda: status(503),
    "HTTP 504": lambda: status(504),
    "run failed": lambda: LangGraphRunFailedError("ValueError", "boom"),
    "config error": lambda: LangGraphConfigError("bad"),
    "stream interrupted": lambda: LangGraphStreamInterruptedError("x", run_id="R", thread_id="T"),
    "programming error": lambda: ValueError("bug"),
}

RETRIED_FOR_READS = {
    "connect error",
    "connect timeout",
    "pool timeout",
    "read timeout",
    "read error",
    "write error",
    "remote protocol error",
    "HTTP 429",
    "HTTP 502",
    "HTTP 503",
    "HTTP 504",
}
RETRIED_FOR_RUN_CREATION = {"connect error", "connect timeout", "pool timeout", "HTTP 429"}


@pytest.mark.parametrize("failure", FAILURES)
def test_which_failures_of_a_call_that_creates_nothing_are_retried(failure):
    assert _wire.is_retryable(FAILURES[failure](), READ) is (failure in RETRIED_FOR_READS)


@pytest.mark.parametrize("failure", FAILURES)
def test_which_failures_of_a_run_creation_are_retried(failure):
    expected = failure in RETRIED_FOR_RUN_CREATION
    for call in (
        CREATE,
        _wire.wait_run(None, "agent"),
        _wire.stream_run("T", "agent").call,
        _wire.create_batch([{"assistant_id": "agent"}]),
    ):
        assert _wire.is_retryable(FAILURES[failure](), call) is expected, call.path


def test_a_run_creation_is_not_retried_after_a_read_timeout():
    assert _wire.is_retryable(transport(httpx.ReadTimeout("timed out"), CREATE), CREATE) is False


def test_a_run_creation_is_retried_when_the_connection_was_never_made():
    assert _wire.is_retryable(transport(httpx.ConnectError("refused"), CREATE), CREATE) is True


def test_a_run_creation_is_not_retried_after_a_gateway_error():
    assert _wire.is_retryable(status(502), CREATE) is False
    assert _wire.is_retryable(status(504), CREATE) is False


def test_a_run_creation_is_retried_after_a_rate_limit():
    assert _wire.is_retryable(status(429, **{"Retry-After": "1"}), CREATE) is True


@pytest.mark.parametrize(
    ("exc", "reached"),
    [
        (httpx.ConnectError("refused"), False),
        (httpx.ConnectTimeout("slow"), False),
        (httpx.PoolTimeout("busy"), False),
        (httpx.ReadTimeout("slow"), True),
        (httpx.WriteTimeout("slow"), True),
        (httpx.ReadError("reset"), True),
        (httpx.WriteError("pipe"), True),
        (httpx.RemoteProtocolError("hung up"), True),
    ],
)
def test_only_connect_phase_failures_provably_never_reached_the_server(exc, reached):
    assert transport(exc).may_have_reached_server is reached


def test_transport_error_message_says_what_failed_where():
    connect = transport(httpx.ConnectError("[Errno 111] Connection refused"))
    assert str(connect) == (
        "GET /threads/T/runs/R: could not connect to the LangGraph server at http://lg.test "
        "(ConnectError: [Errno 111] Connection refused)"
    )
    assert (connect.method, connect.path) == ("GET", "/threads/T/runs/R")
    lost = transport(httpx.RemoteProtocolError("peer closed connection"), CREATE)
    assert str(lost) == (
        "POST /threads/T/runs: lost the connection to the LangGraph server at http://lg.test "
        "(RemoteProtocolError: peer closed connection)"
    )


def test_transport_error_without_a_message_says_no_detail():
    # _wire.transport_error formats `{exc or 'no detail'}`, but an exception is always truthy:
    # an httpx.ReadTimeout("") renders as "(ReadTimeout: )".
    error = transport(httpx.ReadTimeout(""))
    assert str(error).endswith("(ReadTimeout: no detail)")


# ---- waiting --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("retry_after", "backoff", "expected"),
    [(10.0, 2.0, 10.0), (1.0, 5.0, 5.0), (0.0, 3.0, 3.0), (None, 2.5, 2.5)],
)
def test_retry_wait_is_the_backoff_but_never_below_retry_after(retry_after, backoff, expected):
    headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
    assert _wire.retry_wait(status(429, **headers), backoff) == expected


def test_retry_wait_without_an_exception_is_the_backoff():
    assert _wire.retry_wait(None, 1.25) == 1.25
    assert _wire.retry_wait(transport(httpx.ConnectError("x")), 0.75) == 0.75


@pytest.mark.parametrize(
    ("retry_after", "limit", "too_long"),
    [("301", 300.0, True), ("300", 300.0, False), ("5", 4.0, True), (None, 300.0, False)],
)
def test_retry_after_too_long(retry_after, limit, too_long):
    headers = {} if retry_after is None else {"Retry-After": retry_after}
    policy = RetryPolicy(max_retry_after=limit)
    assert _wire.retry_after_too_long(status(429, **headers), policy) is too_long


def test_retry_after_too_long_without_an_exception_is_false():
    assert _wire.retry_after_too_long(None, RetryPolicy()) is False


# ---- a body that breaks off -----------------------------------------------------------------


def test_a_long_poll_whose_body_breaks_off_re_joins_the_run_named_by_location():
    policy = RetryPolicy(max_attempts=3)
    wait = _wire.wait_run("T", "agent", headers={"X-Request": "r1"}, retry=policy)
    accepted = response(
        headers={"Location": "/threads/T/runs/R/join", "Content-Location": "/threads/T/runs/R"}
    )
    signal = _wire.broken_body(wait, accepted, httpx.RemoteProtocolError("cut"), BASE_URL)
    assert isinstance(signal, _wire.Rejoin)
    assert not _wire.is_retryable(signal, wait)  # the creating request is never re-sent
    rejoin = signal.call
    assert rejoin.long_poll is True
    assert (rejoin.method, rejoin.path, rejoin.json) == ("GET", "/threads/T/runs/R/join", None)
    assert rejoin.headers == {"X-Request": "r1"}
    assert rejoin.follow_location is True
    assert rejoin.creates_run is False
    assert rejoin.decode is wait.decode
    assert rejoin.retry is policy


def test_a_broken_run_creation_names_the_run_the_server_had_created():
    accepted = response(headers={"Content-Location": "/threads/T/runs/R"}, path="/threads/T/runs")
    with pytest.raises(LangGraphConnectionError) as caught:
        raise _wire.broken_body(CREATE, accepted, httpx.ReadError("reset"), BASE_URL)
    assert str(caught.value) == (
        "POST /threads/T/runs: lost the connection to the LangGraph server at http://lg.test "
        "(ReadError: reset); the server had created run R on thread T"
    )
    assert caught.value.may_have_reached_server is True
    assert _wire.is_retryable(caught.value, CREATE) is False


def test_a_broken_long_poll_without_a_join_location_fails():
    wait = _wire.wait_run("T", "agent")
    for headers in ({}, {"Location": "/threads/T/runs/R/stream"}):
        with pytest.raises(LangGraphConnectionError, match="lost the connection"):
            raise _wire.broken_body(wait, response(headers=headers), httpx.ReadError("x"), BASE_URL)
