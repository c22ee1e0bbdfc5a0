"""Request builders of ``_wire``: paths, query parameters, headers and JSON bodies."""

from __future__ import annotations

import datetime as dt
import inspect
import json
from typing import Any

import httpx
import pytest

from airflow_lg import wire as _wire
from airflow_lg.exceptions import LangGraphConfigError
from airflow_lg.hooks._settings import RetryPolicy
from tests.unit.helpers import to_request

RUN_BUILDERS = {
    "create_run": _wire.create_run,
    "wait_run": _wire.wait_run,
    "stream_run": _wire.stream_run,
}
CLIENT_ONLY = {
    "thread_id", "headers", "params", "on_run_created", "raise_error", "retry", "version",
}  # fmt: skip
# The SDK sends langsmith_tracing under another name; so do the builders.
WIRE_NAME = {"langsmith_tracing": "langsmith_tracer"}
POLICY = RetryPolicy(max_attempts=2, min_wait=0.1, max_wait=0.2)

# What each run-creating builder sends when given nothing but the assistant.
DEFAULT_BODIES = {
    "create_run": {
        "assistant_id": "agent",
        "stream_mode": "values",
        "stream_subgraphs": False,
        "stream_resumable": False,
    },
    "wait_run": {"assistant_id": "agent"},
    "stream_run": {
        "assistant_id": "agent",
        "stream_mode": "values",
        "stream_subgraphs": False,
        "stream_resumable": False,
    },
}

# Every body argument the builders know, with a value of the right shape.
BODY_VALUES: dict[str, Any] = {
    "input": {"question": "why?"},
    "command": {"resume": "yes", "goto": "review"},
    "stream_mode": ["values", "updates"],
    "stream_subgraphs": True,
    "stream_resumable": True,
    "metadata": {"dag_id": "d1"},
    "config": {"tags": ["airflow"], "recursion_limit": 7},
    "context": {"user": "u1"},
    "checkpoint": {"checkpoint_id": "ck-1", "checkpoint_ns": ""},
    "checkpoint_id": "ck-1",
    "checkpoint_during": True,
    "interrupt_before": ["review"],
    "interrupt_after": "*",
    "feedback_keys": ["score"],
    "webhook": "https://hooks.example.com/done",
    "on_disconnect": "cancel",
    "on_completion": "keep",
    "multitask_strategy": "reject",
    "if_not_exists": "create",
    "after_seconds": 5,
    "durability": "sync",
    "strict_resume": True,
    "langsmith_tracing": {"project_name": "airflow", "example_id": "e1"},
}


def on_the_wire(arguments: dict[str, Any]) -> dict[str, Any]:
    return {WIRE_NAME.get(name, name): value for name, value in arguments.items()}


def body_arguments(builder) -> list[str]:
    return [
        name
        for name, p in inspect.signature(builder).parameters.items()
        if p.kind is p.KEYWORD_ONLY and name not in CLIENT_ONLY
    ]


def call_of(built: Any) -> _wire.Call[Any]:
    return built.call if isinstance(built, _wire.StreamCall) else built


def on_run_created(meta):  # pragma: no cover - only passed around
    pass


# ---- run-creating builders: bodies ----------------------------------------------------------


@pytest.mark.parametrize("name", RUN_BUILDERS)
def test_run_builders_send_only_the_assistant_and_non_none_defaults(name):
    assert call_of(RUN_BUILDERS[name](None, "agent")).json == DEFAULT_BODIES[name]


@pytest.mark.parametrize("name", RUN_BUILDERS)
def test_every_run_builder_argument_is_sent_under_its_wire_name(name):
    builder = RUN_BUILDERS[name]
    arguments = body_arguments(builder)
    assert set(arguments) <= set(BODY_VALUES), "a new body argument needs a value in BODY_VALUES"
    for argument in arguments:
        body = call_of(builder("T", "agent", **{argument: BODY_VALUES[argument]})).json
        sent = on_the_wire({argument: BODY_VALUES[argument]})
        assert body == {**DEFAULT_BODIES[name], **sent}, argument


