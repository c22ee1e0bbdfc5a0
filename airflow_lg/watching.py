"""Many waits, one watcher: ``wait_mode="watch"``.

A triggerer holding thousands of deferred waits should not send a request per run per poll, nor
hold a connection per run. One :class:`Watcher` per connection (its settings' fingerprint) and
event loop asks the server about all of them at once, through ``POST /threads/search``: a
thread is ``busy`` while any of its runs is pending or running, and its ``updated_at`` moves
when a run on it is created or ends. No trigger awaits the watcher's task; each wait registers
its run, awaits its own future (under its own deadline, failure budget and ``on_kill``, which
stay in :mod:`airflow_lg.waiting`), and unregisters in ``finally``. A trigger's kwargs do not
change: after a triggerer restart or a reassignment the wait just registers again.

Every :data:`TICK` seconds the watcher looks at the threads in one of two ways:

- **up to** :data:`PAGE` **threads**: all of them, by ``ids`` (one request; exact, and a thread
  that is gone shows at once);
- **more**: new registrations by ``ids``; a change feed — threads by ``updated_at``, newest
  first, down to the previous tick's newest minus :data:`OVERLAP` seconds, at most
  :data:`FEED_PAGES` pages (more changes than that, and a full sweep follows); and a slow full
  sweep by ``ids``, :data:`PAGE` at a time, every :data:`SWEEP_EVERY` seconds, which catches
  deleted threads and anything the feed missed.

What a thread says decides: not ``busy`` — its watched runs ended (``ended``; their status is
read where it is needed: the resumed task, or here with ``read_status``); ``busy`` when first
seen, or ``busy`` again with its ``updated_at`` moved — another run may share the thread, so
each watched run on it is confirmed with one ``GET`` (at most :data:`CONFIRM_PER_TICK` a tick,
the moved ones first; a confirmation that fails is tried again, against that wait's own
failure budget); gone — each run is read, and a 404 makes it ``missing``. Reads are short calls
through the hook, so a server that is away is ridden out inside them (``riding_outages``); a
tick that still fails counts against each wait's failure budget, the watcher backs off, and a
full sweep follows the recovery. A server whose search cannot do this (aegra 0.11 refuses
``select`` and ignores ``ids``) makes every wait on that connection poll instead, said once.
"""

from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
import time
import weakref
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_lg.exceptions import (
    LangGraphConnectionError,
    LangGraphError,
    LangGraphHTTPError,
    LangGraphNotFoundError,
    LangGraphRateLimitError,
    LangGraphServerError,
    LangGraphValidationError,
)
from airflow_lg.hooks._outages import riding_outages
from airflow_lg.hooks.langgraph import LangGraphHook
from airflow_lg.runs import LOST_IN_OUTAGE_DETAIL, RunRef, parse_status
from airflow_lg.schema import RunStatus
from airflow_lg.thread_stamps import canonical, changed_since_created, stamp_of

TICK = 1.0
"""Seconds between two looks: a run's end is seen within about this (plus the server's answer)."""
PAGE = 1000
"""Threads per search by ``ids`` (the server's largest ``limit``)."""
FEED_PAGE = 1000
FEED_PAGES = 3
OVERLAP = 5.0
"""Seconds below the feed's last watermark read again: a write stamped before another may
become visible after it (PostgreSQL stamps a transaction's start, and shows it at its commit).
A page holds 1,000 threads, so the feed reads one page a tick below ~160 changes a second
(10,000 runs created in 80 s is 125 a second); a change that shows up later than this after
its stamp is found by the sweep."""
SWEEP_EVERY = 60.0
URGENT_CHUNKS = 4
"""Sweep chunks per tick when the sweep is urgent (the feed overflowed: a burst of endings, or
an outage ended): 10,000 threads are looked at again within three ticks."""
MISSED_BY_FEED = 20
"""Ends a sweep chunk may find that the feed did not report before the rest of the sweep is
made urgent: a transaction that ended many runs at once (a bulk cancel on PostgreSQL) stamps
them all with its start and shows them at its commit, below the feed's watermark."""
MAX_BACKOFF = 30.0
CONFIRM_CONCURRENCY = 20
CONFIRM_PER_TICK = 200
"""Run reads per tick at most: 10,000 waits registered at once cost no more than this a tick,
and their threads' own statuses keep being read meanwhile."""
PROGRESS_SPACING = 4.0
"""Seconds between two progress reads of the whole watcher (each run's at most every 15 s):
telling progress must not grow with the number of waits."""
SELECT = ("thread_id", "status", "updated_at")
_TRANSIENT = (LangGraphConnectionError, LangGraphServerError, LangGraphRateLimitError)


