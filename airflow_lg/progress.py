"""A run, told in the task log for people watching it in Airflow: its stream events as lines
(:class:`ProgressLog`), and its answer when it ends (:func:`answer_line`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from airflow_lg.schema import StreamPart

ANSWER_LIMIT = 1000
"""Characters of an answer logged: enough for a paragraph, not a document (XCom has it all)."""


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


class ProgressLog:
    """The lines a stream is told in. Beyond :func:`progress_line`'s one line per event:

    - ``messages-tuple`` streams token by token: tokens are gathered per message and the
      message is told once whole (when another message starts, or the stream ends);
    - ``values`` is the whole state after each step: told as what changed in a person's terms
      (the newest message), once per new message, or the keys when the state has none.
    """

    def __init__(self, *, values: bool = True) -> None:
        self._values = values
        self._message_id: str | None = None
        self._node: str | None = None
        self._tokens: list[str] = []
        self._messages_seen = 0

    def lines(self, part: StreamPart) -> Iterator[str]:
        if part.event.startswith("messages"):
            yield from self._message_part(part.data)
            return
        yield from self.flush()
        if part.event.startswith("values"):
            line = self._values_line(part.data) if self._values else None
        else:
            line = progress_line(part)
        if line:
            yield line

    def flush(self) -> Iterator[str]:
        """The message being streamed, if any, as one line."""
        if self._tokens:
            text = "".join(self._tokens)
            where = f" ({self._node})" if self._node else ""
            yield f"message{where}: {cut(text)}"
        self._tokens, self._message_id, self._node = [], None, None

    def _message_part(self, data: Any) -> Iterator[str]:
        # messages-tuple: [chunk, metadata]; "messages/partial" and friends: a list of messages
        chunk, meta = (data[0], data[1]) if _is_tuple(data) else (None, None)
        if not isinstance(chunk, dict):
            return
        if chunk.get("id") != self._message_id:
            yield from self.flush()
            self._message_id = chunk.get("id")
            self._node = (meta or {}).get("langgraph_node") if isinstance(meta, dict) else None
        self._tokens.append(text_of(chunk.get("content")))

    def _values_line(self, state: Any) -> str | None:
        if not isinstance(state, dict):
            return f"state: {short(state)}"
        messages = state.get("messages")
        if isinstance(messages, list):
            if len(messages) <= self._messages_seen or not messages:
                return None
            self._messages_seen = len(messages)
            return f"state: {len(messages)} message(s); newest: {message_line(messages[-1])}"
        return f"state: {', '.join(map(str, state)) or '(empty)'}"


def _is_tuple(data: Any) -> bool:
    return isinstance(data, (list, tuple)) and len(data) == 2 and isinstance(data[0], dict)


def _node_update(node: str, update: Any) -> str:
    if node == "__interrupt__":
        return f"paused for human input: {short(update)}"
    if not update:
        return f"node {node} finished (no update)"
    keys = ", ".join(update) if isinstance(update, dict) else short(update)
    return f"node {node} finished: updated {keys}"


def text_of(content: Any) -> str:
    """A message's content as text: a string, or the text of its content blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(block.get("text", "")) if isinstance(block, dict) else str(block)
            for block in content
        )
    return "" if content is None else str(content)


def message_line(message: Any) -> str:
    """``AI: <text>`` for a message in the server's (LangChain's) or the OpenAI shape."""
    if not isinstance(message, dict):
        return cut(str(message))
    who = message.get("type") or message.get("role") or "message"
    who = {"ai": "AI", "assistant": "AI", "human": "human", "user": "human"}.get(who, who)
    return f"{who}: {cut(text_of(message.get('content')))}"


def answer_line(output: Any) -> str:
    """What a person wants to read of a run's output: the last AI message's text when it is a
    conversation, the text itself when it is text, short JSON otherwise — cut sensibly."""
    if isinstance(output, dict) and isinstance(output.get("messages"), list):
        messages = [m for m in output["messages"] if isinstance(m, dict)]
        ai = [m for m in messages if (m.get("type") or m.get("role")) in ("ai", "assistant")]
        if ai or messages:
            return cut(text_of((ai or messages)[-1].get("content")), ANSWER_LIMIT)
    if isinstance(output, str):
        return cut(output, ANSWER_LIMIT)
    return short(output, ANSWER_LIMIT)


def cut(text: str, limit: int = 300) -> str:
    """``text`` on one line, cut at ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def short(data: Any, limit: int = 300) -> str:
    """``data`` as JSON on one line, cut at ``limit`` characters."""
    text = json.dumps(data, default=str, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"