@pytest.mark.parametrize("name", RUN_BUILDERS)
def test_a_run_builder_with_every_argument_sends_the_whole_body(name):
    builder = RUN_BUILDERS[name]
    arguments = {a: BODY_VALUES[a] for a in body_arguments(builder)}
    assert call_of(builder("T", "agent", **arguments)).json == {
        "assistant_id": "agent",
        **on_the_wire(arguments),
    }


@pytest.mark.parametrize("name", RUN_BUILDERS)
def test_a_run_builder_omits_arguments_that_are_none(name):
    builder = RUN_BUILDERS[name]
    nones = {a: None for a in body_arguments(builder) if a not in DEFAULT_BODIES[name]}
    assert len(nones) >= 15
    assert call_of(builder("T", "agent", **nones)).json == DEFAULT_BODIES[name]


@pytest.mark.parametrize("name", RUN_BUILDERS)
def test_run_builders_keep_falsy_values_that_are_not_none(name):
    body = call_of(RUN_BUILDERS[name](None, "agent", input={}, metadata={}, after_seconds=0)).json
    assert body == {**DEFAULT_BODIES[name], "input": {}, "metadata": {}, "after_seconds": 0}


@pytest.mark.parametrize("name", RUN_BUILDERS)
def test_client_only_arguments_shape_the_request_but_never_the_body(name):
    extra = {"raise_error": False} if name == "wait_run" else {}
    call = call_of(
        RUN_BUILDERS[name](
            "T",
            "agent",
            input={"q": 1},
            headers={"X-Request": "r1"},
            params={"trace": "on"},
            on_run_created=on_run_created,
            retry=POLICY,
            **extra,
        )
    )
    assert call.json == {**DEFAULT_BODIES[name], "input": {"q": 1}}
    assert not CLIENT_ONLY & set(call.json)
    assert call.headers == {"X-Request": "r1"}
    assert call.params == {"trace": "on"}
    assert call.on_run_created is on_run_created
    assert call.retry is POLICY
    assert call.creates_run is True
    request = to_request(call)
    assert request.headers["X-Request"] == "r1"
    assert request.url.query == b"trace=on"
    assert json.loads(request.content) == call.json


@pytest.mark.parametrize("name", RUN_BUILDERS)
def test_command_loses_its_none_entries(name):
    command = {"resume": {"approved": True}, "update": None, "goto": None}
    body = call_of(RUN_BUILDERS[name]("T", "agent", command=command)).json
    assert body["command"] == {"resume": {"approved": True}}
    assert command == {"resume": {"approved": True}, "update": None, "goto": None}


@pytest.mark.parametrize(
    ("name", "thread_id", "path"),
    [
        ("create_run", "T1", "/threads/T1/runs"),
        ("create_run", None, "/runs"),
        ("wait_run", "T1", "/threads/T1/runs/wait"),
        ("wait_run", None, "/runs/wait"),
        ("stream_run", "T1", "/threads/T1/runs/stream"),
        ("stream_run", None, "/runs/stream"),
    ],
)
def test_run_builders_use_thread_bound_or_stateless_paths(name, thread_id, path):
    call = call_of(RUN_BUILDERS[name](thread_id, "agent"))
    assert (call.method, call.path) == ("POST", path)


@pytest.mark.parametrize("name", RUN_BUILDERS)
def test_thread_ids_are_path_quoted(name):
    call = call_of(RUN_BUILDERS[name]("a/b c?d", "agent"))
    assert call.path.startswith("/threads/a%2Fb%20c%3Fd/runs")
    assert to_request(call, "http://lg.test/prefix").url.raw_path.startswith(
        b"/prefix/threads/a%2Fb%20c%3Fd/runs"
    )


@pytest.mark.parametrize("name", RUN_BUILDERS)
def test_a_non_json_input_is_a_config_error_naming_its_type_before_anything_is_sent(name):
    with pytest.raises(LangGraphConfigError) as caught:
        RUN_BUILDERS[name](None, "agent", input={"when": dt.datetime(2024, 1, 1)})
    assert "the run's body is not JSON-serializable" in str(caught.value)
    assert "datetime" in str(caught.value)


@pytest.mark.parametrize("name", RUN_BUILDERS)
def test_a_nan_input_is_a_config_error_before_anything_is_sent(name):
    # httpx encodes bodies with allow_nan=False, so NaN passes _check_json (json.dumps allows
    # it) and then fails with a bare ValueError inside the hook's send/retry loop.
    with pytest.raises(LangGraphConfigError, match="not JSON-serializable"):
        RUN_BUILDERS[name](None, "agent", input={"score": float("nan")})


