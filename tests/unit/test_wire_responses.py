"""Response decoding of ``_wire``: run ids, bodies, HTTP errors and wait/join results."""

from __future__ import annotations

import datetime as dt
from email.utils import format_datetime

import pytest

from airflow_lg import wire as _wire
from airflow_lg.exceptions import (
    LangGraphAuthError,
    LangGraphConflictError,
    LangGraphConnectionError,
    LangGraphHTTPError,
    LangGraphNotFoundError,
    LangGraphRateLimitError,
    LangGraphRunFailedError,
    LangGraphServerError,
    LangGraphValidationError,
)
from airflow_lg.schema import interrupts_of
from tests.unit.helpers import response

# ---- run ids from Content-Location ----------------------------------------------------------


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("/threads/T1/runs/R1", {"run_id": "R1", "thread_id": "T1"}),
        ("/runs/R2", {"run_id": "R2", "thread_id": None}),
        ("/threads/T3/runs/R3/join", {"run_id": "R3", "thread_id": "T3"}),
        ("http://lg.test/prefix/threads/T4/runs/R4", {"run_id": "R4", "thread_id": "T4"}),
    ],
)
def test_run_metadata_comes_from_content_location(location, expected):
    assert _wire.run_metadata(response(headers={"Content-Location": location})) == expected


@pytest.mark.parametrize(
    "headers", [{}, {"Content-Location": "/threads/T1"}, {"Location": "/threads/T1/runs/R1/join"}]
)
def test_run_metadata_is_none_without_a_run_content_location(headers):
    assert _wire.run_metadata(response(headers=headers)) is None


# ---- bodies ---------------------------------------------------------------------------------


def test_decode_body_ignores_the_long_poll_newline_padding():
    assert _wire.decode_body(response(content=b'\n\n\n{"messages": ["hi"]}')) == {
        "messages": ["hi"]
    }


@pytest.mark.parametrize("content", [b"", b"\n", b"\n\n\n"])
def test_decode_body_of_an_empty_body_is_none(content):
    assert _wire.decode_body(response(202, content=content)) is None


def test_decode_body_of_json_null_and_scalars():
    assert _wire.decode_body(response(content=b"null")) is None
    assert _wire.decode_body(response(content=b"[1, 2]")) == [1, 2]


def test_decode_body_of_a_non_json_body_is_a_connection_error_naming_the_request():
    with pytest.raises(LangGraphConnectionError) as caught:
        _wire.decode_body(response(content=b"<html>gateway</html>", path="/threads/T/runs/wait"))
    error = caught.value
    assert str(error) == (
        "POST /threads/T/runs/wait answered HTTP 200 with a body that is not JSON: "
        "b'<html>gateway</html>'"
    )
    assert (error.method, error.path) == ("POST", "/threads/T/runs/wait")


# ---- HTTP errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (400, LangGraphValidationError),
        (422, LangGraphValidationError),
        (401, LangGraphAuthError),
        (403, LangGraphAuthError),
        (404, LangGraphNotFoundError),
        (409, LangGraphConflictError),
        (429, LangGraphRateLimitError),
        (500, LangGraphServerError),
        (502, LangGraphServerError),
        (503, LangGraphServerError),
        (504, LangGraphServerError),
        (405, LangGraphHTTPError),
        (410, LangGraphHTTPError),
        (418, LangGraphHTTPError),
    ],
)
def test_http_error_maps_the_status_to_its_type(status, error_type):
    error = _wire.http_error(response(status, json={"detail": "nope"}))
    assert type(error) is error_type
    assert error.status_code == status


def test_http_error_message_has_status_method_path_and_the_servers_detail():
    error = _wire.http_error(
        response(
            422,
            json={"detail": "Graph 'nope' not found. Valid choices: test_agent, sleeper"},
            method="POST",
            path="/threads/T/runs/wait",
        )
    )
    assert str(error) == (
        "POST /threads/T/runs/wait failed with HTTP 422: "
        "Graph 'nope' not found. Valid choices: test_agent, sleeper"
    )
    assert (error.method, error.path) == ("POST", "/threads/T/runs/wait")
    assert error.detail == "Graph 'nope' not found. Valid choices: test_agent, sleeper"
    assert error.retry_after is None


