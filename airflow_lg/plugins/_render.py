"""The plugin's pages as HTML, from what was found and read (no I/O, no Airflow).

Server-rendered on purpose: no build step, no bundle to keep in step with Airflow's UI, and
nothing in the browser but what the page shows (never the connection's API key). Everything
from the agent server or Airflow passes through :func:`esc`. A page of a run still going
reloads itself every few seconds.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any
from urllib.parse import quote, urlencode

from airflow_lg.plugins._finding import AgentTask
from airflow_lg.plugins._reading import ATTENTION, PAUSED, RunDetail, RunRow, Step
from airflow_lg.progress import answer_line, cut, short, text_of
from airflow_lg.runs import RunOutcome
from airflow_lg.schema import Outcome

REFRESH_SECONDS = 3
_TREE_OPEN_DEPTH = 1
_TREE_ITEMS = 200
_TREE_TEXT = 4000

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:16px;color:#1f2328;
background:#fff;font-size:14px;line-height:1.45}
h1{font-size:18px;margin:0 0 12px}h2{font-size:15px;margin:20px 0 8px}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:5px 8px;
border-bottom:1px solid #e5e7eb;vertical-align:top}th{font-weight:600;color:#57606a}
table.facts th{width:160px}code,.mono{font-family:ui-monospace,Menlo,monospace;font-size:12.5px}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12.5px;font-weight:600;
background:#eaeef2}.s-success{background:#dafbe1;color:#116329}.s-failed,.s-timed-out{
background:#ffebe9;color:#a40e26}.s-running,.s-pending{background:#ddf4ff;color:#0550ae}
.s-paused{background:#fff8c5;color:#7d4e00}.s-cancelled,.s-missing,.s-unknown{background:#eaeef2}
.answer{border-left:4px solid #2da44e;background:#f6f8fa;padding:10px 14px;white-space:pre-wrap}
.error{border-left:4px solid #cf222e;background:#fff5f5;padding:10px 14px;white-space:pre-wrap}
.ask{border-left:4px solid #bf8700;background:#fffbe6;padding:10px 14px;margin-bottom:6px}
.turn{margin:6px 0;padding:8px 12px;border-radius:8px;white-space:pre-wrap;max-width:52em}
.turn .who{font-size:12px;font-weight:600;color:#57606a;display:block}
.t-ai{background:#f1f8ff}.t-human{background:#f6f8fa;margin-left:3em}.t-tool{background:#fbf7ff}
details.tree{margin-left:14px}details.tree>summary{cursor:pointer;color:#57606a}
.leaf{margin-left:14px}.key{color:#8250df}.muted{color:#57606a}.note{color:#57606a;margin:8px 0}
.attention td{background:#fffbe6}form.filters{margin:0 0 12px}form.filters label{margin-right:10px}
a{color:#0969da}
"""


