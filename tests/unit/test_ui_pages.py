"""The UI plugin's pages as a person reads them, from given runs (no server, no Airflow
deployment): what comes first, what is escaped, what refreshes. The real pages in a real
browser are in tests/e2e/test_ui.py."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import pytest

from airflow_lg.plugins._finding import AgentTask
from airflow_lg.plugins._reading import PAUSED, RunDetail, RunRow, steps_of
from airflow_lg.plugins._render import batch_page, recent_page, task_page, tree
from airflow_lg.runs import RunOutcome, RunRef
from airflow_lg.schema import Outcome

REF = RunRef("T", "R")
TASK = AgentTask("dag", "manual__1", "ask", -1, "CreateRunOperator", "success", assistant_id="chat")
CHAT = {
    "messages": [
        {"type": "human", "content": "How many orders on Monday?"},
        {"type": "ai", "content": "There were 42 orders on Monday."},
    ]
}


def _text(html: str) -> str:
    """The body's text in order, tags dropped, entities decoded."""
    body = html.split("<body>", 1)[1]
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", body)).split())


def _detail(status: str, outcome: RunOutcome | None, **row: Any) -> RunDetail:
    return RunDetail(RunRow(REF, status, assistant_id="chat", **row), input=CHAT, outcome=outcome)


def test_a_succeeded_runs_page_leads_with_the_final_answer_then_the_conversation() -> None:
    outcome = RunOutcome("T", "R", "success", Outcome.SUCCESS, output=CHAT)
    text = _text(task_page(TASK, _detail("success", outcome), studio_url=None))
    assert text.startswith("Agent run success Answer There were 42 orders on Monday. Run")
    conversation = text.split("Conversation", 1)[1]
    assert conversation.index("human How many") < conversation.index("AI There were 42")


def test_a_paused_runs_page_leads_with_what_the_agent_asks() -> None:
    asks = [{"value": {"question": "approve?", "topic": "refund 1234"}, "id": "i1"}]
    outcome = RunOutcome("T", "R", "success", Outcome.PAUSED, output={}, interrupts=asks)
    text = _text(task_page(TASK, _detail(PAUSED, outcome), studio_url=None))
    assert text.startswith("Agent run paused The agent asks approve? {1} topic : refund 1234")


def test_a_failed_runs_page_leads_with_the_error_type_and_message() -> None:
    error = {"error": "ValueError", "message": "table orders is missing"}
    outcome = RunOutcome("T", "R", "error", Outcome.ERROR, error=error)
    text = _text(task_page(TASK, _detail("failed", outcome), studio_url=None))
    assert text.startswith("Agent run failed Error ValueError : table orders is missing Run")


def test_a_running_runs_page_follows_it_and_an_ended_ones_does_not() -> None:
    running = task_page(TASK, _detail("running", None), studio_url=None)
    assert 'http-equiv="refresh"' in running and "this page follows it" in running
    outcome = RunOutcome("T", "R", "success", Outcome.SUCCESS, output=CHAT)
    assert 'http-equiv="refresh"' not in task_page(
        TASK, _detail("success", outcome), studio_url=None
    )


def test_what_the_agent_wrote_is_escaped_never_run_as_html() -> None:
    evil = {"messages": [{"type": "ai", "content": "<script>alert(1)</script><img src=x>"}]}
    outcome = RunOutcome("T", "R", "success", Outcome.SUCCESS, output=evil)
    html = task_page(TASK, _detail("success", outcome), studio_url=None)
    assert "<script>alert" not in html and "<img src=x>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_the_studio_link_shows_only_when_the_connection_sets_one() -> None:
    outcome = RunOutcome("T", "R", "success", Outcome.SUCCESS, output=CHAT)
    url = "https://smith.langchain.com/studio/thread/T?baseUrl=x"
    assert url in task_page(TASK, _detail("success", outcome), studio_url=url)
    assert "Studio" not in task_page(TASK, _detail("success", outcome), studio_url=None)


def test_steps_are_the_nodes_run_from_each_checkpoint_oldest_first() -> None:
    # langgraph dev's history of a one-node run, oldest first
    checkpoints = [
        {"metadata": {"step": -1}, "tasks": [{"name": "__start__"}], "created_at": "t0"},
        {"metadata": {"step": 0}, "tasks": [{"name": "respond"}], "created_at": "t1"},
        {"metadata": {"step": 1}, "tasks": [], "created_at": "t2"},
    ]
    steps = steps_of(checkpoints)
    assert [(s.step, s.nodes, s.finished_at) for s in steps] == [(1, ["respond"], "t2")]


def test_a_step_that_failed_or_asked_says_so() -> None:
    checkpoints = [
        {"metadata": {"step": 0}, "tasks": [{"name": "ask", "interrupts": [{"value": "ok?"}]}]},
        {"metadata": {"step": 1}, "tasks": [{"name": "fail", "error": "ValueError('x')"}]},
    ]
    first, second = steps_of(checkpoints)
    assert first.asks == [{"value": "ok?"}] and first.finished_at is None
    assert second.errors == ["ValueError('x')"]


