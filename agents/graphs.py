"""Example and test agents served by the LangGraph Agent Server test bed.

Every graph here is offline and deterministic, so tests can assert exact outputs, and none
blocks the event loop (the dev server refuses blocking calls such as ``time.sleep``).

- ``test_agent``: three nodes in sequence (foo -> bar -> baz). ``bar`` returns nothing, which
  yields an ``updates`` event ``{"bar": None}``. Invoked with
  ``{"foo": None, "bar": "checked", "baz": None}`` it ends with all three keys ``"checked"``.
- ``sleeper``: sleeps ``input["seconds"]`` in small asynchronous steps and writes one custom
  stream event per step; for long-running runs, cancellation, timeouts and ``custom`` streams.
- ``failing``: raises ``ValueError`` (mentioning ``input["reason"]``) for error handling.
- ``human``: pauses with ``interrupt()`` to ask for approval and stores the value it is resumed
  with (``command={"resume": X}``); needs a thread, whose checkpointer the server provides.
- ``chat``: a token-streaming chat model (``GenericFakeChatModel``) over ``MessagesState`` that
  answers with a fixed sentence echoing the last human message, for ``messages-tuple`` streams.
- ``shout``: a functional-API entrypoint whose input is a plain string (its input schema says
  so) and whose output is that string upper-cased: a graph that takes something else than an
  object, for the provider's input checks.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import Any, TypedDict

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langgraph.config import get_stream_writer
from langgraph.func import entrypoint
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.types import interrupt

# --- test_agent ------------------------------------------------------------------------------


class TestAgentState(TypedDict):
    """Three optional strings; each node marks its own key."""

    foo: str | None
    bar: str | None
    baz: str | None


def _foo(state: TestAgentState) -> dict[str, Any]:
    return {"foo": "checked"}


def _bar(state: TestAgentState) -> None:
    # Returning None is a "no update" step: the server still emits {"bar": None} in `updates`.
    return None


def _baz(state: TestAgentState) -> dict[str, Any]:
    return {"baz": "checked"}


def _build_test_agent() -> Any:
    builder = StateGraph(TestAgentState)
    builder.add_node("foo", _foo)
    builder.add_node("bar", _bar)
    builder.add_node("baz", _baz)
    builder.add_edge(START, "foo")
    builder.add_edge("foo", "bar")
    builder.add_edge("bar", "baz")
    builder.add_edge("baz", END)
    return builder.compile(name="test_agent")


# --- sleeper ---------------------------------------------------------------------------------

SLEEP_STEP_SECONDS = 0.1
"""Granularity of the sleeper: small enough that cancellation and timeouts act promptly."""


class SleeperState(TypedDict, total=False):
    """``seconds`` is the input; ``slept``/``done`` are set when the sleep completes."""

    seconds: float
    slept: float
    done: bool


async def _sleep(state: SleeperState) -> dict[str, Any]:
    seconds = max(0.0, float(state.get("seconds") or 0.0))
    steps = math.ceil(seconds / SLEEP_STEP_SECONDS)
    write = get_stream_writer()
    remaining = seconds
    for step in range(1, steps + 1):
        # asyncio.sleep, never time.sleep: the server shares one event loop between all runs.
        await asyncio.sleep(min(SLEEP_STEP_SECONDS, remaining))
        remaining -= SLEEP_STEP_SECONDS
        write({"slept": step, "of": steps})
    return {"slept": seconds, "done": True}


def _build_sleeper() -> Any:
    builder = StateGraph(SleeperState)
    builder.add_node("sleep", _sleep)
    builder.add_edge(START, "sleep")
    builder.add_edge("sleep", END)
    return builder.compile(name="sleeper")


# --- failing ---------------------------------------------------------------------------------


class FailingState(TypedDict, total=False):
    """``reason`` is optional and ends up in the error message, so tests can match it."""

    reason: str


def _fail(state: FailingState) -> dict[str, Any]:
    reason = state.get("reason")
    suffix = f": {reason}" if reason else ""
    raise ValueError(f"failing agent failed on purpose{suffix}")


def _build_failing() -> Any:
    builder = StateGraph(FailingState)
    builder.add_node("fail", _fail)
    builder.add_edge(START, "fail")
    builder.add_edge("fail", END)
    return builder.compile(name="failing")


# --- human -----------------------------------------------------------------------------------

_APPROVING_ANSWERS = {"yes", "y", "approve", "approved", "ok", "true"}


class HumanState(TypedDict, total=False):
    """``topic`` is the input; ``answer`` is the resume value, ``approved`` its reading."""

    topic: str
    answer: Any
    approved: bool


def _is_approval(answer: Any) -> bool:
    if isinstance(answer, bool):
        return answer
    if isinstance(answer, str):
        return answer.strip().lower() in _APPROVING_ANSWERS
    if isinstance(answer, dict):
        return bool(answer.get("approved"))
    return False


def _ask(state: HumanState) -> dict[str, Any]:
    # First pass: interrupt() pauses the run (the wait body carries __interrupt__). On resume
    # the node re-runs from the top and interrupt() returns the `command.resume` value.
    answer = interrupt({"question": "approve?", "topic": state.get("topic")})
    return {"answer": answer, "approved": _is_approval(answer)}


def _build_human() -> Any:
    builder = StateGraph(HumanState)
    builder.add_node("ask", _ask)
    builder.add_edge(START, "ask")
    builder.add_edge("ask", END)
    return builder.compile(name="human")


# --- chat ------------------------------------------------------------------------------------


def _last_human_text(messages: Sequence[BaseMessage]) -> str:
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            return str(message.text)
    return ""


def chat_reply(text: str) -> str:
    """The exact reply of the ``chat`` graph, so tests can compare streamed tokens with it."""
    return f"You said: {text or '(nothing)'}. This is a fake, offline reply."


async def _respond(state: MessagesState) -> dict[str, Any]:
    reply = chat_reply(_last_human_text(state["messages"]))
    # A fresh model per call: GenericFakeChatModel consumes an iterator of canned replies.
    # It streams the reply word by word, which the server forwards as `messages` events.
    model = GenericFakeChatModel(messages=iter([AIMessage(content=reply)]))
    return {"messages": [await model.ainvoke(state["messages"])]}


def _build_chat() -> Any:
    builder = StateGraph(MessagesState)
    builder.add_node("respond", _respond)
    builder.add_edge(START, "respond")
    builder.add_edge("respond", END)
    return builder.compile(name="chat")


# --- shout -----------------------------------------------------------------------------------


@entrypoint()
def shout(text: str) -> str:
    """The input, upper-cased: the input schema is ``{"type": "string"}``."""
    return text.upper()


test_agent = _build_test_agent()
sleeper = _build_sleeper()
failing = _build_failing()
human = _build_human()
chat = _build_chat()