def test_http_error_renders_fastapis_list_of_validation_errors():
    detail = [
        {"loc": ["body", "assistant_id"], "msg": "Field required", "type": "missing"},
        {"loc": ["body", "input", 0, "x"], "msg": "Input should be a valid string"},
    ]
    error = _wire.http_error(response(422, json={"detail": detail}, path="/runs"))
    assert error.detail == detail
    assert str(error) == (
        "POST /runs failed with HTTP 422: assistant_id: Field required; "
        "input.0.x: Input should be a valid string"
    )


def test_http_error_path_has_no_query_string():
    error = _wire.http_error(
        response(404, json={"detail": "Not Found"}, method="GET", path="/threads/T/runs?limit=1")
    )
    assert str(error) == "GET /threads/T/runs failed with HTTP 404: Not Found"


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        (b"upstream connect error", "upstream connect error"),
        (b"  \n", "Bad Gateway"),
        (b"", "Bad Gateway"),
        (b'{"error": "x"}', '{"error": "x"}'),
    ],
)
def test_http_error_without_a_detail_quotes_the_body_or_the_reason(content, detail):
    error = _wire.http_error(response(502, content=content, path="/ok", method="GET"))
    assert error.detail == detail
    assert str(error) == f"GET /ok failed with HTTP 502: {detail}"


@pytest.mark.parametrize(("value", "seconds"), [("7", 7.0), ("0", 0.0), ("1.5", 1.5), ("-3", 0.0)])
def test_rate_limit_retry_after_is_read_from_seconds(value, seconds):
    error = _wire.http_error(
        response(429, json={"detail": "slow down"}, headers={"Retry-After": value})
    )
    assert isinstance(error, LangGraphRateLimitError)
    assert error.retry_after == seconds


def test_rate_limit_retry_after_is_read_from_an_http_date():
    when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=120)
    error = _wire.http_error(
        response(
            429,
            json={"detail": "slow down"},
            headers={"Retry-After": format_datetime(when, usegmt=True)},
        )
    )
    assert 115.0 < error.retry_after <= 120.0