def test_a_batch_page_has_one_line_per_item_with_its_outcome_and_answer() -> None:
    batch = AgentTask("dag", "r", "ask_per_day", -1, "BatchRunOperator", "success")
    batch.results = [
        {"index": 0, **RunOutcome("T0", "R0", "success", Outcome.SUCCESS, output=CHAT).to_dict()},
        {
            "index": 1,
            **RunOutcome(
                "T1", "R1", "error", Outcome.ERROR, error={"error": "KeyError", "message": "'day'"}
            ).to_dict(),
        },
    ]
    rows = [RunRow(RunRef("T0", "R0"), "success"), RunRow(RunRef("T1", "R1"), "failed")]
    text = _text(batch_page(batch, rows, item_href="?item="))
    assert "#0 success success There were 42 orders on Monday." in text
    assert "#1 failed error KeyError: 'day'" in text
    assert "1 failed, 1 success" in text


def test_the_recent_page_puts_runs_that_need_a_person_first() -> None:
    ok = (TASK, None, RunRow(RunRef("T1", "R1"), "success"))
    paused = (TASK, None, RunRow(RunRef("T2", "R2"), PAUSED))
    failed = (TASK, None, RunRow(RunRef("T3", "R3"), "failed"))
    text = _text(recent_page([ok, paused, failed], {}, {}))
    attention = text.split("Needs attention", 1)[1].split("Recent", 1)[0]
    assert "R2" in attention and "R3" in attention and "R1" not in attention
    assert "1 waiting for a person, 1 failed, timed out or unreadable" in text


def test_a_json_tree_opens_the_top_level_and_folds_deeper_ones() -> None:
    html = tree({"a": {"b": {"c": 1}}})
    assert html.startswith("<details class='tree' open>")
    assert html.count("<details class='tree' open>") == 1 and html.count("<details") == 3


def test_only_the_newest_run_of_a_paused_thread_is_paused() -> None:
    from airflow_lg.plugins._reading import mark_paused

    older = RunRow(RunRef("T", "R1"), "success", created_at="2026-12-01T10:00:00")
    newer = RunRow(RunRef("T", "R2"), "success", created_at="2026-12-01T11:00:00")
    elsewhere = RunRow(RunRef("U", "R3"), "success", created_at="2026-12-01T12:00:00")
    mark_paused([older, newer, elsewhere], {"T"})
    assert [older.status, newer.status, elsewhere.status] == ["success", PAUSED, "success"]


def test_a_batch_entry_that_is_not_a_run_is_skipped_not_an_error() -> None:
    from airflow_lg.plugins._finding import _refs

    assert _refs([{"thread_id": "T", "run_id": "R"}, {"nonsense": 1}, "x"]) == [RunRef("T", "R")]


def test_the_test_buttons_port_zero_is_no_port_for_a_langgraph_connection_only() -> None:
    import json

    from airflow_lg.plugins._test_button import without_port_zero

    def body(**fields: Any) -> bytes:
        return json.dumps({"connection_id": "c", **fields}).encode()

    assert json.loads(without_port_zero(body(conn_type="langgraph", port=0))) == {
        "connection_id": "c",
        "conn_type": "langgraph",
    }
    for untouched in (
        body(conn_type="http", port=0),  # another provider's connection
        body(conn_type="langgraph", port=2024),  # a port the user gave
        b"not json",
    ):
        assert without_port_zero(untouched) == untouched


def test_loading_the_plugin_builds_no_app_every_airflow_process_loads_plugins() -> None:
    # a task process loads every plugin for its macros: the app (FastAPI, Airflow's security
    # module) waits for the API server's first request
    import subprocess
    import sys

    probe = (
        "import sys, airflow_lg.plugins; "
        "print(sorted(m for m in ('fastapi', 'airflow.api_fastapi.core_api.security', "
        "'airflow_lg.plugins._app') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


def test_a_running_runs_duration_is_how_long_it_has_been_going() -> None:
    from datetime import UTC, datetime, timedelta

    began = (datetime.now(UTC) - timedelta(seconds=30)).isoformat()
    running = RunRow(REF, "running", created_at=began, updated_at=began)
    assert running.seconds is not None and 29 < running.seconds < 60
    text = _text(task_page(TASK, RunDetail(running), studio_url=None))
    assert re.search(r"duration \d+\.\d s so far", text), text
    ended = RunRow(REF, "success", created_at="2026-12-01T10:00:00+00:00",
                   updated_at="2026-12-01T10:00:02.5+00:00")  # fmt: skip
    assert ended.seconds == 2.5


def test_the_studio_url_is_the_connections_template_filled_or_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import json

    from airflow_lg.links import studio_url

    template = "https://studio.example/thread/{thread_id}?baseUrl={base_url_quoted}"
    extra = {"studio_url_template": template}
    conn = {"conn_type": "langgraph", "host": "http://lg:2024", "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_LG_STUDIO", json.dumps(conn))
    monkeypatch.setenv("AIRFLOW_CONN_LG_PLAIN", json.dumps({**conn, "extra": {}}))
    assert studio_url("lg_studio", "T", "R") == (
        "https://studio.example/thread/T?baseUrl=http%3A%2F%2Flg%3A2024"
    )
    assert studio_url("lg_plain", "T", "R") is None
    assert studio_url("no_such_connection", "T", "R") is None
