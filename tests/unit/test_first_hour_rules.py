"""The rules behind the first hour's error messages, without a server: what a rendered value
is called, what a graph's input schema admits, how a step names a failure, how a TLS mistake
is hinted, and how soon a wait looks again."""

from __future__ import annotations

import itertools

import httpx
import pytest

from airflow_lg import wire
from airflow_lg.exceptions import LangGraphConfigError, LangGraphConnectionError, step
from airflow_lg.inputs import check_input, check_object, schema_accepts
from airflow_lg.waiting import poll_delays


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("None", "rendered to 'None'"),
        ("", "rendered to ''"),
        ('{"messages": []}', "is a JSON string, not an object"),
        ("{'messages': []}", "is a string that looks like a Python literal"),
        ("hello", "is a string ('hello')"),
        (3, "is a int (3)"),
    ],
)
def test_an_input_that_is_not_an_object_is_said_in_the_dag_authors_words(
    value: object, said: str
) -> None:
    with pytest.raises(LangGraphConfigError) as caught:
        check_input("input", value)
    assert str(caught.value).startswith(f"input {said}")
    assert "render_template_as_native_obj=True" in str(caught.value)


@pytest.mark.parametrize("value", [None, {}, {"messages": []}])
def test_an_object_or_no_input_passes(value: object) -> None:
    check_input("input", value)
    check_object("config", value)


@pytest.mark.parametrize(
    ("schema", "value", "accepted"),
    [
        ({"type": "string"}, "hi", True),
        ({"type": "object"}, "hi", False),
        ({"type": ["string", "null"]}, "hi", True),
        ({"anyOf": [{"type": "integer"}, {"type": "string"}]}, "hi", True),
        ({"type": "number"}, 3, True),
        ({"type": "integer"}, 2.5, False),
        ({"type": "boolean"}, 1, False),
        ({"type": "array"}, ["a"], True),
        ({}, "hi", True),  # constrains nothing: an untyped entrypoint
        ({"title": "shout_input"}, "hi", True),
        ({"$ref": "#/$defs/Text"}, "hi", True),  # left to the server
        (None, "hi", False),  # no schema at all (a StateGraph here): only an object
        ({"type": "string"}, object(), False),  # not a JSON value
    ],
)
def test_a_graphs_input_schema_admits_only_the_json_types_it_names(
    schema: object, value: object, accepted: bool
) -> None:
    assert schema_accepts(schema, value) is accepted


def test_a_step_leads_the_message_once_and_keeps_the_type() -> None:
    outer, inner = step("looking for this task's run"), step("inner")
    with pytest.raises(LangGraphConnectionError) as caught, outer, inner:
        raise LangGraphConnectionError("GET /x: could not connect", no_response=True)
    assert str(caught.value) == "inner: GET /x: could not connect"
    assert caught.value.no_response


def _connect_error(message: str) -> LangGraphConnectionError:
    call = wire.get_run("T", "R")
    return wire.transport_error(call, httpx.ConnectError(message), "https://lg.test:2024")


def test_tls_to_a_plain_http_port_says_use_http_and_is_not_retried() -> None:
    error = _connect_error("[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)")
    assert str(error).endswith("the server does not speak TLS on this port: use http://lg.test:2024")
    assert not wire.is_retryable(error, wire.get_run("T", "R"))
    assert not wire.is_outage(error)


def test_an_untrusted_certificate_points_at_the_verify_extra() -> None:
    error = _connect_error("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    assert "set the connection extra 'verify' to your CA bundle's path" in str(error)


def test_a_refused_connection_is_still_retried() -> None:
    error = _connect_error("[Errno 111] Connection refused")
    assert wire.is_retryable(error, wire.get_run("T", "R"))


def test_no_answer_in_the_budget_is_said_so() -> None:
    call = wire.get_run("T", "R")
    error = wire.transport_error(call, httpx.ReadTimeout(""), "http://lg.test", waited=10.0)
    assert "no response from the LangGraph server at http://lg.test in 10 s" in str(error)
    assert error.no_response and error.may_have_reached_server


def test_a_wait_looks_again_after_1_s_then_doubles_up_to_the_poll_interval() -> None:
    assert list(itertools.islice(poll_delays(5.0), 6)) == [1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
    assert list(itertools.islice(poll_delays(0.5), 3)) == [0.5, 0.5, 0.5]


def test_a_batch_item_travels_under_the_servers_names_and_create_runs_without_nones() -> None:
    from airflow_lg.wire.payloads import check_batch_payload, create_run_arguments, wire_item

    item = {"assistant_id": "a", "langsmith_tracing": {"project_name": "p"}, "inptu": None}
    check_batch_payload("payloads[0]", item)  # a None is never sent, whatever its key
    assert wire_item(item) == {"assistant_id": "a", "langsmith_tracer": {"project_name": "p"}}
    wire_named = {"assistant_id": "a", "langsmith_tracer": {"project_name": "p"}}
    check_batch_payload("payloads[0]", wire_named)
    assert create_run_arguments(wire_named) == {
        "assistant_id": "a", "langsmith_tracing": {"project_name": "p"},
    }  # fmt: skip
    wire.create_run(None, **create_run_arguments(item))  # no TypeError


def test_a_timeout_that_sets_read_only_keeps_short_calls_on_it() -> None:
    from airflow_lg.hooks._settings import settings_from_connection

    settings = settings_from_connection("http://h", None, None, None, {"timeout": {"read": 120}})
    assert settings.timeout["response"] == 120.0