def test_run_creating_calls_are_marked_as_such():
    assert _wire.create_run(None, "a").creates_run is True
    assert _wire.wait_run(None, "a").creates_run is True
    assert _wire.stream_run(None, "a").call.creates_run is True
    assert _wire.create_batch([{"assistant_id": "a"}]).creates_run is True
    for call in (
        _wire.get_run("T", "R"),
        _wire.list_runs("T"),
        _wire.join_run("T", "R"),
        _wire.join_stream("T", "R").call,
        _wire.cancel_run("T", "R"),
        _wire.delete_run("T", "R"),
        _wire.search_threads(),
        _wire.create_thread(thread_id="T", if_exists="do_nothing"),
    ):
        assert call.creates_run is False, call.path


def test_wait_and_join_follow_location_and_nothing_else_does():
    assert _wire.wait_run("T", "a").follow_location is True
    assert _wire.join_run("T", "R").follow_location is True
    assert _wire.create_run("T", "a").follow_location is False
    assert _wire.stream_run("T", "a").call.follow_location is False
    assert _wire.get_run("T", "R").follow_location is False


def test_stream_run_describes_how_to_resume_it():
    stream = _wire.stream_run(
        "T", "agent", stream_mode=["values", "custom"], stream_resumable=True, retry=POLICY
    )
    assert stream.resumable is True
    assert stream.resume_modes == ["values", "custom"]
    assert (stream.thread_id, stream.run_id) == ("T", None)
    assert stream.call.retry is POLICY
    assert _wire.stream_run(None, "agent").resumable is False


# Each builder (hence each hook method and its async twin) and the SDK method it mirrors.
SDK_TWINS = {
    "create_run": ("runs", "create"),
    "wait_run": ("runs", "wait"),
    "stream_run": ("runs", "stream"),
    "create_batch": ("runs", "create_batch"),
    "list_runs": ("runs", "list"),
    "get_run": ("runs", "get"),
    "cancel_run": ("runs", "cancel"),
    "delete_run": ("runs", "delete"),
    "join_run": ("runs", "join"),
    "join_stream": ("runs", "join_stream"),
    "create_thread": ("threads", "create"),
    "get_thread": ("threads", "get"),
    "get_thread_state": ("threads", "get_state"),
    "get_thread_history": ("threads", "get_history"),
    "search_threads": ("threads", "search"),
    "search_assistants": ("assistants", "search"),
    "get_assistant_schemas": ("assistants", "get_schemas"),
}
# What the builders take beyond the SDK, each for a reason: a per-call retry policy; join
# raises a failed run's error as wait does (the SDK's join returns it).
# A thread search can return the pagination headers (a watcher pages through thousands).
OWN_EXTRAS = {
    "retry": set(SDK_TWINS),
    "raise_error": {"join_run"},
    "response_format": {"search_threads"},
}


def sdk_method(kind: str, name: str, flavour: str) -> Any:
    from langgraph_sdk._async.assistants import AssistantsClient
    from langgraph_sdk._async.runs import RunsClient
    from langgraph_sdk._async.threads import ThreadsClient
    from langgraph_sdk._sync.assistants import SyncAssistantsClient
    from langgraph_sdk._sync.runs import SyncRunsClient
    from langgraph_sdk._sync.threads import SyncThreadsClient

    clients = {
        ("assistants", "sync"): SyncAssistantsClient,
        ("assistants", "async"): AssistantsClient,
        ("runs", "sync"): SyncRunsClient,
        ("threads", "sync"): SyncThreadsClient,
        ("runs", "async"): RunsClient,
        ("threads", "async"): ThreadsClient,
    }
    return getattr(clients[kind, flavour], name)


def parameters(function: Any) -> dict[str, inspect.Parameter]:
    return {n: p for n, p in inspect.signature(function).parameters.items() if n != "self"}


