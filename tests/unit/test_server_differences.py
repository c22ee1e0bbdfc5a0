"""What the provider does about servers that differ (docs/compatibility.md), without a server:
the fallback plans, aegra's error bodies and paused status, metadata values, outages."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pendulum
import pytest

from airflow_lg import wire
from airflow_lg.exactly_once import TASK_KEY, airflow_identity
from airflow_lg.exceptions import (
    LangGraphConnectionError,
    LangGraphError,
    LangGraphNotFoundError,
    LangGraphServerError,
    LangGraphValidationError,
)
from airflow_lg.hooks._outages import Outage, riding_outages
from airflow_lg.hooks._settings import settings_from_connection
from airflow_lg.outcomes import outcome_of
from airflow_lg.runs import RunRef
from airflow_lg.schema import Outcome
from airflow_lg.wire import fallbacks
from tests.unit.helpers import response

PAUSED = {
    "values": {"topic": "x"},
    "tasks": [{"interrupts": [{"value": {"question": "approve?"}, "id": "i1"}]}],
    "next": ["ask"],
}


def _not_found(detail: Any = "Not Found") -> LangGraphNotFoundError:
    return LangGraphNotFoundError(404, "POST", "/runs/batch", detail)


# ---- fallback plans ----------------------------------------------------------------------------


def test_health_falls_back_to_info_where_there_is_no_ok() -> None:
    plan = fallbacks.health(_not_found())
    assert plan is not None
    assert [(s.call.method, s.call.path) for s in plan.steps] == [("GET", "/info")]
    assert plan.combine([{"version": "0.11.0"}]) == {"ok": True}


def test_a_batch_without_its_endpoint_becomes_one_create_per_item_in_order() -> None:
    payloads = [{"assistant_id": "a", "input": {"n": n}} for n in range(3)]
    plan = fallbacks.create_batch(_not_found(), payloads)
    assert plan is not None
    assert [(s.call.method, s.call.path) for s in plan.steps] == [("POST", "/runs")] * 3
    assert [s.call.json["input"] for s in plan.steps] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert all(s.call.creates_run for s in plan.steps)


def test_an_unknown_assistant_in_a_batch_is_not_taken_for_a_missing_endpoint() -> None:
    unknown = _not_found({"detail": "Thread or assistant not found."})
    assert fallbacks.create_batch(unknown, [{"assistant_id": "nope"}]) is None
    assert not fallbacks.no_such_endpoint(unknown)
    assert fallbacks.no_such_endpoint(LangGraphServerError(405, "POST", "/x", "Method Not Allowed"))


def test_a_refused_rollback_becomes_interrupt_then_delete() -> None:
    refused = LangGraphValidationError(422, "POST", "/threads/T/runs/R/cancel", "bad action")
    plan = fallbacks.cancel(refused, "T", "R", action="rollback")
    assert plan is not None
    calls = [(s.call.method, s.call.path, dict(s.call.params or {})) for s in plan.steps]
    assert calls == [
        ("POST", "/threads/T/runs/R/cancel", {"wait": 1, "action": "interrupt"}),
        ("DELETE", "/threads/T/runs/R", {}),
    ]
    assert LangGraphNotFoundError in plan.steps[0].tolerate  # ended meanwhile: delete anyway
    assert fallbacks.cancel(refused, "T", "R", action="interrupt") is None


# ---- what servers answer --------------------------------------------------------------------


def test_an_aegra_error_body_is_quoted_from_its_message() -> None:
    body = {"error": "not_found", "message": "Assistant 'nope' not found", "details": None}
    error = wire.http_error(response(404, json=body))
    assert error.detail == "Assistant 'nope' not found"
    assert "Assistant 'nope' not found" in str(error)


def test_an_interrupted_run_that_asked_something_is_paused() -> None:
    outcome = outcome_of(RunRef("T", "R").with_status("interrupted"), PAUSED)  # type: ignore[arg-type]
    assert outcome.outcome is Outcome.PAUSED
    assert outcome.interrupts == [{"value": {"question": "approve?"}, "id": "i1"}]


def test_an_interrupted_run_that_asked_nothing_was_cancelled() -> None:
    stopped = {"values": {"topic": "x"}, "tasks": [], "next": ["ask"]}
    outcome = outcome_of(RunRef("T", "R").with_status("interrupted"), stopped)  # type: ignore[arg-type]
    assert outcome.outcome is Outcome.CANCELLED


def test_the_identity_sends_no_none_values() -> None:
    ti = SimpleNamespace(dag_id="d", run_id="r", task_id="t", map_index=-1, try_number=1)
    without = airflow_identity({"ti": ti, "logical_date": None})
    assert None not in without.values()
    assert "airflow_logical_date" not in without
    assert without[TASK_KEY] == "d/r/t/-1"
    day = pendulum.datetime(2026, 11, 2, tz="UTC")
    assert airflow_identity({"ti": ti, "logical_date": day})["airflow_logical_date"] == (
        day.isoformat()
    )


# ---- outages ------------------------------------------------------------------------------------


class _Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def warning(self, message: str, *args: Any) -> None:
        self.lines.append(message % args)


@pytest.mark.parametrize(
    ("error", "is_outage"),
    [
        (LangGraphConnectionError("refused"), True),
        (LangGraphServerError(502, "GET", "/x", "bad gateway"), True),
        (LangGraphServerError(503, "GET", "/x", "unavailable"), True),
        (LangGraphServerError(504, "GET", "/x", "timeout"), True),
        (LangGraphServerError(500, "GET", "/x", "bug"), False),
        (LangGraphValidationError(422, "GET", "/x", "bad"), False),
    ],
)
def test_an_outage_is_an_unreachable_server_or_its_gateway_saying_so(
    error: LangGraphError, is_outage: bool
) -> None:
    assert wire.is_outage(error) is is_outage


def test_outside_a_wait_an_outage_is_not_ridden_out() -> None:
    outage = Outage("http://s", 300.0, _Log())
    assert not outage.rides(LangGraphConnectionError("refused"))


def test_inside_a_wait_an_outage_is_ridden_out_and_logged_once_each_way() -> None:
    log = _Log()
    outage = Outage("http://s", 300.0, log)
    with riding_outages():
        assert outage.rides(LangGraphConnectionError("refused"))
        assert outage.rides(LangGraphServerError(503, "GET", "/x", "unavailable"))
        assert not outage.rides(LangGraphServerError(500, "GET", "/x", "bug"))
    outage.answered()
    outage.answered()
    assert len(log.lines) == 2
    assert "is away" in log.lines[0] and "300 s" in log.lines[0]
    assert "answers again" in log.lines[1]


def test_past_the_budget_the_error_names_the_outage() -> None:
    outage = Outage("http://s", 0.0, _Log())
    with riding_outages():
        assert not outage.rides(LangGraphConnectionError("refused"))  # budget 0: off
    outage = Outage("http://s", 1e-9, _Log())
    with riding_outages():
        outage.rides(LangGraphConnectionError("refused"))
        assert not outage.rides(LangGraphConnectionError("refused"))
        error = outage.exceeded(LangGraphConnectionError("refused"))
    assert "has been away for" in str(error) and "outage_budget" in str(error)
    assert "refused" in str(error)


@pytest.mark.parametrize(("value", "budget"), [(None, 300.0), ("", 300.0), (0, 0.0), ("90", 90.0)])
def test_the_outage_budget_comes_from_the_connection(value: Any, budget: float) -> None:
    extra = {} if value is None else {"outage_budget": value}
    assert settings_from_connection("http://s", None, None, None, extra).outage_budget == budget


@pytest.mark.parametrize("value", [-1, "soon", True])
def test_a_bad_outage_budget_is_refused_naming_it(value: Any) -> None:
    with pytest.raises(LangGraphError, match="outage_budget"):
        settings_from_connection("http://s", None, None, None, {"outage_budget": value})
