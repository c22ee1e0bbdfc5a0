"""Faults a real server cannot be made to produce, injected by a real proxy in front of it:
rate limits, gateway errors, dropped connections, streams cut mid-way."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from airflow_lg.exceptions import (
    LangGraphConnectionError,
    LangGraphRateLimitError,
    LangGraphServerError,
    LangGraphStreamInterruptedError,
)
from airflow_lg.hooks import _transport as transport_module
from tests.server.conftest import SEED_INPUT, SEED_RESULT, Transport

FAST = {"max_attempts": 4, "min_wait": 0.05, "max_wait": 0.2}


@pytest.fixture
def proxied(fault_proxy: Any, via: Callable[..., Transport]) -> Transport:
    """The hook, through the transport under test, talking to the server via the proxy."""
    return via(fault_proxy.url, retry=FAST)


async def test_a_429_is_retried_no_earlier_than_retry_after(
    proxied: Transport, fault_proxy: Any
) -> None:
    thread = await proxied.create_thread()
    fault_proxy.rate_limit(retry_after=1, method="GET", path="^/threads/[^/]+$")
    assert (await proxied.get_thread(thread["thread_id"]))["thread_id"] == thread["thread_id"]

    limited, answered = fault_proxy.find("GET", "^/threads/[^/]+$")
    assert (limited.status, answered.status) == (429, 200)
    assert answered.time - limited.time >= 1.0


async def test_a_429_with_an_http_date_retry_after_is_honoured(
    proxied: Transport, fault_proxy: Any
) -> None:
    from datetime import UTC, datetime, timedelta
    from email.utils import format_datetime

    # an HTTP date has a one-second resolution: 3 s ahead is at least 2 s ahead once truncated
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=3), usegmt=True)
    fault_proxy.rate_limit(retry_after=when, method="GET", path="^/ok$")
    await proxied.health()
    limited, answered = fault_proxy.find("GET", "^/ok$")
    # an HTTP date has a one-second resolution: at least one second must have passed
    assert answered.time - limited.time >= 1.0


async def test_a_run_creation_refused_with_429_is_sent_again_and_created_once(
    proxied: Transport, fault_proxy: Any
) -> None:
    fault_proxy.rate_limit(retry_after=1, method="POST", path="^/runs/wait$")
    assert await proxied.wait_run(None, "test_agent", input=SEED_INPUT) == SEED_RESULT
    posts = fault_proxy.find("POST", "^/runs/wait$")
    assert [p.status for p in posts] == [429, 200]
    assert [p.forwarded for p in posts] == [False, True]


async def test_a_retry_after_beyond_the_limit_fails_at_once_with_the_advice(
    fault_proxy: Any, via: Callable[..., Transport]
) -> None:
    lg = via(fault_proxy.url, retry={**FAST, "max_retry_after": 5})
    fault_proxy.rate_limit(retry_after=60, method="GET", path="^/ok$")
    with pytest.raises(LangGraphRateLimitError) as caught:
        await lg.health()
    assert caught.value.retry_after == 60
    assert len(fault_proxy.find("GET", "^/ok$")) == 1


@pytest.mark.parametrize("status", [502, 503, 504])
async def test_a_gateway_error_on_a_read_is_retried(
    proxied: Transport, fault_proxy: Any, status: int
) -> None:
    thread = await proxied.create_thread()
    fault_proxy.respond(status, method="GET", path="^/threads/[^/]+$", times=2)
    assert (await proxied.get_thread(thread["thread_id"]))["thread_id"] == thread["thread_id"]
    assert [r.status for r in fault_proxy.find("GET", "^/threads/[^/]+$")] == [status, status, 200]


async def test_a_503_on_a_run_creation_is_not_sent_again(
    proxied: Transport, fault_proxy: Any
) -> None:
    fault_proxy.respond(503, method="POST", path="^/runs$")
    with pytest.raises(LangGraphServerError) as caught:
        await proxied.create_run(None, "test_agent", input=SEED_INPUT)
    assert caught.value.status_code == 503
    assert "fault proxy: injected 503" in str(caught.value)
    assert len(fault_proxy.find("POST", "^/runs$")) == 1


async def test_retries_give_up_after_max_attempts_with_the_last_error(
    proxied: Transport, fault_proxy: Any
) -> None:
    fault_proxy.respond(503, method="GET", path="^/ok$", times=None)
    with pytest.raises(LangGraphServerError):
        await proxied.health()
    assert len(fault_proxy.find("GET", "^/ok$")) == FAST["max_attempts"]


async def test_a_lost_answer_to_a_run_creation_is_not_sent_again(
    proxied: Transport, fault_proxy: Any
) -> None:
    thread = await proxied.create_thread()
    fault_proxy.drop(forward=True, method="POST", path="/runs$")
    with pytest.raises(LangGraphConnectionError) as caught:
        await proxied.create_run(thread["thread_id"], "test_agent", input=SEED_INPUT)
    assert caught.value.may_have_reached_server is True
    # the server did create it: re-sending would have made a second run
    runs = await proxied.list_runs(thread["thread_id"])
    assert len(runs) == 1
    assert len(fault_proxy.find("POST", "/runs$")) == 1


async def test_a_lost_answer_to_a_read_is_retried(proxied: Transport, fault_proxy: Any) -> None:
    thread = await proxied.create_thread()
    fault_proxy.drop(forward=True, method="GET", path="^/threads/[^/]+$")
    assert (await proxied.get_thread(thread["thread_id"]))["thread_id"] == thread["thread_id"]
    assert len(fault_proxy.find("GET", "^/threads/[^/]+$")) == 2


async def test_a_read_timeout_on_a_read_from_a_server_that_was_answering_is_retried(
    fault_proxy: Any, via: Callable[..., Transport]
) -> None:
    # (a server that never answered this hook fails at once: tests/server/test_first_hour.py)
    lg = via(fault_proxy.url, retry=FAST, timeout={"response": 0.5})
    await lg.info()
    fault_proxy.delay(2.0, stage="response", method="GET", path="^/ok$")
    assert (await lg.health())["ok"] is True
    assert len(fault_proxy.find("GET", "^/ok$")) == 2


async def _sleeper_replay(lg: Transport, thread_id: str, run_id: str) -> list[Any]:
    """The whole event history of a resumable run, straight from the server."""
    await lg.join_run(thread_id, run_id)
    return await lg.join_stream(thread_id, run_id, last_event_id="-1")


async def test_a_cut_resumable_stream_resumes_without_losing_or_repeating_events(
    proxied: Transport, fault_proxy: Any, lg: Transport
) -> None:
    thread = await lg.create_thread()
    fault_proxy.cut_stream(4, method="POST", path="/runs/stream$")
    parts = await proxied.stream_run(
        thread["thread_id"],
        "sleeper",
        input={"seconds": 1},
        stream_mode=["custom", "values"],
        stream_resumable=True,
    )
    run_id = parts[0].data["run_id"]
    history = await _sleeper_replay(lg, thread["thread_id"], run_id)

    assert [(p.event, p.id) for p in parts] == [(p.event, p.id) for p in history]
    assert [p.data for p in parts if p.event == "custom"] == [
        {"slept": i, "of": 10} for i in range(1, 11)
    ]
    resumed, tail = fault_proxy.find("GET", "/stream$")  # the resumption, the tail check
    assert resumed.headers["last-event-id"] == parts[3].id
    assert tail.headers["last-event-id"] == parts[-1].id


async def test_a_cut_join_stream_resumes_from_the_last_event(
    proxied: Transport, fault_proxy: Any, lg: Transport
) -> None:
    thread = await lg.create_thread()
    run = await lg.create_run(
        thread["thread_id"],
        "sleeper",
        input={"seconds": 1},
        stream_mode=["custom"],
        stream_resumable=True,
    )
    fault_proxy.cut_stream(3, method="GET", path="/stream$", times=2)
    parts = await proxied.join_stream(thread["thread_id"], run["run_id"], last_event_id="-1")
    history = await _sleeper_replay(lg, thread["thread_id"], run["run_id"])

    assert [p.id for p in parts] == [p.id for p in history]
    assert len(fault_proxy.find("GET", "/stream$")) == 4  # first, two resumptions, tail check


async def test_a_cut_stream_that_is_not_resumable_says_which_run_goes_on(
    proxied: Transport, fault_proxy: Any, lg: Transport
) -> None:
    thread = await lg.create_thread()
    fault_proxy.cut_stream(2, method="POST", path="/runs/stream$")
    with pytest.raises(LangGraphStreamInterruptedError) as caught:
        await proxied.stream_run(
            thread["thread_id"], "sleeper", input={"seconds": 1}, stream_mode="custom"
        )
    error = caught.value
    assert error.thread_id == thread["thread_id"]
    assert [r["run_id"] for r in await lg.list_runs(thread["thread_id"])] == [error.run_id]
    assert "stream_resumable=True" in str(error)


async def test_a_cut_stateless_stream_cannot_resume_and_says_so(
    proxied: Transport, fault_proxy: Any
) -> None:
    # The server does not tell a stateless stream's thread, and a stream can only be re-joined
    # on its thread: resuming is impossible, and the error must say so rather than lose events.
    fault_proxy.cut_stream(2, method="POST", path="/runs/stream$")
    with pytest.raises(LangGraphStreamInterruptedError) as caught:
        await proxied.stream_run(
            None, "sleeper", input={"seconds": 1}, stream_mode="custom", stream_resumable=True
        )
    assert caught.value.run_id is not None
    uuid.UUID(caught.value.run_id)
    assert "stateless" in str(caught.value)


async def test_a_wait_whose_answer_breaks_off_rejoins_the_run_instead_of_running_it_again(
    proxied: Transport, fault_proxy: Any, lg: Transport
) -> None:
    thread = await lg.create_thread()
    fault_proxy.cut_stream(0, method="POST", path="/runs/wait$")  # headers, then nothing
    result = await proxied.wait_run(thread["thread_id"], "sleeper", input={"seconds": 1})
    assert result == {"seconds": 1, "slept": 1.0, "done": True}
    assert len(fault_proxy.find("POST", "/runs/wait$")) == 1
    assert len(fault_proxy.find("GET", "/join$")) == 1
    assert len(await lg.list_runs(thread["thread_id"])) == 1


async def test_a_failing_rejoin_never_sends_the_run_creation_again(
    proxied: Transport, fault_proxy: Any, lg: Transport
) -> None:
    thread = await lg.create_thread()
    fault_proxy.cut_stream(0, method="POST", path="/runs/wait$")
    fault_proxy.rate_limit(retry_after=0, method="GET", path="/join$", times=None)
    with pytest.raises(LangGraphRateLimitError):
        await proxied.wait_run(thread["thread_id"], "sleeper", input={"seconds": 0.2})
    assert len(fault_proxy.find("POST", "/runs/wait$")) == 1
    assert len(fault_proxy.find("GET", "/join$")) == FAST["max_attempts"]
    assert len(await lg.list_runs(thread["thread_id"])) == 1


async def test_a_resumable_stream_checks_for_events_missed_before_the_server_closed_it(
    proxied: Transport, fault_proxy: Any, lg: Transport
) -> None:
    # The server may close a run's stream a moment before its last events are out (seen under
    # load). Simulated: the stream is cut cleanly... by the proxy after 3 events; a tail check
    # after EOF must fetch the rest.
    thread = await lg.create_thread()
    run = await lg.create_run(
        thread["thread_id"], "sleeper", input={"seconds": 0.5}, stream_mode=["custom"],
        stream_resumable=True,
    )  # fmt: skip
    await lg.join_run(thread["thread_id"], run["run_id"])
    await asyncio.sleep(0.5)
    fault_proxy.end_stream_early(3, method="GET", path="/stream$")
    parts = await proxied.join_stream(thread["thread_id"], run["run_id"], last_event_id="-1")
    assert [p.data["slept"] for p in parts if p.event == "custom"] == [1, 2, 3, 4, 5]
    assert len(fault_proxy.find("GET", "/stream$")) == 2


async def test_each_retry_is_logged_once_numbered_from_one(
    proxied: Transport, fault_proxy: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # The first try runs outside tenacity; its failure must still count as attempt 1.
    fault_proxy.respond(503, method="GET", path="^/ok$", times=2)
    capsys.readouterr()
    assert (await proxied.health())["ok"] is True
    logged = re.findall(r"GET /ok failed \(.*?\); (retry \d+ of \d+)", capsys.readouterr().out)
    assert logged == ["retry 1 of 3", "retry 2 of 3"]
    assert len(fault_proxy.find("GET", "^/ok$")) == 3


async def test_a_call_answered_at_once_never_builds_a_retry_loop(
    lg: Transport, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_retry_loop(**kwargs: Any) -> Any:
        raise AssertionError("a retry loop was built for a call that succeeded")

    monkeypatch.setattr(transport_module, "Retrying", no_retry_loop)
    monkeypatch.setattr(transport_module, "AsyncRetrying", no_retry_loop)
    thread = await lg.create_thread()
    assert (await lg.get_thread(thread["thread_id"]))["thread_id"] == thread["thread_id"]
