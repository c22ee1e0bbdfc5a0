"""A run's stream events as lines in the task log, for people watching the run in Airflow."""

from __future__ import annotations

import json
from typing import Any

from airflow_lg.schema import StreamPart


def progress_line(part: StreamPart) -> str | None:
    """A stream event as one log line (None for events too chatty to log one by one)."""
    event, data = part.event, part.data
    if event == "metadata" and isinstance(data, dict):
        return f"run {data.get('run_id')} started (attempt {data.get('attempt', 1)})"
    if event.startswith("updates") and isinstance(data, dict):
        return "; ".join(_node_update(node, update) for node, update in data.items())
    if event.startswith("custom"):
        return f"custom: {short(data)}"
    if event == "error":
        return f"error: {short(data)}"
    if event.startswith(("values", "messages", "debug", "tasks", "checkpoints", "events")):
        return None
    return f"{event}: {short(data)}"


def _node_update(node: str, update: Any) -> str:
    if node == "__interrupt__":
        return f"paused for human input: {short(update)}"
    if not update:
        return f"node {node} finished (no update)"
    keys = ", ".join(update) if isinstance(update, dict) else short(update)
    return f"node {node} finished: updated {keys}"


def short(data: Any, limit: int = 300) -> str:
    """``data`` as JSON on one line, cut at ``limit`` characters."""
    text = json.dumps(data, default=str, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"