class WatchUnsupported(LangGraphError):
    """The server's thread search cannot answer a watcher: its waits poll instead."""


@dataclass(eq=False)
class _Watch:
    ref: RunRef
    read_status: bool
    failure_budget: int
    log: Any
    progress: Any = None  # waiting.Progress, when the wait tells the run's nodes
    future: asyncio.Future[RunRef] = field(default_factory=lambda: _loop().create_future())
    failures: int = 0
    thread_key: str = ""  # the thread id in canonical form
    told: bool = False  # whether its log said the watcher sees it going
    # The wait's own context, where its lines are logged: the triggerer routes a line to its
    # task's log by context variables (structlog's), which the watcher's task does not have.
    context: contextvars.Context = field(default_factory=contextvars.copy_context)

    def say(self, level: str, message: str, *args: Any) -> None:
        self.context.run(getattr(self.log, level), message, *args)

    def tell_going(self) -> None:
        """Said once, at the first look that finds its thread busy: the task log shows the
        wait is held (a poll says "is running"; telling pending from running would cost a
        request per run)."""
        if not self.told:
            self.told = True
            self.say("info", "LangGraph %s: watching it (its thread is busy)", self.ref)

    def settle(self, ref: RunRef) -> None:
        if not self.future.done():
            self.future.set_result(ref)

    def fail(self, error: BaseException) -> None:
        if not self.future.done():
            self.future.set_exception(error)

    def failed_once(self, error: BaseException) -> None:
        """A transient failure against this wait's budget: logged, or the wait fails."""
        self.failures += 1
        if self.failures > self.failure_budget:
            self.fail(error)
        else:
            self.say(
                "warning", "Could not look at LangGraph run %s (%s); failure %d of %d allowed",
                self.ref.run_id, error, self.failures, self.failure_budget,
            )  # fmt: skip


@dataclass(eq=False)
class _Thread:
    watches: list[_Watch] = field(default_factory=list)
    updated_at: str | None = None  # as last seen; None: never seen yet
    ended: bool = False  # seen no longer busy (its watches settle, or have their status read)


def _loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