def parity_gaps(ours: Any, theirs: Any, extras: set[str]) -> list[str]:
    """What one side takes that the other does not, or a default that differs."""
    mine, sdk = parameters(ours), parameters(theirs)
    gaps = [f"missing SDK parameter {n!r}" for n in sdk if n not in mine]
    gaps += [f"{n!r} is not an SDK parameter" for n in mine if n not in sdk and n not in extras]
    gaps += [
        f"{n!r} defaults to {mine[n].default!r}, the SDK's to {sdk[n].default!r}"
        for n in mine
        if n in sdk and mine[n].default != sdk[n].default
    ]
    return gaps


@pytest.mark.parametrize("flavour", ["sync", "async"])
@pytest.mark.parametrize("name", SDK_TWINS)
def test_every_hook_method_takes_exactly_the_sdk_parameters_of_its_twin(name, flavour):
    from airflow_lg.hooks.langgraph import LangGraphHook

    extras = {extra for extra, where in OWN_EXTRAS.items() if name in where}
    method = getattr(LangGraphHook, name if flavour == "sync" else "a" + name).build
    assert method is getattr(_wire, name)
    assert parity_gaps(method, sdk_method(*SDK_TWINS[name], flavour), extras) == []


def test_the_parity_check_catches_a_parameter_missing_on_either_side():
    def sdk_get(thread_id, run_id, *, headers=None, params=None): ...

    def ours_without_params(thread_id, run_id, *, headers=None, retry=None): ...

    def ours_with_more(thread_id, run_id, *, headers=None, params=None, when=None, retry=None): ...

    assert parity_gaps(ours_without_params, sdk_get, {"retry"}) == [
        "missing SDK parameter 'params'"
    ]
    assert parity_gaps(ours_with_more, sdk_get, {"retry"}) == ["'when' is not an SDK parameter"]


# ---- create_batch ---------------------------------------------------------------------------


def test_create_batch_posts_the_items_without_their_none_keys():
    call = _wire.create_batch(
        [
            {"assistant_id": "a", "input": {"n": 1}, "metadata": None, "on_completion": "keep"},
            {"assistant_id": "b", "thread_id": None, "webhook": None},
        ],
        headers={"X-Request": "r1"},
        params={"trace": "on"},
        retry=POLICY,
    )
    assert (call.method, call.path) == ("POST", "/runs/batch")
    assert call.json == [
        {"assistant_id": "a", "input": {"n": 1}, "on_completion": "keep"},
        {"assistant_id": "b"},
    ]
    assert call.headers == {"X-Request": "r1"}
    assert call.params == {"trace": "on"}
    assert call.retry is POLICY


def test_create_batch_accepts_a_tuple():
    assert _wire.create_batch(({"assistant_id": "a"},)).json == [{"assistant_id": "a"}]


@pytest.mark.parametrize(
    ("payloads", "type_name"),
    [
        ({"assistant_id": "a"}, "dict"),
        ("agent", "str"),
        (b"agent", "bytes"),
        (3, "int"),
        (None, "NoneType"),
        (iter([{"assistant_id": "a"}]), "list_iterator"),
    ],
)
def test_create_batch_rejects_anything_but_a_list_of_payloads(payloads, type_name):
    with pytest.raises(LangGraphConfigError) as caught:
        _wire.create_batch(payloads)
    assert str(caught.value) == f"create_batch takes a list of run payloads, got {type_name}"


@pytest.mark.parametrize(
    ("payloads", "index"),
    [
        ([{"assistant_id": ""}], 0),
        ([{"input": {}}], 0),
        ([{"assistant_id": "a"}, {"assistant_id": None}], 1),
        ([{"assistant_id": "a"}, {"assistant_id": "b"}, "agent"], 2),
    ],
)
def test_create_batch_rejects_an_item_without_assistant_naming_its_index(payloads, index):
    with pytest.raises(LangGraphConfigError) as caught:
        _wire.create_batch(payloads)
    assert f"create_batch payload #{index} must be a mapping with an 'assistant_id'" in str(
        caught.value
    )


def test_create_batch_rejects_a_non_json_item():
    with pytest.raises(LangGraphConfigError, match="the batch is not JSON-serializable"):
        _wire.create_batch([{"assistant_id": "a", "input": {"s": {1, 2}}}])


# ---- reading and controlling runs -----------------------------------------------------------