def esc(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def page(title: str, body: str, *, refresh: bool = False) -> str:
    meta = f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">' if refresh else ""
    return (
        f'<!doctype html><html><head><meta charset="utf-8">{meta}<title>{esc(title)}</title>'
        f"<style>{_STYLE}</style></head><body>{body}</body></html>"
    )


def badge(status: str) -> str:
    return f'<span class="badge s-{esc(status).replace(" ", "-")}">{esc(status)}</span>'


def message(title: str, text: str) -> str:
    return page(title, f"<h1>{esc(title)}</h1><p class='note'>{esc(text)}</p>")


# ---- the task view -------------------------------------------------------------------------


def task_page(task: AgentTask, detail: RunDetail, *, studio_url: str | None, back: str = "") -> str:
    row, outcome = detail.row, detail.outcome
    parts = [
        back,
        f"<h1>Agent run {badge(row.status)}</h1>",
        _lead(detail),
        "<h2>Run</h2>",
        _facts(task, row, studio_url),
    ]
    if outcome is not None and outcome.output is not None:
        parts.append(_output(outcome.output))
    if detail.steps or detail.active:
        parts += ["<h2>Progress</h2>", _steps(detail.steps, detail.active)]
    parts += ["<h2>Input</h2>", tree(detail.input)]
    if row.problem:
        parts.append(f"<p class='note'>Not all could be read: {esc(row.problem)}</p>")
    return page(f"Agent run {row.ref.run_id}", "".join(parts), refresh=detail.active)


def _lead(detail: RunDetail) -> str:
    """What a person looks for first: the answer, what the agent asks, or its error."""
    outcome = detail.outcome
    if detail.active:
        return f"<p class='note'>The run is {esc(detail.row.status)}; this page follows it.</p>"
    if outcome is None:
        return ""
    if outcome.outcome is Outcome.PAUSED:
        asks = outcome.interrupts or []
        if not asks:
            return (
                "<h2>Waiting</h2><div class='ask'>Stopped at a breakpoint before "
                f"{esc(', '.join(outcome.next or []))}</div>"
            )
        return "<h2>The agent asks</h2>" + "".join(_ask(i) for i in asks)
    if outcome.error:
        kind, text = outcome.error.get("error"), outcome.error.get("message")
        return f"<h2>Error</h2><div class='error'><b>{esc(kind)}</b>: {esc(text)}</div>"
    if outcome.outcome is Outcome.SUCCESS:
        return f"<h2>Answer</h2><div class='answer'>{esc(answer_line(outcome.output))}</div>"
    return ""


def _ask(interrupt: Any) -> str:
    value = interrupt.get("value") if isinstance(interrupt, dict) else interrupt
    if isinstance(value, dict):
        question = value.get("question") or value.get("message") or value.get("prompt")
        if question:
            rest = {k: v for k, v in value.items() if k not in ("question", "message", "prompt")}
            extra = f"<div class='muted'>{tree(rest)}</div>" if rest else ""
            return f"<div class='ask'><b>{esc(question)}</b>{extra}</div>"
    text = value if isinstance(value, str) else None
    return f"<div class='ask'>{esc(text) if text is not None else tree(value)}</div>"


def _facts(task: AgentTask, row: RunRow, studio_url: str | None) -> str:
    facts = [
        ("status", badge(row.status)),
        ("Airflow task", f"{esc(task.label)} ({esc(task.operator)}), {esc(task.state)}"),
        ("assistant", esc(task.assistant_id or row.assistant_id)),
        ("thread", f"<code>{esc(row.ref.thread_id)}</code>"),
        ("run", f"<code>{esc(row.ref.run_id)}</code>"),
        ("created", esc(row.created_at)),
        ("updated", esc(row.updated_at)),
        ("duration", esc(_duration(row))),
        ("connection", f"<code>{esc(task.conn_id)}</code>"),
    ]
    if studio_url:
        link = f"<a href='{esc(studio_url)}' target='_blank' rel='noopener'>open</a>"
        facts.append(("LangSmith / Studio", link))
    rows = "".join(f"<tr><th>{name}</th><td>{value}</td></tr>" for name, value in facts)
    return f"<table class='facts'>{rows}</table>"


def _duration(row: RunRow) -> str:
    seconds = row.seconds
    if seconds is None:
        return ""
    return f"{seconds:.1f} s so far" if row.status in ("pending", "running") else f"{seconds:.1f} s"


def _output(output: Any) -> str:
    messages = output.get("messages") if isinstance(output, dict) else None
    if isinstance(messages, list) and messages:
        others = {k: v for k, v in output.items() if k not in ("messages", "__interrupt__")}
        turns = "".join(_turn(m) for m in messages)
        rest = f"<h2>Other state</h2>{tree(others)}" if others else ""
        return f"<h2>Conversation</h2>{turns}{rest}"
    return f"<h2>Output</h2>{tree(output)}"


def _turn(item: Any) -> str:
    if not isinstance(item, dict):
        return f"<div class='turn'>{esc(item)}</div>"
    who = str(item.get("type") or item.get("role") or "message")
    kind = {"ai": "ai", "assistant": "ai", "human": "human", "user": "human"}.get(who, "tool")
    label = {"ai": "AI", "human": "human"}.get(kind, who)
    text = text_of(item.get("content"))
    calls = item.get("tool_calls") or []
    if calls:
        names = ", ".join(str(c.get("name")) for c in calls if isinstance(c, dict))
        text += f"\n[calls {names}]"
    return f"<div class='turn t-{kind}'><span class='who'>{esc(label)}</span>{esc(text)}</div>"


def _steps(steps: Sequence[Step], active: bool) -> str:
    if not steps:
        return "<p class='note'>No step has finished yet.</p>"
    rows = []
    for step in steps:
        what = ", ".join(step.nodes)
        notes = [f"error: {cut(e, 200)}" for e in step.errors]
        notes += [f"asks: {short(a.get('value') if isinstance(a, dict) else a, 200)}"
                  for a in step.asks]  # fmt: skip
        finished = step.finished_at or ("running" if active else "")
        rows.append(
            f"<tr><td>{step.step}</td><td><b>{esc(what)}</b></td><td>{esc(finished)}</td>"
            f"<td>{esc('; '.join(notes))}</td></tr>"
        )
    head = "<tr><th>step</th><th>node</th><th>finished</th><th></th></tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def empty_task_page(operator: str | None) -> str:
    return message(
        "Agent run",
        f"This task ({operator or 'unknown operator'}) does not run an agent, so there is "
        "nothing to show here. Airflow 3.3 shows plugin tabs on every task; the tab has "
        "content on tasks of airflow-lg's operators and sensor.",
    )


def no_run_page(task: AgentTask) -> str:
    state = task.state or "not started"
    return page(
        "Agent run",
        f"<h1>Agent run</h1><p class='note'>Task {esc(task.label)} is {esc(state)} and has "
        "not created an agent run yet.</p>",
        refresh=state in ("queued", "scheduled", "running", "deferred", "up_for_retry"),
    )


# ---- a batch ---------------------------------------------------------------------------------


def batch_page(task: AgentTask, rows: Sequence[RunRow], item_href: str) -> str:
    results = {r.get("index"): r for r in task.results or []}
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    lines = []
    for index, row in enumerate(rows):
        result = results.get(index)
        outcome = _outcome(result)
        lines.append(
            f"<tr><td><a href='{esc(item_href)}{index}'>#{index}</a></td>"
            f"<td>{badge(row.status)}</td><td>{esc(outcome.outcome if outcome else '')}</td>"
            f"<td>{esc(one_line(outcome))}</td></tr>"
        )
    head = "<tr><th>item</th><th>status</th><th>outcome</th><th>answer or error</th></tr>"
    active = any(r.status in ("pending", "running") for r in rows)
    body = (
        f"<h1>Agent batch: {len(rows)} runs</h1><p class='note'>{esc(summary)} · task "
        f"{esc(task.label)}, {esc(task.state)} · assistant {esc(task.assistant_id)}</p>"
        f"<table>{head}{''.join(lines)}</table>"
    )
    return page("Agent batch", body, refresh=active)


def _outcome(result: Mapping[str, Any] | None) -> RunOutcome | None:
    try:
        return RunOutcome.from_dict(result) if result else None
    except (KeyError, TypeError, ValueError):  # not an outcome the provider wrote
        return None


def one_line(outcome: RunOutcome | None) -> str:
    if outcome is None:
        return ""
    if outcome.error:
        return cut(f"{outcome.error.get('error')}: {outcome.error.get('message')}", 160)
    if outcome.outcome is Outcome.PAUSED:
        return "asks: " + short([_value(i) for i in outcome.interrupts or []], 150)
    return cut(answer_line(outcome.output), 160)


def _value(interrupt: Any) -> Any:
    return interrupt.get("value") if isinstance(interrupt, dict) else interrupt


# ---- lists: a DAG run's runs, recent runs --------------------------------------------------


def view_url(task: AgentTask, item: int | None = None) -> str:
    """The plugin's own page of a task's run, opened inside the frame it is clicked in (Airflow
    does not pass a tab's query string on to its frame)."""
    from airflow_lg.links import ui_path
    from airflow_lg.plugins import PREFIX

    path = "/".join(
        quote(str(part), safe="")
        for part in (task.dag_id, task.run_id, task.task_id, task.map_index)
    )
    query = f"?{urlencode({'item': item})}" if item is not None else ""
    return ui_path(f"{PREFIX}/task/{path}{query}")


def runs_table(entries: Iterable[tuple[AgentTask, int | None, RunRow]], *, dag: bool) -> str:
    head = (
        "<tr><th>status</th>" + ("<th>DAG</th><th>DAG run</th>" if dag else "")
        + "<th>task</th><th>assistant</th><th>duration</th><th>created</th><th>run</th></tr>"
    )  # fmt: skip
    lines = []
    for task, item, row in entries:
        label = task.label + (f" #{item}" if item is not None else "")
        where = f"<td>{esc(task.dag_id)}</td><td>{esc(task.run_id)}</td>" if dag else ""
        css = " class='attention'" if row.status in ATTENTION else ""
        lines.append(
            f"<tr{css}><td>{badge(row.status)}</td>{where}<td>"
            f"<a href='{esc(view_url(task, item))}'>{esc(label)}</a></td>"
            f"<td>{esc(task.assistant_id or row.assistant_id)}</td>"
            f"<td>{esc(_duration(row))}</td>"
            f"<td>{esc(row.created_at)}</td><td><code>{esc(row.ref.run_id)}</code></td></tr>"
        )
    if not lines:
        return "<p class='note'>No agent runs.</p>"
    return f"<table>{head}{''.join(lines)}</table>"


def dag_run_page(
    dag_id: str, run_id: str, entries: list[tuple[AgentTask, int | None, RunRow]]
) -> str:
    active = any(row.status in ("pending", "running") for _, _, row in entries)
    body = (
        f"<h1>Agent runs of {esc(dag_id)} / {esc(run_id)}</h1>"
        f"<p class='note'>{len(entries)} agent run(s) behind this DAG run.</p>"
        + runs_table(entries, dag=False)
    )
    return page("Agent runs", body, refresh=active)


def recent_page(
    entries: list[tuple[AgentTask, int | None, RunRow]],
    filters: Mapping[str, str],
    choices: Mapping[str, Sequence[str]],
) -> str:
    attention = [e for e in entries if e[2].status in ATTENTION]
    paused = sum(1 for e in attention if e[2].status == PAUSED)
    body = [
        "<h1>Agent runs</h1>",
        _filters(filters, choices),
        f"<p class='note'>{len(entries)} run(s) shown; {paused} waiting for a person, "
        f"{len(attention) - paused} failed, timed out or unreadable.</p>",
    ]
    if attention:
        body += ["<h2>Needs attention</h2>", runs_table(attention, dag=True)]
    body += ["<h2>Recent</h2>", runs_table(entries, dag=True)]
    return page("Agent runs", "".join(body))


def _filters(filters: Mapping[str, str], choices: Mapping[str, Sequence[str]]) -> str:
    fields = []
    for name in ("status", "assistant", "dag_id"):
        options = ["<option value=''>any</option>"] + [
            f"<option{' selected' if filters.get(name) == v else ''} value='{esc(v)}'>{esc(v)}"
            "</option>"
            for v in choices.get(name, [])
        ]
        fields.append(
            f"<label>{esc(name)} <select name='{name}'>{''.join(options)}</select></label>"
        )
    return f"<form class='filters' method='get'>{''.join(fields)}<button>Filter</button></form>"


# ---- a collapsible JSON tree ------------------------------------------------------------------


def tree(value: Any, depth: int = 0) -> str:
    """``value`` as nested ``<details>``: the top levels open, deeper ones folded."""
    if isinstance(value, dict):
        items = list(value.items())
        return _branch(f"{{{len(items)}}}", ((str(k), v) for k, v in items), len(items), depth)
    if isinstance(value, list):
        return _branch(
            f"[{len(value)}]", ((str(i), v) for i, v in enumerate(value)), len(value), depth
        )
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if len(text) > _TREE_TEXT:
        text = text[:_TREE_TEXT] + f"… ({len(text) - _TREE_TEXT} more characters)"
    return f"<span class='mono'>{esc(text)}</span>"


def _branch(summary: str, items: Iterable[tuple[str, Any]], count: int, depth: int) -> str:
    if count == 0:
        return f"<span class='mono'>{esc(summary[0] + summary[-1])}</span>"
    shown = []
    for index, (key, child) in enumerate(items):
        if index == _TREE_ITEMS:
            shown.append(f"<div class='leaf muted'>… {count - _TREE_ITEMS} more</div>")
            break
        shown.append(f"<div class='leaf'><span class='key'>{esc(key)}</span>: "
                     f"{tree(child, depth + 1)}</div>")  # fmt: skip
    opened = " open" if depth < _TREE_OPEN_DEPTH else ""
    return (
        f"<details class='tree'{opened}><summary>{esc(summary)}</summary>{''.join(shown)}</details>"
    )
