"""One connection look-up shared by the hooks of an event loop.

A triggerer that starts (or restarts) with 10,000 waits on one connection would otherwise look
that connection up 10,000 times at once — each through Airflow's secrets backends and, in the
triggerer, a round trip to its supervisor (~0.5 ms of this loop's time each, here): seconds in
which no wait is watched. Hooks of the same connection id on the same loop share one look-up
for :data:`FRESH` seconds; a wait that starts later looks again, so a changed connection (a
rotated key) reaches the waits that start after it. A failed look-up is not kept: the waits
that shared it fail with its error, the next one asks again.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar, cast

T = TypeVar("T")

FRESH = 5.0
"""Seconds a look-up serves the hooks of the same connection on the same loop."""


@dataclass(eq=False)
class _Lookup:
    started: float
    future: asyncio.Future[object] | None  # None once answered (it would keep its loop alive)
    answer: object = None


_RECENT: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Lookup]] = (
    weakref.WeakKeyDictionary()
)


async def shared(conn_id: str, look_up: Callable[[], Awaitable[T]]) -> T:
    """``look_up()``'s answer, or the one a hook of this loop got for ``conn_id`` lately."""
    loop = asyncio.get_running_loop()
    recent = _RECENT.setdefault(loop, {})
    while (held := recent.get(conn_id)) is not None and time.monotonic() - held.started < FRESH:
        if held.future is None:
            return cast(T, held.answer)
        try:
            return cast(T, await asyncio.shield(held.future))
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if not held.future.cancelled() or (task is not None and task.cancelling()):
                raise  # this caller was cancelled
            # the look-up it shared was cancelled with its own caller: share the next one
            # another sharer started, or start it
    future: asyncio.Future[object] = loop.create_future()
    entry = _Lookup(time.monotonic(), future)
    recent[conn_id] = entry
    try:
        answer = await look_up()
    except BaseException as exc:
        if recent.get(conn_id) is entry:
            del recent[conn_id]
        if isinstance(exc, Exception):
            future.set_exception(exc)
            future.exception()  # the sharers raise it; never "exception never retrieved"
        else:
            future.cancel()
        raise
    future.set_result(answer)
    entry.future, entry.answer = None, answer
    return answer
