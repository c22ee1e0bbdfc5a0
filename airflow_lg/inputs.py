"""A run's JSON arguments as rendered, checked before anything is sent.

A template renders to a string: ``"{{ ti.xcom_pull(...) }}"`` that found nothing gives
``'None'``, a dict pulled without ``render_template_as_native_obj`` gives its ``repr`` or its JSON
text. Sent as they are, such values fail later inside the agent ("Expected dict, got None").
So ``config``, ``context``, ``metadata`` and ``command`` must be objects, and ``input`` an
object too — unless the graph's own input schema says it takes that kind of value (a
functional-API entrypoint may take a string): only then is the server asked.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

from airflow_lg.exceptions import LangGraphConfigError, LangGraphError
from airflow_lg.hooks.langgraph import LangGraphHook

OBJECT_ARGUMENTS = ("command", "config", "context", "metadata")
_HINT = (
    "pass a dict, or set render_template_as_native_obj=True on the DAG so that templates "
    "render to Python objects"
)


def check_input(name: str, value: Any) -> None:
    """``value`` (an ``input``) is an object or None; otherwise say what it is instead."""
    if value is None or isinstance(value, Mapping):
        return
    raise LangGraphConfigError(f"{name} {_what(value)}; expected an object: {_HINT}")


def check_object(name: str, value: Any) -> None:
    """``config``/``context``/``metadata``/``command`` as rendered: an object or None."""
    if value is not None and not isinstance(value, Mapping):
        raise LangGraphConfigError(f"{name} {_what(value)}; expected an object: {_HINT}")


def _what(value: Any) -> str:
    """What a non-object value is, in the words a DAG author recognises."""
    if isinstance(value, str):
        text = value.strip()
        if text in ("None", "null", ""):
            return f"rendered to {value!r} (a template whose value was None or missing?)"
        if text[:1] in "{[":
            try:
                json.loads(text)
            except ValueError:
                return f"is a string that looks like a Python literal ({value!r:.80})"
            return f"is a JSON string, not an object ({value!r:.80})"
        return f"is a string ({value!r:.80})"
    return f"is a {type(value).__name__} ({value!r:.80})"


def check_arguments(hook: LangGraphHook, assistant_id: str, arguments: Mapping[str, Any]) -> None:
    """The rendered run arguments, before the run is created (see the module's docstring)."""
    for name in OBJECT_ARGUMENTS:
        check_object(name, arguments.get(name))
    check_graph_input(hook, assistant_id, "input", arguments.get("input"))


def check_graph_input(hook: LangGraphHook, assistant_id: str, name: str, value: Any) -> None:
    """``value`` is an object, or of a type the assistant's input schema admits."""
    try:
        check_input(name, value)
    except LangGraphConfigError as refused:
        if _json_type(value) is None:
            raise
        try:
            schema = _input_schema(hook, assistant_id)
        except LangGraphError as exc:
            raise LangGraphConfigError(
                f"{refused} (the graph's input schema, which could say otherwise, could not be "
                f"read: {exc})"
            ) from None
        if not schema_accepts(schema, value):
            raise


def _input_schema(hook: LangGraphHook, assistant_id: str) -> Any:
    return (hook.get_assistant_schemas(_assistant_uuid(hook, assistant_id)) or {}).get(
        "input_schema"
    )


def _assistant_uuid(hook: LangGraphHook, assistant_id: str) -> str:
    """The schemas endpoint wants a UUID; a graph name stands for its default assistant."""
    if _is_uuid(assistant_id):
        return assistant_id
    found = hook.search_assistants(graph_id=assistant_id, limit=1)
    if not found:
        raise LangGraphConfigError(f"no assistant for graph {assistant_id!r}")
    return str(found[0]["assistant_id"])


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


_JSON_TYPES: tuple[tuple[type, str], ...] = (
    (bool, "boolean"),
    (int, "integer"),
    (float, "number"),
    (str, "string"),
    (list, "array"),
    (tuple, "array"),
)
# What constrains a value's type, beyond "type" and the branches of anyOf/oneOf, in ways this
# check does not follow: left to the server.
_UNREAD_KEYWORDS = ("allOf", "$ref", "enum", "const", "not")


def _json_type(value: Any) -> str | None:
    return next((name for cls, name in _JSON_TYPES if isinstance(value, cls)), None)


def schema_accepts(schema: Any, value: Any) -> bool:
    """Whether a graph's input JSON Schema admits ``value``'s JSON type.

    No schema at all (the server's ``null``: a ``StateGraph`` over a TypedDict here) says
    nothing, so only an object passes. A schema that constrains no type (``{}``, an ``Any``
    entrypoint) admits anything; ``type`` and the branches of ``anyOf``/``oneOf`` are read;
    anything subtler (``$ref``, ``allOf``, ``enum``) is left to the server to judge."""
    if not isinstance(schema, Mapping):
        return False
    kind = _json_type(value)
    if kind is None:
        return False
    constrained = ("type", "anyOf", "oneOf")
    if not any(k in schema for k in constrained) or any(k in schema for k in _UNREAD_KEYWORDS):
        return True
    admitted = {kind, "number"} if kind == "integer" else {kind}
    declared = schema.get("type")
    types = {declared} if isinstance(declared, str) else set(declared or ())
    if types & admitted:
        return True
    branches = [*(schema.get("anyOf") or ()), *(schema.get("oneOf") or ())]
    return any(schema_accepts(branch, value) for branch in branches)