class Watcher:
    """The shared watcher of one connection on one event loop (see the module's docstring)."""

    def __init__(self, hook: LangGraphHook, key: Any = None) -> None:
        self.hook = hook
        self.key = key
        self.threads: dict[str, _Thread] = {}
        self.fresh: set[str] = set()
        self.unconfirmed: deque[_Watch] = deque()  # to be read with a GET of the run
        self.unsupported: WatchUnsupported | None = None
        self.task: asyncio.Task[None] | None = None
        self.watermark: dt.datetime | None = None
        self.sweep_queue: deque[str] = deque()
        self.next_sweep = 0.0  # monotonic: when the next full sweep starts
        self.next_chunk = 0.0
        self.spacing = 0.0  # seconds between two chunks of a sweep
        self.sweep_now = True
        self.sweep_again = False  # an urgent pass under way: another follows it
        self.progress_at = 0.0
        self.progress_turn = 0

    # ---- the waits' side ----------------------------------------------------------------

    async def wait(
        self,
        ref: RunRef,
        *,
        read_status: bool,
        failure_budget: int,
        log: Any,
        progress: Any = None,
    ) -> RunRef:
        """Until the run ended: ``ended`` (or its status, with ``read_status``), ``missing``.
        Raises :class:`WatchUnsupported`, or what made the watcher fail past the budget."""
        if self.unsupported is not None:
            raise WatchUnsupported(str(self.unsupported))  # a new one: no growing traceback
        key = canonical(ref.thread_id)
        if key is None:
            raise WatchUnsupported(f"thread id {ref.thread_id!r} is not a UUID")
        watch = _Watch(ref, read_status, failure_budget, log, progress, thread_key=key)
        self._add(watch)
        try:
            return await watch.future
        finally:
            self._remove(watch)

    def _add(self, watch: _Watch) -> None:
        thread = self.threads.setdefault(watch.thread_key, _Thread())
        thread.watches.append(watch)
        self.fresh.add(watch.thread_key)
        if thread.updated_at is not None and changed_since_created(
            watch.ref.run_id, thread.updated_at
        ):  # a thread seen busy before: has this run ended since, with another run on it?
            self.unconfirmed.append(watch)
        # A task being cancelled (the last wait just left, in this loop's turn) will not look
        # again: this registration gets a task of its own.
        if self.task is None or self.task.done() or self.task.cancelling():
            # A context of its own: the watcher serves many triggers, and belongs to none.
            self.task = _loop().create_task(self._run(), context=contextvars.Context())
            self.task.add_done_callback(self._stopped)

    def _remove(self, watch: _Watch) -> None:
        thread = self.threads.get(watch.thread_key)
        if thread is not None and watch in thread.watches:
            thread.watches.remove(watch)
            if not thread.watches:
                del self.threads[watch.thread_key]
        if not self.threads and self.task is not None and not self.task.done():
            self.task.cancel()  # nothing left to watch (and a worker's loop is about to close)

    def _stopped(self, task: asyncio.Task[None]) -> None:
        if self.task is task:
            self.task = None
        if not task.cancelled() and task.exception() is not None:  # never: _run catches all
            self._fail_all(task.exception())  # type: ignore[arg-type]
        if not self.threads and self.task is None:
            # forgotten when idle: a worker's loop (and this hook) can then be collected
            self.unconfirmed.clear()
            watchers = _WATCHERS.get(task.get_loop())
            if watchers is not None and watchers.get(self.key) is self:
                del watchers[self.key]

    # ---- the watcher's task -------------------------------------------------------------

    async def _run(self) -> None:
        failures = 0
        with riding_outages():
            await asyncio.sleep(0.05)  # gather the registrations of this loop's turn
            while self.threads:
                started = time.monotonic()
                delay = TICK
                try:
                    await self._tick()
                except WatchUnsupported as exc:
                    self._unsupported(exc)
                    return
                except _TRANSIENT as exc:
                    if getattr(exc, "misconfigured", False):
                        self._fail_all(exc)
                        return
                    failures += 1
                    self._failed_tick(exc)
                    delay = min(MAX_BACKOFF, TICK * 2**failures)
                except LangGraphError as exc:
                    self._fail_all(exc)  # a rejected key, a refused search: no tick will help
                    return
                except Exception as exc:  # an answer nobody foresaw: a failed tick, said
                    self.hook.log.exception("LangGraph watcher: a look failed")
                    failures += 1
                    self._failed_tick(exc)
                    delay = min(MAX_BACKOFF, TICK * 2**failures)
                else:
                    if failures:
                        self.sweep_now = True  # after an outage, look at everything again
                    failures = 0
                    # a look every TICK from start to start: its own time is not added
                    delay = max(0.1, TICK - (time.monotonic() - started))
                await asyncio.sleep(delay)

    def _failed_tick(self, error: BaseException) -> None:
        for thread in list(self.threads.values()):
            for watch in list(thread.watches):
                watch.failed_once(error)

    def _fail_all(self, error: BaseException) -> None:
        for thread in list(self.threads.values()):
            for watch in list(thread.watches):
                watch.fail(error)

    def _unsupported(self, exc: WatchUnsupported) -> None:
        self.unsupported = exc
        for thread in list(self.threads.values()):
            for watch in list(thread.watches):
                watch.fail(WatchUnsupported(str(exc)))

    async def _tick(self) -> None:
        fresh, self.fresh = self.fresh, set()
        try:
            if len(self.threads) <= PAGE:
                await self._lookup(list(self.threads))
            else:
                await self._lookup([t for t in fresh if t in self.threads])
                await self._feed()
                await self._sweep()
        except BaseException:
            self.fresh |= fresh  # not looked at yet
            raise
        await self._confirm()
        await self._progress()

    async def _search(self, **filters: Any) -> list[dict[str, Any]]:
        try:
            found = await self.hook.asearch_threads(select=list(SELECT), **filters)
        except (LangGraphValidationError, LangGraphNotFoundError) as exc:
            # aegra: "select ... unsupported" (422); a server without the search (404/405)
            raise WatchUnsupported(
                f"the server's thread search refused what a watcher asks ({exc})"
            ) from exc
        except LangGraphHTTPError as exc:
            if exc.status_code == 405:
                raise WatchUnsupported(f"the server has no thread search ({exc})") from exc
            raise
        if not isinstance(found, list):
            raise WatchUnsupported(f"the server's thread search answered {found!r:.200}")
        return [t for t in found if isinstance(t, dict)]

    async def _lookup(self, ids: Sequence[str]) -> int:
        """Look at these threads by ``ids``; returns how many of them were seen no longer
        busy (their runs ended)."""
        ended = 0
        for start in range(0, len(ids), PAGE):
            chunk = list(ids[start : start + PAGE])
            found = await self._search(ids=chunk, limit=len(chunk))
            asked = set(chunk)
            seen = {canonical(t.get("thread_id")) for t in found}
            if not seen <= asked:
                raise WatchUnsupported(
                    "the server's thread search answered threads it was not asked about "
                    "(it ignores ids)"
                )
            ended += self._observe(found)
            self._gone([t for t in chunk if t not in seen])
        return ended

    async def _feed(self) -> None:
        floor = None if self.watermark is None else self.watermark - dt.timedelta(seconds=OVERLAP)
        newest = self.watermark
        for page in range(FEED_PAGES):
            found = await self._search(
                sort_by="updated_at", sort_order="desc", limit=FEED_PAGE, offset=page * FEED_PAGE
            )
            self._observe(found)
            stamps = [s for s in (stamp_of(t.get("updated_at")) for t in found) if s is not None]
            if stamps and (newest is None or max(stamps) > newest):
                newest = max(stamps)
            if len(found) < FEED_PAGE or floor is None or not stamps or min(stamps) < floor:
                break
        else:
            self.sweep_now = True  # more changed than the feed reads in a tick
        if self.watermark is None:
            self.sweep_now = True  # what changed before the first feed is unknown
        self.watermark = newest

    async def _sweep(self) -> None:
        now = time.monotonic()
        if self.sweep_now and self.sweep_queue and self.spacing == 0.0:
            # one urgent pass at a time, to its end (a feed that overflows every tick would
            # otherwise restart it for ever): another follows it
            self.sweep_now, self.sweep_again = False, True
        if not self.sweep_queue and self.sweep_again:
            self.sweep_now, self.sweep_again = True, False
        if self.sweep_now or (not self.sweep_queue and now >= self.next_sweep):
            # An urgent sweep starts from the beginning: the threads a paced sweep under way
            # looked at before the burst (or the outage) may have changed since.
            urgent, self.sweep_now = self.sweep_now, False
            self.sweep_queue = deque(self.threads)
            self.next_sweep = now + SWEEP_EVERY
            chunks = -(-len(self.sweep_queue) // PAGE)
            # spread over half the period, or URGENT_CHUNKS a tick when it is urgent
            self.spacing = 0.0 if urgent else SWEEP_EVERY / 2 / max(1, chunks)
            self.next_chunk = now
        if self.sweep_queue and now >= self.next_chunk:
            self.next_chunk = now + self.spacing
            for _ in range(URGENT_CHUNKS if self.spacing == 0.0 else 1):
                chunk: list[str] = []
                while self.sweep_queue and len(chunk) < PAGE:
                    thread_id = self.sweep_queue.popleft()
                    if thread_id in self.threads:
                        chunk.append(thread_id)
                if not chunk:
                    break
                missed = await self._lookup(chunk)
                if self.spacing and missed >= MISSED_BY_FEED:
                    self.sweep_now = True  # the feed misses ends: all again, at once, next tick
                    break

    # ---- what a thread says ---------------------------------------------------------------

    def _observe(self, found: Iterable[Mapping[str, Any]]) -> int:
        """What each thread says, for the runs watched on it; returns how many watched threads
        were seen no longer busy."""
        ended = 0
        for seen in found:
            key = canonical(seen.get("thread_id"))
            thread = self.threads.get(key) if key else None
            if thread is None:
                continue
            updated = seen.get("updated_at")
            updated = None if updated is None else str(updated)
            first = thread.updated_at is None
            moved = not first and updated != thread.updated_at
            thread.updated_at = updated
            if seen.get("status") != "busy":
                # counted once per end: seen again (the feed, then a sweep), it is not news
                ended += not thread.ended
                thread.ended = True
                for watch in thread.watches:
                    if watch.read_status:
                        self.unconfirmed.appendleft(watch)
                    else:
                        watch.settle(watch.ref.with_status(RunStatus.ENDED))
                continue
            thread.ended = False
            for watch in thread.watches:
                watch.tell_going()
            if moved:  # something happened: another run on the thread may have ended
                self.unconfirmed.extendleft(thread.watches)
            elif first:  # a run may have ended already, with another run still on it
                self.unconfirmed.extend(
                    w for w in thread.watches if changed_since_created(w.ref.run_id, updated)
                )
        return ended

    def _gone(self, thread_ids: Sequence[str]) -> None:
        """Threads the search no longer finds (deleted, a TTL): each run is read."""
        for thread_id in thread_ids:
            self.unconfirmed.extendleft(self.threads.get(thread_id, _Thread()).watches)

    async def _confirm(self) -> None:
        """Read the runs waiting for it (at most :data:`CONFIRM_PER_TICK`): a run that ended
        is settled; a failure counts against that wait's budget and it is read again later."""
        batch: list[_Watch] = []
        while self.unconfirmed and len(batch) < CONFIRM_PER_TICK:
            watch = self.unconfirmed.popleft()
            if not watch.future.done() and watch not in batch:
                batch.append(watch)
        gate = asyncio.Semaphore(CONFIRM_CONCURRENCY)

        async def one(watch: _Watch) -> None:
            async with gate:
                try:
                    run = await self.hook.aget_run(watch.ref.thread_id, watch.ref.run_id)
                    status = parse_status(run.get("status"))
                except LangGraphNotFoundError:
                    watch.say("warning", "LangGraph %s no longer exists", watch.ref)
                    away = (await self.hook.atransport()).outage.was_away
                    ref = watch.ref
                    watch.settle(ref.missing(LOST_IN_OUTAGE_DETAIL) if away else ref.missing())
                    return
                except _TRANSIENT as exc:
                    if getattr(exc, "misconfigured", False):
                        watch.fail(exc)
                        return
                    watch.failed_once(exc)
                    self.unconfirmed.append(watch)
                    return
                except LangGraphError as exc:  # this run's own problem: this wait fails
                    watch.fail(exc)
                    return
            watch.failures = 0
            if status.is_terminal():
                told = status if watch.read_status else RunStatus.ENDED
                watch.settle(watch.ref.with_status(told))

        await asyncio.gather(*(one(w) for w in batch))

    async def _progress(self) -> None:
        """One wait's progress read, in turn, at most every :data:`PROGRESS_SPACING` s."""
        now = time.monotonic()
        if now < self.progress_at:
            return
        telling = [w for t in self.threads.values() for w in t.watches if w.progress is not None]
        if not telling:
            return
        self.progress_at = now + PROGRESS_SPACING
        self.progress_turn = (self.progress_turn + 1) % len(telling)
        watch = telling[self.progress_turn]
        # in the wait's context, so that its lines reach its task's log
        await _loop().create_task(watch.progress.look(self.hook), context=watch.context)


_WATCHERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Any, Watcher]] = (
    weakref.WeakKeyDictionary()
)


async def watcher_for(hook: LangGraphHook) -> Watcher:
    """This loop's watcher for the hook's connection: its id, settings and credentials (the
    fingerprint), retry policy and outage budget — what the watcher's own calls use."""
    settings = await hook.asettings()
    key = (hook.langgraph_conn_id, settings.fingerprint(), repr(settings.retry),
           settings.outage_budget)  # fmt: skip
    watchers = _WATCHERS.setdefault(asyncio.get_running_loop(), {})
    if key not in watchers:
        watchers[key] = Watcher(hook, key)
    return watchers[key]
