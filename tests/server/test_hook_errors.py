"""Each error a real server sends (runs-api.md §4.5) becomes its own exception type, quoting the
server; the API key is sent only when configured; test_connection tells the truth."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from airflow_lg.exceptions import (
    LangGraphAuthError,
    LangGraphConflictError,
    LangGraphConnectionError,
    LangGraphNotFoundError,
    LangGraphValidationError,
)
from airflow_lg.hooks.langgraph import LangGraphHook
from tests.server.conftest import SEED_INPUT, Transport


async def test_unknown_graph_name_is_a_validation_error_listing_the_graphs(lg: Transport) -> None:
    with pytest.raises(LangGraphValidationError) as caught:
        await lg.wait_run(None, "no_such_graph", input={})
    error = caught.value
    assert (error.status_code, error.method, error.path) == (422, "POST", "/runs/wait")
    assert "Invalid assistant: 'no_such_graph'" in str(error)
    assert "test_agent" in str(error)


async def test_an_empty_assistant_id_is_a_validation_error(lg: Transport) -> None:
    with pytest.raises(LangGraphValidationError, match="Invalid assistant: ''"):
        await lg.create_run(None, "", input={})


async def test_unknown_assistant_uuid_is_not_found(lg: Transport) -> None:
    with pytest.raises(LangGraphNotFoundError, match="Thread or assistant not found"):
        await lg.create_run(None, str(uuid.uuid4()), input={})


async def test_a_run_on_an_unknown_thread_is_not_found(lg: Transport) -> None:
    with pytest.raises(LangGraphNotFoundError) as caught:
        await lg.create_run(str(uuid.uuid4()), "test_agent", input=SEED_INPUT)
    assert caught.value.path.startswith("/threads/")


async def test_a_non_uuid_id_is_a_validation_error(lg: Transport) -> None:
    with pytest.raises(LangGraphValidationError, match=r"HTTP 422.*UUID"):
        await lg.get_run("not-a-uuid", str(uuid.uuid4()))


async def test_an_unknown_enum_value_is_a_validation_error(lg: Transport) -> None:
    with pytest.raises(LangGraphValidationError) as caught:
        await lg.create_run(None, "test_agent", input=SEED_INPUT, on_completion="forever")
    assert caught.value.status_code == 422
    assert "on_completion" in str(caught.value)


async def test_config_configurable_with_context_is_a_validation_error(lg: Transport) -> None:
    with pytest.raises(LangGraphValidationError) as caught:
        await lg.wait_run(
            None,
            "test_agent",
            input=SEED_INPUT,
            config={"configurable": {"a": 1}},
            context={"a": 1},
        )
    assert caught.value.status_code == 400


async def test_resume_on_a_stateless_run_is_a_validation_error(lg: Transport) -> None:
    with pytest.raises(LangGraphValidationError) as caught:
        await lg.wait_run(None, "human", command={"resume": "yes"})
    assert caught.value.status_code == 400


async def test_reject_on_a_busy_thread_is_a_conflict(lg: Transport) -> None:
    thread = await lg.create_thread()
    running = await lg.create_run(thread["thread_id"], "sleeper", input={"seconds": 30})
    try:
        with pytest.raises(LangGraphConflictError) as caught:
            await lg.create_run(
                thread["thread_id"], "test_agent", input=SEED_INPUT, multitask_strategy="reject"
            )
        assert caught.value.status_code == 409
        assert "already running" in str(caught.value)
    finally:
        await lg.cancel_run(thread["thread_id"], running["run_id"], wait=True)


async def test_cancelling_a_finished_run_is_not_found(lg: Transport) -> None:
    thread = await lg.create_thread()
    run = await lg.create_run(thread["thread_id"], "test_agent", input=SEED_INPUT)
    await lg.join_run(thread["thread_id"], run["run_id"])
    with pytest.raises(LangGraphNotFoundError):
        await lg.cancel_run(thread["thread_id"], run["run_id"])


async def test_an_existing_thread_with_if_exists_raise_is_a_conflict(lg: Transport) -> None:
    thread = await lg.create_thread()
    with pytest.raises(LangGraphConflictError):
        await lg.create_thread(thread_id=thread["thread_id"], if_exists="raise")


async def test_a_wrong_api_key_is_an_auth_error(
    auth_server: Any, via: Callable[..., Transport]
) -> None:
    lg = via(auth_server.url, password="wrong-key")
    with pytest.raises(LangGraphAuthError) as caught:
        await lg.search_threads()
    assert caught.value.status_code == 401
    assert "wrong-key" not in str(caught.value)


async def test_the_right_api_key_is_accepted(
    auth_server: Any, auth_api_key: str, via: Callable[..., Transport]
) -> None:
    lg = via(auth_server.url, password=auth_api_key)
    assert await lg.wait_run(None, "test_agent", input=SEED_INPUT) == {
        "foo": "checked",
        "bar": "checked",
        "baz": "checked",
    }


async def test_a_missing_api_key_is_an_auth_error_even_with_keys_in_the_environment(
    auth_server: Any,
    auth_api_key: str,
    via: Callable[..., Transport],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The SDK would pick these up and send them; a key is only sent where it was configured.
    for name in ("LANGGRAPH_API_KEY", "LANGSMITH_API_KEY", "LANGCHAIN_API_KEY"):
        monkeypatch.setenv(name, auth_api_key)
    with pytest.raises(LangGraphAuthError):
        await via(auth_server.url).search_threads()


async def test_the_key_and_extra_headers_are_sent_only_as_configured(
    fault_proxy: Any, via: Callable[..., Transport], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LANGSMITH_API_KEY", "from-the-environment")
    await via(fault_proxy.url, headers={"X-Tenant": "acme"}).health()
    await via(fault_proxy.url, password="configured-key").health()
    bare, keyed = fault_proxy.find("GET", "^/ok$")
    assert "x-api-key" not in bare.headers
    assert bare.headers["x-tenant"] == "acme"
    assert keyed.headers["x-api-key"] == "configured-key"
    assert keyed.headers["user-agent"].startswith("airflow-lg/")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_server_that_is_down_is_a_connection_error_naming_the_url(
    via: Callable[..., Transport],
) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    lg = via(url, retry={"max_attempts": 2, "min_wait": 0.05, "max_wait": 0.1})
    with pytest.raises(LangGraphConnectionError) as caught:
        await lg.get_run(str(uuid.uuid4()), str(uuid.uuid4()))
    assert url in str(caught.value)
    assert "could not connect" in str(caught.value)
    assert caught.value.may_have_reached_server is False


def test_test_connection_reports_the_server_version(
    agent_server: Any, make_hook: Callable[..., LangGraphHook]
) -> None:
    ok, message = make_hook(agent_server.url).test_connection()
    assert ok is True
    assert message == f"Connected to LangGraph Agent Server 0.16.7 at {agent_server.url}"


def test_test_connection_fails_with_a_wrong_key_and_says_why(
    auth_server: Any, make_hook: Callable[..., LangGraphHook]
) -> None:
    ok, message = make_hook(auth_server.url, password="nope").test_connection()
    assert ok is False
    assert "HTTP 401" in message
    assert "nope" not in message


def test_test_connection_fails_when_the_server_is_down(
    make_hook: Callable[..., LangGraphHook],
) -> None:
    hook = make_hook(f"http://127.0.0.1:{_closed_port()}", retry={"max_attempts": 1})
    ok, message = hook.test_connection()
    assert ok is False
    assert "could not connect" in message
