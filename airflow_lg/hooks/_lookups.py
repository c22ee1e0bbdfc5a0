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
from typing import TypeVar, cast

T = TypeVar("T")

FRESH = 5.0
"""Seconds a look-up serves the hooks of the same connection on the same loop."""

_RECENT: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[str, tuple[float, asyncio.Future[object]]]
] = weakref.WeakKeyDictionary()


async def shared(conn_id: str, look_up: Callable[[], Awaitable[T]]) -> T:
    """``look_up()``'s answer, or the one a hook of this loop got for ``conn_id`` lately."""
    loop = asyncio.get_running_loop()
    recent = _RECENT.setdefault(loop, {})
    held = recent.get(conn_id)
    if held is not None and time.monotonic() - held[0] < FRESH:
        try:
            return cast(T, await asyncio.shield(held[1]))
        except asyncio.CancelledError:
            if not held[1].cancelled():
                raise  # this caller was cancelled
            # the look-up it shared was cancelled with its own caller: it looks again
    future: asyncio.Future[object] = loop.create_future()
    recent[conn_id] = (time.monotonic(), future)
    try:
        answer = await look_up()
    except BaseException as exc:
        if recent.get(conn_id, (0.0, None))[1] is future:
            del recent[conn_id]
        if isinstance(exc, Exception):
            future.set_exception(exc)
            future.exception()  # the sharers raise it; never "exception never retrieved"
        else:
            future.cancel()
        raise
    future.set_result(answer)
    return answer