def test_list_runs_sends_limit_and_offset_by_default():
    call = _wire.list_runs("T")
    assert (call.method, call.path, call.json) == ("GET", "/threads/T/runs", None)
    assert call.params == {"limit": 10, "offset": 0}
    assert to_request(call).url.query == b"limit=10&offset=0"


def test_list_runs_sends_status_and_select_and_merges_extra_params():
    call = _wire.list_runs(
        "T",
        limit=5,
        offset=20,
        status="success",
        select=["run_id", "status"],
        params={"trace": "on"},
    )
    assert call.params == {
        "limit": 5,
        "offset": 20,
        "status": "success",
        "select": ["run_id", "status"],
        "trace": "on",
    }
    assert to_request(call).url.query == (
        b"limit=5&offset=20&status=success&select=run_id&select=status&trace=on"
    )


def test_get_and_delete_run_address_one_run_with_quoted_ids():
    get = _wire.get_run("t/1", "r?2", headers={"X-Request": "r1"})
    assert (get.method, get.path, get.headers) == (
        "GET",
        "/threads/t%2F1/runs/r%3F2",
        {"X-Request": "r1"},
    )
    delete = _wire.delete_run("T", "R")
    assert (delete.method, delete.path, delete.json) == ("DELETE", "/threads/T/runs/R", None)


@pytest.mark.parametrize("bad", ["", " ", None, 7])
def test_an_empty_or_non_string_id_is_a_config_error_naming_the_parameter(bad):
    with pytest.raises(LangGraphConfigError, match="run_id must be a non-empty string"):
        _wire.get_run("T", bad)
    with pytest.raises(LangGraphConfigError, match="thread_id must be a non-empty string"):
        _wire.get_thread(bad)


@pytest.mark.parametrize("bad", ["", "  "])
def test_an_empty_thread_id_is_an_error_not_a_quiet_stateless_run(bad):
    with pytest.raises(LangGraphConfigError, match="thread_id must be a non-empty string"):
        _wire.create_run(bad, "agent")
    assert _wire.create_run(None, "agent").path == "/runs"


def test_a_thread_created_without_an_id_is_never_sent_twice():
    assert _wire.create_thread().creates_run is True
    assert _wire.create_thread(thread_id="T", if_exists="do_nothing").creates_run is False


def test_long_polls_and_streams_get_a_read_timeout_above_the_heartbeat():
    from airflow_lg.hooks._settings import ClientSettings

    settings = ClientSettings(
        base_url="http://x",
        timeout={**ClientSettings(base_url="").timeout, "read": 2.0, "response": 3.0},
    )
    for call in (
        _wire.wait_run("T", "a"),
        _wire.join_run("T", "R"),
        _wire.stream_run("T", "a").call,
        _wire.join_stream("T", "R").call,
    ):
        assert _wire.call_timeout(call, settings).read == _wire.LONG_POLL_MIN_READ
    # a short call waits for its answer the response budget, not a long poll's silence
    assert _wire.call_timeout(_wire.get_run("T", "R"), settings).read == 3.0
    assert _wire.call_timeout(_wire.cancel_run("T", "R"), settings).read == 3.0
    # a cancel that waits for the run to stop is a long poll
    assert _wire.call_timeout(_wire.cancel_run("T", "R", wait=True), settings).read == 15.0


def test_history_of_one_run_is_a_metadata_query():
    call = _wire.get_thread_history("T", limit=1, metadata={"run_id": "R"})
    assert (call.method, call.path, call.json) == (
        "POST",
        "/threads/T/history",
        {"limit": 1, "metadata": {"run_id": "R"}},
    )


@pytest.mark.parametrize(
    ("kwargs", "params", "query"),
    [
        ({}, {"wait": 0, "action": "interrupt"}, b"wait=0&action=interrupt"),
        ({"wait": True}, {"wait": 1, "action": "interrupt"}, b"wait=1&action=interrupt"),
        (
            {"wait": False, "action": "rollback"},
            {"wait": 0, "action": "rollback"},
            b"wait=0&action=rollback",
        ),
    ],
)
def test_cancel_run_sends_wait_as_1_or_0_and_the_action(kwargs, params, query):
    call = _wire.cancel_run("T", "R", **kwargs)
    assert (call.method, call.path, call.json) == ("POST", "/threads/T/runs/R/cancel", None)
    assert call.params == params
    assert to_request(call).url.query == query


