"""The test bed itself: real Agent Servers, the example graphs, auth and the fault proxy.

Plain httpx only (never the provider package), so a failure here points at the bed, not at
airflow-lg. Each run on this server takes >= ~1 s (its queue polls every 0.5 s), so slow
pieces are started early and concurrently where that keeps the tests readable.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.fault_proxy import FaultProxy
from tests.support.servers import SCRIPT, AgentServer

TIMEOUT = httpx.Timeout(30.0, connect=5.0)
TEST_AGENT_INPUT = {"foo": None, "bar": "checked", "baz": None}
CHECKED = {"foo": "checked", "bar": "checked", "baz": "checked"}


def sse_events(response: httpx.Response) -> Iterator[tuple[str, Any]]:
    """(event, data) pairs of an SSE response; comments skipped, data parsed as JSON."""
    event, data = "message", list[str]()
    for line in response.iter_lines():
        if line == "":
            if data:
                yield event, json.loads("\n".join(data))
            event, data = "message", []
        elif line.startswith(":"):
            continue
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())


def stream(client: httpx.Client, path: str, body: dict[str, Any]) -> list[tuple[str, Any]]:
    with client.stream("POST", path, json=body) as response:
        assert response.status_code == 200, response.read()
        return list(sse_events(response))


def create_thread(client: httpx.Client) -> str:
    response = client.post("/threads", json={})
    assert response.status_code == 200, response.text
    return str(response.json()["thread_id"])


def wait_until_done(http: httpx.Client, run_path: str, limit: float = 20.0) -> dict[str, Any]:
    """Poll a run until it leaves pending/running (bounded)."""
    deadline = time.monotonic() + limit
    while True:
        run: dict[str, Any] = http.get(run_path).json()
        if run["status"] not in ("pending", "running") or time.monotonic() > deadline:
            return run
        time.sleep(0.2)


@pytest.fixture
def client(agent_server: AgentServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=agent_server.url, timeout=TIMEOUT, trust_env=False) as http:
        yield http


# --- the server and the graphs ---------------------------------------------------------------
#
# Each graph check is a request function registered with @early and a test that asserts on
# its result. The `early_results` fixture fires all of them at once when the module starts, so their
# ~1 s runs overlap on the server (10 jobs) instead of queueing one test after another.

_EARLY: dict[str, Callable[[httpx.Client], Any]] = {}


def early(request: Callable[[httpx.Client], Any]) -> Callable[[httpx.Client], Any]:
    _EARLY[request.__name__] = request
    return request


@pytest.fixture(scope="module")
def early_results(agent_server: AgentServer) -> Iterator[dict[str, Future[Any]]]:
    with (
        httpx.Client(base_url=agent_server.url, timeout=TIMEOUT, trust_env=False) as http,
        ThreadPoolExecutor(max_workers=len(_EARLY), thread_name_prefix="early") as pool,
    ):
        yield {name: pool.submit(request, http) for name, request in _EARLY.items()}


def test_ok_answers_on_the_fixture_port(agent_server: AgentServer) -> None:
    assert agent_server.url == f"http://127.0.0.1:{agent_server.port}"
    response = httpx.get(f"{agent_server.url}/ok", trust_env=False)
    assert response.status_code == 200
    assert response.json()["ok"] is True
    assert agent_server.running and agent_server.pid


@early
def agent_wait(http: httpx.Client) -> httpx.Response:
    return http.post("/runs/wait", json={"assistant_id": "test_agent", "input": TEST_AGENT_INPUT})


def test_test_agent_wait_returns_three_checked(early_results: dict[str, Future[Any]]) -> None:
    response = early_results["agent_wait"].result()
    assert response.status_code == 200
    assert response.json() == CHECKED
    assert response.headers["content-location"].startswith("/threads/")


@early
def agent_updates(http: httpx.Client) -> list[tuple[str, Any]]:
    body = {"assistant_id": "test_agent", "input": TEST_AGENT_INPUT, "stream_mode": ["updates"]}
    return stream(http, "/runs/stream", body)


def test_test_agent_updates_include_bar_none(early_results: dict[str, Future[Any]]) -> None:
    events = early_results["agent_updates"].result()
    assert events[0][0] == "metadata"
    assert [data for name, data in events[1:]] == [
        {"foo": {"foo": "checked"}},
        {"bar": None},
        {"baz": {"baz": "checked"}},
    ]


@early
def sleeper_custom(http: httpx.Client) -> list[tuple[str, Any]]:
    stream_mode = ["custom", "values"]
    body = {"assistant_id": "sleeper", "input": {"seconds": 0.3}, "stream_mode": stream_mode}
    return stream(http, "/runs/stream", body)


def test_sleeper_streams_custom_events(early_results: dict[str, Future[Any]]) -> None:
    events = early_results["sleeper_custom"].result()
    custom = [data for name, data in events if name == "custom"]
    assert custom == [{"slept": 1, "of": 3}, {"slept": 2, "of": 3}, {"slept": 3, "of": 3}]
    assert events[-1] == ("values", {"seconds": 0.3, "slept": 0.3, "done": True})


@early
def failing_wait(http: httpx.Client) -> httpx.Response:
    return http.post("/runs/wait", json={"assistant_id": "failing", "input": {"reason": "testbed"}})


def test_failing_wait_carries_value_error(early_results: dict[str, Future[Any]]) -> None:
    response = early_results["failing_wait"].result()
    assert response.status_code == 200  # a failed run is still a 200 long-poll answer
    error = response.json()["__error__"]
    assert error["error"] == "ValueError"
    assert "testbed" in error["message"]


@early
def human_round_trip(http: httpx.Client) -> dict[str, Any]:
    thread_id = create_thread(http)
    path = f"/threads/{thread_id}/runs/wait"
    first = http.post(path, json={"assistant_id": "human", "input": {"topic": "deploy"}})
    paused = http.get(f"/threads/{thread_id}").json()
    second = http.post(path, json={"assistant_id": "human", "command": {"resume": "yes"}})
    done = http.get(f"/threads/{thread_id}").json()
    return {"first": first.json(), "paused": paused, "second": second.json(), "done": done}


def test_human_interrupts_then_resumes_on_a_thread(early_results: dict[str, Future[Any]]) -> None:
    result = early_results["human_round_trip"].result()
    (interrupt,) = result["first"]["__interrupt__"]
    assert interrupt["value"] == {"question": "approve?", "topic": "deploy"}
    assert result["paused"]["status"] == "interrupted"
    assert result["second"] == {"topic": "deploy", "answer": "yes", "approved": True}
    assert result["done"]["status"] == "idle"


@early
def chat_tokens(http: httpx.Client) -> list[tuple[str, Any]]:
    body = {
        "assistant_id": "chat",
        "input": {"messages": [{"role": "human", "content": "hello bed"}]},
        "stream_mode": ["messages-tuple"],
    }
    return stream(http, "/runs/stream", body)


def test_chat_streams_message_tokens(early_results: dict[str, Future[Any]]) -> None:
    events = early_results["chat_tokens"].result()
    chunks = [data[0] for name, data in events if name == "messages"]
    assert len(chunks) >= 5
    assert all(chunk["type"] == "AIMessageChunk" for chunk in chunks)
    text = "".join(chunk["content"] for chunk in chunks)
    assert text == "You said: hello bed. This is a fake, offline reply."


# --- auth ------------------------------------------------------------------------------------


def test_auth_server_demands_the_api_key(auth_server: AgentServer, auth_api_key: str) -> None:
    with httpx.Client(base_url=auth_server.url, timeout=TIMEOUT, trust_env=False) as http:
        wrong = http.post("/threads/search", json={}, headers={"x-api-key": "wrong"})
        missing = http.post("/threads/search", json={})
        right = http.post("/threads/search", json={}, headers={"x-api-key": auth_api_key})
        ok = http.get("/ok")
        info = http.get("/info", headers={"x-api-key": "wrong"})
    assert wrong.status_code == 401, wrong.text
    assert wrong.json() == {"detail": "Invalid or missing API key"}
    assert missing.status_code == 401, missing.text
    assert right.status_code == 200, right.text
    assert isinstance(right.json(), list)
    assert ok.status_code == 200 and ok.json()["ok"] is True
    assert info.status_code == 200, info.text


# --- the fault proxy -------------------------------------------------------------------------


@pytest.fixture
def via_proxy(fault_proxy: FaultProxy) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fault_proxy.url, timeout=TIMEOUT, trust_env=False) as http:
        yield http


def test_proxy_forwards_long_polls_unchanged(
    fault_proxy: FaultProxy, via_proxy: httpx.Client
) -> None:
    body = {"assistant_id": "test_agent", "input": TEST_AGENT_INPUT}
    response = via_proxy.post("/runs/wait?probe=1", json=body, headers={"x-trace": "abc"})
    assert response.status_code == 200
    assert response.json() == CHECKED
    assert response.headers["content-location"].startswith("/threads/")
    (record,) = fault_proxy.requests
    assert (record.method, record.path, record.query) == ("POST", "/runs/wait", "probe=1")
    assert record.headers["x-trace"] == "abc"
    assert record.json() == body
    assert record.forwarded and record.fault is None and record.status == 200


def test_proxy_answers_429_with_retry_after(
    fault_proxy: FaultProxy, via_proxy: httpx.Client
) -> None:
    fault = fault_proxy.rate_limit(retry_after=1, method="POST", path=r"/threads$")
    first = via_proxy.post("/threads", json={})
    second = via_proxy.post("/threads", json={})
    assert first.status_code == 429
    assert first.headers["retry-after"] == "1"
    assert second.status_code == 200 and "thread_id" in second.json()
    assert fault.hits == 1 and fault.remaining == 0
    limited, passed = fault_proxy.find("POST", r"/threads$")
    assert (limited.fault, limited.forwarded) == ("respond", False)
    assert (passed.fault, passed.forwarded) == (None, True)
    assert passed.time >= limited.time


def test_proxy_cuts_an_sse_stream_after_n_events(
    fault_proxy: FaultProxy, via_proxy: httpx.Client
) -> None:
    fault_proxy.cut_stream(3, path=r"/runs/stream$")
    body = {"assistant_id": "sleeper", "input": {"seconds": 0.6}, "stream_mode": ["custom"]}
    received: list[tuple[str, Any]] = []
    with (
        pytest.raises(httpx.RemoteProtocolError),
        via_proxy.stream("POST", "/runs/stream", json=body) as response,
    ):
        assert response.status_code == 200
        for event in sse_events(response):
            received.append(event)
    assert [name for name, _ in received] == ["metadata", "custom", "custom"]


def test_proxy_drop_after_forward_creates_the_run_upstream(
    fault_proxy: FaultProxy, via_proxy: httpx.Client, client: httpx.Client
) -> None:
    thread_id = create_thread(client)  # directly upstream
    fault_proxy.drop(forward=True, method="POST", path=r"/runs$")
    body = {"assistant_id": "test_agent", "input": TEST_AGENT_INPUT}
    with pytest.raises(httpx.TransportError):
        via_proxy.post(f"/threads/{thread_id}/runs", json=body)
    runs = client.get(f"/threads/{thread_id}/runs").json()
    assert len(runs) == 1 and runs[0]["assistant_id"]
    (record,) = fault_proxy.find("POST", forwarded=True)
    assert record.fault == "drop" and record.status is None and record.upstream_status == 200


def test_proxy_injects_5xx_and_drops_without_forwarding(
    fault_proxy: FaultProxy, via_proxy: httpx.Client
) -> None:
    fault_proxy.respond(503, method="GET", path=r"^/ok$", times=2)
    fault_proxy.drop(forward=False, method="POST", path=r"/threads/search$")
    assert [via_proxy.get("/ok").status_code for _ in range(3)] == [503, 503, 200]
    with pytest.raises(httpx.RemoteProtocolError):
        via_proxy.post("/threads/search", json={})
    assert [r.forwarded for r in fault_proxy.requests] == [False, False, True, False]
    assert fault_proxy.find(fault="drop")[0].status is None


def test_proxy_delays_before_forwarding_or_before_answering(
    fault_proxy: FaultProxy, via_proxy: httpx.Client
) -> None:
    fault_proxy.delay(2.0, stage="request", method="POST", path=r"/threads$")
    with pytest.raises(httpx.ReadTimeout):
        via_proxy.post("/threads", json={}, timeout=httpx.Timeout(5.0, read=0.3))
    fault_proxy.delay(0.5, stage="response", method="POST", path=r"/threads$")
    started = time.monotonic()
    response = via_proxy.post("/threads", json={})
    assert response.status_code == 200 and time.monotonic() - started >= 0.5
    time.sleep(0.1)  # let the proxy notice the first client went away
    timed_out, answered = fault_proxy.find("POST", r"/threads$")
    assert not timed_out.forwarded, "a client that gave up during the delay reaches nothing"
    assert answered.forwarded and answered.status == 200


def test_proxy_passes_a_client_disconnect_upstream(
    fault_proxy: FaultProxy, via_proxy: httpx.Client, client: httpx.Client
) -> None:
    thread_id = create_thread(client)
    body = {
        "assistant_id": "sleeper",
        "input": {"seconds": 5},
        "stream_mode": ["custom"],
        "on_disconnect": "cancel",
    }
    with via_proxy.stream("POST", f"/threads/{thread_id}/runs/stream", json=body) as response:
        name, metadata = next(sse_events(response))
    assert name == "metadata"
    run = wait_until_done(client, f"/threads/{thread_id}/runs/{metadata['run_id']}")
    assert run["status"] == "interrupted"  # the server saw the disconnect and cancelled


# --- private servers: restart and server-side timeout ----------------------------------------


def _run_before_restart(start_agent_server: Callable[..., AgentServer]) -> tuple[Any, ...]:
    server = start_agent_server()
    with httpx.Client(base_url=server.url, timeout=TIMEOUT, trust_env=False) as http:
        thread_id = create_thread(http)
        body = {"assistant_id": "test_agent", "input": TEST_AGENT_INPUT}
        response = http.post(f"/threads/{thread_id}/runs/wait", json=body)
    assert response.json() == CHECKED
    return server, thread_id, response.headers["content-location"].rsplit("/", 1)[1]


def _sleeper_on_timeout_server(start_agent_server: Callable[..., AgentServer]) -> tuple[Any, ...]:
    server = start_agent_server(env={"BG_JOB_TIMEOUT_SECS": "3"})
    with httpx.Client(base_url=server.url, timeout=TIMEOUT, trust_env=False) as http:
        thread_id = create_thread(http)
        body = {"assistant_id": "sleeper", "input": {"seconds": 10}}
        run = http.post(f"/threads/{thread_id}/runs", json=body).json()
    return server, thread_id, run["run_id"]


@pytest.fixture(scope="module")
def private_servers(start_agent_server: Callable[..., AgentServer]) -> dict[str, Future[Any]]:
    """Boot the restart and timeout servers side by side and start their first runs.

    Booting takes ~2.5 s per server and the timeout run ~4 s; the `_start_early` fixture
    below asks for this at module start, so all of it overlaps the other tests.
    """
    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="private-server")
    futures = {
        "restart": pool.submit(_run_before_restart, start_agent_server),
        "timeout": pool.submit(_sleeper_on_timeout_server, start_agent_server),
    }
    pool.shutdown(wait=False)
    return futures


@pytest.fixture(scope="module", autouse=True)
def _start_early(request: pytest.FixtureRequest) -> None:
    """Start the slow module fixtures at once, if any selected test of this module needs them."""
    needed = {
        name
        for item in request.session.items
        if getattr(item, "module", None) is request.module
        for name in getattr(item, "fixturenames", ())
    }
    for name in ("private_servers", "early_results"):
        if name in needed:
            # A failure is cached by pytest and raised again in the tests that use the fixture;
            # tests that do not (e.g. auth) must not error because of it.
            with contextlib.suppress(Exception):
                request.getfixturevalue(name)


def test_restarted_server_keeps_its_runs(private_servers: dict[str, Future[Any]]) -> None:
    server, thread_id, run_id = private_servers["restart"].result()
    workdir, port, old_pid = server.workdir, server.port, server.pid

    server.restart()

    assert (server.workdir, server.port) == (workdir, port)
    assert server.pid != old_pid
    with httpx.Client(base_url=server.url, timeout=TIMEOUT, trust_env=False) as http:
        run = http.get(f"/threads/{thread_id}/runs/{run_id}")
        assert run.status_code == 200, run.text
        assert run.json()["status"] == "success"
        assert http.get(f"/threads/{thread_id}/state").json()["values"] == CHECKED


def test_bg_job_timeout_ends_a_long_run_as_timeout(private_servers: dict[str, Future[Any]]) -> None:
    server, thread_id, run_id = private_servers["timeout"].result()
    run_path = f"/threads/{thread_id}/runs/{run_id}"
    with httpx.Client(base_url=server.url, timeout=TIMEOUT, trust_env=False) as http:
        run = wait_until_done(http, run_path)
        joined = http.get(f"{run_path}/join").json()
        thread = http.get(f"/threads/{thread_id}").json()
    assert run["status"] == "timeout"
    took = datetime.fromisoformat(run["updated_at"]) - datetime.fromisoformat(run["created_at"])
    assert took.total_seconds() < 9, "the 10 s sleeper should have been cut at ~3 s"
    # Observed: a join *after* the timeout reports a TimeoutError (a join still waiting when
    # it happens gets the last values instead), and the thread ends up in `error`.
    assert joined == {"__error__": {"error": "TimeoutError", "message": ""}}
    assert thread["status"] == "error"
    assert thread["values"] == {"seconds": 10}


def test_unknown_graph_is_a_422(client: httpx.Client) -> None:
    response = client.post("/runs/wait", json={"assistant_id": "nope", "input": {}})
    assert response.status_code == 422
    assert "test_agent" in response.json()["detail"]


def test_run_ids_are_server_made(client: httpx.Client) -> None:
    # Pinned because the provider relies on it: a client-chosen run_id is ignored.
    mine = str(uuid.uuid4())
    body = {"assistant_id": "test_agent", "input": TEST_AGENT_INPUT, "run_id": mine}
    response = client.post("/runs", json={**body, "on_completion": "keep"})
    assert response.status_code == 200, response.text
    assert response.json()["run_id"] != mine


def test_agent_server_start_with_n_jobs_1_runs_one_run_at_a_time(tmp_path: Path) -> None:
    """``scripts/agent_server.py start --n-jobs N`` sets how many runs the server executes at
    once: with 1, a second run stays pending while the first one sleeps."""
    state = tmp_path / "server.json"
    started = subprocess.run(
        [sys.executable, str(SCRIPT), "start", "--n-jobs", "1", "--state-file", str(state)],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr[-2000:]
    try:
        url = json.loads(state.read_text())["url"]
        with httpx.Client(base_url=url, timeout=TIMEOUT, trust_env=False) as http:
            paths = []
            for _ in range(2):
                thread_id = create_thread(http)
                body = {"assistant_id": "sleeper", "input": {"seconds": 3}}
                run = http.post(f"/threads/{thread_id}/runs", json=body).json()
                paths.append(f"/threads/{thread_id}/runs/{run['run_id']}")
            deadline, seen = time.monotonic() + 20, []
            while time.monotonic() < deadline:
                seen = [http.get(path).json()["status"] for path in paths]
                if "running" in seen:
                    break
                time.sleep(0.2)
            assert sorted(seen) == ["pending", "running"], seen
            assert [wait_until_done(http, path)["status"] for path in paths] == ["success"] * 2
    finally:
        stopped = subprocess.run(
            [sys.executable, str(SCRIPT), "stop", "--state-file", str(state)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert stopped.returncode == 0, stopped.stderr[-2000:]
