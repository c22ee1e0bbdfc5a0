"""The exception family: one root, an AirflowException, readable messages."""

from __future__ import annotations

import inspect

import pytest
from airflow.sdk.exceptions import AirflowException

from airflow_lg import exceptions
from airflow_lg.exceptions import (
    LangGraphAuthError,
    LangGraphConflictError,
    LangGraphConnectionError,
    LangGraphError,
    LangGraphHTTPError,
    LangGraphNotFoundError,
    LangGraphRateLimitError,
    LangGraphRunFailedError,
    LangGraphServerError,
    LangGraphStreamInterruptedError,
    LangGraphValidationError,
    format_detail,
    http_error_type,
)

ALL_ERRORS = [
    obj
    for _, obj in inspect.getmembers(exceptions, inspect.isclass)
    if issubclass(obj, BaseException) and obj.__module__ == exceptions.__name__
]


def test_the_module_defines_the_whole_family():
    # Others may join the family; these must stay (every member is checked below).
    assert {cls.__name__ for cls in ALL_ERRORS} >= {
        "LangGraphError",
        "LangGraphConfigError",
        "LangGraphConnectionError",
        "LangGraphHTTPError",
        "LangGraphValidationError",
        "LangGraphAuthError",
        "LangGraphNotFoundError",
        "LangGraphConflictError",
        "LangGraphRateLimitError",
        "LangGraphServerError",
        "LangGraphRunFailedError",
        "LangGraphStreamInterruptedError",
    }


@pytest.mark.parametrize("cls", ALL_ERRORS, ids=lambda cls: cls.__name__)
def test_every_error_is_a_langgraph_error_and_an_airflow_exception(cls):
    assert issubclass(cls, LangGraphError)
    assert issubclass(cls, AirflowException)


@pytest.mark.parametrize(
    "cls",
    [
        LangGraphValidationError,
        LangGraphAuthError,
        LangGraphNotFoundError,
        LangGraphConflictError,
        LangGraphRateLimitError,
        LangGraphServerError,
    ],
)
def test_status_specific_errors_are_http_errors(cls):
    assert issubclass(cls, LangGraphHTTPError)


def test_a_stream_interruption_is_a_connection_error():
    assert issubclass(LangGraphStreamInterruptedError, LangGraphConnectionError)
    error = LangGraphStreamInterruptedError("broke", run_id="R", thread_id="T")
    assert (str(error), error.run_id, error.thread_id) == ("broke", "R", "T")
    assert error.may_have_reached_server is True


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, LangGraphValidationError),
        (401, LangGraphAuthError),
        (403, LangGraphAuthError),
        (404, LangGraphNotFoundError),
        (409, LangGraphConflictError),
        (422, LangGraphValidationError),
        (429, LangGraphRateLimitError),
        (500, LangGraphServerError),
        (501, LangGraphServerError),
        (599, LangGraphServerError),
        (402, LangGraphHTTPError),
        (418, LangGraphHTTPError),
    ],
)
def test_http_error_type(status, cls):
    assert http_error_type(status) is cls


def test_an_http_error_keeps_what_is_needed_to_act_on_it():
    error = LangGraphConflictError(
        409, "POST", "/threads/T/runs", "Thread is already running", retry_after=3.0
    )
    assert str(error) == "POST /threads/T/runs failed with HTTP 409: Thread is already running"
    assert (error.status_code, error.method, error.path) == (409, "POST", "/threads/T/runs")
    assert (error.detail, error.retry_after) == ("Thread is already running", 3.0)


def test_a_connection_error_defaults_to_may_have_reached_the_server():
    error = LangGraphConnectionError("down")
    assert (error.method, error.path, error.may_have_reached_server) == ("", "", True)
    never = LangGraphConnectionError(
        "down", method="GET", path="/ok", may_have_reached_server=False
    )
    assert (never.method, never.path, never.may_have_reached_server) == ("GET", "/ok", False)


def test_a_run_failure_message_names_the_error_and_the_run():
    error = LangGraphRunFailedError("KeyError", "'x'", run_id="R", thread_id="T")
    assert str(error) == "KeyError: 'x' (agent run R on thread T)"
    assert (error.error_type, error.error_message) == ("KeyError", "'x'")
    assert str(LangGraphRunFailedError("E", "m")) == "E: m (agent run)"


@pytest.mark.parametrize(
    ("detail", "text"),
    [
        ("Thread or assistant not found.", "Thread or assistant not found."),
        (
            [{"loc": ["body", "assistant_id"], "msg": "Field required"}],
            "assistant_id: Field required",
        ),
        (
            [{"loc": ["query", "limit"], "msg": "bad"}, {"loc": [], "msg": "whole body"}],
            "query.limit: bad; whole body",
        ),
        ([{"loc": ["body", "input", 0], "msg": "m"}], "input.0: m"),
        ([{"msg": "no loc"}], "no loc"),
        (["plain", {"type": "x"}], "plain; {'type': 'x'}"),
        ([], ""),
        ({"reason": "x"}, "{'reason': 'x'}"),
        (None, "None"),
        (404, "404"),
    ],
)
def test_format_detail(detail, text):
    assert format_detail(detail) == text