def test_join_run_is_a_get_on_the_join_route():
    call = _wire.join_run("T", "R", headers={"X-Request": "r1"}, retry=POLICY)
    assert (call.method, call.path, call.json) == ("GET", "/threads/T/runs/R/join", None)
    assert (call.headers, call.retry) == ({"X-Request": "r1"}, POLICY)


# ---- join_stream ----------------------------------------------------------------------------


def test_join_stream_sends_several_modes_as_one_json_array_string():
    stream = _wire.join_stream("T", "R", stream_mode=["values", "custom"])
    assert stream.call.params == {
        "cancel_on_disconnect": "false",
        "stream_mode": '["values", "custom"]',
    }
    url = to_request(stream.call).url
    assert url.params.get_list("stream_mode") == ['["values", "custom"]']
    assert json.loads(url.params["stream_mode"]) == ["values", "custom"]


def test_join_stream_sends_one_mode_as_is_and_no_mode_not_at_all():
    assert _wire.join_stream("T", "R", stream_mode="updates").call.params == {
        "cancel_on_disconnect": "false",
        "stream_mode": "updates",
    }
    assert _wire.join_stream("T", "R", cancel_on_disconnect=True).call.params == {
        "cancel_on_disconnect": "true"
    }


def test_join_stream_sends_last_event_id_as_a_header():
    stream = _wire.join_stream(
        "T", "R", last_event_id="1700000000000-3", headers={"X-Request": "r1"}
    )
    assert (stream.call.method, stream.call.path) == ("GET", "/threads/T/runs/R/stream")
    assert stream.call.headers == {"Last-Event-ID": "1700000000000-3", "X-Request": "r1"}
    request = to_request(stream.call)
    assert request.headers["last-event-id"] == "1700000000000-3"
    assert "Last-Event-ID" not in str(request.url)
    assert _wire.join_stream("T", "R").call.headers == {}


def test_join_stream_can_always_be_resumed_with_its_own_modes():
    stream = _wire.join_stream("T", "R", stream_mode=["updates"], retry=POLICY)
    assert stream.resumable is True
    assert (stream.thread_id, stream.run_id, stream.resume_modes) == ("T", "R", ["updates"])
    assert stream.call.retry is POLICY


# ---- threads and health ---------------------------------------------------------------------


def test_create_thread_sends_an_idempotent_body():
    call = _wire.create_thread(thread_id="T", metadata={"dag_id": "d"}, if_exists="do_nothing")
    assert (call.method, call.path) == ("POST", "/threads")
    assert call.json == {"thread_id": "T", "metadata": {"dag_id": "d"}, "if_exists": "do_nothing"}


def test_create_thread_without_arguments_sends_an_empty_body():
    assert _wire.create_thread().json == {}


def test_create_thread_puts_graph_id_in_the_metadata():
    assert _wire.create_thread(metadata={"a": 1}, graph_id="agent").json == {
        "metadata": {"a": 1, "graph_id": "agent"}
    }
    assert _wire.create_thread(graph_id="agent").json == {"metadata": {"graph_id": "agent"}}


def test_create_thread_sends_a_ttl_mapping_as_is():
    ttl = {"ttl": 30, "strategy": "keep_latest"}
    assert _wire.create_thread(ttl=ttl).json == {"ttl": ttl}


def test_create_thread_sends_a_ttl_in_minutes_as_the_ttl_object_the_server_expects():
    # The server's ThreadCreate.ttl is an object {strategy, ttl}; the SDK turns an int into
    # {"ttl": n, "strategy": "delete"}. A bare int is not what the server accepts.
    assert _wire.create_thread(ttl=60).json == {"ttl": {"ttl": 60, "strategy": "delete"}}


def test_search_threads_sends_limit_offset_and_only_given_filters():
    assert _wire.search_threads().json == {"limit": 10, "offset": 0}
    call = _wire.search_threads(
        metadata={"dag_id": "d"},
        status="idle",
        limit=1,
        offset=2,
        sort_by="created_at",
        sort_order="desc",
    )
    assert (call.method, call.path) == ("POST", "/threads/search")
    assert call.json == {
        "metadata": {"dag_id": "d"},
        "status": "idle",
        "limit": 1,
        "offset": 2,
        "sort_by": "created_at",
        "sort_order": "desc",
    }


