"""What a thread's id and stamps tell the watcher (:mod:`airflow_lg.watching`): a thread id in
the form the server writes it, when a run was created (langgraph-api's run ids are UUIDv7s),
and whether a busy thread changed after a run was created."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any


def canonical(thread_id: Any) -> str | None:
    """A thread id as the server writes it (a UUID's canonical form), None if not a UUID."""
    try:
        return str(uuid.UUID(str(thread_id)))
    except ValueError:
        return None


CREATED_SKEW = 0.5
"""Seconds between a run's id being made and its thread's ``updated_at`` being stamped."""


def created_at(run_id: str) -> float | None:
    """When the run was created, from its id where that is a UUIDv7 (langgraph-api's are):
    epoch seconds, or None."""
    try:
        value = uuid.UUID(run_id)
    except ValueError:
        return None
    return (value.int >> 80) / 1000.0 if value.version == 7 else None


def changed_since_created(watch_run_id: str, updated_at: str | None) -> bool:
    """Whether a busy thread's ``updated_at`` says something happened on it after the run was
    created — another run created or ended, or this one ended with another still there —
    so the run must be read; True where the run's id does not say when it was made."""
    created = created_at(watch_run_id)
    stamp = stamp_of(updated_at) if updated_at is not None else None
    if created is None or stamp is None:
        return True
    return stamp.timestamp() > created + CREATED_SKEW


def stamp_of(value: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None
