"""LangGraphRunTrigger: waits in the triggerer for runs to end, with
:func:`airflow_lg.waiting.wait_for_runs` — the code a worker runs when it waits itself."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_lg.exceptions import LangGraphError
from airflow_lg.hooks.langgraph import LangGraphHook
from airflow_lg.runs import RunRef
from airflow_lg.waiting import (
    WaitDeadlineExceeded,
    WaitEvent,
    WaitOptions,
    acancel_runs,
    wait_for_runs,
)


def _options(
    options: WaitOptions | Mapping[str, Any] | None, legacy: dict[str, Any]
) -> WaitOptions:
    if isinstance(options, WaitOptions):
        return options
    fields = dict(options or {})
    # airflow-lg 0.1 stored the options flat in the kwargs (wait_mode=..., poll_interval=...):
    # a trigger it deferred still loads after an upgrade.
    if "wait_mode" in legacy:
        legacy["mode"] = legacy.pop("wait_mode")
    unknown = set(legacy) - set(WaitOptions.__dataclass_fields__)
    if unknown:
        raise TypeError(f"LangGraphRunTrigger got unexpected arguments {sorted(unknown)}")
    return WaitOptions.from_dict({**legacy, **fields})


class LangGraphRunTrigger(BaseTrigger):
    """Waits in the triggerer for one or many runs, then fires one
    :class:`~airflow_lg.waiting.WaitEvent`: ``done`` with each run's status (``ended`` for a run
    a join saw end, with ``read_status=False``), or ``deadline``/``failed`` with a message.

    :param runs: the runs (``RunRef`` or their ``{thread_id, run_id}`` dicts).
    :param options: how to wait (:class:`~airflow_lg.waiting.WaitOptions` or its dict).
    :param cancel_on_kill: cancel the runs when the user kills the deferred task, and at the
        deadline. Airflow ≥ 3.3 awaits :meth:`on_kill` when the deferred task is marked
        failed/success or cleared; a triggerer restart only calls ``cleanup()``, which cancels
        nothing.
    """

    def __init__(
        self,
        runs: Sequence[RunRef | Mapping[str, Any]],
        options: WaitOptions | Mapping[str, Any] | str | None = None,
        *,
        langgraph_conn_id: str = LangGraphHook.default_conn_name,
        cancel_on_kill: bool = True,
        cancel_action: str = "interrupt",
        **legacy: Any,
    ) -> None:
        super().__init__()
        if isinstance(options, str):  # 0.1's signature: (runs, langgraph_conn_id, ...)
            langgraph_conn_id, options = options, None
        self.runs = [RunRef.of(ref).ids for ref in runs]
        self.options = _options(options, legacy)
        self.langgraph_conn_id = langgraph_conn_id
        self.cancel_on_kill = cancel_on_kill
        self.cancel_action = cancel_action

    def serialize(self) -> tuple[str, dict[str, Any]]:
        # Stored in the metadata DB: JSON values and the connection id only, never a secret.
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "runs": [ref.to_dict() for ref in self.runs],
                "options": self.options.to_dict(),
                "langgraph_conn_id": self.langgraph_conn_id,
                "cancel_on_kill": self.cancel_on_kill,
                "cancel_action": self.cancel_action,
            },
        )

    def _hook(self) -> LangGraphHook:
        return LangGraphHook(self.langgraph_conn_id)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = self._hook()
        try:
            results = await wait_for_runs(hook, self.runs, self.options, self.log)
        except WaitDeadlineExceeded as exc:
            # Airflow does not apply execution_timeout to a deferred task: we do, and cancel
            # like a killed task would. Our own wait_timeout cancels too (see the operators).
            if self.cancel_on_kill:
                await acancel_runs(hook, exc.pending, self.cancel_action, self.log)
            event = WaitEvent("deadline", (*exc.finished, *exc.pending), str(exc), exc.reason)
        except LangGraphError as exc:
            event = WaitEvent("failed", tuple(self.runs), str(exc))
        else:
            event = WaitEvent("done", tuple(results))
        yield TriggerEvent(event.to_dict())

    async def on_kill(self) -> None:
        """The user killed the deferred task: cancel this trigger's runs (Airflow ≥ 3.3)."""
        if self.cancel_on_kill:
            await acancel_runs(self._hook(), self.runs, self.cancel_action, self.log)
