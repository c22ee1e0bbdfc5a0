"""Riding out a server that is away, inside a wait: :func:`riding_outages` and :class:`Outage`.

A restart or a deploy of the agent server takes tens of seconds (17 to 25 s here for langgraph-api
and aegra), far more than a call's retries. Inside a wait — polling, joining, streaming, or
reading how the runs ended — a call that finds the server away (unreachable, or 502/503/504)
is tried again every few seconds for up to the connection's ``outage_budget`` (default 300 s)
instead of failing the task; the run goes on meanwhile and is never cancelled for it. The
outage is logged once when it starts and once when it ends. Outside a wait (creating a run,
a Test button) a call keeps its short retries, so a wrong URL is reported in seconds.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Iterator
from typing import Any

from airflow_lg import wire
from airflow_lg.exceptions import LangGraphConnectionError, LangGraphError

OUTAGE_RETRY_WAIT = 2.0
_RIDING: contextvars.ContextVar[bool] = contextvars.ContextVar("airflow_lg_riding", default=False)


@contextlib.contextmanager
def riding_outages() -> Iterator[None]:
    """Calls made in this block (and in tasks it starts) ride out outages."""
    token = _RIDING.set(True)
    try:
        yield
    finally:
        _RIDING.reset(token)


@contextlib.contextmanager
def not_riding() -> Iterator[None]:
    """Calls in this block keep their short retries, even inside a wait: creating a run, and
    cancelling one (on_kill has seconds, not the outage budget)."""
    token = _RIDING.set(False)
    try:
        yield
    finally:
        _RIDING.reset(token)


def ride_from_now() -> None:
    """From now on in the current context, calls ride out outages (for a wait that begins in
    the middle of a call: a run created by ``wait``/``stream`` exists once its headers came).
    Call it only inside a context of its own (``contextvars.copy_context().run``)."""
    _RIDING.set(True)


def riding() -> bool:
    return _RIDING.get()


class Outage:
    """The server being away, as one transport (one hook) sees it: shared by every call the
    hook makes, so a batch of waits logs one outage, not one per run."""

    def __init__(self, base_url: str, budget: float, log: Any) -> None:
        self.base_url = base_url
        self.budget = budget
        self.log = log
        self.since: float | None = None
        self.cause: BaseException | None = None
        self.was_away = False  # an outage began and ended since this transport was made
        self.ever_heard = False  # any answer came from the server through this transport
        self.silences = 0  # calls that got no answer at all

    def rides(self, exc: BaseException | None) -> bool:
        """Whether the call that failed with ``exc`` is tried again as part of an outage."""
        if not (riding() and self.budget > 0 and wire.is_outage(exc)):
            return False
        now = time.monotonic()
        if self.since is None:
            self.since, self.cause = now, exc
            self.log.warning(
                "The LangGraph server at %s is away (%s); waiting for it for up to %.0f s "
                "(connection extra 'outage_budget'). The runs go on on the server.",
                self.base_url, exc, self.budget,
            )  # fmt: skip
        return now - self.since <= self.budget

    def silent_server(self, exc: BaseException | None) -> bool:
        """A call outside a wait got no answer at all, for the second time, from a server this
        transport never heard from: not a pause (a cold start gets one more try) but a port
        that takes connections and never answers, or a hung server. Retrying would only
        multiply the silence: fail now, saying so."""
        return (
            bool(getattr(exc, "no_response", False))
            and self.silences >= 2
            and not self.ever_heard
            and not riding()
        )

    @property
    def active(self) -> bool:
        """An outage is going on and this call rides it."""
        return self.since is not None and riding()

    def heard(self, status_code: int) -> None:
        """A response arrived: any answer but a gateway's 502/503/504 ends an outage (a 404
        too — the server is back, whatever it says)."""
        self.ever_heard = True
        if status_code not in wire.OUTAGE_STATUS:
            self.answered()

    def answered(self) -> None:
        """The server answered a call: the outage, if any, is over."""
        if self.since is not None:
            self.log.warning(
                "The LangGraph server at %s answers again after %.0f s away",
                self.base_url, time.monotonic() - self.since,
            )  # fmt: skip
            self.since = self.cause = None
            self.was_away = True

    def exceeded(self, exc: LangGraphError) -> LangGraphError:
        """The error to raise for a call that failed past the budget: it names the outage."""
        if self.since is None or not riding() or not wire.is_outage(exc):
            return exc
        away = time.monotonic() - self.since
        return LangGraphConnectionError(
            f"the LangGraph server at {self.base_url} has been away for {away:.0f} s, longer "
            f"than the connection's outage_budget of {self.budget:.0f} s; last error: {exc}",
            method=getattr(exc, "method", ""),
            path=getattr(exc, "path", ""),
            may_have_reached_server=getattr(exc, "may_have_reached_server", True),
        )
