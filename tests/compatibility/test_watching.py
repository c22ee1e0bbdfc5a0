"""``wait_mode="watch"`` on every server: the shared watcher sees every run end where the
thread search can answer it (langgraph dev, langgraph-api on PostgreSQL, whose ``updated_at``
is a transaction's start), and the waits poll where it cannot (aegra), saying so."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_lg import watching
from airflow_lg.hooks.langgraph import LangGraphHook
from airflow_lg.waiting import WaitOptions, wait_for_runs
from tests.compatibility.conftest import Expect

log = logging.getLogger(__name__)


@pytest.fixture
def hook(server: Any, make_hook: Callable[..., LangGraphHook]) -> Iterator[LangGraphHook]:
    made = make_hook(server.url)
    yield made
    made.close()


async def _sleepers(hook: LangGraphHook, n: int, seconds: float) -> list[dict[str, Any]]:
    async def one(_: int) -> dict[str, Any]:
        thread = await hook.acreate_thread()
        run = await hook.acreate_run(thread["thread_id"], "sleeper", input={"seconds": seconds})
        return {"thread_id": run["thread_id"], "run_id": run["run_id"]}

    return list(await asyncio.gather(*(one(i) for i in range(n))))


@pytest.mark.parametrize("scale", ["few", "many"])
async def test_watched_waits_see_every_run_end_or_poll_where_the_server_cannot_be_watched(
    hook: LangGraphHook, expect: Expect, scale: str, monkeypatch: pytest.MonkeyPatch,
    capsys: Any, caplog: Any,
) -> None:  # fmt: skip
    if scale == "many":  # the change feed and the sweep, at a test's scale
        monkeypatch.setattr(watching, "PAGE", 3)
        monkeypatch.setattr(watching, "FEED_PAGE", 2)
    runs = await _sleepers(hook, 8, 1.0)
    options = WaitOptions(mode="watch", read_status=True, poll_interval=1.0)

    ended = await asyncio.wait_for(wait_for_runs(hook, runs, options, log), 120)

    assert [r.status for r in ended] == ["success"] * 8
    said = capsys.readouterr().out + caplog.text
    if expect.watched:
        assert "polling it instead" not in said
    else:
        assert said.count("polling it instead") == 8  # each wait says it once
        assert "refused what a watcher asks" in said