def test_search_threads_sends_every_server_filter_a_watcher_needs():
    call = _wire.search_threads(
        ids=("T1", "T2"),
        values={"k": 1},
        limit=1000,
        sort_by="updated_at",
        sort_order="asc",
        select=("thread_id", "status", "updated_at"),
        extract={"answer": "values.answer"},
    )
    assert call.json == {
        "ids": ["T1", "T2"],
        "values": {"k": 1},
        "limit": 1000,
        "offset": 0,
        "sort_by": "updated_at",
        "sort_order": "asc",
        "select": ["thread_id", "status", "updated_at"],
        "extract": {"answer": "values.answer"},
    }


def test_search_threads_as_an_object_returns_the_pagination_headers():
    found = [{"thread_id": "T1"}]
    headers = {"X-Pagination-Next": "1000", "X-Pagination-Total": "4321"}
    page = _wire.search_threads(response_format="object").decode(
        found, httpx.Response(200, headers=headers)
    )
    assert page == {"threads": found, "next": 1000, "total": 4321}
    last = _wire.search_threads(response_format="object").decode(found, httpx.Response(200))
    assert last == {"threads": found, "next": None, "total": None}
    assert _wire.search_threads().decode(found, httpx.Response(200)) is found
    with pytest.raises(LangGraphConfigError, match="response_format"):
        _wire.search_threads(response_format="dict")  # type: ignore[arg-type]


def test_get_thread_and_its_state_with_and_without_a_checkpoint():
    assert _wire.get_thread("T").path == "/threads/T"
    state = _wire.get_thread_state("T")
    assert (state.method, state.path, state.params) == ("GET", "/threads/T/state", None)
    at = _wire.get_thread_state("T", "ck 1/2", subgraphs=True)
    assert at.path == "/threads/T/state/ck%201%2F2"
    assert at.params == {"subgraphs": "true"}


def test_health_and_info_are_plain_gets():
    assert (_wire.health().method, _wire.health().path) == ("GET", "/ok")
    assert (_wire.info().method, _wire.info().path) == ("GET", "/info")
    assert _wire.info(retry=POLICY).retry is POLICY


def test_merged_params_drop_none_values_and_let_the_caller_override():
    assert _wire.merged_params({"a": 1, "b": None}, {"c": 2}) == {"a": 1, "c": 2}
    assert _wire.merged_params({"a": 1}, {"a": 3}) == {"a": 3}
    assert _wire.merged_params({"a": None}, None) is None


# ---- bodies are encoded once, when the call is built ---------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        _wire.create_run("T", "agent", input={"q": "é"}),
        _wire.create_batch([{"assistant_id": "a", "input": {"n": 1}}]),
        _wire.create_thread(thread_id="T", metadata={"k": "v"}),
        _wire.get_thread_history("T", metadata={"run_id": "R"}),
        _wire.search_threads(metadata={"k": "v"}),
    ],
    ids=["run", "batch", "thread", "history", "search"],
)
def test_a_body_is_sent_as_the_bytes_encoded_when_its_call_was_built(call):
    # The bytes validated at build time are the bytes sent: no second encoding per request.
    assert call.content is not None
    assert json.loads(call.content) == call.json
    request = to_request(call)
    assert request.content is call.content
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Content-Length"] == str(len(call.content))


def test_a_body_is_encoded_the_way_httpx_encodes_json():
    body = {"input": {"text": "naïve ☃", "n": [1, 2.5, None, True]}}
    call = _wire.create_run(None, "agent", **body)
    with httpx.Client() as client:
        by_httpx = client.build_request("POST", "http://x/runs", json=call.json).content
    assert call.content == by_httpx


def test_a_callers_content_type_is_kept():
    call = _wire.create_run("T", "agent", headers={"content-type": "application/json; v=2"})
    request = to_request(call)
    assert request.headers.get_list("content-type") == ["application/json; v=2"]


def test_a_call_without_a_body_sends_none():
    request = to_request(_wire.get_run("T", "R"))
    assert request.content == b""
    assert "Content-Type" not in request.headers