def test_a_retry_after_date_in_the_past_means_now():
    error = _wire.http_error(
        response(503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    )
    assert error.retry_after == 0.0


@pytest.mark.parametrize("headers", [{}, {"Retry-After": "soon"}, {"Retry-After": ""}])
def test_an_absent_or_unreadable_retry_after_is_none(headers):
    assert _wire.http_error(response(429, headers=headers)).retry_after is None


def test_a_server_error_keeps_its_retry_after():
    error = _wire.http_error(response(503, headers={"Retry-After": "2"}))
    assert type(error) is LangGraphServerError
    assert error.retry_after == 2.0


# ---- wait/join results ----------------------------------------------------------------------

FAILED_RUN = {"__error__": {"error": "ValueError", "message": "the agent gave up"}}
RUN_LOCATION = {"Content-Location": "/threads/T1/runs/R1"}


def test_an_error_result_raises_run_failed_with_the_error_and_the_run_ids():
    with pytest.raises(LangGraphRunFailedError) as caught:
        _wire.check_run_result(FAILED_RUN, response(headers=RUN_LOCATION), raise_error=True)
    error = caught.value
    assert (error.error_type, error.error_message) == ("ValueError", "the agent gave up")
    assert (error.run_id, error.thread_id) == ("R1", "T1")
    assert str(error) == "ValueError: the agent gave up (agent run R1 on thread T1)"


def test_an_error_result_of_a_stateless_run_has_no_thread_id():
    with pytest.raises(LangGraphRunFailedError) as caught:
        _wire.check_run_result(
            FAILED_RUN, response(headers={"Content-Location": "/runs/R2"}), raise_error=True
        )
    assert (caught.value.run_id, caught.value.thread_id) == ("R2", None)


def test_an_error_result_without_content_location_names_no_run():
    with pytest.raises(LangGraphRunFailedError) as caught:
        _wire.check_run_result(FAILED_RUN, response(), raise_error=True)
    assert (caught.value.run_id, caught.value.thread_id) == (None, None)
    assert str(caught.value) == "ValueError: the agent gave up (agent run)"


@pytest.mark.parametrize(
    ("error", "error_type", "message"),
    [
        ("kaput", "Error", "kaput"),
        ({}, "Error", ""),
        (None, "Error", ""),
        ({"message": "m"}, "Error", "m"),
    ],
)
def test_an_unusual_error_result_still_raises_run_failed(error, error_type, message):
    with pytest.raises(LangGraphRunFailedError) as caught:
        _wire.check_run_result({"__error__": error}, response(), raise_error=True)
    assert (caught.value.error_type, caught.value.error_message) == (error_type, message)


def test_join_of_an_unknown_run_is_not_found_not_a_run_failure():
    body = {"__error__": {"error": "HTTPException", "message": "404: Run not found"}}
    with pytest.raises(LangGraphNotFoundError) as caught:
        _wire.check_run_result(
            body, response(method="GET", path="/threads/T/runs/R/join"), raise_error=True
        )
    error = caught.value
    assert (error.status_code, error.method, error.path) == (404, "GET", "/threads/T/runs/R/join")
    assert error.detail == "404: Run not found"


def test_a_graph_error_whose_message_starts_with_404_is_a_run_failure():
    # The server reports an unknown run as {"error": "HTTPException", "message": "404: ..."};
    # a graph's own exception that happens to start with "404" is an agent failure, and must
    # keep its type and run ids.
    body = {"__error__": {"error": "ValueError", "message": "404 from the weather API"}}
    with pytest.raises(LangGraphRunFailedError) as caught:
        _wire.check_run_result(body, response(headers=RUN_LOCATION), raise_error=True)
    assert (caught.value.error_type, caught.value.run_id) == ("ValueError", "R1")


def test_raise_error_false_returns_an_error_result_intact():
    body = {"__error__": {"error": "ValueError", "message": "x"}, "messages": [1]}
    assert _wire.check_run_result(body, response(headers=RUN_LOCATION), raise_error=False) is body
    assert body == {"__error__": {"error": "ValueError", "message": "x"}, "messages": [1]}


@pytest.mark.parametrize("result", [{"messages": ["a"]}, [1, 2], "text", None, 3])
def test_a_normal_result_is_returned_as_is(result):
    assert _wire.check_run_result(result, response(), raise_error=True) is result


def test_an_interrupt_result_is_returned_intact_and_recognised():
    result = {
        "messages": ["draft"],
        "__interrupt__": [{"value": {"question": "approve?"}, "id": "i-1"}],
    }
    assert (
        _wire.check_run_result(result, response(headers=RUN_LOCATION), raise_error=True) is result
    )
    assert interrupts_of(result) == [{"value": {"question": "approve?"}, "id": "i-1"}]


@pytest.mark.parametrize("result", [{"messages": []}, {"__interrupt__": []}, None, "x", [1]])
def test_interrupts_of_a_result_that_did_not_pause_is_none(result):
    assert interrupts_of(result) is None


def test_wait_and_join_decode_error_results_only_when_raise_error_is_set():
    ok = response(headers=RUN_LOCATION)
    with pytest.raises(LangGraphRunFailedError):
        _wire.wait_run("T1", "agent").decode(FAILED_RUN, ok)
    with pytest.raises(LangGraphRunFailedError):
        _wire.join_run("T1", "R1").decode(FAILED_RUN, ok)
    assert _wire.wait_run("T1", "agent", raise_error=False).decode(FAILED_RUN, ok) is FAILED_RUN
    assert _wire.join_run("T1", "R1", raise_error=False).decode(FAILED_RUN, ok) is FAILED_RUN
    assert _wire.create_run("T1", "agent").decode(FAILED_RUN, ok) is FAILED_RUN


def test_cancel_and_delete_return_nothing_whatever_the_server_answers():
    run = {"run_id": "R1", "status": "interrupted"}
    ok = response(headers=RUN_LOCATION)
    assert _wire.cancel_run("T1", "R1", wait=True).decode(run, ok) is None
    assert _wire.delete_run("T1", "R1").decode(run, ok) is None
    assert _wire.get_run("T1", "R1").decode(run, ok) is run
